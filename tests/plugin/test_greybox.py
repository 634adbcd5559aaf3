"""Grey-box methods on the pipeline of sides (issue 19): search-cam, search-gradcam and sam on torch encoders.

Must-show 1: on a small GAP + dot encoder built here, ``search-cam`` equals the exact Shapley values of
the feature-cell game (players: feature cells, zero masking in feature space) and ``sam`` its exact
order-2 Shapley-Taylor cross block, to 1e-6, through ``explain_pair``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from qdrant_explain import PairExplanation, explain_pair, instant_preview
from qdrant_explain.connectors import CallableEncoder, GreyBoxUnavailableError, load_encoder
from qdrant_explain.connectors.torch_base import FeatureParts, TorchEncoder
from qdrant_explain.explainers import explain_game, explain_joint
from qdrant_explain.explainers.vocabulary import list_methods

GRID = 3  # feature cells per side: 3 x 3 = 9 players, exact enumeration is 512 coalitions


class TinyGapEncoder(TorchEncoder):
    """conv (stride 8) -> ReLU -> conv: a (8, 3, 3) map on 24 x 24 inputs, global-average-pooled (GAP)."""

    name = "qe-test-tiny-gap"
    input_size = (24, 24)
    dim = 8
    mean = (0.5, 0.5, 0.5)
    std = (0.25, 0.25, 0.25)

    def __init__(self, seed: int = 0) -> None:
        import torch

        self._setup_runtime("cpu", "fp32", None, 16)
        torch.manual_seed(seed)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 8, stride=8), torch.nn.ReLU(), torch.nn.Conv2d(6, 8, 1))
        self.model = torch.nn.Sequential(self.features, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self._finish_init()

    def feature_parts(self) -> FeatureParts:
        return FeatureParts(backbone=lambda x: (self.features(x), None), cells=lambda a: a / (a.shape[2] * a.shape[3]),
                            head=lambda a: a.mean(dim=(2, 3)), exact_pooling=True, pooling="global average pooling")


@pytest.fixture(scope="module")
def enc():
    return TinyGapEncoder()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (30, 40, 3)).astype(np.uint8), rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)


def _torch_cells(enc, image) -> np.ndarray:
    """(9, 8) feature cells / 9 read straight from the torch module (independent of feature_maps)."""
    import torch

    pixels = enc.prepare(image).pixels[None]
    with torch.no_grad():
        fmap = enc.features(enc.to_tensor(pixels))[0].numpy().astype(np.float64)  # (8, 3, 3)
    return fmap.reshape(8, -1).T / fmap[0].size


def test_search_cam_is_the_exact_shapley_value_of_the_feature_cell_game(enc, images):
    q_img, h_img = images
    res = explain_pair(q_img, h_img, enc, method="search-cam", score="dot")
    cq, ch = _torch_cells(enc, q_img), _torch_cells(enc, h_img)
    hit_vector, query_vector = ch.sum(0), cq.sum(0)
    # the feature-cell game: query cells kept in S (zero masking: removed cells contribute 0), GAP, dot with the hit
    want_q = explain_game(lambda z: (z @ cq) @ hit_vector, GRID * GRID, method="exact")
    want_h = explain_game(lambda z: (z @ ch) @ query_vector, GRID * GRID, method="exact")
    np.testing.assert_allclose(res.query_values, want_q.values, atol=1e-6)
    np.testing.assert_allclose(res.hit_values, want_h.values, atol=1e-6)
    assert np.abs(want_q.values).max() > 1e-3  # the check is not vacuous
    assert res.estimated is False and res.extra["grey_box"]["exact_shapley"] is True
    assert res.full_value == pytest.approx(float(enc.encode(enc.prepare(q_img).pixels[None])[0]
                                                 @ enc.encode(enc.prepare(h_img).pixels[None])[0]), rel=1e-5)
    assert res.encoder_passes == 2 and res.extra["query_passes"] == 1 and res.extra["hit_passes"] == 1
    assert res.query_explanation.stderr is not None and not res.query_explanation.stderr.any()


def test_sam_is_the_exact_shapley_taylor_cross_block(enc, images):
    q_img, h_img = images
    res = explain_pair(q_img, h_img, enc, order=2, method="sam", score="dot")
    cq, ch = _torch_cells(enc, q_img), _torch_cells(enc, h_img)
    want = explain_joint(lambda z: z @ cq, lambda z: z @ ch, GRID * GRID, GRID * GRID, score="dot", method="exact")
    np.testing.assert_allclose(res.cross, want.cross, atol=1e-6)
    np.testing.assert_allclose(res.joint.query_side_values, want.query_side_values, atol=1e-6)
    np.testing.assert_allclose(res.joint.query_interactions, want.query_interactions, atol=1e-6)
    assert np.abs(want.cross).max() > 1e-3
    assert res.estimated is False and res.encoder_passes == 2 and res.method == "sam"
    assert res.hit_heatmap_for(0).shape == h_img.shape[:2]


def test_cosine_is_flagged_as_an_approximation_and_measured(enc, images):
    res = explain_pair(*images, enc, method="search-cam", score="cosine")
    grey = res.extra["grey_box"]
    assert res.estimated is True and grey["exact_shapley"] is False and "cosine" in grey["approximation"]
    ref = grey["feature_game"]["query"]
    assert ref["method"] == "exact" and ref["n_evaluations"] == 2 ** (GRID * GRID)  # 9 cells: exact enumeration
    assert ref["max_abs"] > 1e-6 and -1.0 <= ref["spearman"] <= 1.0
    assert res.query_values.sum() == pytest.approx(res.full_value, abs=1e-6)  # efficiency: frozen normalisation (fp32 cells)
    assert res.query_explanation.stderr is None  # no error estimate for an approximation


def test_search_gradcam_backpropagates_to_relu_of_search_cam_on_gap_dot(enc, images):
    cam = explain_pair(*images, enc, method="search-cam", score="dot")
    grad = explain_pair(*images, enc, method="search-gradcam", score="dot")
    np.testing.assert_allclose(grad.query_values, np.maximum(cam.query_values, 0.0), atol=1e-6)
    np.testing.assert_allclose(grad.hit_values, np.maximum(cam.hit_values, 0.0), atol=1e-6)
    assert grad.extra["grey_box"]["backward_passes"] == 2 and "ReLU" in grad.extra["grey_box"]["approximation"]
    cells = _torch_cells(enc, images[0])
    mean = cells.sum(0) / np.linalg.norm(cells.sum(0))
    target = np.random.default_rng(3).normal(size=8)
    target -= (target @ mean) * mean  # orthogonal to the query's embedding: the cells' shares sum to 0, mixed signs
    cam = explain_pair(images[0], None, enc, method="search-cam", score="dot", hit_embedding=target)
    grad = explain_pair(images[0], None, enc, method="search-gradcam", score="dot", hit_embedding=target)
    assert (cam.query_values < 0).any() and (cam.query_values > 0).any()  # the ReLU has something to drop
    np.testing.assert_allclose(grad.query_values, np.maximum(cam.query_values, 0.0), atol=1e-6)


def test_heatmaps_are_in_original_pixels_and_round_trip(enc, images):
    q_img, _ = images
    res = explain_pair(*images, enc, method="search-cam", score="dot")
    assert res.query_heatmap.shape == q_img.shape[:2]  # 30 x 40 original, centre-cropped to 24 x 24 model space
    assert np.isnan(res.query_heatmap).any() and np.isfinite(res.query_heatmap).any()
    assert res.query_players.spec == "grid:3x3" and res.baseline == "zero feature cells"
    back = PairExplanation.from_json(res.to_json())
    np.testing.assert_array_equal(back.query_values, res.query_values)
    assert back.extra["grey_box"] == json.loads(json.dumps(res.extra["grey_box"]))


def test_a_stored_hit_vector_and_the_query_side_only(enc, images):
    q_img, h_img = images
    full = explain_pair(q_img, h_img, enc, method="search-cam", score="dot")
    stored = enc.encode(enc.prepare(h_img).pixels[None])[0]
    res = explain_pair(q_img, None, enc, method="search-cam", score="dot", hit_embedding=stored)
    np.testing.assert_allclose(res.query_values, full.query_values, atol=1e-9)
    assert res.hit_values is None and res.encoder_passes == 1


def test_methods_are_in_the_vocabulary_and_the_cli_choices():
    from qdrant_explain.cli._common import methods_for

    assert {"search-cam", "search-gradcam"} <= set(list_methods(1, "side")) <= set(methods_for(1))
    assert "sam" in list_methods(2, "joint") and "sam" in methods_for(2)


def test_an_encoder_without_feature_maps_names_the_black_box_methods(images):
    blind = CallableEncoder(lambda px: px.reshape(len(px), -1)[:, :8].astype(float), input_size=(24, 24), name="blind")
    with pytest.raises(GreyBoxUnavailableError, match=r"method='search-cam' needs the encoder's last spatial feature "
                                                      r"map.*'blind'.*kernel-shap"):
        explain_pair(*images, blind, method="search-cam")
    with pytest.raises(GreyBoxUnavailableError, match="stratified"):
        explain_pair(*images, blind, order=2, method="sam")
    assert instant_preview(*images, blind) is None


def test_bad_inputs_get_clear_errors(enc, images):
    with pytest.raises(ValueError, match=r"feature grid \('grid:3x3'\); got players='slic:10'"):
        explain_pair(*images, enc, method="search-cam", players="slic:10")
    with pytest.raises(ValueError, match=r"closed form for the bilinear scores.*got score='euclid'.*black-box"):
        explain_pair(*images, enc, method="search-cam", score="euclid")
    with pytest.raises(ValueError, match="method must be one of"):
        explain_pair(*images, enc, order=1, method="sam")
    with pytest.raises(TypeError, match="grey-box method"):
        explain_joint(lambda z: z * 1.0, lambda z: z * 1.0, 2, 2, method="sam")
    with pytest.raises(ValueError, match="Unknown method='search-cam'"):
        explain_game(lambda z: z.sum(1), 3, method="search-cam")
    with pytest.raises(ValueError, match=r"instant_preview\(order=\.\.\.\) must be 1 or 2; got 3"):
        instant_preview(*images, enc, order=3)


def test_instant_preview_costs_one_pass_per_image(enc, images):
    first = instant_preview(*images, enc, score="dot")
    assert first.method == "search-cam" and first.encoder_passes == 2
    assert first.extra["grey_box"]["feature_game"]["query"] is None  # the preview does not measure
    joint = instant_preview(*images, enc, order=2, score="dot")
    assert joint.method == "sam" and joint.cross.shape == (9, 9)


TINY = {"text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}, "embed_dim": 24}


@pytest.mark.parametrize("vision", [
    {"image_size": 64, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 16},
], ids=["vit", "resnet"])
def test_open_clip_towers_have_feature_maps(vision, tmp_path):
    import open_clip
    import torch

    name = f"qe-grey-{'vit' if 'patch_size' in vision else 'rn'}"
    (tmp_path / f"{name}.json").write_text(json.dumps({**TINY, "vision_cfg": vision}))
    open_clip.add_model_config(tmp_path / f"{name}.json")
    torch.manual_seed(0)
    clip = load_encoder(f"clip:{name}@none", device="cpu", threads=1)
    px = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    maps = clip.feature_maps(px)
    np.testing.assert_allclose(maps[0].embedding, clip.encode(px)[0], rtol=1e-4, atol=1e-5)
    grid = (4, 4) if "patch_size" in vision else (2, 2)
    assert maps[0].grid == grid and maps[0].exact_pooling is False
    if "patch_size" not in vision:  # the attention pool's value path at the image's own attention: sums exactly
        assert maps[0].pooling_error() < 1e-4
    grads = clip.feature_gradients(np.stack([m.activations for m in maps]), np.ones((2, 1, 24)), metric="cosine")
    assert grads.shape == (2, *grid, maps[0].activations.shape[2]) and np.abs(grads).sum() > 0
    res = explain_pair(px[0], px[1], clip, method="search-gradcam", score="cosine")
    assert res.query_values.shape == (grid[0] * grid[1],) and res.extra["grey_box"]["exact_shapley"] is False
