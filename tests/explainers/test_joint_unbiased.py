"""The joint stratified sampler: unbiased by default (many-seed means vs exact) and honest standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from _estimator_games import cached_side as _cached, mlp_side as _mlp_side

from qdrant_explain.explainers import explain_joint
from qdrant_explain.explainers.coalitions import all_coalitions
from qdrant_explain.explainers.joint import (
    JointExplanation,
    cross_fit_deltas,
    fit_size_effects,
    stratified_minimum_budget,
    stratum_variance,
)
from qdrant_explain.explainers.joint.result import STDERR_FIELDS


def _tables(n: int, seeds=(4, 5), d: int = 12):
    return [_mlp_side(n, d, s)(all_coalitions(n)) for s in seeds]


def _runs(tq, th, n, *, score, budget, seeds, unbiased=True):
    return [explain_joint(_cached(tq, n), _cached(th, n), n, n, score=score, method="stratified", budget=budget,
                          seed=s, unbiased=unbiased) for s in range(seeds)]


def _max_z(runs, truth) -> float:
    err = np.array([r.cross for r in runs]) - truth
    return float(np.abs(err.mean(0) / (err.std(0, ddof=1) / np.sqrt(len(runs)))).max())


def test_default_is_unbiased_at_the_minimum_budget_and_the_earlier_variant_is_not():
    """300 seeds at the minimum budget: every cross mean within 4 s.e. of exact; the biased opt-in misses by far more."""
    n = 6
    tq, th = _tables(n)
    truth = explain_joint(_cached(tq, n), _cached(th, n), n, n, method="exact").cross
    budget = stratified_minimum_budget(n, n)
    assert _max_z(_runs(tq, th, n, score="cosine", budget=budget, seeds=300), truth) < 4.0
    assert _max_z(_runs(tq, th, n, score="cosine", budget=budget, seeds=100, unbiased=False), truth) > 8.0


@pytest.mark.parametrize("score", ["cosine", "euclid"])
def test_stderr_intervals_cover_the_exact_values(score):
    """Nominal 95 % intervals cover the exact cross and side values in 90-98.5 % of (value, seed) cases."""
    n = 6
    tq, th = _tables(n, seeds=(7, 8))
    exact = explain_joint(_cached(tq, n), _cached(th, n), n, n, score=score, method="exact")
    runs = _runs(tq, th, n, score=score, budget=60, seeds=150)
    err = np.array([r.cross for r in runs]) - exact.cross
    se = np.array([r.cross_stderr for r in runs])
    assert 0.90 <= (np.abs(err) <= 1.96 * se).mean() <= 0.985
    side_err = np.array([r.query_side_values for r in runs]) - exact.query_side_values
    side_se = np.array([r.query_side_values_stderr for r in runs])
    assert 0.88 <= (np.abs(side_err) <= 1.96 * side_se).mean() <= 0.99
    assert all(np.array_equal(r.query_values_stderr, np.zeros(n)) for r in runs)  # singletons are enumerated


def test_exact_and_fully_enumerated_results_have_zero_stderr_and_the_biased_variant_none():
    fq, fh = _mlp_side(4, 5, 1), _mlp_side(3, 5, 2)
    exact = explain_joint(fq, fh, 4, 3, method="exact")
    full = explain_joint(fq, fh, 4, 3, method="stratified", budget=2**4 + 2**3)
    for res in (exact, full):
        for name in STDERR_FIELDS:
            assert np.array_equal(getattr(res, name), np.zeros_like(getattr(res, name))), name
    np.testing.assert_allclose(full.cross, exact.cross, atol=1e-12)
    biased = explain_joint(_mlp_side(8, 5, 3), _mlp_side(8, 5, 4), 8, 8, method="stratified", budget=100, unbiased=False)
    assert all(getattr(biased, name) is None for name in STDERR_FIELDS)
    back = JointExplanation.from_dict(explain_joint(_mlp_side(8, 5, 3), _mlp_side(8, 5, 4), 8, 8, method="stratified",
                                                    budget=100).to_dict())
    assert back.cross_stderr.shape == (8, 8) and (back.cross_stderr > 0).all()


def test_cross_fitted_stratum_means_are_unbiased_for_a_fixed_design_count():
    """The control variate for size s never sees size s: its error has mean zero over the masks of that size."""
    n = 7
    z = all_coalitions(n)
    emb = _mlp_side(n, 4, 21)(z)
    exact = cross_fit_deltas(z, emb).deltas
    np.testing.assert_allclose(exact, cross_fit_deltas(z, emb, control_variate=False).deltas, atol=1e-12)
    model = fit_size_effects(z[z.sum(1) != 3], emb[z.sum(1) != 3])
    pred, rows = model.predict(z), z.sum(1) == 3
    plus, minus = model.stratum_means(3)
    for i in range(n):
        np.testing.assert_allclose(plus[i], pred[rows & z[:, i]].mean(0), atol=1e-10)
        np.testing.assert_allclose(minus[i], pred[rows & ~z[:, i]].mean(0), atol=1e-10)


def test_stratum_variance_is_zero_when_enumerated_and_positive_when_sampled():
    n = 5
    z = all_coalitions(n)
    vals = np.random.default_rng(0).normal(size=(z.shape[0], 3))
    w = np.ones((n, 3, 2))
    assert np.array_equal(stratum_variance(z, vals, w), np.zeros((n, 2)))
    keep = np.concatenate([np.flatnonzero(z.sum(1) != 2), np.flatnonzero(z.sum(1) == 2)[:4]])
    var = stratum_variance(z[keep], vals[keep], w)
    assert var.shape == (n, 2) and (var > 0).all()
    # the sampled size 2 only feeds contexts a = 1 (masks with i) and a = 2 (without i); the rest is enumerated
    w_rest = w.copy()
    w_rest[1:3] = 0.0
    assert np.array_equal(stratum_variance(z[keep], vals[keep], w_rest), np.zeros((n, 2)))
