"""The anytime stop rule (explainers/anytime.py) on synthetic games, and through the pipeline of sides."""

import numpy as np
import pytest

from qdrant_explain.explainers.anytime import (
    budget_rounds,
    overall_reason,
    parse_budget,
    run_rounds,
    top_k_settled,
)
from qdrant_explain.explainers.api import plan_game, solve_game


def additive(weights):
    w = np.asarray(weights, dtype=float)
    return lambda coalitions: coalitions.astype(float) @ w


def noisy(weights, scale, seed=0):
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=float)
    return lambda c: c.astype(float) @ w + scale * rng.standard_normal(c.shape[0]) * (c.any(1) & ~c.all(1))


def solver(game, n, seed=0):
    def solve(budget):
        est, plan = plan_game(n, method="kernel-shap", order=1, budget=budget, seed=seed)
        return [solve_game(est, plan, game(plan.coalitions)[:, None], seed=seed)[0]]
    return solve


def test_top_k_settled_rule():
    se = np.full(5, 0.01)
    assert top_k_settled(np.array([0.5, 0.4, 0.3, 0.0, 0.01]), se, k=3)
    assert not top_k_settled(np.array([0.5, 0.4, 0.3, 0.29, 0.0]), se, k=3)
    assert not top_k_settled(np.array([0.5, 0.4, 0.3, 0.0]), None, k=3)
    assert top_k_settled(np.array([0.5, 0.4]), None, k=3)  # fewer regions than k
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        top_k_settled(np.zeros(3), np.zeros(3), k=0)
    with pytest.raises(ValueError, match="same shape"):
        top_k_settled(np.zeros(5), np.zeros(4), k=2)


def test_clear_game_stops_early_and_flat_game_runs_to_the_cap():
    n = 20
    clear = np.r_[[1.0, 0.8, 0.6], np.full(n - 3, 0.01)]
    out, stopped = run_rounds(solver(noisy(clear, 0.02), n), budget_rounds(88, 1024), k=3)
    assert stopped.reason == "settled" and stopped.budgets == (88,)
    assert sorted(np.argsort(-out[0].values)[:3]) == [0, 1, 2]
    flat = np.full(n, 0.05)
    _, stopped = run_rounds(solver(noisy(flat, 0.05), n), budget_rounds(88, 1024), k=3)
    assert stopped.reason == "pass cap" and stopped.budgets == (88, 176, 352, 704, 1024)


def test_time_cap_and_exact_reasons():
    n = 20
    flat = np.full(n, 0.05)
    calls = []
    _, stopped = run_rounds(solver(noisy(flat, 0.05), n), budget_rounds(88, 1024), k=3,
                            fits=lambda b: calls.append(b) or b <= 176)
    assert stopped.reason == "time cap" and stopped.budgets == (88, 176) and calls == [176, 352]
    _, stopped = run_rounds(solver(additive(np.full(6, 0.1)), 6), [64], k=3, exact_cost=64)  # tied and exact
    assert stopped.reason == "exact"
    assert overall_reason(["settled", "time cap"]) == "time cap" and overall_reason([]) == "fixed"


def test_parse_budget_errors():
    assert parse_budget("auto:300") == (True, 300)
    for bad in ("fast", "auto:1", 1, True, 2.5):
        with pytest.raises(ValueError, match="budget must be"):
            parse_budget(bad)
