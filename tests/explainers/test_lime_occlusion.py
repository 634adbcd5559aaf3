"""LIME (lime_image defaults) and occlusion / SBSM closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, bitmask, random_table

from qdrant_explain.explainers import LIME, explain_game


def test_lime_matches_lime_recipe_with_sklearn():
    """Same rows -> same coefficients as lime's recipe (cosine distance, kernel 0.25, Ridge(alpha=1))."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import pairwise_distances

    n = 10
    table = random_table(n, seed=0)
    est = LIME()
    plan = est.plan(n, 300, np.random.default_rng(0))
    values = table[bitmask(plan.coalitions)]
    got = est.solve(plan, values)
    data = plan.coalitions[1:].astype(float)
    assert data[0].all()  # first row all-on, as lime_image
    d = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
    w = np.sqrt(np.exp(-(d**2) / 0.25**2))
    ref = Ridge(alpha=1, fit_intercept=True).fit(data, values[1:], sample_weight=w)
    np.testing.assert_allclose(got.values, ref.coef_, atol=1e-10)
    assert got.meta["intercept"] == pytest.approx(ref.intercept_, abs=1e-10)


def test_lime_rows_uniform_and_budget():
    game = TableGame(random_table(12, seed=1))
    got = explain_game(game, 12, method="lime", budget=500)
    assert got.n_evaluations == len(game.seen) <= 500
    assert got.base_value == game.table[0] and got.full_value == game.table[-1]
    plan = LIME().plan(12, 2000, np.random.default_rng(0))
    assert abs(plan.coalitions[2:].mean() - 0.5) < 0.02
    assert LIME().default_budget(12) == 1001  # lime_image's 1000 samples + v(empty)


def test_lime_recovers_additive_game_direction():
    a = np.linspace(-1, 1, 8)
    got = explain_game(lambda z: z @ a, 8, method="lime", budget=1000)
    assert np.corrcoef(got.values, a)[0, 1] > 0.99


def test_occlusion_leave_one_out():
    n = 6
    game = TableGame(random_table(n, seed=2))
    got = explain_game(game, n, method="occlusion")
    full = 2**n - 1
    expected = game.table[full] - np.array([game.table[full & ~(1 << i)] for i in range(n)])
    np.testing.assert_allclose(got.values, expected, atol=1e-12)
    assert got.n_evaluations == n + 2 and got.estimated is False


def test_sbsm_pair_second_differences():
    n = 5
    game = TableGame(random_table(n, seed=3))
    t = game.table
    full = 2**n - 1
    got = explain_game(game, n, method="sbsm", order=2)
    for i in range(n):
        assert got.values[i] == pytest.approx(t[full] - t[full & ~(1 << i)])
        for j in range(n):
            if i != j:
                ref = t[full] - t[full & ~(1 << i)] - t[full & ~(1 << j)] + t[full & ~(1 << i) & ~(1 << j)]
                assert got.interactions[i, j] == pytest.approx(ref)
    assert np.all(np.diag(got.interactions) == 0)
    assert got.n_evaluations == 2 + n + n * (n - 1) // 2


def test_sbsm_on_unanimity_pair_game():
    game = lambda z: (z[:, 0] & z[:, 1]).astype(float)
    got = explain_game(game, 4, method="sbsm", order=2)
    assert got.interactions[0, 1] == 1.0 and got.interactions[2, 3] == 0.0
