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


def test_order1_converges():
    n = 9
    table = tanh_network_table(n, seed=1)
    exact = brute_shapley(table)
    err = [np.mean((explain_game(TableGame(table), n, method="permutation", budget=b).values - exact) ** 2)
           for b in (40, 500)]
    assert err[1] < err[0]


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


def test_order2_unbiased_on_average():
    """Averaged over many seeds the permutation pair estimate matches the exact index."""
    n = 5
    table = random_table(n, seed=3)
    _, inter = brute_shapley_taylor2(table)
    est = PermutationSampling(order=2, max_permutations=2)
    runs = [explain_game(TableGame(table), n, method="permutation", order=2, budget=32, seed=s, max_permutations=2)
            for s in range(400)]
    mean = np.mean([r.interactions for r in runs], axis=0)
    assert np.abs(mean - inter).max() < 0.15 * np.abs(inter).max() + 0.05
    assert est.minimum_budget(n) <= 32


def test_minimum_budget_one_antithetic_pair():
    assert PermutationSampling().minimum_budget(5) == 10
    assert PermutationSampling(antithetic=False).minimum_budget(5) == 6
