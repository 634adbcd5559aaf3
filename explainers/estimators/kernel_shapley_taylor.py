"""Kernel Shapley-Taylor interactions of order 2 (Hamilton et al., arXiv 2103.00370).

Model v(S) ~ v(empty) + sum_{i in S} phi_i + sum_{i<j in S} phi_ij fitted by
weighted least squares with weight pi(s) = (n-1) / (C(n,s) C(s,2) (n-s)) for
2 <= s <= n-1, under hard equality constraints on the empty set, every
singleton (so phi_i = v({i}) - v(empty) = d({i})) and the full set. With every
coalition seen it returns the exact Shapley-Taylor indices; at any budget
sum phi_i + sum phi_ij = v(N) - v(empty).

Standard errors of the pairs: the linearised (sandwich) variance of the
constrained WLS solution under the stratified without-replacement design, with
leverage-adjusted (CR2) residuals (:mod:`..uncertainty`); zeros for the
singletons (evaluated) and for a complete design.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._typing import CoalitionMatrix, FloatMatrix, FloatVector, GameValues
from ..result import Explanation
from ..uncertainty import design_variance
from ._design import ALLOCATIONS, design_bytes_per_row, shapley_taylor_kernel_mass, stratified_design, sum_constrained_wls
from .base import Estimator, Plan


def pair_features(coalitions: CoalitionMatrix) -> np.ndarray:
    """z_i z_j for every pair i < j (row-major upper triangle), shape (m, n(n-1)/2)."""
    z = np.asarray(coalitions, dtype=bool)
    iu, ju = np.triu_indices(z.shape[1], 1)
    return (z[:, iu] & z[:, ju]).astype(np.float64)


def kernel_shapley_taylor_solve(
    coalitions: CoalitionMatrix,
    values: GameValues,
    weights: FloatVector,
    n_players: int,
    *,
    base_value: float,
    full_value: float,
    singleton_values: FloatVector,
    units: np.ndarray | None = None,
) -> tuple[FloatVector, FloatMatrix] | tuple[FloatVector, FloatMatrix, FloatMatrix]:
    """Order-2 Shapley-Taylor indices by constrained weighted least squares.

    Singletons are pinned to phi_i = v({i}) - v(empty); the pairs solve
    argmin sum_r w_r (v(S_r) - v(empty) - sum_{i in S_r} phi_i - sum_{i<j in S_r} phi_ij)^2
    subject to sum_i phi_i + sum_{i<j} phi_ij = v(N) - v(empty). Rows for the
    empty set, singletons or the full set may be included (zero residual).

    Args:
        coalitions: (m, n) boolean coalitions (any design, e.g. a product design).
        values: (m,) their values.
        weights: (m,) non-negative weights; use pi(|S|) divided by the
            inclusion probability of S for a sampled design.
        n_players: number of players n >= 2.
        base_value: v(empty).
        full_value: v(N).
        singleton_values: (n,) v({i}) for every player i.

        units: (m,) sampling unit of each row (-1 fixed) when a standard error is wanted
            (``plan.info["design"].units``); the rows' influences are then returned too.

    Returns:
        ``(singletons, interactions)``: (n,) d({i}) and (n, n) symmetric pair
        indices with zero diagonal; with ``units`` also the (m, C(n, 2)) influence
        of each row on the upper-triangle pairs (row-major), for
        :func:`~..uncertainty.design_variance`.
    """
    z = np.asarray(coalitions, dtype=bool).reshape(-1, n_players)
    single = np.asarray(singleton_values, dtype=np.float64) - base_value
    y = np.asarray(values, dtype=np.float64) - base_value - z.astype(np.float64) @ single
    total = full_value - base_value - single.sum()
    fit = sum_constrained_wls(pair_features(z), y, weights, total, return_influence=units is not None, units=units)
    beta = fit[0] if units is not None else fit
    inter = np.zeros((n_players, n_players))
    iu, ju = np.triu_indices(n_players, 1)
    inter[iu, ju] = beta
    inter[ju, iu] = beta
    return (single, inter) if units is None else (single, inter, fit[1])


class KernelShapleyTaylor(Estimator):
    """Kernel Shapley-Taylor (order 2): constrained WLS on a size-stratified design.

    Plan rows: empty set, full set, the n singletons, then sizes 2..n-1 with
    sample counts in proportion to the kernel mass, without replacement, full
    layers enumerated when the budget covers them (most over-sampled first).

    Pairing is off by default. The Shapley-Taylor kernel is far from symmetric
    (for n = 15 the mass of size 2 is 12x that of size 13), so sampling S with
    N \\ S forces equal counts on sizes of very different mass, against the
    kernel-mass allocation; unlike Kernel SHAP it buys no exactness (it is not
    exact for order-3 games either way). On the 30 games of
    ``benchmarks/estimators.py`` (n = 15) ``paired=True`` has 1.6-2.5x the
    pair MSE of ``paired=False`` at every budget from 1 % to 20 % of 2^n.

    Args:
        order: must be 2.
        paired: sample each coalition together with its complement (when
            both sizes are in 2..n-1).
        allocation: ``"kernel"`` (kernel mass, Hamilton et al.), ``"uniform"``
            or ``"sqrt"``.
    """

    name = "kernel-shapley-taylor"
    orders = (2,)
    kinds = ("game",)
    exact_orders = (2,)
    efficient_orders = (2,)
    stochastic = True

    def __init__(self, *, order: int = 2, paired: bool = False, allocation: str = "kernel") -> None:
        self.order = order
        self.paired = paired
        self.allocation = allocation

    def minimum_budget(self, n_players: int) -> int:
        """v(empty), the n singletons and v(N): n + 2 (2^n when smaller)."""
        return min(2**n_players, n_players + 2)

    def default_budget(self, n_players: int) -> int:
        """n + 2 + max(2048, 4 C(n,2)), capped at 2^n."""
        return min(2**n_players, n_players + 2 + max(2048, 2 * n_players * (n_players - 1)))

    def _small_budget_hint(self) -> str:
        return " (v(empty), every singleton and v(N)), plus samples for the pairs"

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The design, then the dense (rows, C(n,2)) pair features (four float64 copies in the constrained
        solve) and its (C(n,2), C(n,2)) Gram matrix, eigenvectors and pseudo-inverse."""
        n, rows = n_players, self.planned_rows(n_players, budget)
        pairs = n * (n - 1) // 2
        return rows * (design_bytes_per_row(n) + 35 * pairs + 16 * n + 24 * games) + 40 * pairs * pairs

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        if self.allocation not in ALLOCATIONS:
            raise ValueError(
                f"KernelShapleyTaylor(allocation=...) must be one of {ALLOCATIONS}; got {self.allocation!r}."
            )
        n = n_players
        fixed = np.concatenate([np.zeros((1, n), bool), np.ones((1, n), bool), np.eye(n, dtype=bool)])
        z, w, info = stratified_design(
            n, range(2, n), shapley_taylor_kernel_mass, min(budget, 2**n) - (n + 2), rng,
            paired=self.paired, allocation=self.allocation,
        )
        coalitions = np.concatenate([fixed, z], axis=0)
        weights = np.concatenate([np.zeros(n + 2), w])
        info = {**info, "design": info["design"].after_fixed(n + 2)}
        return Plan(coalitions, n, budget, weights, info)

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        n = plan.n_players
        design = plan.info["design"]
        single, inter, influence = kernel_shapley_taylor_solve(
            plan.coalitions, values, plan.weights, n,
            base_value=values[0], full_value=values[1], singleton_values=values[2 : n + 2], units=design.units,
        )
        pair_se = np.sqrt(design_variance(influence, design))
        inter_se = np.zeros((n, n))
        iu, ju = np.triu_indices(n, 1)
        inter_se[iu, ju] = pair_se
        inter_se[ju, iu] = pair_se
        e = self._explanation(
            plan, single, inter, base_value=values[0], full_value=values[1],
            estimated=not plan.info["complete"], allocation=self.allocation, paired=self.paired,
            enumerated_sizes=plan.info["enumerated_sizes"], stderr_method="sandwich",
            stderr_dof=design.dof(n * (n - 1) // 2 - 1),
        )
        return replace(e, stderr=np.zeros(n), interactions_stderr=inter_se)  # singletons are evaluated exactly


__all__ = ["KernelShapleyTaylor", "kernel_shapley_taylor_solve", "pair_features"]
