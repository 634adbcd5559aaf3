"""Kernel SHAP with efficiency as an exact constraint (Lundberg & Lee 2017).

Design (see :mod:`._design`): v(empty) and v(N) are always evaluated and enter
as hard constraints; the remaining budget goes to a size-stratified, paired
(S with N \\ S), without-replacement sample in which the smallest and largest
sizes are enumerated completely whenever the budget covers them. Each sampled
coalition gets the Horvitz-Thompson weight mass(s)/k_s, so at a budget of 2^n
every coalition is seen with its exact Shapley-kernel weight and the result is
the exact Shapley value.

Two solvers share the design:

* ``"wls"`` (:func:`kernel_shap_solve`): the classic constrained weighted
  least squares of v(S) - v(empty) on the indicators z(S).
* ``"stratified"`` (default, :func:`stratified_kernel_shap_solve`): the same
  regression with one intercept per coalition size. It rests on the identity
  phi_i = (v(N) - v(empty))/n + (1/n) sum_{s=1}^{n-1} D_i(s), where D_i(s) is
  the mean of v over size-s coalitions that contain i minus the mean over
  those that do not. Enumerated sizes give D(s) exactly; the sampled sizes
  share one within-size regression slope, so how the mean of v changes with
  the coalition size no longer leaks into the attributions through sampling
  imbalance. The shared slope may vary with the size as an even polynomial
  about n/2 (``size_degree``, default 2; lowered, down to the classic solve,
  when too few rows were sampled). It keeps efficiency exactly, is exact at
  budget 2^n and, with paired sampling, exact for games with interactions of
  order <= 2.

The default ``allocation="sqrt"`` splits the sampled budget over sizes in
proportion to sqrt(kernel mass x 1), the Neyman allocation for per-size
slopes with equal residual spread (between shap's kernel-mass split and the
equal-per-size split of Leverage SHAP). ``benchmarks/estimators.py`` compares
the options.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from .._typing import CoalitionMatrix, FloatVector, GameValues
from ..result import Explanation
from ..uncertainty import design_variance, jackknife_residuals, pinv_gram, wls_row_influence
from ._design import ALLOCATIONS, design_bytes_per_row, min_norm_lstsq, shapley_kernel_mass, stratified_design, sum_constrained_wls
from .base import Estimator, Plan

SOLVERS = ("stratified", "wls")


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


def size_polynomials(sizes: np.ndarray, n_players: int, degree: int) -> np.ndarray:
    """Even powers ((s - n/2) / (n/2))^d, d = 0, 2, ..., degree, of each size; shape (len(sizes), degree//2 + 1)."""
    x = (np.asarray(sizes, dtype=np.float64) - n_players / 2) / (n_players / 2)
    return np.stack([x**d for d in range(0, degree + 1, 2)], axis=1)


def stratified_kernel_shap_solve(
    coalitions: CoalitionMatrix,
    values: GameValues,
    weights: FloatVector,
    *,
    base_value: float,
    full_value: float,
    complete_sizes: Sequence[int] = (),
    size_degree: int = 2,
    min_rows_per_parameter: float = 3.0,
    return_influence: bool = False,
    units: np.ndarray | None = None,
    diagnostics: dict | None = None,
) -> FloatVector | tuple[FloatVector, np.ndarray]:
    """Shapley values from size strata: exact where a size is complete, a fitted slope elsewhere.

    Uses phi_i = (v(N) - v(empty))/n + (1/n) sum_{s=1}^{n-1} D_i(s) with
    D_i(s) = mean(v | |S|=s, i in S) - mean(v | |S|=s, i not in S). For sizes
    in ``complete_sizes`` (every coalition of that size present once) D(s) is
    computed exactly. For the other sizes it comes from one weighted least
    squares fit over their rows: one intercept per size and a within-size
    slope beta(s) = sum_d gamma_d q_d(s), with q_d the even powers of
    (s - n/2)/(n/2) up to ``size_degree`` (D_i(s) is a polynomial in s of
    degree < the game's interaction order, and paired designs see only its
    part that is even about n/2); then D_i(s) = n/(n-1) (beta_i(s) - mean beta(s)).
    ``size_degree=0`` is one shared slope. The fit never extrapolates from
    the complete sizes; rows of size 0 or n are ignored. The degree is
    lowered while the sampled rows number fewer than
    ``min_rows_per_parameter`` per fitted parameter, and below that even for
    degree 0 the classic :func:`kernel_shap_solve` on all rows is returned.

    Args:
        coalitions: (m, n) boolean coalitions.
        values: (m,) their values, or (m, k) for k games on the same
            coalitions (one query against k hits), solved together.
        weights: (m,) non-negative weights (kernel mass of the size over the
            number of coalitions of that size in the design).
        base_value: v(empty) (a (k,) array for k games).
        full_value: v(N) (likewise).
        complete_sizes: sizes whose whole layer is in ``coalitions``.
        size_degree: highest even power of the size in the slope model.
        min_rows_per_parameter: sampled rows needed per fitted parameter.
        return_influence: also return each row's first-order influence on the
            values, (m, n) ((m, n, k) for k games; zero for rows outside the fit),
            from which :func:`~..uncertainty.design_variance` gives the sandwich variance.
        units: (m,) sampling unit of each row (``plan.info["design"].units``): residuals are then
            adjusted for each unit's leverage (:func:`~..uncertainty.jackknife_residuals`).
        diagnostics: a dict that receives ``"n_parameters"``, the free parameters fitted
            beyond the per-size intercepts (for the degrees of freedom of the error).

    Returns:
        (n,) Shapley value estimates, summing to ``full_value - base_value``
        ((n, k) for k games); with ``return_influence`` the pair (values, influences).
    """
    z = np.asarray(coalitions, dtype=bool)
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = z.shape[1]
    many = v.ndim == 2  # (m, k): k games on the same coalitions, solved together
    v2 = v if many else v[:, None]
    base = np.broadcast_to(np.asarray(base_value, dtype=np.float64), v2.shape[1:])
    full = np.broadcast_to(np.asarray(full_value, dtype=np.float64), v2.shape[1:])
    phi = np.repeat(((full - base) / n)[None, :], n, axis=0)  # (n, k)
    influence = np.zeros((z.shape[0], n, v2.shape[1]))

    def done(values: np.ndarray) -> FloatVector | tuple[FloatVector, np.ndarray]:
        out = values if many else values[:, 0]
        if not return_influence:
            return out
        return out, (influence if many else influence[:, :, 0])

    if diagnostics is not None:
        diagnostics["n_parameters"] = 0
    if n == 1:
        return done(phi)
    size = z.sum(axis=1)
    complete = sorted({int(s) for s in complete_sizes if 0 < s < n})
    for s in complete:
        layer = size == s
        zs = z[layer].astype(np.float64)
        vs = v2[layer]
        inside = (zs.T @ vs) / zs.sum(axis=0)[:, None]
        outside = ((1.0 - zs).T @ vs) / (1.0 - zs).sum(axis=0)[:, None]
        phi += (inside - outside) / n
    rest = np.array([s for s in range(1, n) if s not in complete], dtype=np.int64)
    rows = np.isin(size, rest) & (w > 0)
    if not rows.any():
        return done(phi)
    layers = np.unique(size[rows])
    n_rows = int(rows.sum())
    while size_degree > 0 and n_rows < min_rows_per_parameter * (n * (size_degree // 2 + 1) + layers.size):
        size_degree -= 2
    if n_rows < min_rows_per_parameter * (n + layers.size):  # too few rows for per-size intercepts
        if diagnostics is not None:
            diagnostics["n_parameters"] = n - 1
        y = v2 - base[None, :]
        zf = z.astype(np.float64)
        for j in range(v2.shape[1]):
            phi[:, j], influence[:, :, j] = sum_constrained_wls(zf, y[:, j], w, full[j] - base[j],
                                                                return_influence=True, units=units)
        return done(phi)
    dummies = (size[rows][:, None] == layers[None, :]).astype(np.float64)
    poly = size_polynomials(size[rows], n, size_degree)  # (r, d)
    zf = z[rows].astype(np.float64)
    slopes = (zf[:, :, None] * poly[:, None, :]).reshape(zf.shape[0], -1)  # (r, n*d), player-major
    root = np.sqrt(w[rows])
    features = np.concatenate([slopes, dummies], axis=1) * root[:, None]
    target = v2[rows] * root[:, None]
    coef = min_norm_lstsq(features, target)  # (n*d + layers, k)
    if diagnostics is not None:  # slopes up to the player sum, which the intercepts absorb
        diagnostics["n_parameters"] = (n - 1) * (size_degree // 2 + 1)
    gamma = coef[: slopes.shape[1]].reshape(n, -1, v2.shape[1]).copy()  # (n, d, k)
    gamma -= gamma.mean(axis=0)
    poly_sum = size_polynomials(rest, n, size_degree).sum(axis=0)  # (d,)
    phi += np.einsum("idk,d->ik", gamma, poly_sum) / (n - 1)
    if return_influence:  # phi = L coef: centre the slopes over players, weight by the summed size powers
        n_d = poly_sum.size
        value_map = np.zeros((n, features.shape[1]))
        for i in range(n):
            value_map[i, i * n_d : (i + 1) * n_d] = poly_sum
        value_map[:, : n * n_d] -= np.tile(poly_sum, n) / n
        value_map /= n - 1
        gram_pinv = pinv_gram(features)
        resid = target - features @ coef
        if units is not None:
            resid = jackknife_residuals(features, resid, gram_pinv, np.asarray(units)[rows])
        influence[rows] = wls_row_influence(features, resid, gram_pinv, value_map)
    return done(phi)


class KernelSHAP(Estimator):
    """Kernel SHAP: constrained WLS on a size-stratified paired design without replacement.

    Args:
        order: must be 1.
        paired: sample each coalition together with its complement.
        allocation: how the sampled budget is split over sizes: ``"kernel"``
            (Shapley-kernel mass, as shap), ``"uniform"`` (equal per size, the
            leverage-score design of Musco & Witter 2024) or ``"sqrt"``
            (their geometric mean: Neyman allocation for the per-size slopes
            when the residual spread is the same at every size).
        solver: ``"stratified"`` (per-size intercepts, see the module
            docstring) or ``"wls"`` (classic constrained Kernel SHAP).
        size_degree: even degree in the coalition size of the stratified
            solver's slope model (0: one shared slope).
    """

    name = "kernel-shap"
    orders = (1,)
    exact_orders = (1,)
    efficient_orders = (1,)
    stochastic = True

    def __init__(
        self,
        *,
        order: int = 1,
        paired: bool = True,
        allocation: str = "sqrt",
        solver: str = "stratified",
        size_degree: int = 2,
    ) -> None:
        self.order = order
        self.paired = paired
        self.allocation = allocation
        self.solver = solver
        self.size_degree = size_degree

    def minimum_budget(self, n_players: int) -> int:
        """v(empty), v(N) and one complementary pair: min(2^n, 4)."""
        return min(2**n_players, 4)

    def default_budget(self, n_players: int) -> int:
        """shap's default, 2n + 2048, capped at 2^n."""
        return min(2**n_players, 2 * n_players + 2048)

    def _small_budget_hint(self) -> str:
        return " (v(empty), v(N) and one coalition pair)"

    def _work_bytes(self, n_players: int, budget: int, games: int) -> int:
        """The design (sampling scratch, row keys) and the solve's float64 feature matrices."""
        n, rows = n_players, self.planned_rows(n_players, budget)
        if self.solver == "wls":
            per_row, params = 32 * n + 24 * games, n
        else:
            width = n * (int(self.size_degree) // 2 + 1) + n  # slopes x size powers, one intercept per size
            per_row, params = 8 * (3 * width + n) + 24 * games, width
        return rows * (design_bytes_per_row(n) + per_row) + 32 * params * (params + games)

    def _plan(self, n_players: int, budget: int, rng: np.random.Generator) -> Plan:
        if self.allocation not in ALLOCATIONS:
            raise ValueError(
                f"KernelSHAP(allocation=...) must be one of {ALLOCATIONS}; got {self.allocation!r}."
            )
        if self.solver not in SOLVERS:
            raise ValueError(f"KernelSHAP(solver=...) must be one of {SOLVERS}; got {self.solver!r}.")
        if not (isinstance(self.size_degree, int) and self.size_degree >= 0 and self.size_degree % 2 == 0):
            raise ValueError(
                f"KernelSHAP(size_degree=...) must be an even integer >= 0; got {self.size_degree!r}."
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
        info = {**info, "design": info["design"].after_fixed(2)}
        return Plan(coalitions, n, budget, weights, info)

    def _solve_many(self, plan: Plan, values: np.ndarray) -> list[Explanation]:
        if self.solver == "wls" or not np.all(np.isfinite(values)):
            return super()._solve_many(plan, values)  # per column (and its error for non-finite values)
        fit: dict = {}
        phi, influence = stratified_kernel_shap_solve(
            plan.coalitions, values, plan.weights, base_value=values[0], full_value=values[1],
            complete_sizes=plan.info["enumerated_sizes"], size_degree=int(self.size_degree), return_influence=True,
            units=plan.info["design"].units, diagnostics=fit,
        )
        se = np.sqrt(design_variance(influence, plan.info["design"]))  # (n, k)
        return [self._result(plan, phi[:, j], se[:, j], values[:, j], fit["n_parameters"]) for j in range(values.shape[1])]

    def _solve(self, plan: Plan, values: GameValues) -> Explanation:
        fit = {"n_parameters": plan.n_players - 1}
        if self.solver == "wls":
            phi, influence = sum_constrained_wls(
                plan.coalitions.astype(np.float64), values - values[0], plan.weights, values[1] - values[0],
                return_influence=True, units=plan.info["design"].units,
            )
        else:
            phi, influence = stratified_kernel_shap_solve(
                plan.coalitions, values, plan.weights, base_value=values[0], full_value=values[1],
                complete_sizes=plan.info["enumerated_sizes"], size_degree=int(self.size_degree),
                return_influence=True, units=plan.info["design"].units, diagnostics=fit,
            )
        se = np.sqrt(design_variance(influence, plan.info["design"]))
        return self._result(plan, phi, se, values, fit["n_parameters"])

    def _result(self, plan: Plan, phi: FloatVector, stderr: FloatVector, values: GameValues,
                n_parameters: int) -> Explanation:
        """The explanation with its sandwich standard errors (zeros when every size was enumerated)."""
        design = plan.info["design"]
        e = self._explanation(
            plan, phi, None, base_value=values[0], full_value=values[1],
            estimated=not plan.info["complete"], allocation=self.allocation, paired=self.paired,
            solver=self.solver, enumerated_sizes=plan.info["enumerated_sizes"],
            stderr_method="sandwich", stderr_dof=design.dof(n_parameters),
        )
        return replace(e, stderr=stderr)


__all__ = ["KernelSHAP", "kernel_shap_solve", "stratified_kernel_shap_solve", "SOLVERS"]
