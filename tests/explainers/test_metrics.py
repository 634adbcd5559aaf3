"""Fidelity metrics on hand-made maps and games whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers.metrics import (
    censoring_curve,
    correspondence_accuracy,
    deletion_curve,
    insertion_curve,
    map_rank_correlation,
    ranking_pairs,
    retrieval_metrics,
    shared_object_ranking,
    shared_relevance_mass,
    spearman,
)


def test_shared_object_ranking_counts_pairs_and_ties():
    values = np.array([3.0, 1.0, 2.0, 2.0, 0.0])
    # shared {0, 2}, unshared {1, 3}: pairs (0,1) (0,3) (2,1) ok, (2,3) tie -> 3.5 / 4
    assert shared_object_ranking(values, [0, 2], [1, 3]) == pytest.approx(3.5 / 4)
    assert ranking_pairs(values, [0, 2], [1, 3]) == (3, 4)
    assert np.isnan(shared_object_ranking(values, [], [1]))


def test_shared_object_ranking_rejects_bad_ids():
    with pytest.raises(ValueError, match="outside 0..2"):
        shared_object_ranking(np.zeros(3), [5], [0])


def test_shared_relevance_mass_uses_positive_credit():
    values = np.array([2.0, -5.0, 1.0, 1.0])
    assert shared_relevance_mass(values, [0]) == pytest.approx(2.0 / 4.0)
    assert shared_relevance_mass(values, [0], objects=[0, 1, 2]) == pytest.approx(2.0 / 3.0)
    assert np.isnan(shared_relevance_mass(-np.ones(3), [0]))


def test_correspondence_accuracy_argmax_per_row():
    cross = np.array([[0.9, 0.1, 0.0], [0.2, 0.1, 0.5], [0.3, 0.3, 0.0]])
    assert correspondence_accuracy(cross, {0: 0, 1: 2}) == 1.0
    assert correspondence_accuracy(cross, [(0, 1), (1, 2)]) == 0.5
    assert correspondence_accuracy(cross, {2: 0}) == 0.0  # a tie at the maximum is a miss
    with pytest.raises(ValueError, match="outside the cross matrix"):
        correspondence_accuracy(cross, {3: 0})


def additive(weights):
    w = np.asarray(weights, dtype=np.float64)
    return lambda z: z.astype(np.float64) @ w


def test_deletion_and_insertion_on_an_additive_game():
    w = np.array([4.0, 3.0, 2.0, 1.0])
    game = additive(w)
    good, bad = deletion_curve(game, w), deletion_curve(game, -w)
    assert good.scores[0] == pytest.approx(10.0) and good.scores[-1] == pytest.approx(0.0)
    np.testing.assert_allclose(good.normalized, [1.0, 0.6, 0.3, 0.1, 0.0])
    assert good.auc < bad.auc
    ins_good, ins_bad = insertion_curve(game, w), insertion_curve(game, -w)
    np.testing.assert_allclose(ins_good.normalized, [0.0, 0.4, 0.7, 0.9, 1.0])
    assert ins_good.auc > ins_bad.auc
    # the AUC is the trapezoid area over fractions 0, 1/4, ..., 1
    assert ins_good.auc == pytest.approx(np.trapezoid(ins_good.normalized, ins_good.fractions))
    assert good.n_evaluations == 5


def test_censoring_keeps_the_top_pairs_of_both_sides():
    # joint game on 2 query + 2 hit players: similarity only from (q0, h1) together
    def joint(z):
        return (z[:, 0] & z[:, 3]).astype(np.float64)

    cross = np.array([[0.0, 1.0], [0.2, 0.1]])
    curve = censoring_curve(joint, cross, max_pairs=2)
    np.testing.assert_allclose(curve.normalized, [0.0, 1.0, 1.0])
    wrong = censoring_curve(joint, -cross, max_pairs=2)
    assert wrong.normalized[1] == 0.0 and wrong.auc < curve.auc


def test_spearman_and_map_rank_correlation():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.ones(4)))
    assert map_rank_correlation(a, -a, absolute=True) == pytest.approx(1.0)
    m = np.array([1.0, np.nan, 3.0, 2.0])
    assert map_rank_correlation(m, np.array([1.0, 5.0, 3.0, 2.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same size"):
        map_rank_correlation(a, a[:3])


def test_retrieval_metrics_perfect_and_random():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(20, 50)).astype(np.float64) / 2.0
    perfect = retrieval_metrics(truth + 1e-3 * rng.random(truth.shape), truth)
    assert perfect.r1_max == 1.0 and perfect.map == pytest.approx(1.0) and perfect.spearman > 0.85
    noise = retrieval_metrics(rng.random(truth.shape), truth)
    assert abs(noise.spearman) < 0.15
    assert noise.chance_map == pytest.approx((truth > 0).mean())
