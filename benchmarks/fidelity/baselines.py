"""Trivial attribution baselines for the fidelity benchmark: what a method must beat to be worth its passes.

Every table of the benchmark lists these beside the real estimators, at their own (small) cost:

* :func:`singleton_values`: v({i}) - v(empty), the score of each player *alone* (n + 1 evaluations);
  blind to interactions (a co-occurrence gets 0) and double-counts redundant copies.
* :func:`leave_one_out_values`: v(N) - v(N minus i), what removing each player alone costs (n + 1
  evaluations; the package's ``"occlusion"`` estimator); gives 0 to redundant copies.
* :func:`random_values`: a seeded random split of v(N) - v(empty) over the players (Dirichlet(1, ..., 1)
  weights, 2 evaluations): efficient and of the right scale, but blind.
* joint (query x hit cross indices): :func:`pair_singleton_cross`, the pair's discrete derivative at the
  empty coalition, v({i, j}) - v({i}) - v({j}) + v(empty) ((nq + 1) + (nh + 1) encoder passes on a
  factorised joint game); the pair form of leave-one-out is the package's ``"sbsm"`` (pair occlusion,
  the derivative at the full coalition); :func:`random_cross`, a seeded random split of the joint
  total over the nq x nh pairs.

They are benchmark-side functions on any game (an (m, n) bool -> (m,) callable, e.g. the package's
``QueryGame`` / ``JointGame``), not registered estimators: none is a method a user should pick.
"""

from __future__ import annotations

import numpy as np

from qdrant_explain.explainers import evaluate


def _check(n_players: int, caller: str) -> int:
    if isinstance(n_players, bool) or not isinstance(n_players, (int, np.integer)) or n_players < 1:
        raise ValueError(f"{caller} needs n_players, an integer >= 1; got {n_players!r}.")
    return int(n_players)


def singleton_values(game, n_players: int) -> tuple[np.ndarray, int]:
    """(v({i}) - v(empty) for each i, coalitions evaluated): n + 1 evaluations."""
    n = _check(n_players, "singleton_values")
    z = np.concatenate([np.zeros((1, n), dtype=bool), np.eye(n, dtype=bool)])
    v = evaluate(game, z, batch_size=1024).values
    return v[1:] - v[0], n + 1


def leave_one_out_values(game, n_players: int) -> tuple[np.ndarray, int]:
    """(v(N) - v(N minus i) for each i, coalitions evaluated): n + 1 evaluations."""
    n = _check(n_players, "leave_one_out_values")
    z = np.concatenate([np.ones((1, n), dtype=bool), ~np.eye(n, dtype=bool)])
    v = evaluate(game, z, batch_size=1024).values
    return v[0] - v[1:], n + 1


def random_values(game, n_players: int, seed: int) -> tuple[np.ndarray, int]:
    """(a seeded Dirichlet(1, ..., 1) split of v(N) - v(empty), coalitions evaluated): 2 evaluations."""
    n = _check(n_players, "random_values")
    v = evaluate(game, np.stack([np.zeros(n, bool), np.ones(n, bool)]), batch_size=2).values
    weights = np.random.default_rng(seed).dirichlet(np.ones(n))
    return (v[1] - v[0]) * weights, 2


def pair_singleton_cross(game, n_query: int, n_hit: int) -> np.ndarray:
    """(nq, nh) v({i, j}) - v({i}) - v({j}) + v(empty) on a joint game (query players first)."""
    nq, nh = _check(n_query, "pair_singleton_cross"), _check(n_hit, "pair_singleton_cross")
    n = nq + nh
    eye = np.eye(n, dtype=bool)
    ii, jj = np.meshgrid(np.arange(nq), nq + np.arange(nh), indexing="ij")
    pairs = eye[ii.ravel()] | eye[jj.ravel()]
    z = np.concatenate([np.zeros((1, n), dtype=bool), eye, pairs])
    v = evaluate(game, z, batch_size=4096).values
    single = v[1 : n + 1]
    both = v[n + 1 :].reshape(nq, nh)
    return both - single[:nq, None] - single[None, nq:] + v[0]


def random_cross(game, n_query: int, n_hit: int, seed: int) -> np.ndarray:
    """(nq, nh) a seeded Dirichlet(1, ..., 1) split of v(N) - v(empty) over the query x hit pairs."""
    nq, nh = _check(n_query, "random_cross"), _check(n_hit, "random_cross")
    n = nq + nh
    v = evaluate(game, np.stack([np.zeros(n, bool), np.ones(n, bool)]), batch_size=2).values
    weights = np.random.default_rng(seed).dirichlet(np.ones(nq * nh)).reshape(nq, nh)
    return (v[1] - v[0]) * weights


__all__ = ["leave_one_out_values", "pair_singleton_cross", "random_cross", "random_values", "singleton_values"]
