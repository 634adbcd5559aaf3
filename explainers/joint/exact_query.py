"""The stratified joint sampler with the query side enumerated: every query mask, hit masks sampled.

For a text query the words are few and a text encode is cheap, so the text side can be
enumerated (2^w masks, w <= :data:`EXACT_QUERY_PLAYERS`) while the image side is sampled as
for image pairs. :class:`QueryExactStratified` is :class:`~.stratified.StratifiedJoint` with its
query side replaced by every mask: the query-side stratum means are then exact, so every
remaining error comes from the hit side. It is chosen by the pipeline of sides (not by name:
its ``method`` is still ``"stratified"``, its meta says ``query_side="exact"``).
"""

from __future__ import annotations

import numpy as np

from ..coalitions import all_coalitions
from ..scores import check_score, score_matrix
from .base import check_dims
from .design import (_prep, _side_importance, _side_minimum, context_weights, fixed_plan_side, pilot_side, plan_side,
                     stratum_spread)
from .stratified import StratifiedJoint

EXACT_QUERY_PLAYERS = 12
"""Most query players enumerated exactly by the joint sampler of a text query (2^12 text encodes)."""


class QueryExactStratified(StratifiedJoint, register=False):
    """``method="stratified"`` with every query mask (2^nq) and stratified hit masks (the rest of the budget)."""

    def minimum_budget(self, n_players: tuple[int, int]) -> int:  # type: ignore[override]
        """2^nq query masks plus the hit side's stratified minimum."""
        nq, nh = n_players
        return 2**nq + sum(_side_minimum(nh))

    def sample(self, query, hit, *, score: str, budget: int, rng: np.random.Generator):
        """``(zq, zh, eq, eh, values)``: all query masks; hit masks at a fixed count per size (unbiased, the
        default) or, with ``unbiased=False``, in two rounds (pilot, then Neyman: data-driven, biased)."""
        nq, nh = query.n_players, hit.n_players
        if nq > EXACT_QUERY_PLAYERS:
            raise ValueError(f"QueryExactStratified enumerates the query side: at most {EXACT_QUERY_PLAYERS} "
                             f"players (2^{EXACT_QUERY_PLAYERS} masks); got {nq}. Use method='stratified'.")
        metric = check_score(score)
        self.check_budget((nq, nh), budget)
        zq = all_coalitions(nq)
        left = min(int(budget) - 2**nq, 2**nh if nh < 62 else int(budget))
        if self.unbiased:  # a fixed count per hit mask size, as the parent's unbiased design
            zh = fixed_plan_side(nh, left, _side_importance(context_weights(nq, nh), 1), rng)
            eq, eh = query.embed(zq), hit.embed(zh)
            check_dims(eq, eh)
            return zq, zh, eq, eh, score_matrix(eq, eh, metric)
        zh = pilot_side(nh, rng)
        eq, eh = query.embed(zq), hit.embed(zh)
        check_dims(eq, eh)
        importance = _side_importance(context_weights(nq, nh), 1) * stratum_spread(zh, _prep(eh, metric))
        zh2 = plan_side(nh, left, importance, rng, pilot=zh)
        if len(zh2):
            eh, zh = np.concatenate([eh, hit.embed(zh2)]), np.concatenate([zh, zh2])
        return zq, zh, eq, eh, score_matrix(eq, eh, metric)

    def estimate(self, query, hit, *, score, budget, rng):  # noqa: D102 (see StratifiedJoint.estimate)
        parts = super().estimate(query, hit, score=score, budget=budget, rng=rng)
        parts["meta"] = {**parts.get("meta", {}), "query_side": "exact"}
        return parts


__all__ = ["EXACT_QUERY_PLAYERS", "QueryExactStratified"]
