"""Typed report sections: what a result shows, each drawing itself as HTML.

A result declares its page with ``report_layout()`` (a :class:`Layout`: title, subtitle and a
tuple of sections) and its part of a larger page with ``report_sections()``. The renderer
(:func:`qdrant_explain.report.render_layout`) only asks each section to ``render(page)``; it
never looks at result classes. Sections read the result they wrap by attribute (``query_image``,
``cross``, ``hit_payload``, ...), so any object with those attributes can be shown.

- :class:`QuerySection`: the query image.
- :class:`CardsSection`: a heading and a row of cards (:class:`PairCard`, :class:`HitCard`).
- :class:`ComparisonSection`: the relative heatmap of a comparison and both hits.
- :class:`SummarySection`: an audit summary's tables.

This module imports nothing from :mod:`qdrant_explain.results` (no import circle).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdrant_explain.explainers.uncertainty import format_interval

from .. import _images

MAX_SIDE = 300
"""Longest side, in pixels, of images shown in reports."""


# ----------------------------------------------------------------------------- helpers


def esc(x: Any) -> str:
    """HTML-escaped text of ``x`` ("" for None), quotes included."""
    return html.escape("" if x is None else str(x), quote=True)


def num(v: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals; "–" for None/NaN; escaped text for non-numbers."""
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return esc(v)
    if not np.isfinite(f):
        return "–"
    return f"{f:.{digits}f}"


def payload_html(payload: Mapping | None, limit: int = 240) -> str:
    """A payload as an escaped definition list (20 keys at most, long values cut)."""
    if not payload:
        return ""
    rows = []
    for key, value in list(payload.items())[:20]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > limit:
            text = text[:limit] + f"… ({len(text)} chars)"
        rows.append(f"<dt>{esc(key)}</dt><dd>{esc(text)}</dd>")
    return '<dl class="payload">' + "".join(rows) + "</dl>"


def _labels_b64(labels: np.ndarray, size: tuple[int, int]) -> str:
    idx, _ = _images.region_index(labels)
    small = _images.resize_nearest(idx, size).astype("<i2")
    return base64.b64encode(np.ascontiguousarray(small).tobytes()).decode("ascii")


def _fig(img_uri: str, caption: str, *, alt: str) -> str:
    return f'<figure><img src="{img_uri}" alt="{esc(alt)}"><figcaption>{caption}</figcaption></figure>'


def legend(higher_is_better: bool = True, scale: float | None = None) -> str:
    """Colour legend; for distances (euclid, manhattan) positive values push the images apart."""
    neg, pos = ("more different", "more similar") if higher_is_better else ("closer", "farther apart")
    lo = f"−{scale:.3g} " if scale is not None else ""
    hi = f" +{scale:.3g}" if scale is not None else ""
    return (f'<div class="legend"><span>{lo}makes them {neg} ({_images.NEGATIVE_WORD})</span>{colour_bar()}'
            f"<span>makes them {pos} ({_images.POSITIVE_WORD}){hi}</span></div>")


def colour_bar() -> str:
    """The legend's colour bar: a CSS gradient through the stops of the report's diverging map."""
    stops = ",".join(_images.DIVERGING_HEX)
    return f'<span class="bar" role="img" aria-label="colour scale, purple (negative) to white (0) to orange (positive)" style="background:linear-gradient(90deg,{stops})"></span>'


# ----------------------------------------------------------------------------- region numbers, pairs, slider


TOP_LINES = 5
"""Pair lines shown at first (the slider starts at the 5th-largest |cross|)."""
MAX_LINES = 40
"""Most pairs a joint panel can draw (the slider reveals them down to this many)."""


