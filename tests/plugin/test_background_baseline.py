"""The background baseline: removed regions filled from other photos, the game the mean score over them."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_helpers import TINY

from qdrant_explain.connectors import load_encoder
from qdrant_explain.explainers.coalitions import all_coalitions
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values
from qdrant_explain.explainers.masking import Backgrounds, make_baseline, masked_batch
from qdrant_explain.explainers.players import make_players
from qdrant_explain.explainers.scores import score_matrix
from qdrant_explain.pair import explain_pair


def _images(seed: int, k: int, h: int = 56, w: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(k)]


def _brute_side(enc, image, backgrounds, players_spec, other, metric):
    """v(S) = mean_b score(encode(image_S filled from b), other) for every S, by brute force."""
    prepared = enc.prepare(image)
    players = make_players(players_spec, prepared, name="query", seed=0)
    masks = all_coalitions(players.n_players)
    values = np.zeros(masks.shape[0])
    for b in backgrounds:
        fill = enc.prepare(b).pixels
        emb = enc.encode(masked_batch(prepared.pixels, fill, players.labels, masks))
        values += score_matrix(emb, other[None], metric)[:, 0]
    return values / len(backgrounds)


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_order1_exact_equals_brute_force_of_the_expectation(metric):
    enc = load_encoder(TINY)
    q, h, *bgs = _images(1, 5)
    res = explain_pair(q, h, enc, order=1, players="grid:2x3", baseline=Backgrounds(images=tuple(bgs)),
                       method="exact", score=metric, side="query", progress=False)
    other = enc.encode(enc.prepare(h).pixels[None])[0]
    table = _brute_side(enc, q, bgs, "grid:2x3", other, metric)
    np.testing.assert_allclose(res.query_values, shapley_values(table), atol=1e-9)
    assert res.base_value == pytest.approx(table[0], abs=1e-9)
    assert res.full_value == pytest.approx(table[-1], abs=1e-9)
    # 2^6 coalitions; the full image is one encode, every other coalition one per background
    assert res.extra["query_passes"] == (2**6 - 1) * 3 + 1
    assert res.baseline.startswith("background")


def test_joint_exact_equals_brute_force_with_independent_backgrounds():
    """Both sides filled from backgrounds independently: E_{b,b'} cos = <mean n(e_b), mean n(e'_b')>."""
    enc = load_encoder(TINY)
    q, h, *bgs = _images(2, 4)
    res = explain_pair(q, h, enc, order=2, players="grid:1x3", baseline=Backgrounds(images=tuple(bgs)),
                       method="exact", score="cosine", progress=False)
    pq, ph = enc.prepare(q), enc.prepare(h)
    lq = make_players("grid:1x3", pq, name="query", seed=0).labels
    lh = make_players("grid:1x3", ph, name="hit", seed=0).labels
    mq, mh = all_coalitions(3), all_coalitions(3)
    joint = np.zeros((8, 8))
    for bq in bgs:
        for bh in bgs:
            eq = enc.encode(masked_batch(pq.pixels, enc.prepare(bq).pixels, lq, mq))
            eh = enc.encode(masked_batch(ph.pixels, enc.prepare(bh).pixels, lh, mh))
            joint += score_matrix(eq, eh, "cosine")
    joint /= len(bgs) ** 2
    # the joint game over 6 players (query bits first, then hit bits)
    table = np.array([joint[s & 7, s >> 3] for s in range(64)])
    _, pairs = shapley_taylor_order2(table)
    np.testing.assert_allclose(res.cross, pairs[:3, 3:], atol=1e-9)
    assert res.full_value == pytest.approx(table[-1], abs=1e-9)


def test_background_folder_spec_samples_with_the_seed_and_says_the_cost(tmp_path):
    from PIL import Image

    for i, img in enumerate(_images(3, 10)):
        Image.fromarray(img).save(tmp_path / f"bg{i:02d}.png")
    q, h = _images(4, 2)
    said: list[str] = []
    res = explain_pair(q, h, TINY, order=1, players="grid:2x2", baseline=f"background:{tmp_path}", method="exact",
                       side="query", progress=False, log=said.append)
    assert res.extra["query_passes"] == 15 * 8 + 1  # a sample of 8 of the 10
    assert any("16 coalitions x 8 background images = 128 encoder passes" in line for line in said), said


def test_background_baseline_errors_are_clear(tmp_path):
    q, h = _images(5, 2)
    with pytest.raises(ValueError, match="no such folder"):
        explain_pair(q, h, TINY, players="grid:2x2", baseline=f"background:{tmp_path / 'nope'}", progress=False)
    with pytest.raises(ValueError, match="holds no images"):
        explain_pair(q, h, TINY, players="grid:2x2", baseline=f"background:{tmp_path}", progress=False)
    with pytest.raises(ValueError, match="cosine or dot"):
        explain_pair(q, h, TINY, players="grid:2x2", baseline=Backgrounds(images=(q,)), score="euclid",
                     progress=False)
    with pytest.raises(ValueError, match="1..32 images"):
        Backgrounds(images=())
    with pytest.raises(ValueError, match="not one replacement image"):
        make_baseline("background:/x", q)


def test_cli_takes_a_background_folder(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from qdrant_explain.cli import main

    bg = tmp_path / "Backgrounds"
    bg.mkdir()
    for i, img in enumerate(_images(6, 2)):
        Image.fromarray(img).save(bg / f"b{i}.png")
    q, h = _images(7, 2)
    Image.fromarray(q).save(tmp_path / "q.png")
    Image.fromarray(h).save(tmp_path / "h.png")
    args = ["explain", str(tmp_path / "q.png"), "--image", str(tmp_path / "h.png"), "--encoder", TINY,
            "--players", "grid:2x2", "--method", "exact"]
    out = CliRunner().invoke(main, args + ["--baseline", f"background:{bg}"])
    assert out.exit_code == 0, out.output
    assert "x 2 background images" in out.output
    bad = CliRunner().invoke(main, args + ["--baseline", f"background:{tmp_path / 'missing'}"])
    assert bad.exit_code == 2 and "no such folder" in bad.output and "Traceback" not in bad.output
