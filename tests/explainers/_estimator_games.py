"""Small games and brute-force definitions for the estimator tests (independent of exact.py)."""

from __future__ import annotations

from math import comb, factorial

import numpy as np


def bitmask(z: np.ndarray) -> np.ndarray:
    """Row -> integer with bit i set when player i is present."""
    z = np.asarray(z, dtype=bool)
    return (z.astype(np.int64) * (1 << np.arange(z.shape[1], dtype=np.int64))).sum(axis=1)


class TableGame:
    """A game given by a full table in bitmask order; counts distinct and total calls."""

    def __init__(self, table: np.ndarray):
        self.table = np.asarray(table, dtype=np.float64)
        self.n = int(self.table.size).bit_length() - 1
        self.calls = 0
        self.rows = 0
        self.seen: set[int] = set()

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z)
        assert z.dtype == bool and z.ndim == 2 and z.shape[1] == self.n
        keys = bitmask(z)
        self.calls += 1
        self.rows += z.shape[0]
        self.seen.update(keys.tolist())
        return self.table[keys]


def random_table(n: int, seed: int) -> np.ndarray:
    """Random game with v(empty) arbitrary: iid normal table."""
    return np.random.default_rng(seed).normal(size=2**n)


def tanh_network_table(n: int, seed: int, width: int = 8) -> np.ndarray:
    """v(S) = small random tanh network on x masked by S (absent players = 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    w1, b1 = rng.normal(size=(n, width)), rng.normal(size=width)
    w2, b2 = rng.normal(size=(width, width)) / np.sqrt(width), rng.normal(size=width)
    w3 = rng.normal(size=width)
    z = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    h = np.tanh((z * x) @ w1 + b1)
    h = np.tanh(h @ w2 + b2)
    return h @ w3


def brute_shapley(table: np.ndarray) -> np.ndarray:
    """phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! (v(S+i) - v(S))."""
    n = int(table.size).bit_length() - 1
    idx = np.arange(2**n)
    size = np.array([bin(k).count("1") for k in idx])
    phi = np.zeros(n)
    for i in range(n):
        out = idx[(idx >> i) & 1 == 0]
        w = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in size[out]])
        phi[i] = np.sum(w * (table[out | (1 << i)] - table[out]))
    return phi


def brute_shapley_taylor2(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order-2 Shapley-Taylor (Sundararajan et al. 2020) from its definition.

    Singletons: v({i}) - v(empty). Pairs: (2/n) sum_{S in N-{i,j}} delta_ij v(S) / C(n-1, |S|).
    """
    n = int(table.size).bit_length() - 1
    idx = np.arange(2**n)
    size = np.array([bin(k).count("1") for k in idx])
    single = np.array([table[1 << i] - table[0] for i in range(n)])
    inter = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out = idx[((idx >> i) & 1 == 0) & ((idx >> j) & 1 == 0)]
            delta = table[out | (1 << i) | (1 << j)] - table[out | (1 << i)] - table[out | (1 << j)] + table[out]
            w = np.array([1.0 / comb(n - 1, s) for s in size[out]])
            inter[i, j] = inter[j, i] = 2.0 / n * np.sum(w * delta)
    return single, inter


def unanimity_table(n: int, members: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """u_T(S) = scale if T is a subset of S, else 0."""
    t = sum(1 << i for i in members)
    idx = np.arange(2**n)
    return scale * ((idx & t) == t).astype(np.float64)


def mlp_side(n: int, d: int, seed: int):
    """A joint side's embedding function: masks (K, n) -> (K, d), a two-layer tanh network."""
    rng = np.random.default_rng(seed)
    w1, a = rng.normal(size=(n, d)) * 0.6, rng.normal(size=(d, d)) * 0.5
    return lambda m: np.tanh(np.tanh(np.asarray(m, float) @ w1 + 0.2) @ a)


def cached_side(table: np.ndarray, n: int):
    """A :class:`SideEvaluator` reading a full table of embeddings (bitmask order) instead of encoding."""
    from qdrant_explain.explainers import SideEvaluator
    from qdrant_explain.explainers.coalitions import coalition_index

    return SideEvaluator(lambda m: table[coalition_index(m)], n, batch_size=1 << 16, progress=False)


def assert_stratum_means_exact(model, n: int, *, z=None) -> None:
    """``model.stratum_means(s)`` equals the brute-force means of its predictions over every size-s mask with /
    without each player (``z``: all 2^n masks, or given)."""
    from qdrant_explain.explainers.coalitions import all_coalitions

    z = all_coalitions(n) if z is None else z
    pred, sizes = model.predict(z), z.sum(axis=1)
    for s in range(n + 1):
        plus, minus = model.stratum_means(s)
        for i in range(n):
            if s >= 1:
                np.testing.assert_allclose(plus[i], pred[(sizes == s) & z[:, i]].mean(0), atol=1e-10)
            if s < n:
                np.testing.assert_allclose(minus[i], pred[(sizes == s) & ~z[:, i]].mean(0), atol=1e-10)
