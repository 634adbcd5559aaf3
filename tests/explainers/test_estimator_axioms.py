"""Axioms: efficiency, symmetry, dummy, linearity and interaction distribution."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, random_table, unanimity_table

from qdrant_explain.explainers import explain_game

N = 7
FULL = [("exact", 1, None), ("kernel-shap", 1, 2**N), ("exact", 2, None), ("kernel-shapley-taylor", 2, 2**N)]
SAMPLED = [("kernel-shap", 1, 40), ("kernel-shapley-taylor", 2, 40), ("permutation", 1, 60)]


def _explain(table, method, order, budget, seed=0):
    return explain_game(TableGame(table), N, method=method, order=order, budget=budget, seed=seed)


def _symmetric_table(seed):
    """Players 0 and 1 are interchangeable: v depends on them only through z0 + z1."""
    t = random_table(N, seed=seed)
    idx = np.arange(2**N)
    swapped = (idx & ~3) | ((idx & 1) << 1) | ((idx & 2) >> 1)
    return 0.5 * (t + t[swapped])


@pytest.mark.parametrize("method,order,budget", FULL + SAMPLED)
def test_efficiency(method, order, budget):
    res = _explain(random_table(N, seed=1), method, order, budget)
    assert res.efficiency_gap() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("method,order,budget", FULL)
def test_symmetry(method, order, budget):
    res = _explain(_symmetric_table(2), method, order, budget)
    assert res.values[0] == pytest.approx(res.values[1], abs=1e-10)
    if order == 2:
        np.testing.assert_allclose(res.interactions[0, 2:], res.interactions[1, 2:], atol=1e-10)


@pytest.mark.parametrize("method,order,budget", FULL + [("permutation", 1, 60), ("permutation", 2, 100)])
def test_dummy_player_gets_zero(method, order, budget):
    t = random_table(N, seed=3)
    idx = np.arange(2**N)
    t = t[idx & ~(1 << 4)]  # player 4 never changes the value
    res = _explain(t, method, order, budget)
    assert res.values[4] == pytest.approx(0.0, abs=1e-10)
    if order == 2:
        np.testing.assert_allclose(res.interactions[4], 0.0, atol=1e-10)


@pytest.mark.parametrize("method,order,budget", FULL + SAMPLED + [("lime", 1, 80)])
def test_linearity_with_a_shared_plan(method, order, budget):
    """The plan does not depend on values and the solve is linear: phi(a v + b w) = a phi(v) + b phi(w)."""
    v, w = random_table(N, seed=4), random_table(N, seed=5)
    rv, rw, rs = (_explain(t, method, order, budget, seed=9) for t in (v, w, 2.0 * v - 3.0 * w))
    np.testing.assert_allclose(rs.values, 2.0 * rv.values - 3.0 * rw.values, atol=1e-9)
    if order == 2:
        np.testing.assert_allclose(rs.interactions, 2.0 * rv.interactions - 3.0 * rw.interactions, atol=1e-9)


@pytest.mark.parametrize("method,budget", [("exact", None), ("kernel-shapley-taylor", 2**N)])
def test_interaction_distribution(method, budget):
    """A unanimity game on T (|T| = 3) splits its dividend equally over the 3 pairs of T."""
    res = _explain(unanimity_table(N, (1, 3, 5), scale=6.0), method, 2, budget)
    expected = np.zeros((N, N))
    for i, j in [(1, 3), (1, 5), (3, 5)]:
        expected[i, j] = expected[j, i] = 2.0
    np.testing.assert_allclose(res.interactions, expected, atol=1e-10)
    np.testing.assert_allclose(res.values, 0.0, atol=1e-10)


@pytest.mark.parametrize("method,budget", [("exact", None), ("kernel-shap", 2**N)])
def test_shapley_splits_unanimity_dividend(method, budget):
    res = _explain(unanimity_table(N, (0, 2, 6), scale=3.0), method, 1, budget)
    expected = np.zeros(N)
    expected[[0, 2, 6]] = 1.0
    np.testing.assert_allclose(res.values, expected, atol=1e-10)
