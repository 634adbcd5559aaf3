"""Text queries through the pipeline of sides: exact joint word x region == brute force, counts, results, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qdrant_explain._testing import TinyEncoder, register_tiny_clip
from qdrant_explain.connectors import load_encoder
from qdrant_explain.connectors.text import text_encoder_of, word_players
from qdrant_explain.explainers import explain_game, make_baseline, make_players, masked_batch
from qdrant_explain.explainers.scores import score_matrix
from qdrant_explain.explainers.words import TextInputError
from qdrant_explain.results import load_result
from qdrant_explain.text import TextSide, explain_text
from qdrant_explain.text_results import TextExplanation

TEXT = "a red bicycle parked"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    return load_encoder(register_tiny_clip(tmp_path_factory.mktemp("cfg")), device="cpu", threads=1, batch_size=1)


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.astronaut()[::4, ::4].copy()


def _brute_force_game(clip, text, image, players_spec, baseline, counter):
    """v(T u R) with a fresh text encode and a fresh image encode for every joint coalition (no cache)."""
    te = text_encoder_of(clip)
    wp = word_players(text, te)
    prepared = clip.prepare(image)
    players = make_players(players_spec, prepared)
    base = make_baseline(baseline, prepared.pixels)
    w = wp.n_players

    def value(z):
        out = []
        for row in z:  # one coalition at a time: no batch-size effects, no sharing between coalitions
            et = te.encode_tokens(wp.token_rows(row[None, :w]))
            ei = clip.encode(masked_batch(prepared.pixels, base, players.labels, row[None, w:]))
            counter["text"] += 1
            counter["image"] += 1
            out.append(score_matrix(et, ei, "cosine")[0, 0])
        return np.array(out)

    return value, w, players.n_players


def test_joint_exact_factorised_equals_brute_force_enumeration(clip, photo):
    (r,) = explain_text(TEXT, [photo], clip, order=2, method="exact", players="grid:2x2", baseline="gray",
                        batch_size=1)
    counter = {"text": 0, "image": 0}
    value, w, nh = _brute_force_game(clip, TEXT, photo, "grid:2x2", "gray", counter)
    bf = explain_game(value, w + nh, method="exact", order=2)
    np.testing.assert_allclose(r.cross, bf.interactions[:w, w:], atol=1e-8, rtol=0)
    np.testing.assert_allclose(r.word_values, bf.values[:w], atol=1e-8, rtol=0)
    np.testing.assert_allclose(r.hit_values, bf.values[w:], atol=1e-8, rtol=0)
    np.testing.assert_allclose(r.joint.query_interactions, bf.interactions[:w, :w], atol=1e-8, rtol=0)
    np.testing.assert_allclose(r.joint.hit_interactions, bf.interactions[w:, w:], atol=1e-8, rtol=0)
    assert abs(r.full_value - bf.full_value) < 1e-8 and abs(r.base_value - bf.base_value) < 1e-8
    # counts: 2^w text encodes + 2^nh image encodes, against 2^(w+nh) of each for brute force
    assert (r.text_passes, r.image_passes, r.encoder_passes) == (2**w, 2**nh, 2**w + 2**nh)
    assert counter == {"text": 2 ** (w + nh), "image": 2 ** (w + nh)}
    assert r.method == "exact" and not r.estimated
    # efficiency holds exactly
    total = r.word_values.sum() + r.hit_values.sum() + r.cross.sum() + np.triu(r.joint.query_interactions, 1).sum() \
        + np.triu(r.joint.hit_interactions, 1).sum()
    assert abs(total - (r.full_value - r.base_value)) < 1e-8


def test_order1_words_and_regions(clip, photo):
    (r,) = explain_text(TEXT, [photo], clip, order=1, players="grid:2x2", baseline="gray")
    assert r.word_values.shape == (4,) and r.hit_values.shape == (4,) and r.cross is None
    assert r.method == "exact" and r.text_passes == 16 and r.image_passes == 16
    np.testing.assert_allclose(r.word_values.sum(), r.full_value - r.base_value, atol=1e-9)
    assert r.side == "both" and r.text_mode == "pad"
    (q,) = explain_text(TEXT, [photo], clip, order=1, players="grid:2x2", side="query")
    assert q.hit_values is None and q.image_passes == 1 and q.text_passes == 16


def test_result_round_trips_and_draws(clip, photo, tmp_path):
    (r,) = explain_text(TEXT, [photo], clip, order=2, players="grid:2x2", baseline="gray", seed=3)
    assert TextExplanation.from_json(r.to_json()) == r
    assert load_result(r.to_json()) == r
    lean = TextExplanation.from_json(r.to_json(arrays=False))
    np.testing.assert_array_equal(lean.cross, r.cross)
    assert r.save_png(tmp_path / "t.png").stat().st_size > 0
    html = r.to_html()
    assert 'class="text-joint"' in html and html.count('class="word"') == 2 * 4  # query section + card
    (i, word, j, v) = r.top_pairs(1)[0]
    assert word == r.words.words[i] and v == r.cross.max()
    np.testing.assert_allclose(r.word_values_for_region(j), r.cross[:, j])
    assert np.isfinite(r.hit_heatmap_for_word(word)).any()
    with pytest.raises(ValueError, match="has no word 'zebra'"):
        r.hit_heatmap_for_word("zebra")
    with pytest.raises(Exception):
        r.text = "other"  # frozen


def test_stored_vector_reproduces_the_score(clip, photo):
    stored = clip.encode(clip.prepare(photo).pixels[None])[0] * 3.0  # a raw stored vector (cosine ignores its norm)
    te = text_encoder_of(clip)
    expect = score_matrix(te.encode_text([TEXT]), stored[None], "cosine")[0, 0]
    (r,) = explain_text(TEXT, [None], clip, hit_embeddings=[stored], side="query")
    assert abs(r.full_value - expect) < 1e-9 and r.image_passes == 0


def test_delete_mode_and_a_callable_text_encoder(photo):
    enc = TinyEncoder()
    rng = np.random.default_rng(0)
    table = {}

    def texts_to_vectors(texts):
        return np.stack([table.setdefault(t, rng.normal(size=128)) for t in texts])

    (r,) = explain_text("two cats here", [photo], enc, text_encoder=texts_to_vectors, order=2, players="grid:2x2")
    assert r.text_mode == "delete" and r.text_passes == 8 and r.cross.shape == (3, 4)


# ----------------------------------------------------------------------------- bad input, one clear error each


def test_bad_texts_each_get_one_clear_error(clip, photo):
    with pytest.raises(TextInputError, match="the text is empty"):
        explain_text("  ", [photo], clip)
    with pytest.raises(TextInputError, match="has no words"):
        explain_text("?! ...", [photo], clip)
    with pytest.raises(TextInputError, match=r"would be truncated after the word"):
        explain_text(" ".join(["cat"] * 30), [photo], clip)
    with pytest.raises(TypeError, match="is image-only"):
        explain_text("a cat", [photo], TinyEncoder())
    with pytest.raises(ValueError, match="text_mode must be one of"):
        explain_text("a cat", [photo], clip, text_mode="blank")


def test_text_side_is_a_side(clip):
    side = TextSide("a cat", clip)
    assert side.can_mask and side.name == "query" and replace(side, name="text").name == "text"
