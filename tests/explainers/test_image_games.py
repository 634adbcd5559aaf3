"""Players, masking, Qdrant scores, the cached side evaluator and the image games."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers import (
    EmbeddingError,
    HitGame,
    QueryGame,
    RelativeGame,
    SideEvaluator,
    explain_game,
    make_baseline,
    make_players,
    masked_batch,
    score_matrix,
)
from qdrant_explain.explainers.encoder import prepare_image
from qdrant_explain.explainers.scores import higher_is_better, score_rows


def _image(h: int = 60, w: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, ((xx // 15 + yy // 15) % 2) * 200], 2)
    return (img + rng.integers(0, 20, img.shape)).clip(0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- scores


def test_scores_match_qdrant_definitions():
    rng = np.random.default_rng(0)
    q, h = rng.normal(size=(5, 7)), rng.normal(size=(4, 7))
    cos = score_matrix(q, h, "cosine")
    for i in range(5):
        for j in range(4):
            assert cos[i, j] == pytest.approx(q[i] @ h[j] / np.linalg.norm(q[i]) / np.linalg.norm(h[j]))
            assert score_matrix(q, h, "dot")[i, j] == pytest.approx(q[i] @ h[j])
            assert score_matrix(q, h, "euclid")[i, j] == pytest.approx(np.linalg.norm(q[i] - h[j]))
            assert score_matrix(q, h, "manhattan")[i, j] == pytest.approx(np.abs(q[i] - h[j]).sum())
    np.testing.assert_allclose(score_rows(q[:4], h, "euclid"), np.diag(score_matrix(q[:4], h, "euclid")))
    assert higher_is_better("Cosine") and not higher_is_better("euclid")
    with pytest.raises(ValueError, match="dimension"):
        score_matrix(q, rng.normal(size=(2, 6)))


def test_euclid_large_batches_use_the_expanded_form_consistently():
    rng = np.random.default_rng(1)
    q, h = rng.normal(size=(300, 256)), rng.normal(size=(300, 256))
    big = score_matrix(q, h, "euclid")
    np.testing.assert_allclose(big[:3, :3], score_matrix(q[:3], h[:3], "euclid"), atol=1e-9)


# ----------------------------------------------------------------------------- players


def test_grid_players_and_geometry():
    prep = prepare_image(_image(60, 90), (32, 32))
    pl = make_players("grid:4x4", prep)
    assert pl.n_players == 16 and pl.labels.shape == (32, 32)
    assert set(np.unique(pl.labels)) == set(range(16))
    # the crop removed left/right columns of the 60x90 original: -1 there
    assert (pl.original_labels[:, 0] == -1).all() and (pl.original_labels[:, 45] >= 0).all()
    heat = pl.paint(np.arange(16.0))
    assert np.isnan(heat[:, 0]).all() and np.isfinite(heat[:, 45]).all()


def test_slic_players():
    prep = prepare_image(_image(64, 64), (64, 64))
    pl = make_players("slic:12", prep)
    assert 2 <= pl.n_players <= 40
    assert pl.labels.min() == 0 and pl.labels.max() == pl.n_players - 1


def test_user_label_map_relabelled_in_ascending_order():
    img = _image(40, 40)
    prep = prepare_image(img, (20, 20))
    user = np.full((40, 40), 7)
    user[:, 20:] = 3
    user[30:, :] = 42
    pl = make_players(user, prep)
    np.testing.assert_array_equal(pl.label_values, [3, 7, 42])
    assert pl.labels[0, 0] == 1 and pl.labels[0, 19] == 0 and pl.labels[19, 0] == 2
    assert pl.original_labels[0, 0] == 1 and pl.original_labels[39, 39] == 2


@pytest.mark.parametrize(
    "spec, match",
    [
        ("grid:100x100", "more|only"),
        ("slic:5000", "only"),
        ("voronoi:5", "not understood"),
        ("grid:axb", "grid:RxC"),
        (np.zeros((0, 0), dtype=int), "empty"),
        (np.full((40, 40), 0.5), "integer"),
        (np.zeros((40, 40), dtype=bool), "integers"),
        (np.zeros((30, 40), dtype=int), "shape"),
    ],
)
def test_bad_players(spec, match):
    prep = prepare_image(_image(40, 40), (32, 32))
    with pytest.raises(ValueError, match=match):
        make_players(spec, prep, name="query")


def test_integral_float_label_map_is_accepted():
    prep = prepare_image(_image(40, 40), (32, 32))
    assert make_players(np.repeat(np.arange(4.0), 10)[None, :].repeat(40, 0), prep).n_players == 4


# ----------------------------------------------------------------------------- masking


def test_masked_batch_matches_a_loop():
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)
    base = make_baseline("constant:1,2,3", pix)
    labels = rng.integers(0, 5, (8, 10))
    masks = rng.random((6, 5)) < 0.5
    got = masked_batch(pix, base, labels, masks)
    for r in range(6):
        want = np.where(masks[r][labels][..., None], pix, base)
        np.testing.assert_array_equal(got[r], want)


@pytest.mark.parametrize("shape", [(224, 224), (37, 53), (2, 3), (300, 200)])
def test_blur_baseline_equals_skimage_gaussian(shape):
    """The matrix form of the blur gives skimage's Gaussian (reflect, 4 sigma) pixel for pixel."""
    from skimage.filters import gaussian

    pix = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3)).astype(np.uint8)
    sigma = max(1.0, 0.08 * max(shape))
    want = gaussian(pix.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True, mode="reflect")
    np.testing.assert_array_equal(make_baseline("blur", pix), np.clip(np.round(want), 0, 255).astype(np.uint8))


