"""Kernel Shapley-Taylor: exact at budget 2^n, singletons exact and efficiency at every budget."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from _estimator_games import TableGame, bitmask, brute_shapley_taylor2, random_table, tanh_network_table

from qdrant_explain.explainers import KernelShapleyTaylor, explain_game, kernel_shapley_taylor_solve


@pytest.mark.parametrize("allocation", ["kernel", "uniform", "sqrt"])
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_full_budget_equals_exact(n, allocation):
    table = tanh_network_table(n, seed=20 + n)
    game = TableGame(table)
    got = explain_game(game, n, method="kernel-shapley-taylor", order=2, budget=2**n, allocation=allocation)
    single, inter = brute_shapley_taylor2(table)
    np.testing.assert_allclose(got.values, single, atol=1e-8, rtol=0)
    np.testing.assert_allclose(got.interactions, inter, atol=1e-8, rtol=0)
    assert got.n_evaluations == len(game.seen) == 2**n
    assert got.estimated is False


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("budget", [11, 12, 30, 100, 255])
def test_efficiency_singletons_and_budget(budget, paired):
    n = 9
    game = TableGame(random_table(n, seed=budget))
    got = explain_game(game, n, method="kernel-shapley-taylor", order=2, budget=budget, paired=paired)
    assert got.efficiency_gap() == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(got.values, game.table[1 << np.arange(n)] - game.table[0], atol=1e-12)
    np.testing.assert_array_equal(got.interactions, got.interactions.T)
    assert np.all(np.diag(got.interactions) == 0)
    assert got.n_evaluations == len(game.seen) == game.rows <= budget


def test_minimum_budget_is_n_plus_2():
    est = KernelShapleyTaylor()
    assert est.minimum_budget(10) == 12
    assert est.minimum_budget(2) == 4
    got = explain_game(TableGame(random_table(6, seed=0)), 6, method="kernel-shapley-taylor", order=2, budget=8)
    assert got.n_evaluations == 8


def test_converges_with_budget():
    """Over 20 seeds, each budget step (80 -> 300 -> 900) cuts the mean squared pair error significantly."""
    n = 10
    table = tanh_network_table(n, seed=3)
    _, exact = brute_shapley_taylor2(table)
    errs = [np.array([np.mean((explain_game(TableGame(table), n, method="kernel-shapley-taylor", order=2, budget=b,
                                            seed=s).interactions - exact) ** 2) for s in range(20)])
            for b in (80, 300, 900)]
    for small, large in zip(errs, errs[1:]):
        diff = large - small
        assert diff.mean() + 3 * diff.std(ddof=1) / np.sqrt(diff.size) < 0, [e.mean() for e in errs]


def test_solve_reusable_with_own_design():
    """The pure solver with a caller's design (all coalitions, kernel weights) is exact."""
    n = 6
    table = random_table(n, seed=8)
    z = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    s = z.sum(axis=1)
    w = np.array([(n - 1) / (comb(n, k) * comb(k, 2) * (n - k)) if 2 <= k < n else 0.0 for k in s])
    single, inter = kernel_shapley_taylor_solve(
        z, table[bitmask(z)], w, n,
        base_value=table[0], full_value=table[-1], singleton_values=table[1 << np.arange(n)],
    )
    ref_single, ref_inter = brute_shapley_taylor2(table)
    np.testing.assert_allclose(single, ref_single, atol=1e-10)
    np.testing.assert_allclose(inter, ref_inter, atol=1e-10)
