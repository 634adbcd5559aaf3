"""Exact Shapley values and order-2 Shapley-Taylor indices from all 2^n coalitions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import GameValues
from ..coalitions import all_coalitions
from ..exact import shapley_taylor_order2, shapley_values
from ..result import Explanation
from .base import Estimator, Plan, check_n_players

MAX_PLAYERS = 20
"""Largest n the exact method enumerates (2^20 ~ 1e6 coalitions)."""


class Exact(Estimator):
    """Evaluate every coalition, then apply the O(n 2^n) Moebius-based formulas.

    Args:
        order: 1 (Shapley values) or 2 (Shapley-Taylor singletons and pairs).
    """

    name = "exact"
    orders = (1, 2)
    exact_orders = (1, 2)
    efficient_orders = (1, 2)

    def __init__(self, *, order: int = 1) -> None:
        self.order = order

    @classmethod
    def fits(cls, n_players: int | tuple[int, int], *, score: str | None = None) -> bool:
        """Whether 2^n coalitions can be enumerated: n <= :data:`MAX_PLAYERS`."""
        return int(n_players) <= MAX_PLAYERS

    def planned_rows(self, n_players: int, budget: int) -> int:
        """All 2^n coalitions, whatever the budget."""
        return 2**n_players

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The enumeration (an int64 (2^n, n) temporary, the bool table) and the Moebius/size tables."""
        return 2**n_players * (9 * n_players + 16 + (48 if self.order == 1 else 96) * games)

    def minimum_budget(self, n_players: int) -> int:
        """Every coalition: 2^n."""
        return 2**n_players

    def default_budget(self, n_players: int) -> int:
        """2^n."""
        return 2**n_players

    def _small_budget_hint(self) -> str:
        alt = "kernel-shap" if self.order == 1 else "kernel-shapley-taylor"
        return f", or use a sampling method such as method={alt!r}"

    def plan(self, n_players: int, budget: int | None, rng: np.random.Generator) -> Plan:
        """All 2^n coalitions in bitmask order (row k holds the bits of k)."""
        n = check_n_players(n_players, caller="method='exact'")
        if n > MAX_PLAYERS:
            alt = "kernel-shap" if self.order == 1 else "kernel-shapley-taylor"
            raise ValueError(
                f"method='exact' enumerates 2^n coalitions and supports n_players <= {MAX_PLAYERS}; "
                f"got n_players={n} (2^{n} = {2**n:,} evaluations). Use a sampling method such as "
                f"method={alt!r} (or 'permutation') with a budget."
            )
        return super().plan(n, budget, rng)

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        return Plan(all_coalitions(n_players), n_players, budget, None, {})

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        if self.order == 1:
            phi, inter = shapley_values(values), None
        else:
            phi, inter = shapley_taylor_order2(values)
        e = self._explanation(plan, phi, inter, base_value=values[0], full_value=values[-1], estimated=False)
        n = plan.n_players
        return replace(e, stderr=np.zeros(n), interactions_stderr=None if inter is None else np.zeros((n, n)))


__all__ = ["Exact", "MAX_PLAYERS"]
