"""explain_game / get_estimator / list_estimators / default_budget and method="auto"."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, random_table

from qdrant_explain.explainers import Explanation, default_budget, explain_game, get_estimator, list_estimators

METHODS = ["exact", "kernel-shap", "kernel-shapley-taylor", "lime", "occlusion", "permutation", "sbsm"]


def test_list_estimators():
    assert list_estimators() == sorted(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_an_explanation(method):
    order = 2 if method in ("kernel-shapley-taylor", "sbsm") else 1
    game = TableGame(random_table(6, seed=0))
    res = explain_game(game, 6, method=method, order=order, seed=4)
    assert isinstance(res, Explanation)
    assert res.values.shape == (6,) and res.method == method and res.order == order
    assert (res.interactions is None) == (order == 1)
    assert res.base_value == game.table[0] and res.full_value == game.table[-1]
    assert res.n_evaluations == len(game.seen) == game.rows
    assert res.meta["seed"] == 4
    assert Explanation.from_dict(res.to_dict()).to_dict() == res.to_dict()


def test_default_budgets():
    assert default_budget("kernel-shap", 5) == 32
    assert default_budget("kernel-shap", 20) == 2 * 20 + 2048
    assert default_budget("exact", 8) == 256
    assert default_budget("lime", 8) == 1001
    assert default_budget("occlusion", 8) == 10
    assert default_budget("kernel-shapley-taylor", 20, order=2) == 22 + 2048
    assert default_budget("auto", 8) == 256
    assert default_budget("auto", 16, order=2) == default_budget("kernel-shapley-taylor", 16, order=2)


@pytest.mark.parametrize(
    "n,order,budget,expected",
    [(8, 1, None, "exact"), (13, 1, None, "kernel-shap"), (10, 1, 1024, "exact"), (10, 1, 1023, "kernel-shap"),
     (13, 2, None, "kernel-shapley-taylor"), (6, 2, 100, "exact")],
)
def test_auto(n, order, budget, expected):
    res = explain_game(lambda z: z.sum(axis=1) ** 2.0, n, method="auto", order=order, budget=budget)
    assert res.method == expected and res.meta["requested_method"] == "auto"


def test_get_estimator_stores_params():
    est = get_estimator("kernel-shap", allocation="uniform")
    assert est.get_params() == {
        "order": 1, "paired": True, "allocation": "uniform", "solver": "stratified", "size_degree": 2
    }
    assert "allocation='uniform'" in repr(est)


def test_progress_flag_runs():
    res = explain_game(lambda z: z.sum(axis=1), 5, progress=True, batch_size=4)
    np.testing.assert_allclose(res.values, 1.0)


def test_docstring_example():
    res = explain_game(lambda z: z.sum(axis=1) ** 2.0, 6, method="kernel-shapley-taylor", order=2)
    assert round(res.interactions[0, 1], 6) == 2.0 and res.n_evaluations == 64


@pytest.mark.parametrize("method", ["kernel-shap", "permutation", "lime", "exact"])
def test_shared_plan_equals_explain_game(method):
    """plan_game + solve_game: one plan serves several games on the same players (one query, many hits)."""
    from qdrant_explain.explainers import evaluate, plan_game, solve_game

    rng = np.random.default_rng(3)
    games = [lambda z, w=rng.normal(size=7): np.tanh(z.astype(float) @ w) for _ in range(3)]
    budget = 128 if method == "exact" else 60
    est, plan = plan_game(7, method=method, budget=budget, seed=5)
    for game in games:
        shared = solve_game(est, plan, evaluate(game, plan.coalitions).values, seed=5)
        alone = explain_game(game, 7, method=method, budget=budget, seed=5)
        np.testing.assert_allclose(shared.values, alone.values, atol=1e-12)
        assert shared.n_evaluations == alone.n_evaluations and shared.meta["seed"] == 5
    # all games at once: (m, k) values -> k explanations (Kernel SHAP solves them in one regression)
    table = np.stack([evaluate(g, plan.coalitions).values for g in games], axis=1)
    together = solve_game(est, plan, table, seed=5)
    for game, res in zip(games, together):
        alone = explain_game(game, 7, method=method, budget=budget, seed=5)
        np.testing.assert_allclose(res.values, alone.values, atol=1e-10)
        assert res.full_value == alone.full_value and res.meta.keys() == alone.meta.keys() and res.meta["seed"] == 5
    with pytest.raises(ValueError, match="one row per planned coalition"):
        est.solve_many(plan, table[:-1])
    with pytest.raises(ValueError, match="NaN or inf"):
        est.solve_many(plan, np.where(np.arange(table.shape[0])[:, None] == 3, np.nan, table))
