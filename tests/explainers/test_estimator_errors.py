"""Bad input: each a clear ValueError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers import default_budget, explain_game, get_estimator

GOOD = lambda z: z.sum(axis=1).astype(float)


@pytest.mark.parametrize(
    "game,pattern",
    [
        (lambda z: np.zeros((z.shape[0], 2)), r"shape \(\d+,\)"),
        (lambda z: np.zeros(z.shape[0] + 1), r"shape \(\d+,\)"),
        (lambda z: ["a"] * z.shape[0], r"real numbers"),
        (lambda z: np.full(z.shape[0], np.nan), r"non-finite"),
        (lambda z: np.full(z.shape[0], np.inf), r"non-finite"),
        (lambda z: None, r"shape|real numbers"),
    ],
)
@pytest.mark.parametrize("method", ["kernel-shap", "exact"])
def test_bad_value_function_output(game, pattern, method):
    with pytest.raises(ValueError, match=pattern):
        explain_game(game, 4, method=method)


@pytest.mark.parametrize("n", [0, -3])
def test_n_players_below_one(n):
    with pytest.raises(ValueError, match=r"n_players >= 1"):
        explain_game(GOOD, n)


@pytest.mark.parametrize("n", [2.5, "4", True, None])
def test_n_players_not_an_int(n):
    with pytest.raises(ValueError, match=r"n_players to be an integer"):
        explain_game(GOOD, n)


@pytest.mark.parametrize(
    "method,order,n,budget,minimum",
    [
        ("kernel-shap", 1, 10, 3, 4),
        ("kernel-shapley-taylor", 2, 10, 11, 12),
        ("permutation", 1, 10, 19, 20),
        ("exact", 1, 6, 63, 64),
        ("lime", 1, 10, 2, 3),
        ("occlusion", 1, 10, 5, 12),
        ("sbsm", 2, 5, 10, 17),
    ],
)
def test_budget_below_minimum_states_minimum(method, order, n, budget, minimum):
    with pytest.raises(ValueError, match=rf"needs budget >= {minimum} for {n} players"):
        explain_game(GOOD, n, method=method, order=order, budget=budget)
    explain_game(GOOD, n, method=method, order=order, budget=minimum)  # the minimum itself works


def test_budget_not_an_int():
    with pytest.raises(ValueError, match=r"budget must be an integer"):
        explain_game(GOOD, 5, budget=100.5)


@pytest.mark.parametrize(
    "method,order,supported",
    [("kernel-shap", 2, r"\(1\)"), ("lime", 3, r"\(1\)"), ("kernel-shapley-taylor", 1, r"\(2\)"),
     ("exact", 3, r"\(1, 2\)"), ("sbsm", 1, r"\(2\)"), ("occlusion", 2, r"\(1\)")],
)
def test_unsupported_order_lists_supported(method, order, supported):
    with pytest.raises(ValueError, match=rf"supports order in {supported}; got order={order}"):
        explain_game(GOOD, 5, method=method, order=order)


def test_order2_needs_two_players():
    with pytest.raises(ValueError, match=r"n_players >= 2"):
        explain_game(GOOD, 1, method="kernel-shapley-taylor", order=2)


def test_exact_refuses_large_n_and_suggests_sampling():
    with pytest.raises(ValueError, match=r"n_players <= 20.*method='kernel-shap'"):
        explain_game(GOOD, 21, method="exact")
    with pytest.raises(ValueError, match=r"method='kernel-shapley-taylor'"):
        explain_game(GOOD, 25, method="exact", order=2)


def test_unknown_method_lists_methods():
    with pytest.raises(ValueError, match=r"Unknown method='shapley'.*kernel-shap"):
        explain_game(GOOD, 5, method="shapley")


def test_unknown_option_lists_accepted():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['pairs'\].*paired"):
        get_estimator("kernel-shap", pairs=True)
    with pytest.raises(ValueError, match=r"allocation"):
        explain_game(GOOD, 6, allocation="leverage")


def test_value_fn_not_callable():
    with pytest.raises(ValueError, match=r"callable value_fn"):
        explain_game(np.zeros(4), 2)


def test_bad_batch_size():
    with pytest.raises(ValueError, match=r"batch_size >= 1"):
        explain_game(GOOD, 4, batch_size=0)


def test_solve_rejects_wrong_values():
    est = get_estimator("kernel-shap")
    plan = est.plan(5, 12, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"values of shape \(\d+,\)"):
        est.solve(plan, np.zeros(3))
    with pytest.raises(ValueError, match=r"NaN or inf"):
        est.solve(plan, np.full(plan.coalitions.shape[0], np.nan))


def test_default_budget_validates_too():
    with pytest.raises(ValueError, match=r"supports order"):
        default_budget("kernel-shap", 5, order=2)