def test_baselines():
    pix = _image(32, 32)
    assert make_baseline("blur", pix).shape == pix.shape
    assert make_baseline("blur", pix).std() < pix.std()
    np.testing.assert_array_equal(make_baseline("mean", pix)[0, 0], np.round(pix.reshape(-1, 3).mean(0)))
    np.testing.assert_array_equal(make_baseline("constant", pix)[5, 5], [123, 117, 104])
    np.testing.assert_array_equal(make_baseline(lambda p: 255 - p, pix), 255 - pix)
    np.testing.assert_array_equal(make_baseline((0, 0, 0), pix), 0)
    for bad in ("noise", "constant:1,2", lambda p: p[:5]):
        with pytest.raises(ValueError):
            make_baseline(bad, pix)


# ----------------------------------------------------------------------------- side evaluator


class Counting:
    def __init__(self, d: int = 4, seed: int = 0) -> None:
        self.w = np.random.default_rng(seed).normal(size=(6, d))
        self.rows = 0
        self.calls = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        self.rows += masks.shape[0]
        self.calls += 1
        return np.tanh(masks @ self.w)


@pytest.mark.parametrize("batch_size", [1, 3, 4096])
def test_side_cache_never_encodes_a_mask_twice(batch_size):
    f = Counting()
    side = SideEvaluator(f, 6, batch_size=batch_size, progress=False)
    rng = np.random.default_rng(0)
    z = rng.random((50, 6)) < 0.5
    first = side.embed(z)
    again = side.embed(np.concatenate([z, z[::-1]]))
    distinct = len({r.tobytes() for r in z})
    assert f.rows == side.encoder_passes == distinct
    np.testing.assert_array_equal(again[:50], first)
    np.testing.assert_allclose(first, np.tanh(z @ f.w))
    assert f.calls == -(-distinct // batch_size)


def test_side_rejects_nan_and_bad_shapes():
    side = SideEvaluator(lambda m: np.full((len(m), 3), np.nan), 4, name="query")
    with pytest.raises(EmbeddingError, match="NaN"):
        side.embed(np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="shape"):
        SideEvaluator(lambda m: np.ones(len(m)), 4).embed(np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        SideEvaluator(lambda m: np.ones((len(m), 2)), 4).embed(np.ones((2, 5), bool))


# ----------------------------------------------------------------------------- games


def test_multi_hit_query_game_shares_encodes():
    f = Counting(d=4)
    side = SideEvaluator(f, 6)
    hits = np.random.default_rng(1).normal(size=(10, 4))
    side.embed(np.ones((1, 6), bool))
    game = QueryGame(side, hits, "cosine")
    one = explain_game(game.for_hit(0), 6, method="kernel-shap", budget=40, seed=0)
    passes_one = side.encoder_passes
    many = [explain_game(game.for_hit(k), 6, method="kernel-shap", budget=40, seed=0) for k in range(10)]
    assert side.encoder_passes == passes_one  # hits 1..9 cost nothing
    np.testing.assert_allclose(many[0].values, one.values)
    full = side.embed(np.ones((1, 6), bool))
    assert many[3].full_value == pytest.approx(score_matrix(full, hits[3])[0, 0])


def test_hit_game_and_relative_game():
    f = Counting(d=4, seed=2)
    side = SideEvaluator(f, 6)
    q = np.random.default_rng(3).normal(size=4)
    hg = HitGame(side, q, "euclid")
    z = np.random.default_rng(4).random((5, 6)) < 0.5
    np.testing.assert_allclose(hg(z), np.linalg.norm(np.tanh(z @ f.w) - q, axis=1))
    a, b = np.random.default_rng(5).normal(size=(2, 4))
    rel = RelativeGame(side, a, b, "dot")
    np.testing.assert_allclose(rel(z), np.tanh(z @ f.w) @ (a - b))
    with pytest.raises(ValueError, match="dimension"):
        side.embed(z)
        QueryGame(side, np.ones(7), "cosine")


def test_segment_cache_keys_on_spec_pixels_and_geometry():
    from qdrant_explain.explainers.players import SegmentCache, make_players

    rng = np.random.default_rng(0)
    a = prepare_image(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8), (32, 32))
    b = prepare_image(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8), (32, 32))
    cache = SegmentCache(maxsize=2)
    got = cache.get("slic:10", a)
    np.testing.assert_array_equal(got.labels, make_players("slic:10", a).labels)
    assert cache.get("slic:10", a) is got and cache.get("SLIC:10 ", a) is got
    assert cache.get("slic:10", b) is not got and cache.get("grid:2x2", a).n_players == 4
    assert len(cache) == 2  # bounded: the oldest entry went
    labels = np.zeros((48, 40), dtype=int)
    assert SegmentCache.key(labels, a) is None and cache.get(labels, a).n_players == 1
    one = got.labels.nbytes + got.original_labels.nbytes
    small = SegmentCache(max_bytes=one + 1)  # room for one segmentation's label maps
    small.get("grid:2x2", a)
    small.get("grid:2x2", b)
    assert len(small) == 1 and small.nbytes <= one + 1
    with pytest.raises(ValueError, match="maxsize"):
        SegmentCache(maxsize=0)
    with pytest.raises(ValueError, match="max_bytes"):
        SegmentCache(max_bytes=True)


def test_segment_cache_shared_by_threads():
    from concurrent.futures import ThreadPoolExecutor

    from qdrant_explain.explainers.players import SegmentCache, make_players

    rng = np.random.default_rng(1)
    imgs = [prepare_image(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), (32, 32)) for _ in range(6)]
    cache = SegmentCache(maxsize=4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: cache.get("slic:8", imgs[i % 6]), range(60)))
    for i, players in enumerate(got):
        np.testing.assert_array_equal(players.labels, make_players("slic:8", imgs[i % 6]).labels)
    assert len(cache) <= 4 and cache.hits + cache.misses == 60
