"""method="exact": equals the brute-force definitions to 1e-10 on random games."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, brute_shapley, brute_shapley_taylor2, random_table, tanh_network_table

from qdrant_explain.explainers import Exact, explain_game

TABLES = [("random", random_table), ("tanh", tanh_network_table)]


@pytest.mark.parametrize("kind,make", TABLES)
@pytest.mark.parametrize("n", [1, 2, 3, 6, 10])
def test_exact_shapley_equals_brute_force(kind, make, n):
    table = make(n, seed=n)
    res = explain_game(TableGame(table), n, method="exact")
    np.testing.assert_allclose(res.values, brute_shapley(table), atol=1e-10, rtol=0)
    assert res.interactions is None and res.estimated is False
    assert res.base_value == table[0] and res.full_value == table[-1]
    assert res.n_evaluations == 2**n


@pytest.mark.parametrize("kind,make", TABLES)
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_exact_shapley_taylor_equals_brute_force(kind, make, n):
    table = make(n, seed=10 + n)
    res = explain_game(TableGame(table), n, method="exact", order=2)
    single, inter = brute_shapley_taylor2(table)
    np.testing.assert_allclose(res.values, single, atol=1e-10, rtol=0)
    np.testing.assert_allclose(res.interactions, inter, atol=1e-10, rtol=0)
    np.testing.assert_array_equal(res.interactions, res.interactions.T)
    assert np.all(np.diag(res.interactions) == 0)


def test_exact_calls_every_coalition_once():
    game = TableGame(random_table(7, seed=0))
    res = explain_game(game, 7, method="exact", batch_size=10)
    assert game.rows == 2**7 == len(game.seen) == res.n_evaluations
    assert game.calls == 13


def test_exact_plan_is_bitmask_order():
    plan = Exact().plan(3, None, np.random.default_rng(0))
    np.testing.assert_array_equal(plan.coalitions.astype(int) @ [1, 2, 4], np.arange(8))
