"""Named array aliases used across :mod:`qdrant_explain.explainers`.

Coalitions are boolean matrices, one coalition per row, one player per column.
Exact tables are indexed by bitmask: entry ``k`` is the coalition whose player
``i`` is present exactly when bit ``i`` of ``k`` is set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import numpy.typing as npt

CoalitionMatrix = npt.NDArray[np.bool_]
"""Boolean array of shape (m, n): row r is a coalition, column i a player."""

GameValues = npt.NDArray[np.float64]
"""Float array of shape (m,): the value of each coalition row."""

FloatVector = npt.NDArray[np.float64]
"""Float array of shape (n,)."""

FloatMatrix = npt.NDArray[np.float64]
"""Float array of shape (n, n) or (m, d)."""

ValueFunction = Callable[[CoalitionMatrix], npt.ArrayLike]
"""A game: maps a (m, n) boolean coalition matrix to m finite floats."""

__all__ = ["CoalitionMatrix", "GameValues", "FloatVector", "FloatMatrix", "ValueFunction"]
