"""Typed results of the product API: one family, each with ``to_json``, ``save_png``, ``to_html``.

- :class:`Hit`: one point Qdrant returned (``id``, ``score``, ``payload``).
- :class:`PairExplanation`: why one hit matched one query: saliency maps on
  both sides (order 1) or singleton terms plus the region-to-region ``cross``
  matrix (order 2, joint Shapley-Taylor).
- :class:`SearchResults`: the hits of one search, optionally each explained.
- :class:`Comparison`: why hit A ranks above hit B (relative game on the query).
- :class:`AuditReport`: many queries, summarised.

Heatmaps and label maps are in *original-image pixels*; NaN (heatmaps) and -1
(label maps) mark pixels a centre crop cut away, which no model saw.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _images


def _jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) to JSON-safe Python values."""
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _point_id(pid: Any) -> Any:
    """Qdrant ids are unsigned ints or UUID strings; keep ints as ints."""
    if isinstance(pid, (np.integer,)):
        return int(pid)
    return pid


class _Result:
    """Shared output methods. Subclasses implement ``to_dict`` and ``_png``."""

    def to_dict(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _json_obj(self) -> Any:
        """What :meth:`to_json` writes: the documented fields (subclasses may add more to ``to_dict``)."""
        return self.to_dict()

    def to_json(self, path: str | pathlib.Path | None = None, *, indent: int | None = 2) -> str:
        """JSON text with exactly the documented fields (see README); also written to ``path`` when given.

        The text is always valid UTF-8: undecodable bytes of file names are written escaped
        (``"caf\\xff.png"``). The file is written atomically (temp file + rename), so a failed
        write leaves any previous file intact.

        Args:
            path: file to write (``"-"`` is not special here; the CLI handles stdout).
            indent: JSON indentation (None for one line).

        Returns:
            The JSON text.
        """
        from ._io import to_json_text, write_atomic

        text = to_json_text(_jsonable(self._json_obj()), indent=indent)
        if path is not None:
            write_atomic(path, text + "\n")
        return text

    def to_html(self, path: str | pathlib.Path | None = None, *, title: str | None = None) -> str:
        """A self-contained HTML report (images inlined); also written to ``path`` (atomically) when given."""
        from ._io import escape_surrogates, write_atomic
        from .report import render_result

        html_text = escape_surrogates(render_result(self, title=title))
        if path is not None:
            write_atomic(path, html_text)
        return html_text

    def save_png(self, path: str | pathlib.Path, *, max_side: int = 384) -> pathlib.Path:
        """Write a PNG figure (original image with the signed heatmap over it, colour bar), atomically.

        Returns:
            The path written.
        """
        from ._io import write_atomic

        p = pathlib.Path(path)
        write_atomic(p, _images.png_bytes(self._png(max_side)))
        return p

    def _png(self, max_side: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Hit(_Result):
    """One point returned by a search.

    Attributes:
        id: Qdrant point id (int or UUID string).
        score: Qdrant's score for the query.
        payload: the point's payload (dict, may be empty).
        vector: the stored vector when fetched (``with_vectors``), else None.
        image: the hit's image as (H, W, 3) uint8 once resolved from the payload, else None.
    """

    id: Any
    score: float | None
    payload: dict = field(default_factory=dict)
    vector: np.ndarray | None = None
    image: np.ndarray | None = None

    def to_dict(self) -> dict:
        """``{"id", "score", "payload"}``."""
        return {"id": _point_id(self.id), "score": None if self.score is None else float(self.score),
                "payload": _jsonable(self.payload or {})}

    def _png(self, max_side: int) -> np.ndarray:
        if self.image is None:
            raise ValueError(f"Hit {self.id!r} has no resolved image to save; resolve its payload first.")
        return _images.thumbnail(self.image, max_side)


@dataclass
class PairExplanation(_Result):
    """Why ``hit`` matched ``query``: region attributions on each side, and for order 2 the cross matrix.

    Attributes:
        query_image: (H0, W0, 3) uint8 query, original pixels.
        hit_image: (H1, W1, 3) uint8 hit, original pixels.
        query_labels: (H0, W0) int label map of the query players (-1 where cropped away).
            Player k is the k-th distinct label in ascending order.
        hit_labels: (H1, W1) int label map of the hit players, or None when the hit side
            was not explained.
        query_values: (nq,) per-region values on the query side (Shapley values at
            order 1, singleton terms at order 2), or None when not explained.
        hit_values: (nh,) the same for the hit side, or None.
        cross: (nq, nh) order-2 Shapley-Taylor indices between query and hit regions, or None.
        base_value: game value with every region removed.
        full_value: game value with nothing removed: the similarity score.
        method: estimator name.
        order: 1 or 2.
        encoder: encoder spec/name.
        seed: random seed.
        encoder_passes: distinct masked images encoded.
        seconds: wall time of the explanation.
        score: Qdrant's score when the hit came from a collection, else None.
        hit_id: Qdrant point id, if any.
        hit_payload: the hit's payload, if any.
        budget: encoder-pass budget asked for (None = default/exact).
        baseline: how removed regions were filled (``"blur"``, ...).
        side: ``"query"``, ``"hit"`` or ``"both"``.
        estimated: False when exact.
        query_name: a label for the query (file name), for reports.
        query_heatmap / hit_heatmap: (H, W) float pixel heatmaps; derived from labels
            and values when not given. NaN where the model saw nothing.
        vector_check: when the stored vector was compared with a fresh encode of the hit
            image: ``{"cosine": c, "disagrees": bool}``.
    """

    query_image: np.ndarray
    hit_image: np.ndarray | None
    query_labels: np.ndarray | None
    hit_labels: np.ndarray | None
    query_values: np.ndarray | None
    hit_values: np.ndarray | None
    cross: np.ndarray | None
    base_value: float
    full_value: float
    method: str
    order: int
    encoder: str
    seed: int | None
    encoder_passes: int
    seconds: float
    score: float | None = None
    hit_id: Any = None
    hit_payload: dict | None = None
    budget: int | None = None
    baseline: str | None = None
    side: str = "both"
    estimated: bool = True
    query_name: str | None = None
    query_heatmap: np.ndarray | None = None
    hit_heatmap: np.ndarray | None = None
    vector_check: dict | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.query_heatmap is None and self.query_labels is not None and self.query_values is not None:
            idx, _ = _images.region_index(self.query_labels)
            self.query_heatmap = _images.heatmap_from_regions(idx, self.query_values)
        if self.hit_heatmap is None and self.hit_labels is not None and self.hit_values is not None:
            idx, _ = _images.region_index(self.hit_labels)
            self.hit_heatmap = _images.heatmap_from_regions(idx, self.hit_values)

    @property
    def n_query_players(self) -> int | None:
        """Number of query regions, or None when the query side has no players."""
        if self.query_values is not None:
            return int(len(self.query_values))
        if self.cross is not None:
            return int(self.cross.shape[0])
        return None

    @property
    def n_hit_players(self) -> int | None:
        """Number of hit regions, or None when the hit side has no players."""
        if self.hit_values is not None:
            return int(len(self.hit_values))
        if self.cross is not None:
            return int(self.cross.shape[1])
        return None

    def hit_heatmap_for_query_region(self, region: int) -> np.ndarray:
        """(H1, W1) heatmap over the hit: ``cross[region, :]`` painted on the hit regions (order 2 only)."""
        if self.cross is None or self.hit_labels is None:
            raise ValueError("hit_heatmap_for_query_region needs an order-2 (joint) explanation; "
                             f"this one has order={self.order}. Use explain(..., order=2).")
        if not 0 <= int(region) < self.cross.shape[0]:
            raise ValueError(f"region must be in 0..{self.cross.shape[0] - 1}; got {region}.")
        idx, _ = _images.region_index(self.hit_labels)
        return _images.heatmap_from_regions(idx, self.cross[int(region)])

    def top_pairs(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The ``k`` largest positive cross entries as (query region, hit region, value)."""
        if self.cross is None:
            return []
        flat = np.argsort(-self.cross, axis=None)[:k]
        return [(int(i), int(j), float(self.cross[i, j])) for i, j in zip(*np.unravel_index(flat, self.cross.shape))]

    def to_dict(self) -> dict:
        """The documented JSON fields of an explanation.

        ``method``, ``order``, ``encoder``, ``seed``, ``players`` ({"query": nq, "hit": nh}),
        ``query_values``, ``hit_values``, ``cross`` (order 2, else null), ``base_value``,
        ``full_value``, ``score`` (Qdrant's, or null), ``encoder_passes``, ``seconds``.
        """
        return {
            "method": self.method,
            "order": int(self.order),
            "encoder": self.encoder,
            "seed": self.seed,
            "players": {"query": self.n_query_players, "hit": self.n_hit_players},
            "query_values": None if self.query_values is None else _jsonable(np.asarray(self.query_values)),
            "hit_values": None if self.hit_values is None else _jsonable(np.asarray(self.hit_values)),
            "cross": None if self.cross is None else _jsonable(np.asarray(self.cross)),
            "base_value": float(self.base_value),
            "full_value": float(self.full_value),
            "score": None if self.score is None else float(self.score),
            "encoder_passes": int(self.encoder_passes),
            "seconds": round(float(self.seconds), 4),
        }

    def _json_obj(self) -> dict:
        return PairExplanation.to_dict(self)

    def _png(self, max_side: int) -> np.ndarray:
        scale = _images.symmetric_scale(self.query_heatmap, self.hit_heatmap)
        panels = []
        for img, hm in ((self.query_image, self.query_heatmap), (self.hit_image, self.hit_heatmap)):
            if img is None:
                continue
            thumb = _images.thumbnail(img, max_side)
            panels.append(thumb if hm is None else _images.overlay(thumb, _images.resize_nearest(hm, thumb.shape[:2]), scale=scale))
        panels.append(_images.colorbar(panels[0].shape[0], scale))
        return _images.side_by_side(panels)


@dataclass
class SearchResults(_Result):
    """The hits of one search, in rank order, optionally each with an explanation.

    Attributes:
        query_image: (H, W, 3) uint8 query.
        hits: the :class:`Hit` list, best first.
        explanations: one :class:`PairExplanation` (or None) per hit; empty when not explained.
        query_name: label for reports.
        encoder: the encoder spec.
        collection: the collection name.
        encoder_passes: distinct masked images encoded for all explanations together
            (shared query masks are counted once).
        seconds: wall time of all explanations.
    """

    query_image: np.ndarray
    hits: list[Hit]
    explanations: list[PairExplanation | None] = field(default_factory=list)
    query_name: str | None = None
    encoder: str | None = None
    collection: str | None = None
    encoder_passes: int | None = None
    seconds: float | None = None

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    def to_dict(self) -> list:
        """A list of hits: ``{"id", "score", "payload"}`` plus ``"explanation"`` when explained."""
        out = []
        for i, h in enumerate(self.hits):
            d = h.to_dict()
            if self.explanations and i < len(self.explanations) and self.explanations[i] is not None:
                d["explanation"] = self.explanations[i]._json_obj()
            out.append(d)
        return out

    def _png(self, max_side: int) -> np.ndarray:
        rows = [e._png(max_side) for e in self.explanations if e is not None]
        if not rows:
            thumbs = [_images.thumbnail(self.query_image, max_side)]
            thumbs += [_images.thumbnail(h.image, max_side) for h in self.hits if h.image is not None]
            return _images.side_by_side(thumbs)
        return _images.stack_rows(rows)


@dataclass
class Comparison(_Result):
    """Why ``hit_a`` scores above ``hit_b`` for the query: the relative game score(q, A) − score(q, B).

    Attributes:
        query_image, query_labels, query_values: query regions and their Shapley values in
            the relative game (positive = the region favours A over B).
        hit_a, hit_b: the two :class:`Hit` (with images when resolved).
        base_value: relative value with the whole query removed.
        full_value: score(q, A) − score(q, B).
        method, encoder, seed, encoder_passes, seconds, budget: provenance.
    """

    query_image: np.ndarray
    query_labels: np.ndarray
    query_values: np.ndarray
    hit_a: Hit
    hit_b: Hit
    base_value: float
    full_value: float
    method: str
    encoder: str
    seed: int | None
    encoder_passes: int
    seconds: float
    budget: int | None = None
    query_name: str | None = None
    query_heatmap: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.query_heatmap is None:
            idx, _ = _images.region_index(self.query_labels)
            self.query_heatmap = _images.heatmap_from_regions(idx, self.query_values)

    def to_dict(self) -> dict:
        """``method``, ``encoder``, ``seed``, ``players``, ``a``, ``b`` (each ``{"id", "score"}``),
        ``query_values``, ``base_value``, ``full_value`` (= score A − score B), ``encoder_passes``, ``seconds``."""
        return {
            "method": self.method,
            "encoder": self.encoder,
            "seed": self.seed,
            "players": {"query": int(len(self.query_values))},
            "a": {"id": _point_id(self.hit_a.id), "score": self.hit_a.score},
            "b": {"id": _point_id(self.hit_b.id), "score": self.hit_b.score},
            "query_values": _jsonable(np.asarray(self.query_values)),
            "base_value": float(self.base_value),
            "full_value": float(self.full_value),
            "encoder_passes": int(self.encoder_passes),
            "seconds": round(float(self.seconds), 4),
        }

    def _png(self, max_side: int) -> np.ndarray:
        thumb = _images.thumbnail(self.query_image, max_side)
        scale = _images.symmetric_scale(self.query_heatmap)
        panels = [_images.overlay(thumb, _images.resize_nearest(self.query_heatmap, thumb.shape[:2]), scale=scale)]
        for h in (self.hit_a, self.hit_b):
            if h.image is not None:
                panels.append(_images.thumbnail(h.image, max_side))
        panels.append(_images.colorbar(panels[0].shape[0], scale))
        return _images.side_by_side(panels)


@dataclass
class AuditReport(_Result):
    """Where similarity comes from across many queries' top hits.

    Attributes:
        searches: one :class:`SearchResults` (with explanations) per query.
        summary: aggregate numbers: ``border_share`` / ``centre_share`` (mean share of the
            positive attribution on the image border vs the centre, query and hit sides),
            ``top_regions`` (most-attributed regions), ``vector_mismatches`` (hits whose
            stored vector disagrees with a fresh encode), counts and timing.
    """

    searches: list[SearchResults]
    summary: dict

    def to_dict(self) -> dict:
        """``summary`` plus per query ``{"query", "hits": [...]}``."""
        return {
            "summary": _jsonable(self.summary),
            "queries": [{"query": s.query_name, "hits": s.to_dict()} for s in self.searches],
        }

    def _png(self, max_side: int) -> np.ndarray:
        rows = [s._png(max_side // 2) for s in self.searches[:6]]
        return _images.stack_rows(rows)


__all__ = ["AuditReport", "Comparison", "Hit", "PairExplanation", "SearchResults"]
