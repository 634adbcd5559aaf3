"""Typed results shared by every estimator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._typing import FloatMatrix, FloatVector


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    return x


@dataclass(frozen=True)
class Explanation:
    """Attribution of one game, whatever method produced it.

    Attributes:
        values: (n,) Shapley values at order 1 (or LIME/occlusion scores); at
            order 2 the singleton terms phi_i = d({i}).
        interactions: (n, n) symmetric pair indices with zero diagonal at
            order 2; None at order 1.
        base_value: v(empty set).
        full_value: v(all players).
        method: method name, e.g. ``"kernel-shap"``.
        order: 1 or 2.
        n_evaluations: distinct coalitions the game was evaluated on.
        estimated: False when the values are exact (every coalition seen or a
            closed form), True for sampled estimates.
        budget: the evaluation budget asked for (None for exact).
        meta: free-form provenance (seed, solver details).
        stderr: (n,) standard error of each value (the sampling error of the
            estimate for this seed); zeros for exact results; None when the
            method gives no error estimate.
        interactions_stderr: (n, n) standard errors of the pair indices at
            order 2 (zeros when exact; None at order 1 or when unknown).
    """

    values: FloatVector
    interactions: FloatMatrix | None
    base_value: float
    full_value: float
    method: str
    order: int
    n_evaluations: int
    estimated: bool
    budget: int | None = None
    meta: dict = field(default_factory=dict)
    stderr: FloatVector | None = None
    interactions_stderr: FloatMatrix | None = None

    @property
    def n_players(self) -> int:
        """Number of players n."""
        return int(self.values.shape[0])

    def efficiency_gap(self) -> float:
        """sum of values (+ upper pairs) minus (v(N) - v(empty)); 0 for efficient methods."""
        total = float(np.sum(self.values))
        if self.interactions is not None:
            total += float(np.triu(self.interactions, 1).sum())
        return total - (self.full_value - self.base_value)

    def to_dict(self) -> dict:
        """JSON-safe dictionary; :meth:`from_dict` round-trips it."""
        return {
            "values": _jsonable(self.values),
            "interactions": None if self.interactions is None else _jsonable(self.interactions),
            "base_value": float(self.base_value),
            "full_value": float(self.full_value),
            "method": self.method,
            "order": int(self.order),
            "n_evaluations": int(self.n_evaluations),
            "estimated": bool(self.estimated),
            "budget": None if self.budget is None else int(self.budget),
            "meta": {k: _jsonable(v) for k, v in self.meta.items()},
            "stderr": None if self.stderr is None else _jsonable(self.stderr),
            "interactions_stderr": None if self.interactions_stderr is None else _jsonable(self.interactions_stderr),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Explanation":
        """Rebuild an :class:`Explanation` from :meth:`to_dict` output."""
        inter = data.get("interactions")
        se, inter_se = data.get("stderr"), data.get("interactions_stderr")
        return cls(
            values=np.asarray(data["values"], dtype=np.float64),
            interactions=None if inter is None else np.asarray(inter, dtype=np.float64),
            base_value=float(data["base_value"]),
            full_value=float(data["full_value"]),
            method=str(data["method"]),
            order=int(data["order"]),
            n_evaluations=int(data["n_evaluations"]),
            estimated=bool(data["estimated"]),
            budget=data.get("budget"),
            meta=dict(data.get("meta", {})),
            stderr=None if se is None else np.asarray(se, dtype=np.float64),
            interactions_stderr=None if inter_se is None else np.asarray(inter_se, dtype=np.float64),
        )


__all__ = ["Explanation"]
