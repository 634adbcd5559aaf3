"""Exact game theory on a full value table of 2^n entries, in O(n 2^n).

A *table* is a float array of length 2^n indexed by bitmask (see
:mod:`.coalitions`). All transforms below are in-place butterfly passes over
a reshaped copy, so they run at numpy speed up to n = 20 and beyond.
"""

from __future__ import annotations

from math import comb

import numpy as np

from ._typing import FloatMatrix, FloatVector
from .coalitions import coalition_sizes


def _n_from_table(table: np.ndarray) -> int:
    size = table.shape[0]
    n = int(size).bit_length() - 1
    if size < 1 or 2**n != size:
        raise ValueError(f"A value table must have length 2^n; got length {size}.")
    return n


def moebius_transform(table: np.ndarray) -> np.ndarray:
    """Harsanyi dividends d(S) = sum_{T subset S} (-1)^{|S|-|T|} v(T).

    Args:
        table: (2^n,) or (2^n, d) values in bitmask order; extra trailing axes
            are transformed independently (useful for embedding tables).

    Returns:
        Array of the same shape with the dividends.
    """
    d = np.array(table, dtype=np.float64, copy=True)
    n = _n_from_table(d)
    tail = d.shape[1:]
    for i in range(n):
        view = d.reshape((-1, 2, 2**i) + tail)
        view[:, 1] -= view[:, 0]
    return d


def inverse_moebius_transform(dividends: np.ndarray) -> np.ndarray:
    """v(S) = sum_{T subset S} d(T): the inverse of :func:`moebius_transform`."""
    v = np.array(dividends, dtype=np.float64, copy=True)
    n = _n_from_table(v)
    tail = v.shape[1:]
    for i in range(n):
        view = v.reshape((-1, 2, 2**i) + tail)
        view[:, 1] += view[:, 0]
    return v


def superset_sums(table: np.ndarray) -> np.ndarray:
    """f(S) = sum_{T superset S} table(T) for every S (upward zeta transform)."""
    f = np.array(table, dtype=np.float64, copy=True)
    n = _n_from_table(f)
    tail = f.shape[1:]
    for i in range(n):
        view = f.reshape((-1, 2, 2**i) + tail)
        view[:, 0] += view[:, 1]
    return f


def _singletons(table: np.ndarray, n: int) -> np.ndarray:
    return table[np.int64(1) << np.arange(n, dtype=np.int64)]


def _pairs(table: np.ndarray, n: int) -> FloatMatrix:
    bits = np.int64(1) << np.arange(n, dtype=np.int64)
    idx = bits[:, None] | bits[None, :]
    out = table[idx]
    np.fill_diagonal(out, 0.0)
    return out


def shapley_values(table: np.ndarray) -> FloatVector:
    """Shapley values phi_i = sum_{T containing i} d(T)/|T| from a (2^n,) table."""
    n = _n_from_table(np.asarray(table))
    d = moebius_transform(table)
    sizes = coalition_sizes(n)
    weighted = np.divide(d, sizes, out=np.zeros_like(d), where=sizes > 0)
    return _singletons(superset_sums(weighted), n)


def banzhaf_values(table: np.ndarray) -> FloatVector:
    """Banzhaf values beta_i = sum_{T containing i} d(T) / 2^{|T|-1}."""
    n = _n_from_table(np.asarray(table))
    d = moebius_transform(table)
    sizes = coalition_sizes(n)
    weighted = np.where(sizes > 0, d / np.exp2(np.maximum(sizes - 1, 0)), 0.0)
    return _singletons(superset_sums(weighted), n)


def shapley_taylor_table(table: np.ndarray, order: int = 2) -> np.ndarray:
    """Shapley-Taylor indices of any order k for every coalition, as a 2^n table.

    For |S| < k the index is the dividend d(S); for |S| = k it is
    sum_{T superset S} d(T) / C(|T|, k); larger coalitions get 0. The empty
    coalition carries v(empty) so that the table sums to v(N).
    """
    n = _n_from_table(np.asarray(table))
    if not 1 <= order <= max(n, 1):
        raise ValueError(f"shapley_taylor_table needs 1 <= order <= n_players={n}; got order={order}.")
    d = moebius_transform(table)
    sizes = coalition_sizes(n)
    binom = np.array([comb(int(s), order) for s in range(n + 1)], dtype=np.float64)[sizes]
    weighted = np.divide(d, binom, out=np.zeros_like(d), where=sizes >= order)
    top = superset_sums(weighted)
    return np.where(sizes < order, d, np.where(sizes == order, top, 0.0))


def shapley_taylor_order2(table: np.ndarray) -> tuple[FloatVector, FloatMatrix]:
    """Order-2 Shapley-Taylor: (singletons d({i}) of shape (n,), pairs (n, n))."""
    n = _n_from_table(np.asarray(table))
    if n < 2:
        raise ValueError(f"Order-2 Shapley-Taylor needs at least 2 players; got {n}.")
    st = shapley_taylor_table(table, order=2)
    return _singletons(st, n), _pairs(st, n)


def banzhaf_interactions(table: np.ndarray) -> FloatMatrix:
    """Pairwise Banzhaf interaction indices sum_{T superset ij} d(T)/2^{|T|-2}."""
    n = _n_from_table(np.asarray(table))
    d = moebius_transform(table)
    sizes = coalition_sizes(n)
    weighted = np.where(sizes >= 2, d / np.exp2(np.maximum(sizes - 2, 0)), 0.0)
    return _pairs(superset_sums(weighted), n)


__all__ = [
    "moebius_transform",
    "inverse_moebius_transform",
    "superset_sums",
    "shapley_values",
    "banzhaf_values",
    "shapley_taylor_table",
    "shapley_taylor_order2",
    "banzhaf_interactions",
]
