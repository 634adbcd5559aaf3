"""Standard errors of every estimator (issue 17): zeros when exact, ~1/sqrt(budget), coverage over seeds, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers import (
    Estimator,
    Plan,
    SamplingDesign,
    confidence_interval,
    covers_zero,
    critical_value,
    explain_game,
    plan_game,
    solve_game,
)
from qdrant_explain.explainers.coalitions import all_coalitions, coalition_index
from qdrant_explain.explainers.estimators.base import unregister_estimator
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values
from qdrant_explain.explainers.result import Explanation
from qdrant_explain.explainers.uncertainty import bootstrap_stderr, design_variance, unit_mean_stderr

N = 8


def tanh_game(n: int, seed: int):
    """A smooth non-additive game: a random one-hidden-layer tanh net of the mask."""
    rng = np.random.default_rng(seed)
    w1, w2, x = rng.normal(size=(n, 16)) / np.sqrt(n) * 2, rng.normal(size=16), rng.normal(size=n)
    return lambda z: np.tanh((np.asarray(z, float) * x) @ w1 + 0.3) @ w2


@pytest.fixture(scope="module")
def table():
    return tanh_game(N, 1)(all_coalitions(N))


def _solve(method, table, budget, seed, order=1):
    est, plan = plan_game(N, method=method, order=order, budget=budget, seed=seed)
    return solve_game(est, plan, table[coalition_index(plan.coalitions)], seed=seed)


@pytest.mark.parametrize("method,order", [("exact", 1), ("exact", 2), ("kernel-shap", 1), ("kernel-shapley-taylor", 2),
                                          ("occlusion", 1), ("sbsm", 2)])
def test_exact_and_closed_forms_report_zero_stderr(method, order):
    game = tanh_game(N, 2)
    budget = 2**N if method != "occlusion" and method != "sbsm" else None
    e = explain_game(game, N, method=method, order=order, budget=budget)
    assert e.stderr is not None and np.all(e.stderr == 0)
    if order == 2:
        assert e.interactions_stderr is not None and np.all(e.interactions_stderr == 0)
    assert not e.estimated


@pytest.mark.parametrize("method,order", [("kernel-shap", 1), ("permutation", 1), ("lime", 1),
                                          ("kernel-shapley-taylor", 2), ("permutation", 2)])
def test_sampled_methods_report_positive_stderr_and_dof(method, order, table):
    e = _solve(method, table, 120, 0, order)
    se = e.stderr if order == 1 else e.interactions_stderr[np.triu_indices(N, 1)]
    assert se.shape == ((N,) if order == 1 else (N * (N - 1) // 2,)) and np.all(se > 0) and np.all(np.isfinite(se))
    assert e.meta["stderr_dof"] > 0 and e.meta["stderr_method"]
    if order == 2:
        assert np.all(e.stderr == 0)  # the singletons are evaluated exactly


@pytest.mark.parametrize("method", ["kernel-shap", "permutation"])
def test_stderr_shrinks_like_one_over_sqrt_budget_and_tracks_the_spread_over_seeds(method):
    n = 14  # 16384 coalitions: both budgets sample small shares of the sizes they do not enumerate
    t = tanh_game(n, 3)(all_coalitions(n))
    mean_se, spread = {}, {}
    for budget in (300, 1200):
        ses, values = [], []
        for seed in range(30):
            est, plan = plan_game(n, method=method, budget=budget, seed=seed)
            e = solve_game(est, plan, t[coalition_index(plan.coalitions)])
            ses.append(e.stderr)
            values.append(e.values)
        mean_se[budget], spread[budget] = np.mean(ses), np.std(values, axis=0, ddof=1).mean()
        assert 0.75 < spread[budget] / mean_se[budget] < 1.3, (budget, spread[budget] / mean_se[budget])
    ratio = mean_se[300] / mean_se[1200]
    # 4x the budget: at least half the error (Kernel SHAP's enumerated sizes and finer size model do better)
    assert 1.7 < ratio < (2.4 if method == "permutation" else 3.5), ratio


@pytest.mark.parametrize("method,order,budget", [("kernel-shap", 1, 60), ("kernel-shap", 1, 150), ("permutation", 1, 100),
                                                 ("kernel-shapley-taylor", 2, 120), ("permutation", 2, 180)])
def test_nominal_95_coverage_over_many_seeds(method, order, budget, table):
    """Coverage of the 95 % intervals against the exact values within a binomial tolerance."""
    truth = shapley_values(table) if order == 1 else shapley_taylor_order2(table)[1][np.triu_indices(N, 1)]
    covered = total = 0
    for seed in range(150):
        e = _solve(method, table, budget, seed, order)
        est = e.values if order == 1 else e.interactions[np.triu_indices(N, 1)]
        se = e.stderr if order == 1 else e.interactions_stderr[np.triu_indices(N, 1)]
        lo, hi = confidence_interval(est, se, dof=e.meta["stderr_dof"])
        covered += int(np.sum((lo <= truth) & (truth <= hi)))
        total += truth.size
    rate = covered / total
    # cases within a seed are correlated: allow ~4 binomial standard errors of 150 independent seeds
    assert 0.95 - 4 * np.sqrt(0.95 * 0.05 / 150) < rate < 0.995, rate


def test_lime_stderr_matches_its_spread_over_seeds(table):
    values, ses = [], []
    for seed in range(60):
        e = _solve("lime", table, 150, seed)
        values.append(e.values)
        ses.append(e.stderr)
    ratio = np.std(values, axis=0).mean() / np.mean(ses)
    assert 0.8 < ratio < 1.25, ratio


def test_kernel_shap_many_games_matches_one_at_a_time(table):
    est, plan = plan_game(N, method="kernel-shap", budget=100, seed=4)
    v = table[coalition_index(plan.coalitions)]
    both = solve_game(est, plan, np.stack([v, 2 * v + 1], axis=1), seed=4)
    one = solve_game(est, plan, v, seed=4)
    np.testing.assert_allclose(both[0].stderr, one.stderr, rtol=1e-9)
    np.testing.assert_allclose(both[1].stderr, 2 * one.stderr, rtol=1e-9)


def test_wls_solver_has_stderr_and_bootstrap_agrees_with_the_sandwich(table):
    est, plan = plan_game(N, method="kernel-shap", budget=150, seed=2, solver="wls")
    v = table[coalition_index(plan.coalitions)]
    e = solve_game(est, plan, v)
    boot, _, _ = bootstrap_stderr(est.solve, plan, v, rng=np.random.default_rng(0), n_boot=150)
    # the bootstrap ignores the finite-population correction, so it is a little wider
    assert np.all(e.stderr > 0)
    assert 0.7 < np.median(e.stderr / boot) < 1.2


class _MonteCarloShapley(Estimator, register=False):
    """A test estimator with no error estimate of its own: Shapley by i.i.d. sampled permutations."""

    name, orders, stochastic = "mc-shapley-test", (1,), True

    def _plan(self, n_players, budget, rng):
        perms = np.array([rng.permutation(n_players) for _ in range(max((budget - 2) // n_players, 1))])
        rows = [np.zeros((1, n_players), bool), np.ones((1, n_players), bool)]
        for p in perms:
            z = np.zeros((n_players + 1, n_players), bool)
            for k in range(n_players):
                z[k + 1] = z[k]
                z[k + 1, p[k]] = True
            rows.append(z)
        units = np.concatenate([[-1, -1], np.repeat(np.arange(len(perms)), n_players + 1)])
        design = SamplingDesign(units, np.where(units >= 0, 0, -1), np.zeros(1))
        return Plan(np.concatenate(rows), n_players, budget, None, {"design": design})

    def _solve(self, plan, values):
        """Works on any resample of whole permutations: reads who joins at each step from the rows."""
        n = plan.n_players
        blocks = values[2:].reshape(-1, n + 1)
        coal = plan.coalitions[2:].reshape(-1, n + 1, n)
        phi = np.zeros(n)
        for z, v in zip(coal, blocks):
            added = np.argmax(z[1:] & ~z[:-1], axis=1)
            phi[added] += np.diff(v)
        return Explanation(phi / blocks.shape[0], None, values[0], values[1], self.name, 1, plan.n_evaluations, True)


def test_solve_game_bootstraps_an_estimator_without_its_own_stderr(table):
    est = _MonteCarloShapley()
    truth = shapley_values(table)
    covered = total = 0
    for seed in range(40):
        plan = est.plan(N, 2 + 8 * 30, np.random.default_rng(seed))
        e = solve_game(est, plan, table[coalition_index(plan.coalitions)], seed=seed)
        assert e.meta["stderr_method"] == "bootstrap" and e.stderr.shape == (N,)
        lo, hi = confidence_interval(e.values, e.stderr, dof=e.meta["stderr_dof"])
        covered += int(np.sum((lo <= truth) & (truth <= hi)))
        total += N
    assert 0.88 < covered / total <= 1.0
    again = solve_game(est, plan, table[coalition_index(plan.coalitions)], seed=39)
    np.testing.assert_array_equal(again.stderr, e.stderr)  # seeded


def test_bootstrap_needs_a_design():
    plan = Plan(np.zeros((2, 3), bool), 3)
    with pytest.raises(ValueError, match="plan.info\\['design'\\]"):
        bootstrap_stderr(lambda p, v: None, plan, np.zeros(2), rng=np.random.default_rng(0))


def test_design_variance_is_zero_for_enumerated_strata_and_uses_units():
    d = SamplingDesign(np.array([-1, 0, 0, 1, 1, 2]), np.array([-1, 0, 0, 0, 0, 1]), np.array([0.0, 1.0]))
    c = np.array([[9.0], [1.0], [2.0], [3.0], [5.0], [7.0]])
    # stratum 0: unit sums 3 and 8 -> 2/1 * ((3 - 5.5)^2 + (8 - 5.5)^2) = 25; stratum 1 enumerated; fixed row ignored
    np.testing.assert_allclose(design_variance(c, d), [25.0])
    assert d.dof() == 1.0 and d.n_units == 3
    se, dof = unit_mean_stderr(np.array([[1.0], [3.0]]))
    np.testing.assert_allclose(se, [1.0])
    assert dof == 1.0
    # moderated: halfway to the mean variance over the pooled entries, twice the dof
    se, dof = unit_mean_stderr(np.array([[1.0, 0.0], [3.0, 0.0]]), moderate=True)
    np.testing.assert_allclose(se**2 * 2, [(2.0 + 1.0) / 2, (0.0 + 1.0) / 2])
    assert dof == 2.0


def test_critical_values_and_intervals():
    assert critical_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert critical_value(0.95, 10) == pytest.approx(2.228139, abs=1e-6)
    np.testing.assert_allclose(critical_value(0.95, np.array([np.inf, 10.0])), [1.959964, 2.228139], atol=1e-6)
    assert covers_zero([0.1, 0.5], [0.1, 0.1]).tolist() == [True, False]
    with pytest.raises(ValueError, match="0 < level < 1"):
        critical_value(95)
    with pytest.raises(ValueError, match="dof > 0"):
        critical_value(0.95, 0)


def test_stderr_round_trips_through_to_dict(table):
    e = _solve("permutation", table, 100, 1, order=2)
    back = Explanation.from_dict(e.to_dict())
    np.testing.assert_array_equal(back.interactions_stderr, e.interactions_stderr)
    assert back.meta["stderr_dof"] == e.meta["stderr_dof"]


def test_unregistered_test_estimator_is_not_in_the_registry():
    with pytest.raises(ValueError):
        unregister_estimator("mc-shapley-test")


def _registered(kind: str = "game"):
    from qdrant_explain.explainers import registered_estimators

    return [(name, order) for name, cls in registered_estimators(kind).items() for order in cls.orders]


@pytest.mark.parametrize("name,order", _registered())
def test_every_registered_estimator_reports_stderr_zero_at_a_full_budget(name, order):
    """The contract over the registry: finite, non-negative errors of the right shapes; zeros when exact."""
    from qdrant_explain.explainers import get_estimator

    n = 6
    game = tanh_game(n, 5)
    est = get_estimator(name, order=order)
    budget = max(est.minimum_budget(n), 40)
    e = explain_game(game, n, method=name, order=order, budget=min(budget, 2**n) if name != "lime" else budget)
    assert e.stderr is not None and e.stderr.shape == (n,) and np.all(np.isfinite(e.stderr)) and np.all(e.stderr >= 0)
    if order == 2:
        assert e.interactions_stderr is not None and e.interactions_stderr.shape == (n, n)
    if order in type(est).exact_orders:
        full = explain_game(game, n, method=name, order=order, budget=2**n)
        assert not full.estimated and not np.any(full.stderr)
        assert full.interactions_stderr is None or not np.any(full.interactions_stderr)