def region_anchors(index_map: np.ndarray, n: int) -> list[list[float]]:
    """(x, y) per region where its number is drawn: the region's pixel farthest from its border.

    Args:
        index_map: (h, w) region index per display pixel (-1 = cut away).
        n: number of regions.

    Returns:
        n pairs [x, y] in display pixels (pixel centres); [-1, -1] for a region with no visible pixel.
    """
    from scipy.ndimage import distance_transform_edt

    idx = np.asarray(index_map)
    inner = np.ones(idx.shape, dtype=bool)  # False on borders between regions (and the image edge)
    inner[:, :-1] &= idx[:, :-1] == idx[:, 1:]
    inner[:, 1:] &= idx[:, 1:] == idx[:, :-1]
    inner[:-1, :] &= idx[:-1, :] == idx[1:, :]
    inner[1:, :] &= idx[1:, :] == idx[:-1, :]
    inner[0, :] = inner[-1, :] = False
    inner[:, 0] = inner[:, -1] = False
    depth = distance_transform_edt(inner)
    out = [[-1.0, -1.0]] * n
    flat_idx, flat_depth = idx.ravel(), depth.ravel()
    order = np.lexsort((-flat_depth, flat_idx))  # by region, deepest first
    regions_sorted = flat_idx[order]
    firsts = np.searchsorted(regions_sorted, np.arange(n))
    w = idx.shape[1]
    for k, first in enumerate(firsts):
        if first < regions_sorted.size and regions_sorted[first] == k:
            y, x = divmod(int(order[first]), w)
            out[k] = [x + 0.5, y + 0.5]
    return out


def _round(a: Any) -> list | None:
    return None if a is None else np.round(np.asarray(a, dtype=np.float64), 7).tolist()


def side_spec(image: np.ndarray, labels: np.ndarray, size: tuple[int, int], *, side: str,
              values: np.ndarray | None, base_value: float, full_value: float,
              stderr: np.ndarray | None = None) -> dict:
    """What the report's JS needs to number, colour, fade and explain the regions of one image.

    Args:
        image: (H, W, 3) uint8 original image.
        labels: (H, W) label map in original pixels (region k = k-th distinct label).
        size: display (h, w).
        side: "query" or "hit".
        values: (n,) region values shown (None: numbers only).
        base_value, full_value: v(empty) and v(N) of the game the values split (for the shares).
        stderr: (n,) standard errors of ``values``, or None.

    Returns:
        A JSON-safe dict: image, label map (base64 int16 region indices), anchors, position words,
        values, shares (None when v(N) - v(empty) is not positive) and standard errors.
    """
    from ..summary import regions, shares

    idx, uniq = _images.region_index(labels)
    small = _images.resize_nearest(idx, size)
    n = int(uniq.size)
    where = [r.where for r in regions(labels, n, side)]
    sh = None if values is None else shares(values, base_value, full_value)
    return {
        "img": _images.data_uri(_images.thumbnail(image, MAX_SIDE)), "w": size[1], "h": size[0],
        "labels": base64.b64encode(np.ascontiguousarray(small.astype("<i2")).tobytes()).decode("ascii"),
        "anchors": [[round(x, 1), round(y, 1)] for x, y in region_anchors(small, n)], "where": where,
        "values": _round(values), "shares": _round(sh), "stderr": _round(stderr), "side": side,
    }


def strongest_pairs(cross: np.ndarray, base_value: float, full_value: float, k: int = MAX_LINES) -> list[list]:
    """The ``k`` largest |cross| entries as [query region, hit region, value, share or None], largest first."""
    from ..summary import shares

    c = np.asarray(cross, dtype=np.float64)
    flat = np.argsort(-np.abs(c), axis=None, kind="stable")[:k]
    sh = shares(c.ravel()[flat], base_value, full_value)
    out = []
    for r, f in enumerate(flat):
        i, j = np.unravel_index(int(f), c.shape)
        out.append([int(i), int(j), round(float(c[i, j]), 7), None if sh is None else round(float(sh[r]), 7)])
    return out


def threshold_control(panel: int, vmax: float, start: float, what: str) -> str:
    """A labelled range input: show only values with |value| >= t (t from 0 to ``vmax``)."""
    vmax = float(vmax) if np.isfinite(vmax) and vmax > 0 else 1.0
    start = min(max(0.0, float(start)) * (1 - 1e-6), vmax)  # just under the value it keeps (printing rounds)
    ident = f"qe-t{panel}"
    return (f'<div class="threshold"><label for="{ident}">Show {esc(what)} with |value| ≥ '
            f'<output for="{ident}">{start:.3g}</output></label>'
            f'<input type="range" id="{ident}" min="0" max="{vmax:.7g}" step="any" value="{start!r}" '
            f'title="Slide right to keep only the strongest values; left to show them all"></div>')


SCORE_TITLE = "the similarity the explanation splits into regions: Qdrant's score of the hit for this query"
"""Hover text of a card's score."""
METRIC_TITLE = "the similarity the explanation splits into regions: the metric of the two complete images"
"""Hover text of the metric shown by a raw pair's card (it has no Qdrant score)."""


