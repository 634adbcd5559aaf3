"""Factorised joint evaluation: exact equals plain enumeration; the stratified sampler converges."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers import (
    ImageSide,
    JointExplanation,
    JointGame,
    SideEvaluator,
    explain_game,
    explain_joint,
    make_baseline,
)
from qdrant_explain.explainers.coalitions import all_coalitions
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values
from qdrant_explain.explainers.joint import context_weights, stratified_minimum_budget

SCORES = ["cosine", "dot", "euclid", "manhattan"]


class TinyNumpyEncoder:
    """A small random conv-like encoder: 4x4 patch projection + tanh + 2x2 pooling -> 32-d."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.normal(size=(4 * 4 * 3, 8)) / 20.0
        self.b = rng.normal(size=8) * 0.3
        self.calls = 0
        self.images = 0

    def encode(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.images += x.shape[0]
        m = x.shape[0]
        p = (x.astype(np.float64) / 255.0).reshape(m, 4, 4, 4, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(m, 4, 4, -1)
        f = np.tanh(p @ self.w + self.b)
        return np.concatenate([f[:, :2, :2].mean((1, 2)), f[:, :2, 2:].mean((1, 2)), f[:, 2:, :2].mean((1, 2)), f[:, 2:, 2:].mean((1, 2))], 1)


def _image_side(seed: int, n_rows: int, n_cols: int, enc: TinyNumpyEncoder, name: str) -> ImageSide:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    img = np.stack([xx * 16, yy * 16, (xx * yy) % 256], 2).astype(np.uint8) ^ rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
    labels = (yy * n_rows // 16) * n_cols + (xx * n_cols // 16)
    return ImageSide(img, make_baseline("mean", img), labels, enc.encode, batch_size=7, name=name)


@pytest.mark.parametrize("score", SCORES)
def test_factorised_exact_equals_plain_enumeration(score):
    """Must-show 1: 2^(nq+nh) joint enumeration == factorisation, with <= 2^nq + 2^nh passes."""
    enc_f, enc_p = TinyNumpyEncoder(1), TinyNumpyEncoder(1)
    q_f, h_f = _image_side(0, 2, 2, enc_f, "query"), _image_side(1, 1, 3, enc_f, "hit")
    nq, nh = q_f.n_players, h_f.n_players
    got = explain_joint(q_f, h_f, nq, nh, score=score, method="exact")
    assert got.encoder_passes == enc_f.images <= 2**nq + 2**nh
    # plain enumeration: every joint coalition through the joint game, then exact order-2 Shapley-Taylor
    q_p, h_p = _image_side(0, 2, 2, enc_p, "query"), _image_side(1, 1, 3, enc_p, "hit")
    table = JointGame(q_p, h_p, score)(all_coalitions(nq + nh))
    singles, pairs = shapley_taylor_order2(table)
    np.testing.assert_allclose(got.cross, pairs[:nq, nq:], atol=1e-6)
    np.testing.assert_allclose(got.query_values, singles[:nq], atol=1e-6)
    np.testing.assert_allclose(got.hit_values, singles[nq:], atol=1e-6)
    np.testing.assert_allclose(got.query_interactions, pairs[:nq, :nq], atol=1e-6)
    np.testing.assert_allclose(got.hit_interactions, pairs[nq:, nq:], atol=1e-6)
    assert got.base_value == pytest.approx(table[0]) and got.full_value == pytest.approx(table[-1])
    assert abs(got.efficiency_gap()) < 1e-9
    # the peer route (core explain_game on the joint game) agrees too
    ref = explain_game(JointGame(_image_side(0, 2, 2, TinyNumpyEncoder(1), "query"), _image_side(1, 1, 3, TinyNumpyEncoder(1), "hit"), score), nq + nh, method="exact", order=2)
    np.testing.assert_allclose(got.cross, ref.interactions[:nq, nq:], atol=1e-6)


def _mlp_side(n: int, d: int, seed: int) -> tuple[callable, np.ndarray]:
    rng = np.random.default_rng(seed)
    w1, a = rng.normal(size=(n, d)) * 0.6, rng.normal(size=(d, d)) * 0.5
    return (lambda m: np.tanh(np.tanh(m @ w1 + 0.2) @ a)), w1


@pytest.mark.parametrize("score", SCORES)
def test_side_shapley_values_match_side_game(score):
    fq, _ = _mlp_side(5, 6, 0)
    fh, _ = _mlp_side(4, 6, 1)
    res = explain_joint(fq, fh, 5, 4, score=score, method="exact")
    from qdrant_explain.explainers.scores import score_matrix

    side = score_matrix(fq(all_coalitions(5).astype(float)), fh(np.ones((1, 4))), score)[:, 0]
    np.testing.assert_allclose(res.query_side_values, shapley_values(side), atol=1e-10)


@pytest.mark.parametrize("score", ["cosine", "euclid"])
def test_stratified_with_every_stratum_enumerated_is_exact(score):
    fq, _ = _mlp_side(5, 6, 2)
    fh, _ = _mlp_side(4, 6, 3)
    exact = explain_joint(fq, fh, 5, 4, score=score, method="exact")
    full = explain_joint(fq, fh, 5, 4, score=score, method="stratified", budget=2**5 + 2**4)
    assert full.encoder_passes == 2**5 + 2**4
    np.testing.assert_allclose(full.cross, exact.cross, atol=1e-12)
    np.testing.assert_allclose(full.query_side_values, exact.query_side_values, atol=1e-12)
    np.testing.assert_allclose(full.hit_side_values, exact.hit_side_values, atol=1e-12)
    np.testing.assert_allclose(full.query_values, exact.query_values, atol=1e-12)


def test_stratified_error_shrinks_and_is_unbiased():
    """Many seeds: the mean of every cross index is within 4 s.e. of exact at 80 passes; the MSE shrinks with the budget."""
    from qdrant_explain.explainers.coalitions import coalition_index

    tq, th = _mlp_side(8, 12, 4)[0](all_coalitions(8)), _mlp_side(8, 12, 5)[0](all_coalitions(8))

    def cached(t):
        return SideEvaluator(lambda m: t[coalition_index(m)], 8, batch_size=4096, progress=False)

    truth = explain_joint(cached(tq), cached(th), 8, 8, method="exact").cross
    mse = {}
    for budget, seeds in ((80, 80), (320, 12)):
        err = np.array([explain_joint(cached(tq), cached(th), 8, 8, method="stratified", budget=budget, seed=s).cross
                        for s in range(seeds)]) - truth
        mse[budget] = float((err**2).mean())
        if budget == 80:
            z = np.abs(err.mean(0)) / (err.std(0, ddof=1) / np.sqrt(seeds))
            assert z.max() < 4.0, f"biased: a cross index's mean is {z.max():.1f} standard errors from exact"
    assert mse[320] < mse[80] / 4
    assert mse[320] < 0.05 * (truth**2).mean()


def test_additive_game_has_zero_cross_even_when_sampled():
    """Additive parts cancel in every product sample: a score that is f(A) + g(B) gets cross == 0."""
    rng = np.random.default_rng(0)
    wq, wh = rng.normal(size=(10, 3)), rng.normal(size=(12, 3))
    # dot of [f(A), 1] and [1, g(B)] = f(A) + g(B)
    fq = lambda m: np.stack([m @ wq[:, 0] ** 2, np.ones(len(m))], 1)
    fh = lambda m: np.stack([np.ones(len(m)), np.sin(m @ wh[:, 1])], 1)
    res = explain_joint(fq, fh, 10, 12, score="dot", method="stratified", budget=300, seed=3)
    np.testing.assert_allclose(res.cross, 0.0, atol=1e-12)


def test_context_weights_sum_to_one():
    for nq, nh in [(1, 1), (3, 5), (16, 16)]:
        assert context_weights(nq, nh).sum() == pytest.approx(1.0)


def test_auto_and_budgets():
    fq, _ = _mlp_side(4, 5, 6)
    fh, _ = _mlp_side(4, 5, 7)
    assert explain_joint(fq, fh, 4, 4).method == "exact"
    small = stratified_minimum_budget(12, 12)
    res = explain_joint(_mlp_side(12, 5, 8)[0], _mlp_side(12, 5, 9)[0], 12, 12, method="auto", budget=small + 50)
    assert res.method == "stratified" and res.encoder_passes <= small + 50 and res.estimated
    with pytest.raises(ValueError, match=rf"needs budget >= {small}"):
        explain_joint(fq, fh, 12, 12, method="stratified", budget=small - 1)
    with pytest.raises(ValueError, match="method"):
        explain_joint(fq, fh, 4, 4, method="kernel-shap")
    with pytest.raises(ValueError, match="score"):
        explain_joint(fq, fh, 4, 4, score="hamming")
    with pytest.raises(ValueError, match="stratified"):
        explain_joint(fq, fh, 21, 4, method="exact")


def test_shared_query_cache_costs_nothing_for_the_next_hit():
    fq, _ = _mlp_side(6, 5, 10)
    side = SideEvaluator(fq, 6, batch_size=5)
    first = explain_joint(side, _mlp_side(5, 5, 11)[0], 6, 5, method="exact")
    second = explain_joint(side, _mlp_side(5, 5, 12)[0], 6, 5, method="exact")
    assert first.query_passes == 64 and second.query_passes == 0 and second.hit_passes == 32


def test_mismatched_dimensions_and_nan():
    fq, _ = _mlp_side(3, 5, 0)
    with pytest.raises(ValueError, match="dimension"):
        explain_joint(fq, lambda m: np.ones((len(m), 4)), 3, 3, method="exact")
    with pytest.raises(ValueError, match="NaN"):
        explain_joint(fq, lambda m: np.full((len(m), 5), np.nan), 3, 3, method="exact")


def test_to_dict_round_trip():
    fq, _ = _mlp_side(3, 5, 0)
    fh, _ = _mlp_side(3, 5, 1)
    res = explain_joint(fq, fh, 3, 3, method="exact")
    back = JointExplanation.from_dict(res.to_dict())
    np.testing.assert_array_equal(back.cross, res.cross)
    assert back.encoder_passes == res.encoder_passes and back.method == "exact"
    import json

    json.dumps(res.to_dict())
    expl = res.as_explanation()
    assert expl.interactions.shape == (6, 6) and abs(expl.efficiency_gap()) < 1e-9


def test_product_kst_full_design_is_exact(product_kst):
    """The benchmark-only "product-kst" registers from benchmarks/ and is exact on the full product design."""
    from qdrant_explain.explainers.scores import normalize_rows, score_matrix
    from qdrant_explain.explainers.vocabulary import list_methods

    product_kst_from_samples = product_kst.product_kst_from_samples
    assert "product-kst" in list_methods(2, "joint")

    fq, _ = _mlp_side(4, 6, 20)
    fh, _ = _mlp_side(3, 6, 21)
    exact = explain_joint(fq, fh, 4, 3, method="exact")
    zq, zh = all_coalitions(4), all_coalitions(3)
    values = score_matrix(normalize_rows(fq(zq)), normalize_rows(fh(zh)), "dot")
    cross, qi, hi = product_kst_from_samples(zq, zh, values, np.random.default_rng(0))
    np.testing.assert_allclose(cross, exact.cross, atol=1e-9)
    np.testing.assert_allclose(qi, exact.query_interactions, atol=1e-9)
    res = explain_joint(fq, fh, 4, 3, method="product-kst", budget=24)
    np.testing.assert_allclose(res.cross, exact.cross, atol=1e-9)
    assert abs(res.efficiency_gap()) < 1e-9


def test_side_model_stratum_means_are_exact():
    """SideModel.deltas equals the brute-force stratum means of its own predictions, pair terms included."""
    from qdrant_explain.explainers.joint import fit_side_model

    n = 7
    z = all_coalitions(n)
    emb = _mlp_side(n, 4, 21)[0](z)
    model = fit_side_model(z, emb)
    assert model is not None and model.pairs is not None  # a non-additive side picks pair terms
    pred, sizes = model.predict(z), z.sum(axis=1)
    for a in range(n):
        for i in range(n):
            up, down = (sizes == a + 1) & z[:, i], (sizes == a) & ~z[:, i]
            np.testing.assert_allclose(model.deltas()[a, i], pred[up].mean(0) - pred[down].mean(0), atol=1e-10)


def test_side_model_needs_enough_masks_and_control_variate_is_exact_when_enumerated():
    from qdrant_explain.explainers.joint import fit_side_model, side_deltas

    z = all_coalitions(6)
    emb = _mlp_side(6, 3, 22)[0](z)
    assert fit_side_model(z[:10], emb[:10]) is None  # 10 masks, 6 players: too few to fit a control variate
    np.testing.assert_allclose(side_deltas(z, emb), side_deltas(z, emb, control_variate=False), atol=1e-12)


def test_control_variate_lowers_the_error():
    fq, _ = _mlp_side(10, 12, 23)
    fh, _ = _mlp_side(10, 12, 24)
    truth = explain_joint(fq, fh, 10, 10, method="exact").cross
    err = {cv: np.mean([((explain_joint(fq, fh, 10, 10, method="stratified", budget=200, seed=s,
                                         control_variate=cv).cross - truth) ** 2).mean() for s in range(4)])
           for cv in (True, False)}
    assert err[True] < err[False] / 2


def test_two_round_plan_never_repeats_a_mask_and_follows_the_allocation():
    from qdrant_explain.explainers.joint import _allocate, pilot_side, plan_side, stratum_spread

    rng = np.random.default_rng(0)
    n, budget = 10, 300
    pilot = pilot_side(n, rng)
    emb = _mlp_side(n, 4, 25)[0](pilot)
    spread = stratum_spread(pilot, emb)
    assert spread.shape == (n + 1,) and (spread > 0).all()
    importance = np.linspace(1.0, 0.1, n + 1) * spread
    rest = plan_side(n, budget, importance, rng, pilot=pilot)
    masks = np.concatenate([pilot, rest])
    assert len({row.tobytes() for row in masks}) == len(masks)
    np.testing.assert_array_equal(np.bincount(masks.sum(1), minlength=n + 1), _allocate(n, budget, importance))


def test_stratified_multi_hit_shares_the_query_masks():
    fq, _ = _mlp_side(9, 5, 26)
    side = SideEvaluator(fq, 9)
    first = explain_joint(side, _mlp_side(9, 5, 27)[0], 9, 9, method="stratified", budget=200, seed=1)
    second = explain_joint(side, _mlp_side(9, 5, 28)[0], 9, 9, method="stratified", budget=200, seed=1)
    assert first.query_passes > 0 and second.query_passes == 0 and first.encoder_passes <= 200


def test_embedding_zero_masks_before_any_encode_is_a_clear_error():
    side = SideEvaluator(lambda m: np.ones((len(m), 3)), 4)
    with pytest.raises(ValueError, match="zero masks"):
        side.embed(np.zeros((0, 4), dtype=bool))
    side.embed(np.eye(4, dtype=bool))
    assert side.embed(np.zeros((0, 4), dtype=bool)).shape == (0, 3)
