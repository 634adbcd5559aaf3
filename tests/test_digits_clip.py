"""digits-clip: the shipped text-image model of digit mosaics loads offline, its text tower embeds captions,
and on a held-out mosaic the exact joint points each digit word at its cell (the benchmark measures the rate)."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.connectors import list_encoders, load_encoder
from qdrant_explain.connectors.text import text_encoder_of, word_players
from qdrant_explain.datasets.digits import make_scene
from qdrant_explain.datasets.digits.clip import DIGIT_WORDS, DigitsClipEncoder, caption, load_digits_clip, word_ids
from qdrant_explain.text import explain_text


@pytest.fixture(scope="module")
def enc():
    return load_encoder("digits-clip", threads=1)


def test_registered_and_loaded_offline_with_its_text_tower(enc):
    assert "digits-clip" in list_encoders() and isinstance(enc, DigitsClipEncoder)
    assert enc.name == "digits-clip" and enc.input_size == (96, 96)
    te = text_encoder_of(enc)
    assert te is enc.text_encoder() and te.modes == ("delete",) and te.name == "digits-clip"
    emb = te.encode_text(["seven and two", "", "a photo"])
    assert emb.shape == (3, enc.dim) and not emb[1:].any()  # no known word: the zero vector (scores 0)
    assert np.allclose(te.encode_text(["two and seven"]), emb[:1])


def test_caption_names_digits_in_order():
    assert caption([7]) == "seven" and caption([7, 2]) == "seven and two"
    assert caption([7, 2, 5], order=[2, 0, 1]) == "five, seven and two"
    assert word_ids("Seven, two AND five!") == [7, 2, 10, 5]
    with pytest.raises(ValueError, match="one or more digit classes in 0..9; got \\[12\\]"):
        caption([12])


def test_bad_weights_and_device_are_refused(tmp_path):
    with pytest.raises(ValueError, match="found no weights file"):
        load_digits_clip(tmp_path / "none.pt")
    with pytest.raises(ValueError, match="CPU only"):
        load_digits_clip(device="cuda")


def test_caption_retrieves_its_mosaic_and_the_joint_points_words_at_digits(enc):
    rng = np.random.default_rng(5)
    scenes = [make_scene(rng, k=3, split="test") for _ in range(6)]
    img = enc.encode(np.stack([s.image for s in scenes]))
    txt = enc.text_encoder().encode_text([caption(s.classes) for s in scenes])
    sim = (txt / np.linalg.norm(txt, axis=1, keepdims=True)) @ (img / np.linalg.norm(img, axis=1, keepdims=True)).T
    assert (sim.argmax(axis=1) == np.arange(6)).all()
    s = scenes[0]
    (why,) = explain_text(caption(s.classes), [s.image], enc, order=2, method="exact", players="grid:3x3",
                          baseline="constant:0,0,0")
    assert why.text_passes == 2 ** len(word_players(caption(s.classes), enc.text_encoder()).words.words)
    assert why.image_passes == 512
    cell = dict(zip(s.classes, s.cells))
    for i, w in enumerate(why.words.words):
        if w in DIGIT_WORDS:
            assert int(np.argmax(why.cross[i])) == cell[DIGIT_WORDS.index(w)], w


def test_sampled_joint_of_a_text_enumerates_every_word_mask(enc):
    s = make_scene(np.random.default_rng(9), k=4, split="test")
    text = caption(s.classes)  # 5 words: 2^5 text masks
    (why,) = explain_text(text, [s.image], enc, order=2, method="stratified", budget=32 + 150, players="grid:3x3",
                          baseline="constant:0,0,0", seed=0)
    assert why.joint.meta["query_side"] == "exact" and why.text_passes == 32 and why.image_passes == 150
    assert why.estimated and why.cross.shape == (5, 9)
