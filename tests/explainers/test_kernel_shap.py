"""Kernel SHAP: exact at budget 2^n, efficient at every budget, budget kept, batch-size invariant."""

from __future__ import annotations

import numpy as np
import pytest
from _estimator_games import TableGame, bitmask, brute_shapley, random_table, tanh_network_table

from qdrant_explain.explainers import KernelSHAP, explain_game, kernel_shap_solve
from qdrant_explain.explainers.estimators.kernel_shap import stratified_kernel_shap_solve

VARIANTS = [
    {},
    {"solver": "wls"},
    {"size_degree": 0},
    {"size_degree": 4},
    {"allocation": "uniform"},
    {"allocation": "kernel"},
    {"paired": False},
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: str(o) or "default")
@pytest.mark.parametrize("n", [1, 2, 3, 6, 9])
def test_full_budget_equals_exact(n, options):
    table = tanh_network_table(n, seed=n)
    game = TableGame(table)
    got = explain_game(game, n, method="kernel-shap", budget=2**n, **options)
    exact = explain_game(TableGame(table), n, method="exact")
    np.testing.assert_allclose(got.values, exact.values, atol=1e-8, rtol=0)
    assert got.n_evaluations == len(game.seen) == 2**n
    assert got.estimated is False


def test_budget_above_2n_is_capped():
    game = TableGame(random_table(5, seed=1))
    got = explain_game(game, 5, method="kernel-shap", budget=10_000)
    assert got.n_evaluations == 32 and got.budget == 10_000
    np.testing.assert_allclose(got.values, brute_shapley(game.table), atol=1e-8)


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: str(o) or "default")
@pytest.mark.parametrize("budget", [4, 5, 17, 40, 100, 300, 511])
def test_efficiency_and_budget_at_every_budget(budget, options):
    n = 9
    game = TableGame(random_table(n, seed=budget))
    got = explain_game(game, n, method="kernel-shap", budget=budget, seed=3, **options)
    assert got.efficiency_gap() == pytest.approx(0.0, abs=1e-10)
    assert got.n_evaluations == len(game.seen) <= budget
    assert game.rows == got.n_evaluations  # never the same coalition twice
    assert got.estimated is True
    assert got.base_value == game.table[0] and got.full_value == game.table[-1]


def test_budget_is_used_nearly_fully():
    game = TableGame(random_table(12, seed=0))
    got = explain_game(game, 12, method="kernel-shap", budget=1000)
    assert 998 <= got.n_evaluations <= 1000


@pytest.mark.parametrize("solver,degree", [("stratified", 0), ("stratified", 2), ("wls", 0)])
def test_paired_design_is_exact_for_second_order_games(solver, degree):
    rng = np.random.default_rng(0)
    n = 12
    a, b = rng.normal(size=n), np.triu(rng.normal(size=(n, n)), 1)
    game = lambda z: z @ a + np.einsum("mi,ij,mj->m", z.astype(float), b, z.astype(float)) + 3.0
    exact = a + 0.5 * (b + b.T).sum(axis=1)
    got = explain_game(game, n, method="kernel-shap", budget=80, solver=solver, size_degree=degree)
    np.testing.assert_allclose(got.values, exact, atol=1e-9)


def test_converges_with_budget():
    """Over 20 seeds, each budget step (60 -> 400 -> 1600) cuts the mean squared error significantly."""
    n = 11
    table = tanh_network_table(n, seed=4)
    exact = brute_shapley(table)
    errs = [np.array([np.mean((explain_game(TableGame(table), n, method="kernel-shap", budget=b, seed=s).values
                               - exact) ** 2) for s in range(20)]) for b in (60, 400, 1600)]
    for small, large in zip(errs, errs[1:]):
        diff = large - small
        assert diff.mean() + 3 * diff.std(ddof=1) / np.sqrt(diff.size) < 0, [e.mean() for e in errs]


