"""The result of a joint (query x hit) explanation: :class:`JointExplanation`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._typing import FloatMatrix, FloatVector
from ..result import Explanation, _jsonable


STDERR_FIELDS = (
    "cross_stderr",
    "query_values_stderr",
    "hit_values_stderr",
    "query_side_values_stderr",
    "hit_side_values_stderr",
)
"""The standard-error fields of :class:`JointExplanation` (one per estimated array)."""


@dataclass(frozen=True)
class JointExplanation:
    """Order-2 Shapley-Taylor indices of a joint (query regions u hit regions) game.

    Attributes:
        cross: (nq, nh) pair indices between query player i and hit player j.
        query_values: (nq,) singleton terms d({i}) = v({i}) - v(empty).
        hit_values: (nh,) singleton terms of the hit players.
        query_interactions: (nq, nq) within-query pair indices (symmetric, zero
            diagonal), or None when the method does not estimate them.
        hit_interactions: (nh, nh) within-hit pair indices, or None.
        query_side_values: (nq,) first-order Shapley values of the query-side
            game (hit complete), from the same encodes: heatmap-ready.
        hit_side_values: (nh,) the same for the hit side (query complete).
        base_value: v(empty) = score of both fully masked images.
        full_value: v(all players) = the score Qdrant returns for the pair.
        score: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        method: ``"exact"`` or ``"stratified"``.
        encoder_passes: masks encoded for this explanation (query + hit); masks
            already in a shared cache (multi-hit) cost nothing.
        query_passes: masked queries encoded for this explanation.
        hit_passes: masked hits encoded for this explanation.
        n_evaluations: joint coalitions scored (Kq x Kh for the product design).
        estimated: False for exact values.
        budget: encoder-pass budget asked for (None for exact).
        seconds: wall time of the call.
        meta: provenance (seed, masks per side, encoder seconds).
        cross_stderr, query_values_stderr, hit_values_stderr,
        query_side_values_stderr, hit_side_values_stderr: standard errors of
            the matching arrays (sampling error for this seed); zeros for exact
            results; None when the method gives no error estimate.
    """

    cross: FloatMatrix
    query_values: FloatVector
    hit_values: FloatVector
    query_interactions: FloatMatrix | None
    hit_interactions: FloatMatrix | None
    query_side_values: FloatVector
    hit_side_values: FloatVector
    base_value: float
    full_value: float
    score: str
    method: str
    encoder_passes: int
    query_passes: int
    hit_passes: int
    n_evaluations: int
    estimated: bool
    budget: int | None = None
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)
    cross_stderr: FloatMatrix | None = None
    query_values_stderr: FloatVector | None = None
    hit_values_stderr: FloatVector | None = None
    query_side_values_stderr: FloatVector | None = None
    hit_side_values_stderr: FloatVector | None = None

    @property
    def n_query(self) -> int:
        """Number of query players nq."""
        return int(self.query_values.shape[0])

    @property
    def n_hit(self) -> int:
        """Number of hit players nh."""
        return int(self.hit_values.shape[0])

    def efficiency_gap(self) -> float:
        """Singletons + all pairs - (v(N) - v(empty)); 0 up to rounding for exact results.

        Only defined when the within-side pairs are known (exact); NaN otherwise.
        """
        if self.query_interactions is None or self.hit_interactions is None:
            return float("nan")
        total = self.query_values.sum() + self.hit_values.sum() + self.cross.sum()
        total += np.triu(self.query_interactions, 1).sum() + np.triu(self.hit_interactions, 1).sum()
        return float(total - (self.full_value - self.base_value))

    def as_explanation(self) -> Explanation:
        """The same indices as one :class:`Explanation` over nq + nh players (query first).

        Within-side blocks are zero when they were not estimated.
        """
        nq, nh = self.n_query, self.n_hit
        inter = np.zeros((nq + nh, nq + nh))
        inter[:nq, nq:] = self.cross
        inter[nq:, :nq] = self.cross.T
        if self.query_interactions is not None:
            inter[:nq, :nq] = self.query_interactions
        if self.hit_interactions is not None:
            inter[nq:, nq:] = self.hit_interactions
        return Explanation(
            values=np.concatenate([self.query_values, self.hit_values]),
            interactions=inter,
            base_value=self.base_value,
            full_value=self.full_value,
            method=self.method,
            order=2,
            n_evaluations=self.n_evaluations,
            estimated=self.estimated,
            budget=self.budget,
            meta=dict(self.meta),
            stderr=self._values_stderr(),
            interactions_stderr=self._interactions_stderr(),
        )

    def _values_stderr(self) -> np.ndarray | None:
        if self.query_values_stderr is None or self.hit_values_stderr is None:
            return None
        return np.concatenate([self.query_values_stderr, self.hit_values_stderr])

    def _interactions_stderr(self) -> np.ndarray | None:
        """Cross block from :attr:`cross_stderr`; within-side blocks zero only when exact."""
        if self.cross_stderr is None:
            return None
        nq, nh = self.n_query, self.n_hit
        fill = 0.0 if not self.estimated else np.nan
        out = np.full((nq + nh, nq + nh), fill)
        np.fill_diagonal(out, 0.0)
        out[:nq, nq:] = self.cross_stderr
        out[nq:, :nq] = self.cross_stderr.T
        return out

    def to_dict(self) -> dict:
        """JSON-safe dictionary; :meth:`from_dict` round-trips it."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "meta":
                value = {k: _jsonable(v) for k, v in value.items()}
            out[name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "JointExplanation":
        """Rebuild a :class:`JointExplanation` from :meth:`to_dict` output."""
        arrays = ("cross", "query_values", "hit_values", "query_side_values", "hit_side_values")
        kwargs = dict(data)
        for name in arrays:
            kwargs[name] = np.asarray(data[name], dtype=np.float64)
        for name in ("query_interactions", "hit_interactions", *STDERR_FIELDS):
            kwargs[name] = None if data.get(name) is None else np.asarray(data[name], dtype=np.float64)
        kwargs["meta"] = dict(data.get("meta", {}))
        return cls(**kwargs)


__all__ = ["JointExplanation"]
