"""The result of a text query explained against an image hit: :class:`TextExplanation`.

One member of the result family of :mod:`qdrant_explain.results` (frozen, ``to_json`` /
``from_json`` exact, ``save_png``, ``to_html``): the words of the query and the regions of the
hit, their values, and at order 2 the word x region ``cross`` matrix (joint Shapley-Taylor).
Text encodes (``text_passes``) and image encodes (``image_passes``) are counted apart;
``encoder_passes`` is their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdrant_explain.explainers.joint import JointExplanation
from qdrant_explain.explainers.players import Players
from qdrant_explain.explainers.result import Explanation
from qdrant_explain.explainers.words import Words

from . import _images
from .report import text_sections as _tsec
from .report import sections as _sec
from .results import (
    ExplainedHitReading,
    coerce_explained_hit,
    float_arrays,
    JSON_FORMAT,
    Result,
    _joint_from,
    _joint_json,
    _matrix,
    _paint,
    _players_from,
    _players_json,
    _point_id,
    _Raw,
    _set,
    _vector,
    decode_array,
    register_result_type,
)


@register_result_type
@dataclass(frozen=True, kw_only=True, eq=False)
class TextExplanation(ExplainedHitReading, Result):
    """Why an image hit came back for a text query: word values, region values and word x region pairs.

    Attributes:
        text: the query text.
        words: its segmentation (:class:`~qdrant_explain.explainers.words.Words`; the words are the players).
        base_value: game value with every player removed.
        full_value: game value with nothing removed: the metric of the full text and the hit (with the
            stored vector it reproduces Qdrant's ``score``).
        word_values: (w,) per-word values (Shapley values at order 1, singleton terms at order 2), or None.
        hit_values: (nh,) per-region values of the hit, or None.
        cross: (w, nh) order-2 Shapley-Taylor indices between words and hit regions, or None.
        hit_image: (H, W, 3) uint8 hit image (None: explained against its stored vector only).
        hit_labels: (H, W) int label map of the hit regions (-1 where cropped), or None.
        hit_heatmap: (H, W) float heatmap of the hit (painted from the labels and values when not given).
        order: 1 or 2.
        metric: the Qdrant distance of the game.
        score: Qdrant's score of the hit for this text, or None.
        hit_id, hit_payload: the hit's point.
        baseline: how removed hit regions were filled.
        side: ``"query"`` (words), ``"hit"`` (regions) or ``"both"`` (order 1).
        text_mode: ``"pad"`` or ``"delete"``: how a removed word was masked.
        text_passes: text encodes made (distinct word masks).
        image_passes: image encodes made (distinct region masks, or one full image).
        estimated: False when exact.
        hit_players: the hit's :class:`~qdrant_explain.explainers.players.Players`.
        joint: the :class:`~qdrant_explain.explainers.joint.JointExplanation` (order 2).
        text_explanation / hit_explanation: the side :class:`~qdrant_explain.explainers.result.Explanation`
            of each side (order 1).
        encoder_seconds: time inside the encoders.
        extra: free-form notes (``warnings``).
    """

    text: str
    words: Words
    base_value: float
    full_value: float
    word_values: np.ndarray | None = None
    hit_values: np.ndarray | None = None
    cross: np.ndarray | None = None
    hit_image: np.ndarray | None = None
    hit_labels: np.ndarray | None = None
    hit_heatmap: np.ndarray | None = None
    order: int = 1
    metric: str = "cosine"
    score: float | None = None
    hit_id: Any = None
    hit_payload: Mapping = field(default_factory=dict)
    baseline: str | None = None
    side: str = "both"
    text_mode: str = "pad"
    text_passes: int = 0
    image_passes: int = 0
    estimated: bool = True
    hit_players: Players | None = None
    joint: JointExplanation | None = None
    text_explanation: Explanation | None = None
    hit_explanation: Explanation | None = None
    encoder_seconds: float = 0.0
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"TextExplanation(order=...) must be 1 or 2; got {self.order!r}.")
        if not isinstance(self.words, Words):
            raise TypeError(f"TextExplanation(words=...) must be a Words segmentation; got {type(self.words).__name__}.")
        n = self.words.n_players
        float_arrays(self, ("word_values", "hit_values", "cross"))
        if self.word_values is not None and self.word_values.shape != (n,):
            raise ValueError(f"TextExplanation: word_values must have one value per word ({n}); "
                             f"got shape {self.word_values.shape}.")
        if self.cross is not None and self.cross.shape[0] != n:
            raise ValueError(f"TextExplanation: cross must have one row per word ({n}); got shape {self.cross.shape}.")
        coerce_explained_hit(self)
        _set(self, "text_passes", int(self.text_passes))
        _set(self, "image_passes", int(self.image_passes))
        if self.encoder_passes is None:
            _set(self, "encoder_passes", self.text_passes + self.image_passes)
        if self.hit_heatmap is None and self.hit_labels is not None and self.region_colours is not None:
            _set(self, "hit_heatmap", _paint(self.hit_labels, self.region_colours))
        super().__post_init__()

    # -- reading -----------------------------------------------------------------------
    @property
    def n_words(self) -> int:
        """Number of word players."""
        return self.words.n_players

    @property
    def word_colours(self) -> np.ndarray | None:
        """The per-word values the report colours the sentence with: the text side's Shapley values
        (at order 2 those of the joint's text-side game, the full image kept), else ``word_values``."""
        if self.joint is not None and self.joint.query_side_values is not None:
            return np.asarray(self.joint.query_side_values, dtype=np.float64)
        return self.word_values

    @property
    def region_colours(self) -> np.ndarray | None:
        """The per-region values painted over the hit (the hit side's Shapley values at order 2)."""
        if self.joint is not None and self.joint.hit_side_values is not None:
            return np.asarray(self.joint.hit_side_values, dtype=np.float64)
        return self.hit_values

    def _need_cross(self) -> np.ndarray:
        if self.cross is None:
            raise ValueError(f"word<->region pairs need an order-2 (joint) explanation; this one has order={self.order}. "
                             "Explain with order=2 (CLI: --order 2).")
        return self.cross

    def _word(self, word: object) -> int:
        words = self.words.words
        if isinstance(word, str):
            hits = [i for i, w in enumerate(words) if w.lower() == word.lower()]
            if not hits:
                raise ValueError(f"the text has no word {word!r}; its words are {list(words)}.")
            return hits[0]
        i = int(word)  # type: ignore[arg-type]
        if not 0 <= i < len(words):
            raise ValueError(f"word index must be 0..{len(words) - 1}; got {word!r}.")
        return i

    def hit_heatmap_for_word(self, word: int | str) -> np.ndarray:
        """(H, W) heatmap over the hit of ``cross[word, :]``: where in the image this word is matched.

        Args:
            word: a word index or the word itself (first occurrence, case-insensitive).
        """
        cross = self._need_cross()
        if self.hit_labels is None:
            raise ValueError("hit_heatmap_for_word needs the hit's label map; this explanation has none.")
        return _paint(self.hit_labels, cross[self._word(word)])

    def word_values_for_region(self, region: int) -> np.ndarray:
        """(w,) values of every word with hit region ``region`` (a column of ``cross``)."""
        cross = self._need_cross()
        j = int(region)
        if not 0 <= j < cross.shape[1]:
            raise ValueError(f"region must be 0..{cross.shape[1] - 1}; got {region!r}.")
        return cross[:, j].copy()

    def summary_text(self, *, warn: bool = True) -> str:
        """:attr:`summary`; ``warn=False`` leaves out the baseline warning."""
        from qdrant_explain.summary import summary_sentence

        return summary_sentence(
            warn=warn, query_values=self.word_values, hit_values=self.hit_values, cross=self.cross,
            base_value=self.base_value, full_value=self.full_value, hit_labels=self.hit_labels,
            higher_is_better=self.higher_is_better, baseline=self.baseline, query_words=list(self.words.words),
            hit_base_value=(self.extra or {}).get("hit_base_value"))

    def top_pairs(self, k: int = 5) -> list[tuple[int, str, int, float]]:
        """The ``k`` largest cross entries as (word index, word, hit region, value); [] at order 1."""
        if self.cross is None:
            return []
        flat = np.argsort(-self.cross, axis=None)[:k]
        words = self.words.words
        return [(int(i), words[i], int(j), float(self.cross[i, j]))
                for i, j in zip(*np.unravel_index(flat, self.cross.shape))]

    # -- JSON --------------------------------------------------------------------------
    ARRAYS = ("hit_image", "hit_labels", "hit_heatmap")

    def _fields(self, arrays: bool) -> dict:
        """Documented fields first (``text``, ``words``, ``word_values``, ``hit_values``, ``cross``, the values,
        ``score``, ``text_passes``/``image_passes``), then the rest, then (``arrays``) the encoded arrays."""
        out: dict = {
            "method": self.method, "order": self.order, "encoder": self.encoder, "seed": self.seed,
            "text": self.text, "words": list(self.words.words),
            "players": {"words": self.n_words, "hit": self.n_hit_players},
            "word_values": self.word_values, "hit_values": self.hit_values, "cross": self.cross,
            "base_value": self.base_value, "full_value": self.full_value, "score": self.score,
            "encoder_passes": self.encoder_passes, "text_passes": self.text_passes, "image_passes": self.image_passes,
            "seconds": self.seconds, "summary": self.summary,
            "result": type(self).__name__, "format": JSON_FORMAT, "metric": self.metric,
            "higher_is_better": self.higher_is_better, "budget": self.budget, "baseline": self.baseline,
            "side": self.side, "text_mode": self.text_mode, "estimated": bool(self.estimated),
            "hit_id": _point_id(self.hit_id), "hit_payload": self.hit_payload,
            "segmentation": self.words.to_dict(), "encoder_seconds": self.encoder_seconds, "extra": self.extra,
            "hit_players": _players_json(self.hit_players, arrays), "joint": _joint_json(self.joint),
            "text_explanation": None if self.text_explanation is None else self.text_explanation.to_dict(),
            "hit_explanation": None if self.hit_explanation is None else self.hit_explanation.to_dict(),
        }
        if arrays:
            for name in self.ARRAYS:
                out[name] = _Raw.of(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "TextExplanation":
        """Rebuild from :meth:`to_dict` output (a lean one gives no image)."""
        arr = {name: decode_array(data.get(name), name=name) for name in cls.ARRAYS}
        te, he = data.get("text_explanation"), data.get("hit_explanation")
        return cls(
            **arr, text=str(data["text"]), words=Words.from_dict(data["segmentation"]),
            word_values=_vector(data.get("word_values")), hit_values=_vector(data.get("hit_values")),
            cross=_matrix(data.get("cross")),
            base_value=float("nan") if data.get("base_value") is None else data["base_value"],
            full_value=float("nan") if data.get("full_value") is None else data["full_value"],
            order=data.get("order", 1), metric=data.get("metric", "cosine"), score=data.get("score"),
            hit_id=data.get("hit_id"), hit_payload=dict(data.get("hit_payload") or {}), baseline=data.get("baseline"),
            side=data.get("side", "both"), text_mode=data.get("text_mode", "pad"),
            text_passes=data.get("text_passes") or 0, image_passes=data.get("image_passes") or 0,
            estimated=bool(data.get("estimated", True)),
            hit_players=_players_from(data.get("hit_players"), "hit_players"), joint=_joint_from(data.get("joint")),
            text_explanation=None if te is None else Explanation.from_dict(te),
            hit_explanation=None if he is None else Explanation.from_dict(he),
            encoder_seconds=data.get("encoder_seconds") or 0.0, extra=dict(data.get("extra") or {}),
            **cls._provenance_from(data),
        )

    # -- pictures ----------------------------------------------------------------------
    def _png(self, max_side: int) -> np.ndarray:
        """The sentence with coloured words above the hit and its heatmap (and a colour bar)."""
        colours = self.word_colours
        scale = _images.symmetric_scale(colours, self.hit_heatmap)
        width = max_side if self.hit_image is None else max(max_side, _images.thumbnail(self.hit_image, max_side).shape[1])
        rows = [_tsec.sentence_image(self.words, colours, scale, width=max(width, 240))]
        if self.hit_image is not None:
            thumb = _images.thumbnail(self.hit_image, max_side)
            shown = thumb if self.hit_heatmap is None else _images.overlay(
                thumb, _images.resize_nearest(self.hit_heatmap, thumb.shape[:2]), scale=scale)
            rows.append(_images.side_by_side([shown, _images.colorbar(shown.shape[0], scale)]))
        return _images.stack_rows(rows)

    def report_card(self, rank: int | None = None) -> _sec.Card:
        """This explanation's card in a list of hits (search results, audits)."""
        return _tsec.TextPairCard(explanation=self, rank=rank)

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The query sentence, then one explanation card (interactive at order 2)."""
        return (_tsec.TextQuerySection(explanation=self),
                _sec.CardsSection(heading="Explanations", cards=(_tsec.TextPairCard(explanation=self),)))

    def report_layout(self) -> _sec.Layout:
        """"Why this image came back for the text"."""
        return _sec.Layout(title="qdrant-explain: why this image came back for the text",
                           subtitle=f"encoder {self.encoder} · {self.method} · order {self.order}",
                           sections=self.report_sections())


__all__ = ["TextExplanation"]
