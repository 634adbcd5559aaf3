"""Exact order-2 Shapley-Taylor indices of a joint game from the two side tables (factorised)."""

from __future__ import annotations

from math import comb

import numpy as np

from .._typing import FloatMatrix
from ..coalitions import all_coalitions, coalition_sizes
from ..exact import moebius_transform, shapley_values
from ..scores import BILINEAR_SCORES, check_score, score_matrix
from .base import JointEstimator, check_dims
from .design import _prep

MAX_EXACT_SIDE = 20
"""Most players per side exact enumerates (2^20 masks)."""

MAX_EXACT_JOINT_TABLE = 24
"""Most players nq + nh for exact with a non-bilinear score (it scores the 2^nq x 2^nh table)."""


def _pair_weights(nq: int, nh: int) -> np.ndarray:
    """W[a, b] = 1 / C(a + b, 2) for a + b >= 2 (how a dividend of size a+b spreads over pairs)."""
    w = np.zeros((nq + 1, nh + 1))
    for a in range(nq + 1):
        for b in range(nh + 1):
            if a + b >= 2:
                w[a, b] = 1.0 / comb(a + b, 2)
    return w


def _membership(n: int) -> np.ndarray:
    return all_coalitions(n).astype(np.float64)


def _within_pairs(z: np.ndarray, g: np.ndarray) -> FloatMatrix:
    """sum_{A ⊇ {i,k}} g(A) for i != k, zero diagonal."""
    out = z.T @ (g[:, None] * z)
    np.fill_diagonal(out, 0.0)
    return out


def exact_joint_from_tables(eq: np.ndarray, eh: np.ndarray, score: str = "cosine") -> dict:
    """Exact order-2 Shapley-Taylor of the joint game from the two embedding tables.

    Args:
        eq: (2^nq, d) query embeddings in bitmask order.
        eh: (2^nh, d) hit embeddings in bitmask order.
        score: Qdrant metric.

    Returns:
        dict with cross, query_values, hit_values, query_interactions,
        hit_interactions, query_side_values, hit_side_values, base_value, full_value.
    """
    metric = check_score(score)
    nq = int(eq.shape[0]).bit_length() - 1
    nh = int(eh.shape[0]).bit_length() - 1
    w = _pair_weights(nq, nh)
    sq, sh = coalition_sizes(nq), coalition_sizes(nh)
    zq, zh = _membership(nq), _membership(nh)
    fq, fh = _prep(eq, metric), _prep(eh, metric)
    full_q, full_h = 2**nq - 1, 2**nh - 1
    side_q = score_matrix(eq, eh[full_h], metric)[:, 0]
    side_h = score_matrix(eq[full_q], eh, metric)[0]
    if metric in BILINEAR_SCORES:
        dq, dh = moebius_transform(fq), moebius_transform(fh)  # (2^n, d)
        d = dq.shape[1]
        u = np.zeros((nq + 1, nq, d))
        for a in range(1, nq + 1):
            rows = sq == a
            u[a] = zq[rows].T @ dq[rows]
        v = np.zeros((nh + 1, nh, d))
        for b in range(1, nh + 1):
            rows = sh == b
            v[b] = zh[rows].T @ dh[rows]
        vt = np.einsum("ab,bjd->ajd", w, v)
        cross = np.einsum("aid,ajd->ij", u, vt)
        # within-side pairs: g_q(A) = <D_q(A), sum_b W[|A|, b] S_h(b)>, S_h(b) = sum_{|B|=b} D_h(B)
        s_h = np.stack([dh[sh == b].sum(axis=0) for b in range(nh + 1)])
        s_q = np.stack([dq[sq == a].sum(axis=0) for a in range(nq + 1)])
        g_q = np.einsum("ad,ad->a", dq, (w @ s_h)[sq])
        g_h = np.einsum("bd,bd->b", dh, (w.T @ s_q)[sh])
        qi, hi = _within_pairs(zq, g_q), _within_pairs(zh, g_h)
        bits_q, bits_h = 1 << np.arange(nq), 1 << np.arange(nh)
        q_values = dq[bits_q] @ dh[0]
        h_values = dh[bits_h] @ dq[0]
        base = float(fq[0] @ fh[0])
        full = float(fq[full_q] @ fh[full_h])
    else:
        table = score_matrix(eq, eh, metric)  # (2^nq, 2^nh)
        dmat = moebius_transform(table)
        dmat = moebius_transform(dmat.T).T
        dw = dmat * w[sq][:, sh]
        cross = zq.T @ dw @ zh
        qi = _within_pairs(zq, dw.sum(axis=1))
        hi = _within_pairs(zh, dw.sum(axis=0))
        q_values = dmat[1 << np.arange(nq), 0]
        h_values = dmat[0, 1 << np.arange(nh)]
        base, full = float(table[0, 0]), float(table[full_q, full_h])
    return dict(
        cross=cross,
        query_values=np.asarray(q_values, dtype=np.float64),
        hit_values=np.asarray(h_values, dtype=np.float64),
        query_interactions=qi,
        hit_interactions=hi,
        query_side_values=shapley_values(side_q),
        hit_side_values=shapley_values(side_h),
        base_value=base,
        full_value=full,
    )


