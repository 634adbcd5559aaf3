"""Benchmark-only joint estimator ``"product-kst"``: Kernel Shapley-Taylor regression on the product design.

It draws the same masks as ``"stratified"`` and solves the constrained Kernel
Shapley-Taylor regression of the core (:func:`kernel_shapley_taylor_solve`)
on the query-mask x hit-mask combinations, so it also estimates the
within-side pairs. Kept for comparison only (``benchmarks/RESULTS.md``: much
worse than the stratified solve). Importing this file registers it (kind
``"joint"``) by subclassing; nothing in the package names it::

    import _product_kst                       # benchmarks/ on sys.path
    explain_joint(fq, fh, 8, 8, method="product-kst", budget=400)
"""

from __future__ import annotations

from math import comb

import numpy as np

from qdrant_explain.explainers.estimators.kernel_shapley_taylor import kernel_shapley_taylor_solve
from qdrant_explain.explainers.joint import StratifiedJoint, stratified_joint_from_samples


def product_kst_from_samples(
    zq: np.ndarray, zh: np.ndarray, values: np.ndarray, rng: np.random.Generator, *, max_rows: int = 20000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel Shapley-Taylor (constrained WLS) on a product design; for comparison with the stratified solve.

    Every (query mask, hit mask) combination is a joint coalition (a uniform
    subsample of ``max_rows`` when there are more), weighted by the Shapley-Taylor
    kernel pi(|A|+|B|) over its inclusion probability (K_a / C(nq, a)) (K_b / C(nh, b)).
    Uses the core's :func:`kernel_shapley_taylor_solve` (singletons, v(empty) and
    v(N) as hard constraints).

    Returns:
        (cross (nq, nh), query_interactions (nq, nq), hit_interactions (nh, nh)).
    """
    nq, nh = zq.shape[1], zh.shape[1]
    m = nq + nh
    sq, sh = zq.sum(1), zh.sum(1)
    kq = np.bincount(sq, minlength=nq + 1).astype(np.float64)
    kh = np.bincount(sh, minlength=nh + 1).astype(np.float64)
    inv_q = np.array([comb(nq, a) for a in range(nq + 1)], dtype=np.float64) / np.maximum(kq, 1)
    inv_h = np.array([comb(nh, b) for b in range(nh + 1)], dtype=np.float64) / np.maximum(kh, 1)
    total = zq.shape[0] * zh.shape[0]
    flat = np.arange(total) if total <= max_rows else rng.choice(total, size=max_rows, replace=False)
    rq, rh = np.divmod(flat, zh.shape[0])
    size = sq[rq] + sh[rh]
    pi = np.zeros(m + 1)
    for t in range(2, m):
        pi[t] = (m - 1) / (comb(m, t) * comb(t, 2) * (m - t))
    weights = pi[size] * inv_q[sq[rq]] * inv_h[sh[rh]]
    joint = np.concatenate([zq[rq], zh[rh]], axis=1)
    i_eq, i_eh = int(np.flatnonzero(sq == 0)[0]), int(np.flatnonzero(sh == 0)[0])
    i_fq, i_fh = int(np.flatnonzero(sq == nq)[0]), int(np.flatnonzero(sh == nh)[0])
    singles = np.concatenate([
        [values[int(np.flatnonzero((sq == 1) & zq[:, i])[0]), i_eh] for i in range(nq)],
        [values[i_eq, int(np.flatnonzero((sh == 1) & zh[:, j])[0])] for j in range(nh)],
    ])
    _, inter = kernel_shapley_taylor_solve(
        joint, values[rq, rh], weights, m,
        base_value=float(values[i_eq, i_eh]), full_value=float(values[i_fq, i_fh]), singleton_values=singles,
    )
    return inter[:nq, nq:], inter[:nq, :nq], inter[nq:, nq:]


class ProductKST(StratifiedJoint):
    """``"product-kst"``: the stratified sampler's masks, solved by constrained Kernel Shapley-Taylor.

    Efficient (singletons + every pair sum to v(N) - v(empty)) and exact when
    every mask of both sides is drawn.

    Args:
        order: must be 2.
    """

    name = "product-kst"
    exact_orders = (2,)
    efficient_orders = (2,)

    def __init__(self, *, order: int = 2) -> None:
        self.order = order
        self.control_variate = False
        self.unbiased = False  # the earlier two-round masks (this solve gives no standard errors)

    def memory_bytes(self, n_players, budget=None, *, dim=512, games=1, score=None):  # noqa: D102
        """The sampler's product design plus the Kernel Shapley-Taylor regression on at most 20,000
        (query mask, hit mask) rows: dense float64 pair features of the nq + nh players, four copies."""
        nq, nh = (int(n) for n in n_players)
        budget = self.default_budget((nq, nh)) if budget is None else int(budget)
        kq = kh = max(budget, self.minimum_budget((nq, nh)))
        rows = min(kq * kh, 20000)
        pairs = (nq + nh) * (nq + nh - 1) // 2
        regression = rows * (35 * pairs + 16 * (nq + nh) + 64) + 40 * pairs * pairs
        return int(super().memory_bytes((nq, nh), budget, dim=dim, games=games, score=score) + regression)

    def solve_samples(self, zq, zh, eq, eh, values, *, score, rng, neighbours=(None, None)):  # noqa: D102 (see StratifiedJoint)
        cross, q_inter, h_inter = product_kst_from_samples(zq, zh, values, rng)
        _, side_q, side_h = stratified_joint_from_samples(zq, zh, values)
        return dict(cross=cross, query_interactions=q_inter, hit_interactions=h_inter, query_side_values=side_q,
                    hit_side_values=side_h)


__all__ = ["ProductKST", "product_kst_from_samples"]