def test_same_seed_same_result_and_seed_changes_it():
    table = random_table(10, seed=5)
    a = explain_game(TableGame(table), 10, method="kernel-shap", budget=200, seed=1)
    b = explain_game(TableGame(table), 10, method="kernel-shap", budget=200, seed=1)
    c = explain_game(TableGame(table), 10, method="kernel-shap", budget=200, seed=2)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    assert a.meta["seed"] == 1


@pytest.mark.parametrize(
    "method,order", [("kernel-shap", 1), ("kernel-shapley-taylor", 2), ("permutation", 1), ("permutation", 2), ("lime", 1)]
)
def test_batch_size_does_not_change_results(method, order):
    table = random_table(9, seed=6)
    runs = [
        explain_game(TableGame(table), 9, method=method, order=order, budget=300, batch_size=bs)
        for bs in (1, 7, 4096)
    ]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.values, runs[0].values)
        if order == 2:
            np.testing.assert_array_equal(r.interactions, runs[0].interactions)
        assert r.n_evaluations == runs[0].n_evaluations


def test_solvers_reusable_on_any_design():
    """Both public solve functions accept a caller's own design and weights."""
    n = 6
    table = random_table(n, seed=7)
    z = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    s = z.sum(axis=1)
    from math import comb

    w = np.array([(n - 1) / (comb(n, k) * k * (n - k)) if 0 < k < n else 0.0 for k in s])
    exact = brute_shapley(table)
    np.testing.assert_allclose(
        kernel_shap_solve(z, table[bitmask(z)], w, base_value=table[0], full_value=table[-1]), exact, atol=1e-10
    )
    np.testing.assert_allclose(
        stratified_kernel_shap_solve(
            z, table[bitmask(z)], w, base_value=table[0], full_value=table[-1], complete_sizes=range(1, n)
        ),
        exact,
        atol=1e-10,
    )


def test_plan_has_empty_and_full_first_and_calls_no_game():
    plan = KernelSHAP().plan(8, 50, np.random.default_rng(0))
    assert not plan.coalitions[0].any() and plan.coalitions[1].all()
    assert plan.weights.shape == (plan.coalitions.shape[0],)
    assert plan.n_evaluations == plan.coalitions.shape[0] <= 50  # distinct by construction


def test_stratified_falls_back_to_wls_when_rows_are_few():
    """With fewer sampled rows than the per-size model can support, the classic solve is used."""
    n = 10
    table = random_table(n, seed=11)
    stratified = explain_game(TableGame(table), n, method="kernel-shap", budget=30, seed=2)
    classic = explain_game(TableGame(table), n, method="kernel-shap", budget=30, seed=2, solver="wls")
    np.testing.assert_allclose(stratified.values, classic.values, atol=1e-12)


@pytest.mark.parametrize("bad", [1, -2, 2.0])
def test_size_degree_must_be_even(bad):
    with pytest.raises(ValueError, match=r"size_degree=\.\.\.\) must be an even integer"):
        explain_game(lambda z: z.sum(axis=1), 6, method="kernel-shap", budget=20, size_degree=bad)


@pytest.mark.parametrize("n", [11, 17, 25])
def test_plans_with_one_seed_are_nested(n):
    """budget="auto" doubles the budget in rounds: a larger budget's plan holds the smaller one's coalitions,
    so the evaluator cache makes the earlier rounds free (a run costs its last round)."""
    from qdrant_explain.explainers.api import plan_game

    budgets = [4 * n + 8, 8 * n + 16, 16 * n + 32, 1024]
    plans = [{r.tobytes() for r in plan_game(n, method="kernel-shap", order=1, budget=b, seed=3)[1].coalitions}
             for b in budgets]
    for small, large in zip(plans, plans[1:]):
        assert len(small - large) <= 0.06 * len(small)  # a shift of the allocation between strata may drop a few
    other = {r.tobytes() for r in plan_game(n, method="kernel-shap", order=1, budget=budgets[1], seed=4)[1].coalitions}
    assert len(plans[0] - other) > 0.5 * len(plans[0])  # another seed: another sample
