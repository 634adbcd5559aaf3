"""Text encoders and word players: open_clip's text tower (tiny random config), callables, and bad texts."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain._testing import TinyEncoder, register_tiny_clip
from qdrant_explain.connectors import load_encoder
from qdrant_explain.connectors.text import CallableTextEncoder, TextEvaluator, text_encoder_of, word_players
from qdrant_explain.explainers.words import TextInputError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    return load_encoder(register_tiny_clip(tmp_path_factory.mktemp("cfg")), device="cpu", threads=1)


def test_clip_carries_its_text_tower_with_the_same_name(clip):
    te = text_encoder_of(clip)
    assert te.name == clip.name and te.modes == ("pad", "delete") and te.context_length == 20
    out = te.encode_text(["a red bicycle", "two cats"])
    assert out.shape == (2, 16) and np.isfinite(out).all()
    assert text_encoder_of(clip) is te  # built once


def test_word_tokens_equal_the_tokenizer_of_the_whole_text(clip):
    te = text_encoder_of(clip)
    text = "A red bicycle, don't park it!"
    players = word_players(text, te)
    row = players.token_rows(np.ones((1, players.n_players), bool))[0]
    whole = te.tokenizer([text], context_length=te.context_length)[0].numpy()
    np.testing.assert_array_equal(row, whole)


def test_subword_pieces_of_a_word_move_together(clip):
    te = text_encoder_of(clip)
    players = word_players("don't stop", te)
    pieces = players.word_pieces()
    assert len(pieces[0]) == 2  # "don" + "'t": one player
    rows = players.token_rows(np.array([[False, True]]))[0]
    assert list(rows[1:3]) == [0, 0] and rows[3] == pieces[1][0]  # both pieces padded, positions kept
    deleted = word_players("don't stop", te, mode="delete").token_rows(np.array([[False, True]]))[0]
    assert deleted[1] == pieces[1][0] and deleted[2] == te.eot_id


def test_pad_mode_keeps_the_end_token_in_place(clip):
    te = text_encoder_of(clip)
    players = word_players("a red bicycle", te)
    rows = players.token_rows(np.array([[True, True, True], [False, False, False]]))
    assert rows.shape == (2, 20)
    assert np.argmax(rows[0]) == np.argmax(rows[1])  # CLIP pools at the end token: same position


def test_text_longer_than_the_context_says_where_it_is_truncated(clip):
    te = text_encoder_of(clip)
    long = " ".join(f"word{i}" for i in range(12))
    with pytest.raises(TextInputError, match=r"reads 20; it would be truncated after the word 'word\d+'"):
        word_players(long, te)


def test_text_evaluator_counts_text_encodes_once_per_mask(clip):
    te = text_encoder_of(clip)
    ev = TextEvaluator(word_players("a red bicycle", te), te)
    ev.embed(np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1]], bool))
    ev.embed(np.array([[1, 1, 1]], bool))
    assert ev.encoder_passes == 2


def test_callable_text_encoder_deletes_words():
    seen = []

    def fn(texts):
        seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts])

    te = CallableTextEncoder(fn, name="my-api")
    players = word_players("a red bicycle", te)
    assert players.mode == "delete"
    TextEvaluator(players, te).embed(np.array([[1, 0, 1]], bool))
    assert seen == ["a bicycle"]
    with pytest.raises(ValueError, match=r"text_mode='pad' is not available .* supports \('delete',\)"):
        word_players("a red bicycle", te, mode="pad")


def test_image_only_encoder_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match=r"is image-only: it has no text tower.*--encoder clip:MODEL@TAG"):
        text_encoder_of(TinyEncoder())
