"""Word players (pure): segmentation, masks back to text, and the clear errors of bad texts."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers.words import TextInputError, Words, check_mode, split_words


def test_words_are_letters_and_digits_with_inner_apostrophes():
    w = split_words("Don't park  the red_bike, 2 cats! l’eau")
    assert w.words == ("Don't", "park", "the", "red", "bike", "2", "cats", "l’eau")
    assert "".join(w.segments) == w.text
    for (a, b), seg in zip(w.spans, w.segments):
        assert w.text[a:b] == seg


def test_delete_and_replace_keep_punctuation_and_spacing():
    w = split_words("A red bicycle, parked.")
    assert w.delete([True, False, True, True]) == "A bicycle, parked."
    assert w.delete([False, True, True, True]) == "red bicycle, parked."
    assert w.delete([True] * 4) == w.text
    assert w.replace([True, False, True, False], "_") == "A _ bicycle, _."


def test_round_trip():
    w = split_words("two cats on a mat")
    assert Words.from_dict(w.to_dict()) == w


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused(text):
    with pytest.raises(TextInputError, match="the text is empty"):
        split_words(text)


@pytest.mark.parametrize("text", ["...", "!? -- ;", "___", "🙂 🙂"])
def test_text_of_stop_characters_only_is_refused(text):
    with pytest.raises(TextInputError, match="has no words"):
        split_words(text)


def test_bytes_and_non_strings_are_refused():
    with pytest.raises(TypeError, match="got bytes. Decode it first"):
        split_words(b"a cat")
    with pytest.raises(TypeError, match="must be a str; got int"):
        split_words(3)


def test_bad_mask_and_mode():
    w = split_words("a b c")
    with pytest.raises(ValueError, match=r"\(3,\) boolean vector"):
        w.delete(np.ones(2, bool))
    with pytest.raises(ValueError, match="text_mode must be one of"):
        check_mode("mask")
