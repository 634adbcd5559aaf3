"""A third-party estimator: leave-one-in, v({i}) - v(empty) for each player (n + 2 evaluations).

Subclassing ``Estimator`` with a ``name`` is the whole registration: the method then works in
``explain_game``, ``explain_pair``/``SearchExplainer`` (kind "side") and the CLI's ``--method``.
"""

from __future__ import annotations

import numpy as np

from qdrant_explain.explainers import Estimator, Plan


class LeaveOneIn(Estimator):
    """Each player alone against the empty coalition: a cheap first look, not a Shapley value."""

    name, orders, kinds = "leave-one-in", (1,), ("game", "side")

    def minimum_budget(self, n_players: int) -> int:
        return n_players + 2

    def default_budget(self, n_players: int) -> int:
        return n_players + 2

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        empty = np.zeros((1, n_players), dtype=bool)
        full = np.ones((1, n_players), dtype=bool)
        return Plan(np.concatenate([empty, full, np.eye(n_players, dtype=bool)]), n_players, budget)

    def _solve(self, plan: Plan, values: np.ndarray):
        return self._explanation(plan, values[2:] - values[0], None, base_value=values[0], full_value=values[1],
                                 estimated=True)
