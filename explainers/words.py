"""Word players of a text game: segmentation into words, and masks back to text (pure, no tokenizer).

A text is cut into *segments*: words (runs of letters and digits, with inner apostrophes:
``don't``, ``l'eau``) and the gaps between them (spaces, punctuation). The words are the
players; gaps are never masked. :class:`Words` keeps every segment with its character span, so
a mask of words maps back to text exactly:

- ``mode="delete"``: the removed words vanish (with the space before them), for an opaque text
  API that only takes strings (:meth:`Words.delete`);
- ``mode="pad"``: the removed words are replaced by a filler that keeps every position; for a
  tokenizer that is its pad token (done in :mod:`qdrant_explain.connectors.text`, which
  knows the tokenizer; here :meth:`Words.replace` with a filler string is the text analogue).

Example:
    >>> w = split_words("A red bicycle, parked.")
    >>> w.words, w.n_players
    (('A', 'red', 'bicycle', 'parked'), 4)
    >>> w.delete([True, False, True, True])
    'A bicycle, parked.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

WORD_PATTERN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
"""What a word is: letters/digits, with apostrophes inside (``don't``); underscores and punctuation are gaps."""

TEXT_MODES = ("pad", "delete")
"""How a removed word is masked: ``"pad"`` (the tokenizer's pad token, positions kept) or ``"delete"``."""


class TextInputError(ValueError):
    """A text query that cannot be explained (empty, no words, too long for the encoder)."""


@dataclass(frozen=True)
class Words:
    """A text cut into segments; the word segments are the players.

    Attributes:
        text: the original text.
        segments: every piece of the text in order (words and gaps), concatenating to ``text``.
        is_word: (len(segments),) bool, True for the word segments.
        spans: (start, end) character span of each segment in ``text``.
    """

    text: str
    segments: tuple[str, ...]
    is_word: tuple[bool, ...]
    spans: tuple[tuple[int, int], ...]

    @property
    def words(self) -> tuple[str, ...]:
        """The players, in reading order."""
        return tuple(s for s, w in zip(self.segments, self.is_word) if w)

    @property
    def n_players(self) -> int:
        """Number of words."""
        return int(sum(self.is_word))

    @property
    def word_spans(self) -> tuple[tuple[int, int], ...]:
        """(start, end) character span of each word."""
        return tuple(s for s, w in zip(self.spans, self.is_word) if w)

    def word_of_segment(self) -> np.ndarray:
        """(len(segments),) int: the word index of each segment, -1 for gaps."""
        out = np.full(len(self.segments), -1, dtype=np.int64)
        out[np.asarray(self.is_word, dtype=bool)] = np.arange(self.n_players)
        return out

    def _mask(self, mask: object) -> np.ndarray:
        z = np.asarray(mask)
        if z.ndim != 1 or z.shape[0] != self.n_players or not (z.dtype == bool or np.isin(z, (0, 1)).all()):
            raise ValueError(f"a word mask must be a ({self.n_players},) boolean vector, one entry per word; "
                             f"got shape {z.shape}.")
        return z.astype(bool)

    def delete(self, mask: object) -> str:
        """The text with the words where ``mask`` is False removed, each with the whitespace before it.

        Punctuation stays; doubled spaces are not produced. Removing every word leaves the punctuation
        only (``""`` for a text of words and spaces).
        """
        keep = self._mask(mask)
        idx = self.word_of_segment()
        out: list[str] = []
        for seg, k in zip(self.segments, idx):
            if k >= 0 and not keep[k]:
                if out and out[-1].strip() == "" and out[-1] != "":
                    out.pop()  # the gap of spaces before a removed word goes too
                elif out and out[-1][-1:].isspace():
                    out[-1] = out[-1].rstrip()
                continue
            if not out and seg.isspace():
                continue  # no leading space once the first word is gone
            out.append(seg)
        return "".join(out).strip()

    def replace(self, mask: object, filler: str) -> str:
        """The text with each removed word replaced by ``filler`` (positions kept)."""
        keep = self._mask(mask)
        idx = self.word_of_segment()
        return "".join(filler if k >= 0 and not keep[k] else seg for seg, k in zip(self.segments, idx))

    def to_dict(self) -> dict:
        """JSON-safe dict (the text and the segmentation); :meth:`from_dict` round-trips."""
        return {"text": self.text, "segments": list(self.segments), "is_word": list(self.is_word),
                "spans": [list(s) for s in self.spans]}

    @classmethod
    def from_dict(cls, data: dict) -> "Words":
        """Rebuild from :meth:`to_dict` output."""
        return cls(text=str(data["text"]), segments=tuple(data["segments"]), is_word=tuple(bool(b) for b in data["is_word"]),
                   spans=tuple((int(a), int(b)) for a, b in data["spans"]))


def check_text(text: object, *, name: str = "text") -> str:
    """``text`` as a str, refusing what no encoder can explain.

    Raises:
        TypeError: not a str (bytes must be decoded by the caller: the encoding is theirs to say).
        TextInputError: empty or whitespace only.
    """
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"the {name} must be a str; got bytes. Decode it first (text.decode('utf-8')).")
    if not isinstance(text, str):
        raise TypeError(f"the {name} must be a str; got {type(text).__name__}.")
    if not text.strip():
        raise TextInputError(f"the {name} is empty; give a sentence to search with, e.g. 'a red bicycle'.")
    return text


def split_words(text: str, *, name: str = "text") -> Words:
    """Cut ``text`` into words and gaps (:data:`WORD_PATTERN`).

    Raises:
        TypeError / TextInputError: see :func:`check_text`; also a text with no word at all
            (only punctuation, symbols or spaces: nothing to explain).
    """
    text = check_text(text, name=name)
    segments: list[str] = []
    is_word: list[bool] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in WORD_PATTERN.finditer(text):
        if m.start() > pos:
            segments.append(text[pos:m.start()])
            is_word.append(False)
            spans.append((pos, m.start()))
        segments.append(m.group())
        is_word.append(True)
        spans.append((m.start(), m.end()))
        pos = m.end()
    if pos < len(text):
        segments.append(text[pos:])
        is_word.append(False)
        spans.append((pos, len(text)))
    if not any(is_word):
        raise TextInputError(
            f"the {name} {text!r} has no words (only punctuation, symbols or spaces), so there is nothing to "
            "explain; give a sentence with at least one word.")
    return Words(text=text, segments=tuple(segments), is_word=tuple(is_word), spans=tuple(spans))


def check_mode(mode: object) -> str:
    """A masking mode of :data:`TEXT_MODES`.

    Raises:
        ValueError: any other value.
    """
    if mode not in TEXT_MODES:
        raise ValueError(f"text_mode must be one of {TEXT_MODES} ('pad': the tokenizer's pad token in place of "
                         f"a removed word, positions kept; 'delete': the word removed); got {mode!r}.")
    return str(mode)


def word_neighbours(n_words: int) -> np.ndarray:
    """(n, n) bool: consecutive words are neighbours (the joint sampler's control variate tries their pair terms)."""
    idx = np.arange(int(n_words))
    return np.abs(np.subtract.outer(idx, idx)) == 1


__all__ = ["TEXT_MODES", "TextInputError", "WORD_PATTERN", "Words", "check_mode", "check_text", "split_words", "word_neighbours"]
