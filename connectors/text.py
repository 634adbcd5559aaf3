"""Text encoders and word players: CLIP's text tower, any ``texts -> (m, d)`` callable, masked texts.

A *text encoder* embeds sentences into the image encoder's space:

- :class:`OpenClipTextEncoder`: the text tower of an open_clip model (``clip:`` specs); it gets
  token ids, so a removed word can be replaced by the tokenizer's pad token with every other
  token kept at its position (``text_mode="pad"``, the default) or deleted (``"delete"``).
- :class:`CallableTextEncoder`: any callable mapping a list of strings to (m, d) vectors (an opaque
  text API); only ``"delete"`` works there (it never sees tokens).

:func:`text_encoder_of` finds the text encoder of an encoder (the ``clip:`` image encoder carries
its own text tower) and refuses an image-only encoder with a clear message.
:func:`word_players` cuts a text into word players (:mod:`qdrant_explain.explainers.words`),
tokenises each word (its subword pieces move together) and checks the encoder's context:
a text that does not fit is refused, naming where it would be truncated.
:class:`TextEvaluator` is the cached, batched mask -> embedding side evaluator of one text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from qdrant_explain.explainers.side import SideEvaluator
from qdrant_explain.explainers.words import (TextInputError, Words, check_mode, check_text, split_words,
                                             word_neighbours)


@runtime_checkable
class TextEncoder(Protocol):
    """What the text side needs: a name (the collection's encoder spec) and ``encode_text``.

    Attributes:
        name: the encoder spec, the same as its image encoder's (``clip:MODEL@TAG``).
        modes: the masking modes it supports (``("pad", "delete")`` with tokens, ``("delete",)`` without).
    """

    name: str
    modes: tuple[str, ...]

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Embed m texts into (m, d) floats."""
        ...


class CallableTextEncoder:
    """A callable ``texts -> (m, d)`` as a text encoder (masking by deleting words only).

    Args:
        fn: maps a list of m strings to an (m, d) array.
        name: the encoder spec it stands for (must match the collection's encoder to search it).
    """

    modes = ("delete",)

    def __init__(self, fn: Callable[[list[str]], Any], *, name: str = "callable-text") -> None:
        if not callable(fn):
            raise TypeError(f"CallableTextEncoder needs a callable texts -> (m, d); got {type(fn).__name__}.")
        self.fn = fn
        self.name = str(name)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(m, d) float64 embeddings of ``texts``."""
        texts = list(texts)
        out = np.asarray(self.fn(texts), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise ValueError(f"the text encoder {self.name!r} must return an ({len(texts)}, d) array for "
                             f"{len(texts)} texts; got shape {out.shape}.")
        return out

    def __repr__(self) -> str:
        return f"CallableTextEncoder(name={self.name!r})"


class OpenClipTextEncoder:
    """The text tower of an open_clip model, fed token ids.

    Args:
        model: the open_clip ``CLIP`` model (its ``encode_text`` is used).
        tokenizer: open_clip's tokenizer for the model (a ``SimpleTokenizer``: ``encode``,
            ``sot_token_id``, ``eot_token_id``, ``context_length``).
        name: the spec of the encoder (the image encoder's ``name``).
        device: torch device of the model.
        dtype: torch dtype of the model.
        batch_size: texts per forward pass.
        normalize: L2-normalise the output (as the image encoder's ``normalize``).

    Attributes:
        context_length: tokens the model reads, start and end tokens included.
        pad_id, sot_id, eot_id: the tokenizer's special ids (pad = what CLIP pads with).
    """

    modes = ("pad", "delete")

    def __init__(self, model: Any, tokenizer: Any, *, name: str, device: str = "cpu", dtype: Any = None,
                 batch_size: int = 64, normalize: bool = False) -> None:
        for attr in ("encode", "sot_token_id", "eot_token_id"):
            if not hasattr(tokenizer, attr):
                raise TypeError(f"the text encoder of {name!r} needs open_clip's SimpleTokenizer (with {attr}); "
                                f"got {type(tokenizer).__name__}. Wrap the model in a CallableTextEncoder instead.")
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.context_length = int(getattr(model, "context_length", 0) or tokenizer.context_length)
        self.sot_id, self.eot_id, self.pad_id = int(tokenizer.sot_token_id), int(tokenizer.eot_token_id), 0
        vocab = getattr(getattr(model, "token_embedding", None), "num_embeddings", None)
        if vocab is not None and vocab <= self.eot_id:
            raise ValueError(f"the text tower of {name!r} has a vocabulary of {vocab} tokens, but its tokenizer "
                             f"uses ids up to {self.eot_id}; use a model config with vocab_size >= {self.eot_id + 1}.")

    def tokenize(self, text: str) -> list[int]:
        """The token ids of ``text`` without start and end tokens (lower-cased, cleaned as open_clip does)."""
        return [int(t) for t in self.tokenizer.encode(text)]

    def encode_tokens(self, ids: np.ndarray) -> np.ndarray:
        """(m, context_length) int token ids -> (m, d) float64 embeddings."""
        import torch

        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] != self.context_length:
            raise ValueError(f"{self.name}: token ids must be (m, {self.context_length}); got {ids.shape}.")
        outs = []
        with torch.inference_mode():
            for start in range(0, ids.shape[0], self.batch_size):
                x = torch.from_numpy(ids[start : start + self.batch_size]).to(self.device)
                feats = self.model.encode_text(x, normalize=self.normalize)
                outs.append(feats.float().cpu().numpy().astype(np.float64))
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, 0))

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(m, d) embeddings of whole texts, tokenised word by word as :func:`word_players` does
        (so a search with a text and the full value of its explanation are the same number).

        Raises:
            TextInputError: a text that is empty, has no words, or does not fit the context.
        """
        rows = []
        for t in texts:
            players = word_players(t, self)
            rows.append(players.token_rows(np.ones((1, players.n_players), dtype=bool))[0])
        return self.encode_tokens(np.stack(rows)) if rows else np.zeros((0, 0))

    def __repr__(self) -> str:
        return f"OpenClipTextEncoder(name={self.name!r}, context_length={self.context_length})"


def text_encoder_of(encoder: Any) -> Any:
    """The text encoder belonging to ``encoder``.

    Accepted: a text encoder (has ``encode_text``), an image encoder that carries one
    (``encoder.text_encoder()``: the ``clip:`` family), or a plain callable ``texts -> (m, d)``.

    Raises:
        TypeError: an image-only encoder (its name is given, with what to use instead).
    """
    if encoder is None:
        raise TypeError("a text query needs a text encoder (a clip: encoder, or a callable texts -> (m, d)); got None.")
    if callable(getattr(encoder, "encode_text", None)):
        return encoder
    factory = getattr(encoder, "text_encoder", None)
    if callable(factory):
        return factory()
    if callable(encoder) and not hasattr(encoder, "encode"):
        return CallableTextEncoder(encoder, name=getattr(encoder, "__name__", "callable-text"))
    name = getattr(encoder, "name", type(encoder).__name__)
    raise TypeError(
        f"encoder {name!r} is image-only: it has no text tower, so a text query cannot be embedded in its space. "
        "Index the images with a CLIP encoder (qdrant-explain index --encoder clip:MODEL@TAG, e.g. "
        "clip:ViT-B-32@laion2b_s34b_b79k) and search that collection with text.")


@dataclass(frozen=True)
class WordPlayers:
    """The words of one text with their token pieces: players of the text side.

    Attributes:
        words: the segmentation (:class:`~qdrant_explain.explainers.words.Words`).
        mode: ``"pad"`` or ``"delete"``.
        pieces: token ids of each segment (None for an encoder without tokens).
        context_length: tokens the encoder reads (None without tokens).
        sot_id, eot_id, pad_id: special ids (None without tokens).
    """

    words: Words
    mode: str
    pieces: tuple[tuple[int, ...], ...] | None = None
    context_length: int | None = None
    sot_id: int | None = None
    eot_id: int | None = None
    pad_id: int | None = None

    @property
    def n_players(self) -> int:
        """Number of words."""
        return self.words.n_players

    @property
    def n_tokens(self) -> int | None:
        """Tokens of the whole text, start and end included (None without tokens)."""
        return None if self.pieces is None else 2 + sum(len(p) for p in self.pieces)

    def word_pieces(self) -> tuple[tuple[int, ...], ...]:
        """The token ids of each word (its subword pieces, which are masked together)."""
        if self.pieces is None:
            return ()
        return tuple(p for p, w in zip(self.pieces, self.words.is_word) if w)

    def texts(self, masks: np.ndarray) -> list[str]:
        """The masked texts of ``masks`` (m, n) with removed words deleted."""
        return [self.words.delete(row) for row in np.asarray(masks, dtype=bool)]

    def token_rows(self, masks: np.ndarray) -> np.ndarray:
        """(m, context_length) token ids of ``masks`` (m, n): removed words padded (``pad``) or deleted."""
        if self.pieces is None:
            raise ValueError("token_rows needs a tokenizer; this text encoder takes strings (mode 'delete').")
        z = np.asarray(masks, dtype=bool)
        word = self.words.word_of_segment()
        out = np.full((z.shape[0], self.context_length), self.pad_id, dtype=np.int64)
        for r, keep in enumerate(z):
            row = [self.sot_id]
            for piece, k in zip(self.pieces, word):
                if k < 0 or keep[k]:
                    row.extend(piece)
                elif self.mode == "pad":
                    row.extend([self.pad_id] * len(piece))
            row.append(self.eot_id)
            out[r, : len(row)] = row
        return out


def word_players(text: object, encoder: Any, *, mode: str | None = None, name: str = "text") -> WordPlayers:
    """Cut ``text`` into word players for ``encoder`` (a text encoder).

    Args:
        text: the query text.
        encoder: a text encoder (:func:`text_encoder_of` of the collection's encoder).
        mode: ``"pad"`` or ``"delete"``; None: ``"pad"`` when the encoder takes tokens, else ``"delete"``.
        name: what to call the text in messages.

    Raises:
        TypeError / TextInputError: not a str, empty, no words; a text longer than the encoder's
            context (it would be truncated: the message says after which word).
        ValueError: a mode the encoder does not support.
    """
    words = split_words(check_text(text, name=name), name=name)
    modes = tuple(getattr(encoder, "modes", ("delete",)))
    mode = modes[0] if mode is None else check_mode(mode)
    if mode not in modes:
        raise ValueError(f"text_mode={mode!r} is not available for text encoder {getattr(encoder, 'name', '?')!r}: "
                         f"it supports {modes} ('pad' needs token ids; a callable texts -> vectors only deletes).")
    if not callable(getattr(encoder, "tokenize", None)):
        return WordPlayers(words=words, mode=mode)
    pieces = tuple(tuple(encoder.tokenize(seg)) for seg in words.segments)
    for seg, piece, is_word in zip(words.segments, pieces, words.is_word):
        if is_word and not piece:
            raise TextInputError(f"the word {seg!r} of the {name} has no tokens for {encoder.name!r}; remove it.")
    players = WordPlayers(words=words, mode=mode, pieces=pieces, context_length=encoder.context_length,
                          sot_id=encoder.sot_id, eot_id=encoder.eot_id, pad_id=encoder.pad_id)
    if players.n_tokens > encoder.context_length:
        used, last = 1, None
        for seg, piece, is_word in zip(words.segments, pieces, words.is_word):
            if used + len(piece) + 1 > encoder.context_length:
                break
            used += len(piece)
            last = seg if is_word else last
        where = f"after the word {last!r}" if last is not None else "before its first word"
        raise TextInputError(
            f"the {name} has {players.n_tokens} tokens (start and end included) but {encoder.name!r} reads "
            f"{encoder.context_length}; it would be truncated {where} and the rest ignored. Shorten the {name} "
            f"(it has {words.n_players} words).")
    return players


class TextEvaluator(SideEvaluator):
    """Cached, batched word mask -> text embedding of one text (counts text encodes as ``encoder_passes``).

    Args:
        players: the :class:`WordPlayers` of the text.
        encoder: its text encoder.
        batch_size, progress, name: as in :class:`~qdrant_explain.explainers.side.SideEvaluator`.

    Its ``neighbours`` are consecutive words (the joint sampler's control variate tries their pair terms).
    """

    def __init__(self, players: WordPlayers, encoder: Any, *, batch_size: int = 64, progress: bool | None = None,
                 name: str = "text") -> None:
        self.players = players
        self.encoder = encoder
        super().__init__(self._embed_masks, players.n_players, batch_size=batch_size, progress=progress, name=name,
                         neighbours=word_neighbours(players.n_players))

    def _embed_masks(self, masks: np.ndarray) -> np.ndarray:
        if self.players.pieces is not None:
            return self.encoder.encode_tokens(self.players.token_rows(masks))
        return self.encoder.encode_text(self.players.texts(masks))


__all__ = ["CallableTextEncoder", "OpenClipTextEncoder", "TextEncoder", "TextEvaluator", "WordPlayers",
           "text_encoder_of", "word_players"]
