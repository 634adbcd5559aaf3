"""Occlusion: leave-one-out drops (order 1) and SBSM-style pair second differences (order 2).

Both are computed from fixed coalitions, not sampled, so their ``stderr`` is zero: the values are
exactly what the method defines (they are not estimates of Shapley values, and the zero says nothing
about their distance to those).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import GameValues
from ..result import Explanation
from .base import Estimator, Plan


def _fixed_rows(n: int) -> np.ndarray:
    """Empty set, full set, then N \\ {i} for every i: shape (n + 2, n)."""
    return np.concatenate([np.zeros((1, n), bool), np.ones((1, n), bool), ~np.eye(n, dtype=bool)])


class Occlusion(Estimator):
    """Leave-one-out occlusion: value_i = v(N) - v(N \\ {i}); n + 2 evaluations.

    Args:
        order: must be 1.
    """

    name = "occlusion"
    orders = (1,)

    def __init__(self, *, order: int = 1) -> None:
        self.order = order

    def minimum_budget(self, n_players: int) -> int:
        """v(empty), v(N) and the n leave-one-out coalitions (fewer when they coincide)."""
        return min(2**n_players, n_players + 2)

    def planned_rows(self, n_players: int, budget: int) -> int:
        """v(empty), v(N) and the n leave-one-out rows."""
        return n_players + 2

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The (n + 2, n) plan and its identity scratch."""
        return (n_players + 2) * (3 * n_players + 32 * games)

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        return Plan(_fixed_rows(n_players), n_players, budget, None, {})

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        n = plan.n_players
        drops = values[1] - values[2 : n + 2]
        e = self._explanation(plan, drops, None, base_value=values[0], full_value=values[1], estimated=False)
        return replace(e, stderr=np.zeros(n))  # computed, not sampled: no sampling error


class SBSM(Estimator):
    """Pair occlusion (SBSM-style): second differences at the full coalition.

    values_i = v(N) - v(N \\ {i}) and, for i != j,
    interactions_ij = v(N) - v(N \\ {i}) - v(N \\ {j}) + v(N \\ {i, j}).
    Costs 2 + n + C(n, 2) evaluations.

    Args:
        order: must be 2.
    """

    name = "sbsm"
    orders = (2,)
    kinds = ("game",)

    def __init__(self, *, order: int = 2) -> None:
        self.order = order

    def minimum_budget(self, n_players: int) -> int:
        """v(empty), v(N), n leave-one-out and C(n,2) leave-two-out coalitions."""
        return min(2**n_players, 2 + n_players + n_players * (n_players - 1) // 2)

    def planned_rows(self, n_players: int, budget: int) -> int:
        """2 + n + C(n, 2) rows."""
        return 2 + n_players + n_players * (n_players - 1) // 2

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The plan (built and concatenated: two bool copies), the pair indices and the (n, n) result."""
        rows = self.planned_rows(n_players, budget)
        return rows * (2 * n_players + 48 + 32 * games) + 8 * n_players * n_players

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        n = n_players
        iu, ju = np.triu_indices(n, 1)
        two_out = np.ones((iu.size, n), dtype=bool)
        two_out[np.arange(iu.size), iu] = False
        two_out[np.arange(iu.size), ju] = False
        return Plan(np.concatenate([_fixed_rows(n), two_out]), n, budget, None, {})

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        n = plan.n_players
        full, one_out, two_out = values[1], values[2 : n + 2], values[n + 2 :]
        iu, ju = np.triu_indices(n, 1)
        inter = np.zeros((n, n))
        second = full - one_out[iu] - one_out[ju] + two_out
        inter[iu, ju] = second
        inter[ju, iu] = second
        e = self._explanation(plan, full - one_out, inter, base_value=values[0], full_value=full, estimated=False)
        return replace(e, stderr=np.zeros(n), interactions_stderr=np.zeros((n, n)))


__all__ = ["Occlusion", "SBSM"]
