"""explain_pair / explain_hits end to end with a small random torch conv net, bad inputs, figures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qdrant_explain import ImagePairExplanation, explain_hits, explain_pair
from qdrant_explain.explainers import EmbeddingError
from qdrant_explain.explainers.encoder import prepare_image
from qdrant_explain.results import PairExplanation

torch = pytest.importorskip("torch")


class ConvEncoder:
    """Random 2-layer conv net on 32x32 inputs -> 24-d, fixed seed; counts images encoded."""

    name = "test:conv"
    input_size = (32, 32)

    def __init__(self, seed: int = 0, dim: int = 24) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.randn(8, 3, 5, 5, generator=g) * 0.2
        self.w2 = torch.randn(dim, 8, 3, 3, generator=g) * 0.2
        self.images = 0
        self.nan = False

    def prepare(self, image):
        return prepare_image(image, self.input_size)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        self.images += pixels.shape[0]
        x = torch.from_numpy(np.array(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with torch.no_grad():
            h = torch.relu(torch.nn.functional.conv2d(x, self.w1, stride=2, padding=2))
            h = torch.tanh(torch.nn.functional.conv2d(h, self.w2, stride=2, padding=1))
            out = h.mean(dim=(2, 3)).numpy().astype(np.float64)
        if self.nan:
            out[:, 0] = np.nan
        return out


def scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, ((xx // 8 + yy // 8) % 2) * 180 + 30], 2)
    return (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture
def enc():
    return ConvEncoder()


def test_order1_both_sides(enc):
    q, h = scene(48, 64, 0), scene(40, 40, 1)
    res = explain_pair(q, h, enc, order=1, players="grid:3x3", budget=None)  # fixed: auto is exact up to 12 players
    assert isinstance(res, ImagePairExplanation) and isinstance(res, PairExplanation)
    assert res.method == "exact" and not res.estimated
    assert res.encoder_passes == enc.images == 2 * 2**9  # full masks are part of the tables
    assert res.query_heatmap.shape == (48, 64) and res.hit_heatmap.shape == (40, 40)
    assert np.isnan(res.query_heatmap[:, 0]).all() and np.isfinite(res.query_heatmap[:, 32]).all()
    # efficiency: Shapley values sum to full - base; full value is the cosine of the two full encodes
    assert res.query_values.sum() == pytest.approx(res.full_value - res.base_value, abs=1e-9)
    eq = enc.encode(enc.prepare(q).pixels[None])[0]
    eh = enc.encode(enc.prepare(h).pixels[None])[0]
    assert res.full_value == pytest.approx(eq @ eh / np.linalg.norm(eq) / np.linalg.norm(eh), abs=1e-9)
    d = res.to_dict()
    assert d["metric"] == "cosine" and d["players"] == {"query": 9, "hit": 9}
    assert res.to_json()


def test_order1_kernel_shap_with_stored_vector(enc):
    q = scene(48, 64, 0)
    stored = np.random.default_rng(0).normal(size=24)
    res = explain_pair(q, None, enc, players="grid:4x4", method="kernel-shap", budget=200, hit_embedding=stored, score="dot")
    assert res.hit_heatmap is None and res.side == "query" and res.method == "kernel-shap"
    assert res.encoder_passes <= 200 + 1
    assert res.query_values.sum() == pytest.approx(res.full_value - res.base_value, abs=1e-8)


def test_order2_joint_and_correspondence_maps(enc, tmp_path):
    q, h = scene(48, 64, 0), scene(40, 40, 1)
    res = explain_pair(q, h, enc, order=2, players="grid:2x3", score="euclid")
    assert res.method == "exact" and res.cross.shape == (6, 6)
    assert res.encoder_passes <= 2**6 + 2**6 and not res.higher_is_better
    assert abs(res.joint.efficiency_gap()) < 1e-9
    hm = res.hit_heatmap_for((20, 30))
    assert hm.shape == (40, 40)
    player = res.query_players.original_labels[20, 30]
    np.testing.assert_allclose(hm, res.hit_players.paint(res.cross[player]))
    region = np.zeros((48, 64), bool)
    region[:24] = True
    assert np.isfinite(res.hit_heatmap_for(region)).any()
    assert res.query_heatmap_for(2).shape == (48, 64)
    with pytest.raises(ValueError, match="crop"):
        res.hit_heatmap_for((20, 0))
    from qdrant_explain.viz import plot_heatmap, save_correspondence, save_overlays

    save_overlays(res, tmp_path / "ov.png")
    save_correspondence(res, tmp_path / "co.png", top_k=4)
    plot_heatmap(q, res.query_heatmap, tmp_path / "q.png")
    for name in ("ov.png", "co.png", "q.png"):
        assert Image.open(tmp_path / name).size[0] > 100


def test_order2_stratified_with_label_maps(enc):
    q, h = scene(48, 64, 0), scene(40, 40, 1)
    ql = np.repeat(np.arange(8), 8)[None, :].repeat(48, 0) * 10  # labels 0,10,...,70
    hl = (np.arange(40)[:, None] // 10) * 3 + (np.arange(40)[None, :] // 14)
    res = explain_pair(q, h, enc, order=2, players=(ql, hl), method="stratified", budget=150)
    assert res.method == "stratified" and res.estimated and res.encoder_passes <= 150
    assert res.cross.shape == (res.query_players.n_players, 12)
    assert list(res.query_players.label_values) == sorted(res.query_players.label_values)


def test_multi_hit_costs_the_query_passes_once(enc):
    q = scene(48, 64, 0)
    hits = np.random.default_rng(1).normal(size=(10, 24))
    one = explain_hits(q, [None], enc, players="grid:4x4", method="kernel-shap", budget=120, hit_embeddings=hits[:1])
    n1 = enc.images
    enc.images = 0
    ten = explain_hits(q, [None] * 10, enc, players="grid:4x4", method="kernel-shap", budget=120, hit_embeddings=hits)
    assert enc.images == n1  # ten hits encode exactly the masked queries of one
    assert n1 == one[0].encoder_passes <= 120 + 1  # the budget, plus the whole query once
    assert sum(r.encoder_passes for r in ten) == one[0].encoder_passes
    np.testing.assert_allclose(ten[0].query_values, one[0].query_values)


@pytest.mark.parametrize("method", ["kernel-shap", "permutation", "exact"])
def test_multi_hit_equals_one_hit_at_a_time(enc, method):
    """k stored hits are solved together (one plan, one solve); each equals its own explain_pair."""
    q = scene(48, 64, 0)
    hits = np.random.default_rng(2).normal(size=(4, 24))
    budget = 2**9 if method == "exact" else 120
    many = explain_hits(q, [None] * 4, enc, players="grid:3x3", method=method, budget=budget, hit_embeddings=hits)
    for j, res in enumerate(many):
        alone = explain_pair(q, None, enc, players="grid:3x3", method=method, budget=budget, hit_embedding=hits[j])
        np.testing.assert_allclose(res.query_values, alone.query_values, atol=1e-10)
        assert res.full_value == pytest.approx(alone.full_value, abs=1e-12)
        np.testing.assert_allclose(res.query_heatmap, alone.query_heatmap, atol=1e-10)
        assert res.query_explanation.n_evaluations == alone.query_explanation.n_evaluations
    assert many[0].encoder_passes == many[0].query_explanation.n_evaluations and many[1].encoder_passes == 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(scene()).convert("L"),
        Image.fromarray(scene()).convert("RGBA"),
        Image.fromarray(scene()).convert("CMYK"),
        Image.fromarray(scene()[:, :, 0].astype(np.uint16) * 257),
        scene()[:, :, 0],
        np.concatenate([scene(), np.full((48, 64, 1), 128, np.uint8)], 2),
        scene().astype(np.uint16) * 257,
    ],
    ids=["grey", "rgba", "cmyk", "pil-16bit", "array-grey", "array-rgba", "array-16bit"],
)
def test_image_modes_are_converted(enc, image):
    res = explain_pair(image, scene(40, 40, 1), enc, players="grid:2x2")
    assert res.query_heatmap.shape == (48, 64) and np.isfinite(res.full_value)


def test_one_pixel_image_is_rejected(enc):
    with pytest.raises(ValueError, match="1x1"):
        explain_pair(np.zeros((1, 1, 3), np.uint8), scene(), enc)


def test_more_players_than_pixels(enc):
    with pytest.raises(ValueError, match="pixels"):
        explain_pair(scene(), scene(), enc, players="grid:40x40")
    with pytest.raises(ValueError, match="pixels"):
        explain_pair(scene(), scene(), enc, players="slic:2000")


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((0, 0), int), "empty"),
        (np.full((48, 64), 1.5), "integer"),
        (np.zeros((47, 64), int), "shape"),
    ],
)
def test_bad_label_maps(enc, labels, match):
    with pytest.raises(ValueError, match=match):
        explain_pair(scene(), scene(), enc, players=(labels, "grid:2x2"))


def test_hit_embedding_of_wrong_dimension(enc):
    with pytest.raises(ValueError, match="dimension 10 but the encoder produces 24"):
        explain_pair(scene(), None, enc, hit_embedding=np.ones(10), players="grid:2x2")


def test_nan_embeddings_give_one_clear_error(enc):
    enc.nan = True
    with pytest.raises(EmbeddingError, match="NaN or inf embeddings"):
        explain_pair(scene(), scene(), enc, players="grid:2x2")


def test_not_an_encoder():
    with pytest.raises(TypeError, match="encoder"):
        explain_pair(scene(), scene(), object())


def test_bad_order_and_method(enc):
    with pytest.raises(ValueError, match="order"):
        explain_pair(scene(), scene(), enc, order=3)
    with pytest.raises(ValueError, match="method"):
        explain_pair(scene(), scene(), enc, order=2, method="lime", players="grid:2x2")
    with pytest.raises(ValueError, match="hit_image"):
        explain_pair(scene(), None, enc, order=2, hit_embedding=np.ones(24), players="grid:2x2")


def test_paths_are_accepted(enc, tmp_path):
    Image.fromarray(scene()).save(tmp_path / "q.png")
    Image.fromarray(scene(40, 40, 1)).save(tmp_path / "h.jpg")
    res = explain_pair(tmp_path / "q.png", str(tmp_path / "h.jpg"), enc, players="grid:2x2")
    assert res.query_image.shape == (48, 64, 3) and res.hit_image.shape == (40, 40, 3)
