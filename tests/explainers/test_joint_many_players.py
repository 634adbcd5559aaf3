"""The joint stratified sampler above 16 players a side: Neyman allocation, pair-term control variates per fold of
sizes, and unbiasedness (many-seed means vs exact)."""

from __future__ import annotations

import numpy as np

from _estimator_games import assert_stratum_means_exact, cached_side as _cached, mlp_side as _mlp_side

from qdrant_explain.explainers import explain_joint
from qdrant_explain.explainers.coalitions import all_coalitions
from qdrant_explain.explainers.joint import context_weights, fit_side_model
from qdrant_explain.explainers.joint.control_variate import _SIZE_FOLDS, _fold_models, cross_fit_deltas
from qdrant_explain.explainers.joint.design import _allocate, _side_importance, fixed_plan_side


def test_side_importance_is_the_neyman_weight_of_the_plain_stratum_means():
    """Squared weight of size s = c_s x the variance (unit noise per mask) that size adds to one player's
    ``sum_a M(a) delta[a, i]``, for a balanced design of c_s masks per size: the weight is what Neyman allocates by."""
    nq, nh = 3, 9
    p = context_weights(nq, nh)
    marg = p.sum(axis=0)
    imp = _side_importance(p, 1)
    z = fixed_plan_side(nh, 400, imp, np.random.default_rng(0))
    sizes = z.sum(1)
    for s in range(1, nh):
        rows = z[sizes == s]
        c = len(rows)
        # coefficient of each mask's (unit-variance) noise in player i's estimate: +M(s-1)/#with i, -M(s)/#without i
        var = [((marg[s - 1] / rows[:, i].sum()) ** 2 * rows[:, i].sum()
                + (marg[s] / (~rows[:, i]).sum()) ** 2 * (~rows[:, i]).sum()) for i in range(nh)]
        np.testing.assert_allclose(c * np.mean(var), imp[s] ** 2, rtol=0.08)  # balanced: counts within one
    # counts follow the weight (after the minimum, capped at C(n, s)): sizes 1-2 enumerated, then decreasing
    counts = _allocate(nh, 400, imp)
    assert counts[1:3] == [9, 36] and counts[4] > counts[5] > counts[6] > counts[7] and sum(counts) == 400


def test_pair_model_stratum_means_equal_the_means_of_its_predictions():
    n = 7
    z = all_coalitions(n)
    rng = np.random.default_rng(1)
    emb = z @ rng.normal(size=(n, 3)) + 2.0 * (z[:, :1] & z[:, 1:2]) - 1.5 * (z[:, 3:4] & z[:, 5:6])
    model = fit_side_model(z, emb + 0.01 * rng.normal(size=emb.shape))
    assert model.pairs is not None
    assert_stratum_means_exact(model, n, z=z)


def test_the_model_of_a_fold_of_sizes_never_sees_those_sizes():
    n = 18
    z = fixed_plan_side(n, 900, np.ones(n + 1), np.random.default_rng(2))
    emb = _mlp_side(n, 6, 3)(z)
    folds = _fold_models(z, emb, set(range(_SIZE_FOLDS)))
    assert any(getattr(m, "pairs", None) is not None for m in folds.values())  # pair terms are in use here
    moved = emb.copy()
    moved[z.sum(1) % _SIZE_FOLDS == 1] += 5.0  # change every mask of fold 1
    again = _fold_models(z, moved, {1, 2})
    np.testing.assert_allclose(again[1].predict(z), folds[1].predict(z), atol=1e-10)
    assert np.abs(again[2].predict(z) - folds[2].predict(z)).max() > 0.1


def test_unbiased_with_many_players_and_exact_when_every_size_is_enumerated():
    """18 hit players: 200 seeds' mean of every cross index within 4.5 s.e. of exact."""
    nq, nh = 3, 18
    tq, th = _mlp_side(nq, 8, 4)(all_coalitions(nq)), _mlp_side(nh, 8, 5)(all_coalitions(nh))
    truth = explain_joint(_cached(tq, nq), _cached(th, nh), nq, nh, method="exact").cross
    runs = [explain_joint(_cached(tq, nq), _cached(th, nh), nq, nh, method="stratified", budget=700, seed=s).cross
            for s in range(200)]
    err = np.array(runs) - truth
    z = np.abs(err.mean(0) / (err.std(0, ddof=1) / np.sqrt(len(runs))))
    assert z.max() < 4.5, z.max()
    assert np.sqrt((err**2).mean() / (truth**2).mean()) < 0.5  # and it is an estimate, not noise
    zh = all_coalitions(nh)
    exact = cross_fit_deltas(zh, th).deltas
    np.testing.assert_allclose(exact, cross_fit_deltas(zh, th, control_variate=False).deltas, atol=1e-12)
