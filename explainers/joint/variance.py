"""Standard errors of the stratified joint sampler, from its strata (no extra encodes, no resampling).

Every estimate of :class:`~.stratified.StratifiedJoint` is built from stratum
means: per side, the mean of a per-mask quantity (the residual of the control
variate, or a row of the score table) over the sampled masks of size s with /
without player i. The sides are sampled independently and, within a side, the
sizes independently with fixed counts, so the sampling variance of a
linear functional ``sum_a <err[a, i], w[a]>`` of one side's errors is the sum
over sizes of stratum-mean variances: ``S^2 (1 - N/P) / N`` with ``S^2`` the
spread of the projected quantity over the sampled masks of that size (pooled
over players), ``N`` the masks of the domain (size s with / without i) and
``P`` its population (``C(n-1, s-1)`` / ``C(n-1, s)``); enumerated sizes add 0.

A cross index is bilinear in the two sides' errors. Its variance is estimated
by linearisation: the query side's variance with the hit side's estimated
deltas as weights, plus the hit side's with the query side's (the plug-in
weights carry the product of the two errors, to first order).
"""

from __future__ import annotations

from math import comb

import numpy as np


def stratum_variance(z: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sampling variance of ``sum_a <err_i[a], weights[a, :, j]>`` for every player i and column j.

    ``err_i[a] = err(mean over size a+1 with i) - err(mean over size a without i)``
    of the per-mask ``values``: the error of the stratified estimate of the mean
    marginal change of player i at context size a.

    Args:
        z: (K, n) bool masks of one side.
        values: (K, p) the sampled per-mask quantity (control-variate residuals,
            or score-table rows).
        weights: (n, p, J) weight of each context size a = 0..n-1.

    Returns:
        (n, J) variances (>= 0; 0 when every size is enumerated).
    """
    k, n = z.shape
    sizes = z.sum(axis=1)
    out = np.zeros((n, weights.shape[2]))
    for s in range(n + 1):
        rows = np.flatnonzero(sizes == s)
        if rows.size < 2 or rows.size >= comb(n, s):
            continue  # enumerated sizes (and the single empty / full masks) are exact
        zs = z[rows].astype(np.float64)
        n_in = zs.sum(axis=0)
        for a, count, pop in ((s - 1, n_in, comb(n - 1, s - 1)), (s, rows.size - n_in, comb(n - 1, s))):
            if not 0 <= a < n:
                continue
            proj = values[rows] @ weights[a]  # (c, J)
            spread = proj.var(axis=0, ddof=1)
            fpc = np.divide(1.0 - count / pop, count, out=np.zeros_like(count), where=count > 0)
            out += fpc[:, None] * spread[None, :]
    return out


def domain_contrasts(z: np.ndarray) -> np.ndarray:
    """(n, K, n) per-mask weights ``G[a][:, i]`` of the plain stratified mean marginal change.

    ``G[a][k, i] = [k has size a+1 and holds i] / N^+ - [k has size a, not i] / N^-``,
    so ``values.T @ G[a]`` is the plain estimate of ``m_i^+(a+1) - m_i^-(a)``.
    """
    k, n = z.shape
    zf = z.astype(np.float64)
    sizes = z.sum(axis=1)
    out = np.zeros((n, k, n))
    for a in range(n):
        up, down = (sizes == a + 1)[:, None] * zf, (sizes == a)[:, None] * (1.0 - zf)
        out[a] = np.divide(up, up.sum(axis=0), out=np.zeros_like(up), where=up.sum(axis=0) > 0)
        out[a] -= np.divide(down, down.sum(axis=0), out=np.zeros_like(down), where=down.sum(axis=0) > 0)
    return out


def bilinear_stderr(
    p: np.ndarray,
    zq: np.ndarray,
    zh: np.ndarray,
    est_q,
    est_h,
    full_q: np.ndarray,
    full_h: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard errors of the bilinear-score estimates: (cross (nq, nh), query side (nq,), hit side (nh,)).

    Args:
        p: (nq, nh) context weights.
        zq, zh: the two sides' masks.
        est_q, est_h: the sides' :class:`~.control_variate.SideEstimate`.
        full_q, full_h: (d,) embeddings of the complete query / hit.
    """
    nq, nh = p.shape
    w_h = np.einsum("ab,bjd->adj", p, est_h.deltas)  # weight of the query errors at context size a
    w_q = np.einsum("ab,aid->bdi", p, est_q.deltas)
    var = stratum_variance(zq, est_q.residuals, w_h) + stratum_variance(zh, est_h.residuals, w_q).T
    side_q = stratum_variance(zq, est_q.residuals, np.broadcast_to(full_h[None, :, None] / nq, (nq, full_h.size, 1)))
    side_h = stratum_variance(zh, est_h.residuals, np.broadcast_to(full_q[None, :, None] / nh, (nh, full_q.size, 1)))
    return np.sqrt(var), np.sqrt(side_q[:, 0]), np.sqrt(side_h[:, 0])


def table_stderr(
    p: np.ndarray, zq: np.ndarray, zh: np.ndarray, values: np.ndarray, full_q_row: int, full_h_col: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard errors of the plain product-design estimates (any score): cross, query side, hit side.

    The per-mask quantity of a query mask is its row of the (Kq, Kh) score table,
    weighted by the hit side's plain contrasts (:func:`domain_contrasts`), and
    likewise for the hit masks (columns).
    """
    nq, nh = p.shape
    g_q, g_h = domain_contrasts(zq), domain_contrasts(zh)
    w_h = np.einsum("ab,bkj->akj", p, g_h)  # (nq, Kh, nh)
    w_q = np.einsum("ab,aki->bki", p, g_q)  # (nh, Kq, nq)
    var = stratum_variance(zq, values, w_h) + stratum_variance(zh, values.T, w_q).T
    e_h = np.zeros((nq, values.shape[1], 1))
    e_h[:, full_h_col, 0] = 1.0 / nq
    e_q = np.zeros((nh, values.shape[0], 1))
    e_q[:, full_q_row, 0] = 1.0 / nh
    side_q = stratum_variance(zq, values, e_h)[:, 0]
    side_h = stratum_variance(zh, values.T, e_q)[:, 0]
    return np.sqrt(var), np.sqrt(side_q), np.sqrt(side_h)


__all__ = ["bilinear_stderr", "domain_contrasts", "stratum_variance", "table_stderr"]