class JointExact(JointEstimator):
    """Exact joint Shapley-Taylor (order 2) from all 2^nq + 2^nh side masks, factorised.

    Bilinear scores never form the 2^(nq+nh) joint table; euclid/manhattan score
    the 2^nq x 2^nh side combinations (nq + nh <= :data:`MAX_EXACT_JOINT_TABLE`).
    Each side has at most :data:`MAX_EXACT_SIDE` players.

    Args:
        order: must be 2.
    """

    name = "exact"
    exact_orders = (2,)
    efficient_orders = (2,)

    @classmethod
    def fits(cls, n_players: int | tuple[int, int], *, score: str | None = None) -> bool:
        """Both sides <= 20 players; nq + nh <= 24 as well for a non-bilinear ``score``."""
        nq, nh = n_players  # type: ignore[misc]
        table_ok = score is None or check_score(score) in BILINEAR_SCORES or nq + nh <= MAX_EXACT_JOINT_TABLE
        return max(nq, nh) <= MAX_EXACT_SIDE and table_ok

    def estimate(self, query, hit, *, score, budget, rng):  # noqa: D102 (see JointEstimator.estimate)
        nq, nh = query.n_players, hit.n_players
        metric = check_score(score)
        if max(nq, nh) > MAX_EXACT_SIDE:
            raise ValueError(
                f"explain_joint(method='exact') enumerates 2^n masks per side; n_query={nq}, n_hit={nh} "
                f"exceed {MAX_EXACT_SIDE}. Use method='stratified' with a budget."
            )
        if metric not in BILINEAR_SCORES and nq + nh > MAX_EXACT_JOINT_TABLE:
            raise ValueError(
                f"explain_joint(method='exact', score={metric!r}) scores a 2^{nq} x 2^{nh} table; "
                f"n_query + n_hit must be <= {MAX_EXACT_JOINT_TABLE}. Use method='stratified' or a bilinear score."
            )
        if nq + nh < 2:
            raise ValueError("explain_joint needs at least 2 players in total.")
        eq, eh = query.table(), hit.table()
        check_dims(eq, eh)
        parts = exact_joint_from_tables(eq, eh, metric)
        zeros = dict(cross_stderr=np.zeros((nq, nh)), query_values_stderr=np.zeros(nq), hit_values_stderr=np.zeros(nh),
                     query_side_values_stderr=np.zeros(nq), hit_side_values_stderr=np.zeros(nh))
        return dict(parts, **zeros, n_evaluations=2 ** (nq + nh), estimated=False, budget=None,
                    meta={"query_masks": 2**nq, "hit_masks": 2**nh})


__all__ = ["JointExact", "MAX_EXACT_JOINT_TABLE", "MAX_EXACT_SIDE", "exact_joint_from_tables"]
