"""``digits-clip``: a small text-image contrastive model of digit mosaics and their captions.

The image tower is the digits CNN (:mod:`.cnn`: bias-free convolutions, sum pooling, a linear
head) with a head retrained contrastively; the text tower is a bag of words: each caption word
(``"zero"`` ... ``"nine"``, ``"and"``) has a learnt vector and a caption embeds to the sum of its
words' vectors (words outside the vocabulary add nothing; an empty text embeds to zero, so a
text with every word removed scores 0, as a blank canvas does). Both towers are trained with
a symmetric InfoNCE loss on (mosaic, caption) pairs: ``benchmarks/text_pointing/train_digits_clip.py``
(seeded, about a minute on two cores), weights ``digits_clip.pt`` beside this module.

A caption names the digits of a mosaic in a random order: ``"seven"``, ``"seven and two"``,
``"seven, two and five"`` (:func:`caption`).

Importing :mod:`qdrant_explain.datasets.digits` registers ``"digits-clip"``, so
``load_encoder("digits-clip")`` and ``--encoder digits-clip`` work offline; its image encoder
carries the text tower (:meth:`DigitsClipEncoder.text_encoder`), so ``search --text`` and
``explain --text`` work on a collection indexed with it.

Example:
    >>> from qdrant_explain.datasets.digits.clip import load_digits_clip, caption
    >>> enc = load_digits_clip()                                        # doctest: +SKIP
    >>> enc.text_encoder().encode_text([caption([7, 2])]).shape          # doctest: +SKIP
    (1, 32)
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np

from qdrant_explain.explainers.words import WORD_PATTERN

from .cnn import DigitsEncoder

CLIP_SPEC = "digits-clip"
"""Encoder spec of the digits text-image model."""

CLIP_WEIGHTS_PATH = pathlib.Path(__file__).resolve().parent / "digits_clip.pt"
"""The trained weights: the CNN state dict (head retrained), the word vectors, the vocabulary."""

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The word naming each digit class (index = class)."""

VOCABULARY = DIGIT_WORDS + ("and",)
"""Every word the text tower knows."""


def caption(classes: Sequence[int], *, order: Sequence[int] | None = None) -> str:
    """The caption naming ``classes``: ``"seven"``, ``"seven and two"``, ``"seven, two and five"``.

    Args:
        classes: digit classes 0..9 (named in this order unless ``order`` permutes them).
        order: a permutation of ``range(len(classes))``, or None.

    Raises:
        ValueError: no class, or a class outside 0..9.
    """
    cls = [int(c) for c in classes]
    if not cls or not all(0 <= c < len(DIGIT_WORDS) for c in cls):
        raise ValueError(f"caption needs one or more digit classes in 0..9; got {list(classes)!r}.")
    if order is not None:
        cls = [cls[int(i)] for i in order]
    names = [DIGIT_WORDS[c] for c in cls]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def word_ids(text: str) -> list[int]:
    """Vocabulary ids of the words of ``text`` (lower-cased; unknown words are skipped)."""
    index = {w: i for i, w in enumerate(VOCABULARY)}
    return [index[w] for w in WORD_PATTERN.findall(text.lower()) if w in index]


class DigitsTextEncoder:
    """The bag-of-words text tower of ``digits-clip`` (masking by deleting words).

    Args:
        word_vectors: (len(VOCABULARY), d) learnt vectors.
        name: the encoder spec (the image encoder's name, so text searches match the collection).

    Attributes:
        modes: ``("delete",)``: the text is a set of words, a removed word is gone.
        text_encodes: texts embedded so far (what the benchmarks charge).
    """

    modes = ("delete",)

    def __init__(self, word_vectors: np.ndarray, *, name: str = CLIP_SPEC) -> None:
        vectors = np.asarray(word_vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(VOCABULARY):
            raise ValueError(f"DigitsTextEncoder needs ({len(VOCABULARY)}, d) word vectors; got {vectors.shape}.")
        self.word_vectors = vectors
        self.name = str(name)
        self.text_encodes = 0

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(m, d) embeddings: the sum of each text's known word vectors (zeros for an empty text)."""
        texts = list(texts)
        out = np.zeros((len(texts), self.word_vectors.shape[1]))
        for r, t in enumerate(texts):
            ids = word_ids(str(t))
            if ids:
                out[r] = self.word_vectors[ids].sum(axis=0)
        self.text_encodes += len(texts)
        return out

    def __repr__(self) -> str:
        return f"DigitsTextEncoder(name={self.name!r}, vocabulary={len(VOCABULARY)})"


class DigitsClipEncoder(DigitsEncoder):
    """The image tower of ``digits-clip`` (a :class:`~.cnn.DigitsEncoder` with the retrained head),
    carrying its text tower.

    Args:
        weights: a weights file written by the training script; None: the shipped ``digits_clip.pt``.
        batch_size, threads: as :class:`~.cnn.DigitsEncoder`.

    Raises:
        ValueError: no weights file, or one without word vectors.
    """

    def __init__(self, weights: str | pathlib.Path | None = None, *, batch_size: int = 512,
                 threads: int | None = None) -> None:
        import torch

        path = pathlib.Path(weights) if weights is not None else CLIP_WEIGHTS_PATH
        if not path.is_file():
            raise ValueError(f"digits-clip found no weights file at {str(path)!r}. Train them with "
                             "`python benchmarks/text_pointing/train_digits_clip.py`.")
        super().__init__(path, batch_size=batch_size, threads=threads)
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if "word_vectors" not in blob:
            raise ValueError(f"{str(path)!r} holds no word vectors: it is not a digits-clip weights file "
                             "(train one with benchmarks/text_pointing/train_digits_clip.py).")
        self.name = CLIP_SPEC if weights is None else f"{CLIP_SPEC}@{path.name}"
        self._text = DigitsTextEncoder(blob["word_vectors"].double().numpy(), name=self.name)

    def text_encoder(self) -> DigitsTextEncoder:
        """The text tower (the same object every call, so its ``text_encodes`` count adds up)."""
        return self._text

    def __repr__(self) -> str:
        return f"DigitsClipEncoder(name={self.name!r}, input_size={self.input_size}, dim={self.dim})"


def load_digits_clip(weights: str | pathlib.Path | None = None, *, batch_size: int = 512, threads: int | None = None,
                     device: str = "cpu", dtype: str = "fp32") -> DigitsClipEncoder:
    """The ``"digits-clip"`` encoder (the factory registered with ``load_encoder``).

    Args:
        weights: a weights file, or None for the shipped ones.
        batch_size, threads: as :class:`~.cnn.DigitsEncoder`.
        device: ``"cpu"`` or ``"auto"`` (the model is tiny: always the CPU).
        dtype: ``"fp32"``.

    Raises:
        ValueError: another device or dtype; no weights file.
    """
    if device not in ("cpu", "auto"):
        raise ValueError(f"digits-clip runs on the CPU only; got device={device!r}. Use device='cpu' or 'auto'.")
    if dtype not in ("fp32", "float32"):
        raise ValueError(f"digits-clip runs in fp32 only; got dtype={dtype!r}.")
    return DigitsClipEncoder(weights, batch_size=batch_size, threads=threads)


__all__ = ["CLIP_SPEC", "CLIP_WEIGHTS_PATH", "DIGIT_WORDS", "VOCABULARY", "DigitsClipEncoder", "DigitsTextEncoder",
           "caption", "load_digits_clip", "word_ids"]
