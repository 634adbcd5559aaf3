"""The grey-box methods from the CLI (issue 19) on the trained digits CNN (``--encoder digits-cnn``).

``--method sam`` exists only at order 2, so it implies ``--order 2``; an explicit ``--order 1`` with it
is refused with a message naming ``--order 2``. The digits CNN reads its feature map
(``DigitsEncoder.feature_parts``): sum pooling and a bias-free linear head, so its cells sum to the
embedding exactly.
"""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from qdrant_explain.cli import main
from qdrant_explain.datasets import digits


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    paths = []
    for i, scene in enumerate(digits.make_scenes(2, seed=5, k=(2, 3), split="test")):
        path = folder / f"scene{i}.png"
        Image.fromarray(scene.image).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def encoder():
    return digits.load_digits_encoder(threads=1)


def test_sam_implies_order_2(scenes):
    out = run("explain", scenes[0], "--image", scenes[1], "--encoder", "digits-cnn", "--method", "sam",
              "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["order"] == 2 and res["method"] == "sam"
    assert res["players"] == {"query": 64, "hit": 64}  # the CNN's 8 x 8 feature cells
    assert np.asarray(res["cross"]).shape == (64, 64)
    assert res["encoder_passes"] == 2  # one forward pass per image


def test_other_methods_keep_order_1_by_default(scenes):
    out = run("explain", scenes[0], "--image", scenes[1], "--encoder", "digits-cnn", "--method", "search-cam",
              "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["order"] == 1 and res["method"] == "search-cam" and res["encoder_passes"] == 2
    assert len(res["query_values"]) == 64 and res["cross"] is None


def test_sam_with_an_explicit_order_1_is_refused_naming_order_2(scenes):
    out = run("explain", scenes[0], "--image", scenes[1], "--encoder", "digits-cnn", "--method", "sam",
              "--order", "1")
    assert out.exit_code == 2
    assert "'sam' is an order-2 method (query x hit correspondences)" in out.output
    assert "give --order 2" in out.output and "Traceback" not in out.output


def test_an_order_1_method_at_order_2_is_refused_naming_order_1(scenes):
    out = run("explain", scenes[0], "--image", scenes[1], "--encoder", "digits-cnn", "--method", "search-gradcam",
              "--order", "2")
    assert out.exit_code == 2
    assert "'search-gradcam' is an order-1 method" in out.output and "give --order 1" in out.output


def test_compare_refuses_sam_as_order_1_only():
    from qdrant_explain.cli._common import check_method

    with pytest.raises(click.BadParameter, match=r"'sam' is an order-2 method.*this command explains at order 1 "
                                                 r"only.*search-cam"):
        check_method("sam", 1, order_option=False)
    with pytest.raises(click.BadParameter, match=r"'nope' is not available at order 1"):
        check_method("nope", 1)


def test_order_for():
    from qdrant_explain.cli._common import order_for

    assert order_for(None, "sam") == 2 and order_for(None, "stratified") == 2
    assert order_for(None, "auto") == 1 and order_for(None, "exact") == 1 and order_for(None, "search-cam") == 1
    assert order_for("1", "sam") == 1 and order_for("2", "exact") == 2


def test_digits_cnn_cells_sum_to_its_embedding(encoder):
    scene = digits.make_scenes(1, seed=9, k=(3, 3), split="test")[0]
    maps = encoder.feature_maps(scene.image[None])
    emb = encoder.encode(scene.image[None])[0]
    cells = np.asarray(maps[0].cells)
    assert cells.shape == (8, 8, 32) and maps[0].exact_pooling
    np.testing.assert_allclose(cells.sum(axis=(0, 1)), emb, rtol=1e-5, atol=1e-5 * np.abs(emb).max())


def test_digits_cnn_search_cam_with_dot_is_exact(encoder):
    from qdrant_explain import explain_pair

    q, h = digits.make_scenes(2, seed=11, k=(2, 3), split="test")
    r = explain_pair(q.image, h.image, encoder, method="search-cam", score="dot")
    assert r.extra["grey_box"]["exact_shapley"] is True
    assert r.extra["grey_box"]["pooling"] == "sum pooling then a bias-free linear layer"
    # efficiency: the values add up to the full score minus the empty (all-zero feature) score, 0 for dot
    eq, eh = encoder.encode(np.stack([q.image, h.image]))
    np.testing.assert_allclose(np.sum(r.query_values), eq @ eh, rtol=1e-4)


def test_the_anytime_budget_says_the_instant_preview_first(scenes, encoder):
    """Under budget="auto" an encoder with feature maps gives the grey-box first frame before the black-box rounds;
    a fixed budget or an encoder without feature maps gives none."""
    from plugin_helpers import TINY

    from qdrant_explain.pair import explain_pair

    said: list[str] = []
    res = explain_pair(scenes[0], scenes[1], encoder, players="grid:4x4", budget="auto:96", log=said.append,
                       progress=False)
    first = [i for i, line in enumerate(said) if line.startswith("instant preview (search-cam over feature cells")]
    rounds = [i for i, line in enumerate(said) if "in rounds of" in line]
    assert first and rounds and first[0] < rounds[0], said
    assert "the match is strongest at the query's" in said[first[0]] and res.method != "search-cam"
    fixed: list[str] = []
    explain_pair(scenes[0], scenes[1], encoder, players="grid:2x2", budget=16, log=fixed.append, progress=False)
    assert not any(line.startswith("instant preview") for line in fixed)
    black_box: list[str] = []
    explain_pair(scenes[0], scenes[1], TINY, players="grid:4x4", budget="auto:96", log=black_box.append, progress=False)
    assert not any(line.startswith("instant preview") for line in black_box)
