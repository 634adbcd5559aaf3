"""Antithetic permutation sampling: efficient, budget kept, converges; order 2 baseline."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, brute_shapley, brute_shapley_taylor2, random_table, tanh_network_table

from qdrant_explain.explainers import PermutationSampling, explain_game


@pytest.mark.parametrize("budget", [16, 50, 200, 1024])
def test_order1_efficiency_and_budget(budget):
    n = 8
    game = TableGame(random_table(n, seed=budget))
    got = explain_game(game, n, method="permutation", budget=budget)
    assert got.efficiency_gap() == pytest.approx(0.0, abs=1e-10)  # each permutation is efficient
    assert got.n_evaluations == len(game.seen) <= budget
    assert got.meta["n_permutations"] % 2 == 0  # antithetic pairs


def test_order1_single_antithetic_pair_is_exact_for_two_players():
    table = random_table(2, seed=0)
    got = explain_game(TableGame(table), 2, method="permutation", budget=4)
    np.testing.assert_allclose(got.values, brute_shapley(table), atol=1e-12)


def test_order1_error_shrinks_with_the_budget_over_seeds():
    """Mean squared error over 30 seeds at budgets 40, 150, 500: each step is a significant drop."""
    n = 9
    table = tanh_network_table(n, seed=1)
    exact = brute_shapley(table)
    errs = [np.array([np.mean((explain_game(TableGame(table), n, method="permutation", budget=b, seed=s).values
                               - exact) ** 2) for s in range(30)]) for b in (40, 150, 500)]
    for small, large in zip(errs, errs[1:]):
        diff = large - small
        assert diff.mean() + 3 * diff.std(ddof=1) / np.sqrt(diff.size) < 0, [e.mean() for e in errs]


SEEDS = 1000
"""Seeds of the bias checks: measured max |z| 0.7-2.2 for the estimator, 5.8-8.9 for it shrunk 15 %."""


def _bias_z(runs: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|mean over seeds - exact| in standard errors of that mean, per value (0 where every seed agrees)."""
    se = runs.std(axis=0, ddof=1) / np.sqrt(runs.shape[0])
    gap = np.abs(runs.mean(axis=0) - exact)
    return np.divide(gap, se, out=np.where(gap > 1e-12, np.inf, 0.0), where=se > 0)


def _order1_runs(table: np.ndarray, n: int, seeds: int) -> np.ndarray:
    return np.array([explain_game(TableGame(table), n, method="permutation", budget=32, seed=s).values
                     for s in range(seeds)])


def _order2_runs(table: np.ndarray, n: int, seeds: int) -> np.ndarray:
    return np.array([explain_game(TableGame(table), n, method="permutation", order=2, budget=2**n, seed=s,
                                  max_permutations=2).interactions[np.triu_indices(n, 1)] for s in range(seeds)])


def test_order1_unbiased_over_many_seeds():
    """Budget 32 of 64 coalitions per seed, 1,000 seeds: every value's mean within 4 standard errors of the
    exact Shapley value (the estimator claims unbiasedness: a mean of marginal contributions)."""
    n = 6
    table = random_table(n, seed=7)
    runs = _order1_runs(table, n, SEEDS)
    assert _bias_z(runs, brute_shapley(table)).max() < 4.0


def test_order2_unbiased_over_many_seeds():
    """Averaged over 1,000 seeds (2 permutations each) every pair index is within 4 standard errors of exact."""
    n = 5
    table = random_table(n, seed=3)
    _, inter = brute_shapley_taylor2(table)
    assert PermutationSampling(order=2, max_permutations=2).minimum_budget(n) <= 2**n
    assert _bias_z(_order2_runs(table, n, SEEDS), inter[np.triu_indices(n, 1)]).max() < 4.0


def test_bias_check_fails_an_estimator_shrunk_15_percent():
    """Mutation: the same runs scaled by 0.85 (a shrunk estimator) fail both bias checks."""
    n = 6
    table = random_table(n, seed=7)
    assert _bias_z(0.85 * _order1_runs(table, n, SEEDS), brute_shapley(table)).max() > 4.0
    n = 5
    table = random_table(n, seed=3)
    _, inter = brute_shapley_taylor2(table)
    assert _bias_z(0.85 * _order2_runs(table, n, SEEDS), inter[np.triu_indices(n, 1)]).max() > 4.0


def test_order2_plan_and_solve():
    n = 7
    table = tanh_network_table(n, seed=2)
    game = TableGame(table)
    got = explain_game(game, n, method="permutation", order=2, budget=2**n)
    single, inter = brute_shapley_taylor2(table)
    np.testing.assert_allclose(got.values, single, atol=1e-12)
    np.testing.assert_array_equal(got.interactions, got.interactions.T)
    assert np.all(np.diag(got.interactions) == 0)
    assert got.n_evaluations == len(game.seen) <= 2**n
    assert np.corrcoef(got.interactions[np.triu_indices(n, 1)], inter[np.triu_indices(n, 1)])[0, 1] > 0.5


def test_minimum_budget_one_antithetic_pair():
    assert PermutationSampling().minimum_budget(5) == 10
    assert PermutationSampling(antithetic=False).minimum_budget(5) == 6