def meta_title(e: Any) -> str:
    """Hover text of a card's provenance line: what each number means."""
    what = "score" if e.score is not None else str(e.metric)
    return (f"order {e.order}: {'each region alone (Shapley values)' if e.order == 1 else 'regions and query×hit pairs (Shapley-Taylor)'}; "
            f"players: regions per image; budget and encoder passes: masked images encoded; "
            f"base {num(e.base_value)}: the {what} with every region removed ({e.baseline or 'baseline'}); "
            f"full {num(e.full_value)}: the {what} of the two complete images; the values add up to full − base "
            f"= {num(e.full_value - e.base_value)}, and a share is a value divided by it")


COVERS_ZERO_TEXT = ("the 95 % interval covers 0: at this budget the sign of the value is not established "
                    "(sampling error)")
"""Hover text of a value whose interval covers 0."""


def _intervals(result: Any, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(values, half-widths, covers 0) of ``which`` ("query", "hit", "cross"), or None without standard errors."""
    interval = getattr(result, "interval", None)
    ci = interval(which) if callable(interval) else None
    if ci is None:
        return None
    lo, hi = ci
    return (lo + hi) / 2, (hi - lo) / 2, (lo <= 0.0) & (hi >= 0.0)


def covers_zero_mask(labels: np.ndarray | None, covers: np.ndarray | None) -> np.ndarray | None:
    """(H, W) bool: pixels of the regions whose interval covers 0 (None when nothing to mark)."""
    if labels is None or covers is None or not np.any(covers):
        return None
    idx, _ = _images.region_index(labels)
    return _images.heatmap_from_regions(idx, np.asarray(covers, dtype=np.float64)) == 1.0


def interval_table(result: Any, which: str, *, k: int = 5) -> str:
    """The ``k`` largest values of one side (or pair) with their 95 % intervals; values whose interval
    covers 0 are greyed, with a hover text. "" without standard errors; exact values say so."""
    got = _intervals(result, which)
    if got is None:
        return ""
    values, half, covers = (np.ravel(a) for a in got)
    shape = np.shape(got[0])
    what = {"query": "query region", "hit": "hit region", "cross": "query × hit pair"}[which]
    exact = not bool(getattr(result, "estimated", True)) and not np.any(half)
    rows = []
    for flat in np.argsort(-np.abs(values), kind="stable")[:k]:
        name = f"#{flat}" if len(shape) == 1 else "q#{} ↔ h#{}".format(*np.unravel_index(flat, shape))
        shown = format_interval(values[flat], None if exact else half[flat])
        cls = ' class="covers-zero"' if covers[flat] and not exact else ""
        title = f' title="{esc(COVERS_ZERO_TEXT)}"' if cls else ""
        lo_hi = "exact" if exact else f"[{values[flat] - half[flat]:+.3g}, {values[flat] + half[flat]:+.3g}]"
        rows.append(f"<tr{cls}{title}><td>{esc(name)}</td><td>{esc(shown)}</td><td>{esc(lo_hi)}</td></tr>")
    n_cover = 0 if exact else int(covers.sum())
    note = ("exact values: no sampling error" if exact else
            f"{n_cover} of {values.size} intervals cover 0 (greyed / hatched: sign not established)")
    return (f'<table class="intervals" data-which="{which}" data-covers-zero="{n_cover}"><tr><th>{what}</th>'
            f"<th>value ± half-width</th><th>95 % interval</th></tr>{''.join(rows)}</table><div class=\"hint\">{esc(note)}</div>")


class Page:
    """What sections share while one page is rendered: the data blob for the JS (interactive panels)."""

    def __init__(self) -> None:
        self.panels: list[dict] = []

    def add_panel(self, spec: dict) -> int:
        """Register an interactive panel's data; returns its index (the ``data-panel`` attribute)."""
        self.panels.append(spec)
        return len(self.panels) - 1


# ----------------------------------------------------------------------------- sections and cards


@dataclass(frozen=True)
class Section:
    """One part of a report page."""

    def render(self, page: Page) -> str:  # pragma: no cover - every section defines it
        """The section's HTML."""
        raise NotImplementedError


@dataclass(frozen=True)
class Card:
    """One card inside a :class:`CardsSection`."""

    def render(self, page: Page) -> str:  # pragma: no cover - every card defines it
        """The card's HTML."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class QuerySection(Section):
    """The query image with its name (nothing when the image is None)."""

    image: np.ndarray | None
    name: str | None = None

    def render(self, page: Page) -> str:
        """``<section>`` with the query thumbnail."""
        if self.image is None:
            return ""
        return (f'<section><h2>Query{": " + esc(self.name) if self.name else ""}</h2><div class="query">'
                + _fig(_images.data_uri(_images.thumbnail(self.image, MAX_SIDE)), esc(self.name or "query"), alt="query")
                + "</div></section>")

    def shows_same_query(self, other: "QuerySection") -> bool:
        """True when ``other`` shows the same image (a page shows a query once)."""
        a, b = self.image, other.image
        return a is b or (a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b))


def card_head(e: Any, rank: int | None) -> list[str]:
    """The first spans of an explained hit's card: its rank, its point id and Qdrant's score (a raw image pair
    has none: then the value that was explained, under its metric)."""
    head = [f'<span class="rank">{"#" + str(rank) if rank is not None else "Hit"}</span>']
    if e.hit_id is not None:
        head.append(f"<span>id <code>{esc(e.hit_id)}</code></span>")
    if e.score is not None:
        head.append(f'<span class="score" title="{esc(SCORE_TITLE)}">score {num(e.score)}</span>')
    else:
        head.append(f'<span class="score" title="{esc(METRIC_TITLE)}">{esc(e.metric)} {num(e.full_value)}</span>')
    return head


@dataclass(frozen=True, eq=False)
class PairCard(Card):
    """One explained hit: header, static overlays (order 1) or the interactive joint panel (order 2), payload."""

    explanation: Any
    rank: int | None = None

    def render(self, page: Page) -> str:
        """The card's HTML (the joint panel's data goes to ``page``)."""
        e = self.explanation
        head = card_head(e, self.rank)
        meta = (f"order {e.order} · {esc(e.method)} · players q={esc(e.n_query_players)} h={esc(e.n_hit_players)} · "
                f"budget {esc(e.budget if e.budget is not None else 'auto')} · {esc(e.encoder_passes)} encoder passes · "
                f"{num(e.seconds, 2)} s · base {num(e.base_value)} → full {num(e.full_value)}")
        head.append(f'<span class="meta" title="{esc(meta_title(e))}">{meta}</span>')
        if e.vector_check and e.vector_check.get("disagrees"):
            head.append(f'<span class="warn">stored vector ≠ fresh encode (cosine {num(e.vector_check.get("cosine"))})</span>')
        summary = getattr(e, "summary", None)
        body = [] if summary is None else [f'<p class="summary">{esc(summary)}</p>']
        if e.order == 2 and e.cross is not None and e.hit_image is not None and e.hit_labels is not None:
            body.append(self._joint_panel(page))
        else:
            body.extend(self._saliency_panel(page, self._overlays()))
        body.append(payload_html(e.hit_payload))
        return '<div class="card"><div class="card-head">' + "".join(head) + "</div>" + "".join(body) + "</div>"

    def _overlays(self) -> list[str]:
        e = self.explanation
        scale = _images.symmetric_scale(e.query_heatmap, e.hit_heatmap)
        figs, tables, hatched = [], [], 0
        for img, hm, who, labels in ((e.query_image, e.query_heatmap, "query", e.query_labels),
                                     (e.hit_image, e.hit_heatmap, "hit", e.hit_labels)):
            if img is None:
                continue
            thumb = _images.thumbnail(img, MAX_SIDE)
            if hm is not None:
                ov = _images.overlay(thumb, _images.resize_nearest(hm, thumb.shape[:2]), scale=scale)
                got = _intervals(e, who)
                mask = covers_zero_mask(labels, None if got is None else got[2])
                if mask is not None:
                    ov = _images.hatch(ov, mask)
                    hatched += 1
                figs.append(_fig(_images.data_uri(ov), f"{who}: what drives the score", alt=f"{who} heatmap"))
                tables.append(interval_table(e, who))
            else:
                figs.append(_fig(_images.data_uri(thumb), f"{who} (not explained)", alt=who))
        out = ['<div class="figs">' + "".join(figs) + "</div>", legend(e.higher_is_better, scale)]
        if hatched:
            out.append(f'<div class="hint hatched-legend" title="{esc(COVERS_ZERO_TEXT)}">Hatched regions: the 95 % '
                       "interval of their value covers 0 (the sign is not established at this budget).</div>")
        if any(tables):
            out.append('<div class="figs">' + "".join(tables) + "</div>")
        return out

    def _saliency_panel(self, page: Page, overlays: list[str]) -> list[str]:
        """The order-1 overlays with numbered regions, a threshold slider that fades weaker regions, and hover
        text for every region (value, share of the score, 95 % interval when known); unchanged without labels."""
        e = self.explanation
        extra = e.extra or {}
        sides = {}
        for key, side, img, labels, values, expl, base in (
                ("q", "query", e.query_image, e.query_labels, e.query_values, e.query_explanation, e.base_value),
                ("h", "hit", e.hit_image, e.hit_labels, e.hit_values, e.hit_explanation,
                 extra.get("hit_base_value", e.base_value))):
            if img is None or labels is None or values is None:
                continue
            size = _images.display_size(img.shape, MAX_SIDE)
            sides[key] = side_spec(img, labels, size, side=side, values=values, base_value=float(base),
                                   full_value=e.full_value, stderr=getattr(expl, "stderr", None))
        if not sides:
            return overlays
        vmax = _images.symmetric_scale(*(np.asarray(sp["values"]) for sp in sides.values()))
        k = page.add_panel({"kind": "saliency", **sides, "total": e.full_value - e.base_value})
        return ([f'<div class="saliency" data-panel="{k}">'] + overlays
                + [threshold_control(k, vmax, 0.0, "regions"), '<div class="status" aria-live="polite"></div></div>'])

    def _joint_panel(self, page: Page) -> str:
        """Interactive query<->hit canvases for an order-2 explanation: numbered regions, lines between the
        strongest pairs, a threshold slider, every number explained on hover."""
        from ..summary import shares

        e = self.explanation
        qsize = _images.display_size(e.query_image.shape, MAX_SIDE)
        hsize = _images.display_size(e.hit_image.shape, MAX_SIDE)
        cross = np.asarray(e.cross, dtype=np.float64)
        joint = e.joint
        if joint is not None and joint.query_side_values is not None:
            qv, hv = joint.query_side_values, joint.hit_side_values
            label = "each side's Shapley values (the other image complete)"
        else:
            qv, hv = e.query_values, e.hit_values
            label = "each region's own (singleton) value"
        qv = np.asarray(qv if qv is not None else np.zeros(cross.shape[0]), dtype=np.float64)
        hv = np.asarray(hv if hv is not None else np.zeros(cross.shape[1]), dtype=np.float64)
        pairs = strongest_pairs(cross, e.base_value, e.full_value)
        start = abs(pairs[min(TOP_LINES, len(pairs)) - 1][2]) if pairs else 0.0
        k = page.add_panel({
            "kind": "joint",
            "q": side_spec(e.query_image, e.query_labels, qsize, side="query", values=None,
                           base_value=e.base_value, full_value=e.full_value),
            "h": side_spec(e.hit_image, e.hit_labels, hsize, side="hit", values=None,
                           base_value=e.base_value, full_value=e.full_value),
            "cross": np.round(cross, 7).tolist(),
            "pairs": pairs,
            "qshare": _round(shares(qv, e.base_value, e.full_value)),
            "hshare": _round(shares(hv, e.base_value, e.full_value)),
            "total": e.full_value - e.base_value,
            "qv": np.round(qv, 7).tolist(),
            "hv": np.round(hv, 7).tolist(),
            "scale": _images.symmetric_scale(qv, hv),
            "label": label,
        })
        pairs = ", ".join(f"query #{i} ↔ hit #{j} ({v:+.3g})" for i, j, v in e.top_pairs(3))
        return (
            f'<div class="joint" data-panel="{k}"><div class="figs">'
            f'<figure><canvas class="region-map" data-side="q" width="{qsize[1]}" height="{qsize[0]}" role="img" '
            f'aria-label="query image split into {cross.shape[0]} numbered regions"></canvas>'
            f"<figcaption>Query regions ({cross.shape[0]}): hover or click one</figcaption></figure>"
            f'<figure><canvas class="region-map" data-side="h" width="{hsize[1]}" height="{hsize[0]}" role="img" '
            f'aria-label="hit image split into {cross.shape[1]} numbered regions"></canvas>'
            f"<figcaption>Hit regions ({cross.shape[1]}): hover or click one</figcaption></figure>"
            f'</div>{threshold_control(k, _images.symmetric_scale(cross, qv, hv), start, "pairs and regions")}'
            f'<div class="status" aria-live="polite"></div>{legend(e.higher_is_better)}'
            f'<div class="hint">Strongest pairs: {esc(pairs)}</div>{interval_table(e, "cross")}</div>'
        )


@dataclass(frozen=True, eq=False)
class HitCard(Card):
    """A hit without explanation: rank, id, score, thumbnail (when resolved), payload."""

    hit: Any
    rank: int | None = None

    def render(self, page: Page) -> str:
        """The card's HTML."""
        h = self.hit
        figs = ""
        if h.image is not None:
            figs = ('<div class="figs">' + _fig(_images.data_uri(_images.thumbnail(h.image, MAX_SIDE // 2)), "hit", alt="hit")
                    + "</div>")
        rank = "Hit" if self.rank is None else f"#{self.rank}"
        return (f'<div class="card"><div class="card-head"><span class="rank">{rank}</span>'
                f"<span>id <code>{esc(h.id)}</code></span><span class=\"score\">score {num(h.score)}</span></div>"
                f"{figs}{payload_html(h.payload)}</div>")


@dataclass(frozen=True, eq=False)
class CardsSection(Section):
    """A heading (with an optional note) over a row of cards."""

    heading: str
    cards: tuple[Card, ...] = ()
    note: str | None = None

    def render(self, page: Page) -> str:
        """``<section>`` with the cards."""
        note = f' <span class="meta">{esc(self.note)}</span>' if self.note else ""
        return (f"<section><h2>{esc(self.heading)}{note}</h2><div class=\"cards\">"
                + "".join(c.render(page) for c in self.cards) + "</div></section>")

    def merged_with(self, other: "CardsSection") -> "CardsSection | None":
        """One section holding both sections' cards when they share heading and note, else None."""
        if (self.heading, self.note) != (other.heading, other.note):
            return None
        return CardsSection(heading=self.heading, cards=self.cards + other.cards, note=self.note)


@dataclass(frozen=True, eq=False)
class ComparisonSection(Section):
    """Why A ranks above B: the relative heatmap over the query and both hits."""

    comparison: Any

    def render(self, page: Page) -> str:
        """``<section>`` with the relative heatmap, both hits and their payloads."""
        c = self.comparison
        figs = []
        scale = _images.symmetric_scale(c.query_heatmap)
        if c.query_image is not None:
            thumb = _images.thumbnail(c.query_image, MAX_SIDE)
            shown = thumb if c.query_heatmap is None else _images.overlay(
                thumb, _images.resize_nearest(c.query_heatmap, thumb.shape[:2]), scale=scale)
            figs.append(_fig(_images.data_uri(shown), "query: orange favours A, purple favours B", alt="relative heatmap"))
        if c.query_image is not None and c.query_heatmap is not None:
            got = _intervals(c, "query")
            mask = covers_zero_mask(c.query_labels, None if got is None else got[2])
            if mask is not None:
                figs[0] = _fig(_images.data_uri(_images.hatch(_images.overlay(
                    thumb, _images.resize_nearest(c.query_heatmap, thumb.shape[:2]), scale=scale), mask)),
                    "query: orange favours A, purple favours B; hatched: interval covers 0", alt="relative heatmap")
        for tag, h in (("A", c.hit_a), ("B", c.hit_b)):
            caption = f"{tag}: id {esc(h.id)}, score {num(h.score)}"
            if h.image is not None:
                figs.append(_fig(_images.data_uri(_images.thumbnail(h.image, MAX_SIDE)), caption, alt=f"hit {tag}"))
            else:
                figs.append(f"<figure><figcaption>{caption} (image not resolved)</figcaption></figure>")
        meta = (f"{esc(c.method)} · {len(c.query_values)} query regions · {esc(c.encoder_passes)} encoder passes · "
                f"{num(c.seconds, 2)} s · score(A) − score(B) = {num(c.full_value)}")
        return ('<section><h2>Why A ranks above B</h2><div class="card"><div class="card-head">'
                f'<span class="meta">{meta}</span></div><div class="figs">{"".join(figs)}</div>'
                f'<div class="legend"><span>−{scale:.3g}</span><span class="bar"></span><span>+{scale:.3g}</span></div>'
                f"{interval_table(c, 'query')}{payload_html(c.hit_a.payload)}{payload_html(c.hit_b.payload)}</div></section>")


@dataclass(frozen=True, eq=False)
class SummarySection(Section):
    """An audit summary: the numbers, the most-attributed regions, stored-vector mismatches."""

    summary: Mapping = field(default_factory=dict)

    def render(self, page: Page) -> str:
        """``<section>`` with the summary tables."""
        summary = self.summary
        rows = []
        for k, v in summary.items():
            if isinstance(v, (list, tuple, Mapping)):
                continue
            if isinstance(v, float) and (k.endswith("_share") or k.endswith("_area") or k.startswith("border_share")):
                shown = f"{100 * v:.1f} %"
            else:
                shown = num(v, 3) if isinstance(v, float) else esc(v)
            rows.append(f"<tr><th>{esc(k.replace('_', ' '))}</th><td>{shown}</td></tr>")
        out = ['<section><h2>Audit summary</h2><table>' + "".join(rows) + "</table>"]
        tops = summary.get("top_regions") or []
        if tops:
            out.append("<h2 style=\"margin-top:14px\">Most-attributed regions</h2><table><tr>"
                       "<th>query</th><th>hit</th><th>side</th><th>region</th><th>value</th><th>95 % interval</th>"
                       "<th>share of score</th><th>where</th></tr>")
            for t in tops:
                iv = t.get("interval")
                covers = iv is not None and iv[0] <= 0.0 <= iv[1]
                cls = f' class="covers-zero" title="{esc(COVERS_ZERO_TEXT)}"' if covers else ""
                shown = "–" if iv is None else f"[{iv[0]:+.3g}, {iv[1]:+.3g}]"
                out.append(f"<tr{cls}><td>{esc(t.get('query'))}</td><td>{esc(t.get('hit'))}</td><td>{esc(t.get('side'))}</td>"
                           f"<td>{esc(t.get('region'))}</td><td>{num(t.get('value'))}</td><td>{esc(shown)}</td>"
                           f"<td>{num(t.get('share'), 3)}</td><td>{esc(t.get('where'))}</td></tr>")
            out.append("</table>")
        mism = summary.get("vector_mismatches") or []
        out.append("<h2 style=\"margin-top:14px\">Stored vector vs fresh encode</h2>")
        if mism:
            out.append("<table><tr><th>hit</th><th>id</th><th>cosine(stored, fresh)</th></tr>")
            for m in mism:
                out.append(f"<tr><td>{esc(m.get('hit'))}</td><td>{esc(m.get('id'))}</td>"
                           f"<td class=\"warn\">{num(m.get('cosine'), 5)}</td></tr>")
            out.append("</table>")
        else:
            out.append('<p class="hint">Every checked hit\'s stored vector matches a fresh encode of its image.</p>')
        findings = summary.get("findings") or []
        if findings:  # items the audit went on without (a query that cannot be read, a hit image not resolved)
            out.append("<h2 style=\"margin-top:14px\">Could not be explained</h2><table><tr><th>query</th>"
                       "<th>hit</th><th>reason</th></tr>")
            for f in findings:
                out.append(f"<tr><td>{esc(f.get('query'))}</td><td>{esc(f.get('hit'))}</td>"
                           f"<td class=\"warn\">{esc(f.get('error'))}</td></tr>")
            out.append("</table>")
        out.append("</section>")
        return "".join(out)


@dataclass(frozen=True)
class Layout:
    """A result's own page: title, subtitle and sections in order."""

    title: str
    subtitle: str = ""
    sections: tuple[Section, ...] = ()


def tidy(sections: list[Section], *, shown_query: QuerySection | None = None) -> list[Section]:
    """Drop a query section that repeats the last query shown and merge neighbouring card sections of one heading.

    Args:
        sections: in page order.
        shown_query: a query already shown above them (the page's own query).

    Returns:
        The sections to render.
    """
    out: list[Section] = []
    last_query = shown_query
    for s in sections:
        if isinstance(s, QuerySection):
            if s.image is None or (last_query is not None and last_query.shows_same_query(s)):
                continue
            last_query = s
        elif isinstance(s, CardsSection) and out and isinstance(out[-1], CardsSection):
            merged = out[-1].merged_with(s)
            if merged is not None:
                out[-1] = merged
                continue
        out.append(s)
    return out


__all__ = ["COVERS_ZERO_TEXT", "MAX_SIDE", "Card", "CardsSection", "ComparisonSection", "HitCard", "Layout", "Page",
           "PairCard", "QuerySection", "Section", "SummarySection", "covers_zero_mask", "esc", "interval_table",
           "legend", "num", "payload_html", "tidy"]
