"""Coalition helpers: bitmask <-> boolean matrix conversions and enumeration."""

from __future__ import annotations

import numpy as np

from ._typing import CoalitionMatrix

def all_coalitions(n_players: int) -> CoalitionMatrix:
    """All 2^n coalitions as a (2^n, n) boolean matrix; row k has bits of k."""
    k = np.arange(2**n_players, dtype=np.int64)
    return ((k[:, None] >> np.arange(n_players, dtype=np.int64)) & 1).astype(bool)


def coalition_index(coalitions: CoalitionMatrix) -> np.ndarray:
    """Bitmask index (int64) of each coalition row; player i is bit i."""
    z = np.asarray(coalitions, dtype=bool)
    if z.shape[1] > 62:
        raise ValueError(f"coalition_index supports at most 62 players; got {z.shape[1]}.")
    return z.astype(np.int64) @ (np.int64(1) << np.arange(z.shape[1], dtype=np.int64))


def popcount(indices: np.ndarray) -> np.ndarray:
    """Number of set bits of each int64 bitmask."""
    x = np.asarray(indices, dtype=np.uint64)
    count = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        count += (x & np.uint64(1)).astype(np.int64)
        x = x >> np.uint64(1)
    return count


def coalition_sizes(n_players: int) -> np.ndarray:
    """Size |S| of every coalition in bitmask order, shape (2^n,)."""
    sizes = np.zeros(1, dtype=np.int64)
    for _ in range(n_players):
        sizes = np.concatenate([sizes, sizes + 1])
    return sizes


__all__ = ["all_coalitions", "coalition_index", "popcount", "coalition_sizes"]
