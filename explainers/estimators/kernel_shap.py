"""Kernel SHAP with efficiency as an exact constraint (Lundberg & Lee 2017).

Design (see :mod:`._design`): v(empty) and v(N) are always evaluated and enter
as hard constraints; the remaining budget goes to a size-stratified, paired
(S with N \\ S), without-replacement sample in which the smallest and largest
sizes are enumerated completely whenever the budget covers them. Each sampled
coalition gets the Horvitz-Thompson weight mass(s)/k_s, so at a budget of 2^n
every coalition is seen with its exact Shapley-kernel weight and the result is
the exact Shapley value.
"""

from __future__ import annotations

import numpy as np

from .._typing import CoalitionMatrix, FloatVector, GameValues
from ..result import Explanation
from ._design import ALLOCATIONS, shapley_kernel_mass, stratified_design, sum_constrained_wls
from .base import Estimator, Plan


def kernel_shap_solve(
    coalitions: CoalitionMatrix,
    values: GameValues,
    weights: FloatVector,
    *,
    base_value: float,
    full_value: float,
) -> FloatVector:
    """Shapley values by weighted least squares with exact efficiency.

    Solves argmin_phi sum_r w_r (v(S_r) - v(empty) - sum_{i in S_r} phi_i)^2
    subject to sum_i phi_i = v(N) - v(empty). Rows for the empty or full
    coalition may be included: under the constraints their residual is 0.

    Args:
        coalitions: (m, n) boolean coalitions.
        values: (m,) their values.
        weights: (m,) non-negative regression weights (e.g. Shapley kernel
            weights divided by inclusion probabilities).
        base_value: v(empty).
        full_value: v(N).

    Returns:
        (n,) Shapley value estimates; they sum to ``full_value - base_value``.
    """
    z = np.asarray(coalitions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64) - base_value
    return sum_constrained_wls(z, y, weights, full_value - base_value)


class KernelSHAP(Estimator):
    """Kernel SHAP: constrained WLS on a size-stratified paired design without replacement.

    Args:
        order: must be 1.
        paired: sample each coalition together with its complement.
        allocation: how the sampled budget is split over sizes: ``"kernel"``
            (Shapley-kernel mass, as shap), ``"uniform"`` (equal per size, the
            leverage-score design of Musco & Witter 2024) or ``"sqrt"``.
    """

    name = "kernel-shap"
    orders = (1,)

    def __init__(self, *, order: int = 1, paired: bool = True, allocation: str = "kernel") -> None:
        self.order = order
        self.paired = paired
        self.allocation = allocation

    def minimum_budget(self, n_players: int) -> int:
        """v(empty), v(N) and one complementary pair: min(2^n, 4)."""
        return min(2**n_players, 4)

    def default_budget(self, n_players: int) -> int:
        """shap's default, 2n + 2048, capped at 2^n."""
        return min(2**n_players, 2 * n_players + 2048)

    def _small_budget_hint(self) -> str:
        return " (v(empty), v(N) and one coalition pair)"

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        if self.allocation not in ALLOCATIONS:
            raise ValueError(
                f"KernelSHAP(allocation=...) must be one of {ALLOCATIONS}; got {self.allocation!r}."
            )
        n = n_players
        fixed = np.zeros((2, n), dtype=bool)
        fixed[1] = True
        z, w, info = stratified_design(
            n, range(1, n), shapley_kernel_mass, min(budget, 2**n) - 2, rng,
            paired=self.paired, allocation=self.allocation,
        )
        coalitions = np.concatenate([fixed, z], axis=0)
        weights = np.concatenate([np.zeros(2), w])
        return Plan(coalitions, n, budget, weights, info)

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        phi = kernel_shap_solve(
            plan.coalitions, values, plan.weights, base_value=values[0], full_value=values[1]
        )
        return self._explanation(
            plan, phi, None, base_value=values[0], full_value=values[1],
            estimated=not plan.info["complete"], allocation=self.allocation, paired=self.paired,
            enumerated_sizes=plan.info["enumerated_sizes"],
        )


__all__ = ["KernelSHAP", "kernel_shap_solve"]
