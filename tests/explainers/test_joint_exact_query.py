"""The joint sampler with the query (text) side enumerated: exact when the budget covers the hit side,
every query mask encoded once, the hit side sampled with the rest, and a fallback when it does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers.joint import explain_joint
from qdrant_explain.explainers.joint.exact_query import EXACT_QUERY_PLAYERS, QueryExactStratified


def _sides(nq, nh, seed=0):
    rng = np.random.default_rng(seed)
    wq, wh = rng.normal(size=(nq, 6)), rng.normal(size=(nh, 6))
    return (lambda m: np.tanh(m @ wq) + 0.2), (lambda m: np.tanh(m @ wh) + 0.2)


def test_equals_exact_when_the_budget_covers_both_sides():
    f, g = _sides(5, 7)
    exact = explain_joint(f, g, 5, 7, method="exact")
    got = explain_joint(f, g, 5, 7, method="stratified", budget=2**5 + 2**7, exact_query=True)
    assert got.meta["query_side"] == "exact" and got.query_passes == 32 and got.hit_passes == 128
    np.testing.assert_allclose(got.cross, exact.cross, atol=1e-10)


def test_every_query_mask_and_the_rest_of_the_budget_on_the_hit_side():
    f, g = _sides(10, 12)
    plain = explain_joint(f, g, 10, 12, method="stratified", budget=2400, seed=1)
    got = explain_joint(f, g, 10, 12, method="stratified", budget=2400, seed=1, exact_query=True)
    assert "query_side" not in plain.meta
    assert got.query_passes == 1024 and got.hit_passes == 2400 - 1024 and got.meta["query_side"] == "exact"
    again = explain_joint(f, g, 10, 12, method="stratified", budget=2400, seed=1, exact_query=True)
    np.testing.assert_array_equal(got.cross, again.cross)
    # efficiency of the cross block's sum is not promised by a sampler; its scale is sane
    assert np.isfinite(got.cross).all() and abs(got.full_value - plain.full_value) < 1e-12


def test_falls_back_to_plain_stratified_when_it_cannot_enumerate():
    f, g = _sides(10, 12)
    small = explain_joint(f, g, 10, 12, method="stratified", budget=900, exact_query=True)  # < 2^10 + minimum
    assert "query_side" not in small.meta and small.query_passes < 1024
    # 2^10 + the minimum fit, but the query side's share (10^1.5 / (10^1.5 + 12^1.5) of 2,200 = 951) is below
    # 2^10: both sampled
    shared = explain_joint(f, g, 10, 12, method="stratified", budget=2200, exact_query=True)
    assert "query_side" not in shared.meta and shared.query_passes == 951 and shared.hit_passes == 1249
    covered = explain_joint(f, g, 10, 12, method="stratified", budget=2380, exact_query=True)  # share 1,028
    assert covered.meta["query_side"] == "exact" and covered.query_passes == 1024
    f, g = _sides(EXACT_QUERY_PLAYERS + 1, 4)
    big = explain_joint(f, g, EXACT_QUERY_PLAYERS + 1, 4, method="stratified", budget=300, exact_query=True)
    assert "query_side" not in big.meta
    # without a budget the default grows to cover 2^nq plus the hit side's minimum
    f, g = _sides(11, 6)
    grown = explain_joint(f, g, 11, 6, method="stratified", exact_query=True)
    assert grown.meta["query_side"] == "exact" and grown.query_passes == 2048 and grown.hit_passes > 0


def test_refuses_a_query_side_too_large_to_enumerate():
    f, g = _sides(EXACT_QUERY_PLAYERS + 1, 3)
    from qdrant_explain.explainers.side import SideEvaluator

    q, h = SideEvaluator(f, EXACT_QUERY_PLAYERS + 1), SideEvaluator(g, 3)
    with pytest.raises(ValueError, match="at most 12 players"):
        QueryExactStratified().sample(q, h, score="cosine", budget=10000, rng=np.random.default_rng(0))
