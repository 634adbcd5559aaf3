"""Self-contained HTML reports: one file, images inlined as base64 PNG, a little JS, no network.

:func:`render_result` turns any result of :mod:`qdrant_explain.results` into a page;
:func:`render_report` is the general entry point (query, hits, comparisons, audit summary).
All payload and file-name text is HTML-escaped; the data blob for the JS is JSON with
``<``, ``>`` and ``&`` escaped, so a payload cannot close the script tag.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from importlib import resources
from typing import Any, Iterable

import numpy as np

from .. import __version__, _images

MAX_SIDE = 300
"""Longest side, in pixels, of images shown in reports."""


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _json_for_script(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _esc(v)
    if not np.isfinite(f):
        return "–"
    return f"{f:.{digits}f}"


def _payload_html(payload: dict | None, limit: int = 240) -> str:
    if not payload:
        return ""
    rows = []
    for key, value in list(payload.items())[:20]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > limit:
            text = text[:limit] + f"… ({len(text)} chars)"
        rows.append(f"<dt>{_esc(key)}</dt><dd>{_esc(text)}</dd>")
    return '<dl class="payload">' + "".join(rows) + "</dl>"


def _labels_b64(labels: np.ndarray, size: tuple[int, int]) -> str:
    idx, _ = _images.region_index(labels)
    small = _images.resize_nearest(idx, size).astype("<i2")
    return base64.b64encode(np.ascontiguousarray(small).tobytes()).decode("ascii")


def _fig(img_uri: str, caption: str, *, alt: str) -> str:
    return f'<figure><img src="{img_uri}" alt="{_esc(alt)}"><figcaption>{caption}</figcaption></figure>'


def _legend(e: Any, scale: float | None = None) -> str:
    """Colour legend; for distances (euclid, manhattan) positive values push the images apart."""
    closer = bool(getattr(e, "higher_is_better", True))
    neg, pos = ("more different", "more similar") if closer else ("closer", "farther apart")
    lo = f"−{scale:.3g} " if scale is not None else ""
    hi = f" +{scale:.3g}" if scale is not None else ""
    return (f'<div class="legend"><span>{lo}makes them {neg}</span><span class="bar"></span>'
            f"<span>makes them {pos}{hi}</span></div>")


class _Page:
    """Accumulates HTML sections and the JS data blob."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.panels: list[dict] = []

    def joint_panel(self, e: Any) -> str:
        """Interactive query<->hit canvases for an order-2 explanation."""
        qsize = _images.display_size(e.query_image.shape, MAX_SIDE)
        hsize = _images.display_size(e.hit_image.shape, MAX_SIDE)
        cross = np.asarray(e.cross, dtype=np.float64)
        joint = getattr(e, "joint", None)
        if joint is not None and getattr(joint, "query_side_values", None) is not None:
            qv, hv = joint.query_side_values, joint.hit_side_values
            label = "each side's Shapley values (the other image complete)"
        else:
            qv, hv = e.query_values, e.hit_values
            label = "each region's own (singleton) value"
        qv = np.asarray(qv if qv is not None else np.zeros(cross.shape[0]), dtype=np.float64)
        hv = np.asarray(hv if hv is not None else np.zeros(cross.shape[1]), dtype=np.float64)
        spec = {
            "q": {"img": _images.data_uri(_images.thumbnail(e.query_image, MAX_SIDE)), "w": qsize[1], "h": qsize[0],
                  "labels": _labels_b64(e.query_labels, qsize)},
            "h": {"img": _images.data_uri(_images.thumbnail(e.hit_image, MAX_SIDE)), "w": hsize[1], "h": hsize[0],
                  "labels": _labels_b64(e.hit_labels, hsize)},
            "cross": np.round(cross, 7).tolist(),
            "qv": np.round(qv, 7).tolist(),
            "hv": np.round(hv, 7).tolist(),
            "scale": _images.symmetric_scale(qv, hv),
            "label": label,
        }
        k = len(self.panels)
        self.panels.append(spec)
        top = e.top_pairs(3)
        pairs = ", ".join(f"query #{i} ↔ hit #{j} ({v:+.3g})" for i, j, v in top)
        return (
            f'<div class="joint" data-panel="{k}"><div class="figs">'
            f'<figure><canvas class="region-map" data-side="q" width="{qsize[1]}" height="{qsize[0]}"></canvas>'
            f"<figcaption>Query regions ({cross.shape[0]}): hover or click one</figcaption></figure>"
            f'<figure><canvas class="region-map" data-side="h" width="{hsize[1]}" height="{hsize[0]}"></canvas>'
            f"<figcaption>Hit regions ({cross.shape[1]}): hover or click one</figcaption></figure>"
            f'</div><div class="status"></div>{_legend(e)}'
            f'<div class="hint">Strongest pairs: {_esc(pairs)}</div></div>'
        )

    def pair_card(self, e: Any, *, rank: int | None = None) -> str:
        """One hit card: header, static overlays (order 1) or interactive panel (order 2), payload."""
        head = []
        head.append(f'<span class="rank">{"#" + str(rank) if rank is not None else "Hit"}</span>')
        if e.hit_id is not None:
            head.append(f"<span>id <code>{_esc(e.hit_id)}</code></span>")
        score = e.score if e.score is not None else e.full_value
        head.append(f'<span class="score">score {_num(score)}</span>')
        meta = (f"order {e.order} · {_esc(e.method)} · players q={_esc(e.n_query_players)} h={_esc(e.n_hit_players)} · "
                f"budget {_esc(e.budget if e.budget is not None else 'auto')} · {e.encoder_passes} encoder passes · "
                f"{e.seconds:.2f} s · base {_num(e.base_value)} → full {_num(e.full_value)}")
        head.append(f'<span class="meta">{meta}</span>')
        if e.vector_check and e.vector_check.get("disagrees"):
            head.append(f'<span class="warn">stored vector ≠ fresh encode (cosine {_num(e.vector_check.get("cosine"))})</span>')
        body = []
        if e.order == 2 and e.cross is not None and e.hit_image is not None and e.hit_labels is not None:
            body.append(self.joint_panel(e))
        else:
            scale = _images.symmetric_scale(e.query_heatmap, e.hit_heatmap)
            figs = []
            for img, hm, who in ((e.query_image, e.query_heatmap, "query"), (e.hit_image, e.hit_heatmap, "hit")):
                if img is None:
                    continue
                thumb = _images.thumbnail(img, MAX_SIDE)
                if hm is not None:
                    ov = _images.overlay(thumb, _images.resize_nearest(hm, thumb.shape[:2]), scale=scale)
                    figs.append(_fig(_images.data_uri(ov), f"{who}: what drives the score", alt=f"{who} heatmap"))
                else:
                    figs.append(_fig(_images.data_uri(thumb), f"{who} (not explained)", alt=who))
            body.append('<div class="figs">' + "".join(figs) + "</div>")
            body.append(_legend(e, scale))
        body.append(_payload_html(e.hit_payload))
        return '<div class="card">' + '<div class="card-head">' + "".join(head) + "</div>" + "".join(body) + "</div>"

    def hit_card(self, h: Any, *, rank: int) -> str:
        """A hit without explanation."""
        figs = ""
        if h.image is not None:
            figs = '<div class="figs">' + _fig(_images.data_uri(_images.thumbnail(h.image, MAX_SIDE // 2)), "hit", alt="hit") + "</div>"
        return (f'<div class="card"><div class="card-head"><span class="rank">#{rank}</span>'
                f"<span>id <code>{_esc(h.id)}</code></span><span class=\"score\">score {_num(h.score)}</span></div>"
                f"{figs}{_payload_html(h.payload)}</div>")

    def query_section(self, image: np.ndarray, name: str | None) -> str:
        return (f'<section><h2>Query{": " + _esc(name) if name else ""}</h2><div class="query">'
                + _fig(_images.data_uri(_images.thumbnail(image, MAX_SIDE)), _esc(name or "query"), alt="query")
                + "</div></section>")

    def search_section(self, s: Any, *, heading: str = "Hits") -> str:
        cards = []
        for i, h in enumerate(s.hits):
            e = s.explanations[i] if s.explanations and i < len(s.explanations) else None
            cards.append(self.pair_card(e, rank=i + 1) if e is not None else self.hit_card(h, rank=i + 1))
        extra = ""
        if s.encoder_passes is not None:
            extra = f' <span class="meta">({s.encoder_passes} encoder passes, {_num(s.seconds, 2)} s for all hits)</span>'
        return f"<section><h2>{_esc(heading)}{extra}</h2><div class=\"cards\">" + "".join(cards) + "</div></section>"

    def comparison_section(self, c: Any) -> str:
        thumb = _images.thumbnail(c.query_image, MAX_SIDE)
        scale = _images.symmetric_scale(c.query_heatmap)
        ov = _images.overlay(thumb, _images.resize_nearest(c.query_heatmap, thumb.shape[:2]), scale=scale)
        figs = [_fig(_images.data_uri(ov), "query: red favours A, blue favours B", alt="relative heatmap")]
        for tag, h in (("A", c.hit_a), ("B", c.hit_b)):
            if h.image is not None:
                figs.append(_fig(_images.data_uri(_images.thumbnail(h.image, MAX_SIDE)),
                                 f"{tag}: id {_esc(h.id)}, score {_num(h.score)}", alt=f"hit {tag}"))
        meta = (f"{_esc(c.method)} · {len(c.query_values)} query regions · {c.encoder_passes} encoder passes · "
                f"{c.seconds:.2f} s · score(A) − score(B) = {_num(c.full_value)}")
        return ('<section><h2>Why A ranks above B</h2><div class="card"><div class="card-head">'
                f'<span class="meta">{meta}</span></div><div class="figs">{"".join(figs)}</div>'
                f'<div class="legend"><span>−{scale:.3g}</span><span class="bar"></span><span>+{scale:.3g}</span></div>'
                f"{_payload_html(c.hit_a.payload)}{_payload_html(c.hit_b.payload)}</div></section>")

    def summary_section(self, summary: dict) -> str:
        rows = []
        simple = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
        for k, v in simple.items():
            if isinstance(v, float) and (k.endswith("_share") or k.endswith("_area") or k.startswith("border_share")):
                shown = f"{100 * v:.1f} %"
            else:
                shown = _num(v, 3) if isinstance(v, float) else _esc(v)
            rows.append(f"<tr><th>{_esc(k.replace('_', ' '))}</th><td>{shown}</td></tr>")
        out = ['<section><h2>Audit summary</h2><table>' + "".join(rows) + "</table>"]
        tops = summary.get("top_regions") or []
        if tops:
            out.append("<h2 style=\"margin-top:14px\">Most-attributed regions</h2><table><tr>"
                       "<th>query</th><th>hit</th><th>side</th><th>region</th><th>value</th><th>share of score</th><th>where</th></tr>")
            for t in tops:
                out.append(f"<tr><td>{_esc(t.get('query'))}</td><td>{_esc(t.get('hit'))}</td><td>{_esc(t.get('side'))}</td>"
                           f"<td>{_esc(t.get('region'))}</td><td>{_num(t.get('value'))}</td>"
                           f"<td>{_num(t.get('share'), 3)}</td><td>{_esc(t.get('where'))}</td></tr>")
            out.append("</table>")
        mism = summary.get("vector_mismatches") or []
        out.append("<h2 style=\"margin-top:14px\">Stored vector vs fresh encode</h2>")
        if mism:
            out.append("<table><tr><th>hit</th><th>id</th><th>cosine(stored, fresh)</th></tr>")
            for m in mism:
                out.append(f"<tr><td>{_esc(m.get('hit'))}</td><td>{_esc(m.get('id'))}</td><td class=\"warn\">{_num(m.get('cosine'), 5)}</td></tr>")
            out.append("</table>")
        else:
            out.append('<p class="hint">Every checked hit\'s stored vector matches a fresh encode of its image.</p>')
        out.append("</section>")
        return "".join(out)


def render_report(
    *,
    title: str,
    subtitle: str = "",
    query_image: np.ndarray | None = None,
    query_name: str | None = None,
    searches: Iterable[Any] = (),
    explanations: Iterable[Any] = (),
    comparisons: Iterable[Any] = (),
    summary: dict | None = None,
) -> str:
    """Render one self-contained HTML page.

    Args:
        title: page title (escaped).
        subtitle: a line under the title (escaped).
        query_image: (H, W, 3) uint8 shown at the top, if given.
        query_name: its label.
        searches: :class:`~qdrant_explain.results.SearchResults` to show (each with its own query
            when more than one).
        explanations: standalone :class:`~qdrant_explain.results.PairExplanation` cards.
        comparisons: :class:`~qdrant_explain.results.Comparison` sections.
        summary: audit summary dict (see :class:`~qdrant_explain.results.AuditReport`).

    Returns:
        The HTML text.
    """
    page = _Page()
    body = []
    searches = list(searches)
    if summary:
        body.append(page.summary_section(summary))
    if query_image is not None:
        body.append(page.query_section(query_image, query_name))
    for c in comparisons:
        body.append(page.comparison_section(c))
    explanations = list(explanations)
    if explanations:
        body.append('<section><h2>Explanations</h2><div class="cards">'
                    + "".join(page.pair_card(e) for e in explanations) + "</div></section>")
    for s in searches:
        same = query_image is not None and (s.query_image is query_image or (
            s.query_image.shape == query_image.shape and np.array_equal(s.query_image, query_image)))
        if not same:
            body.append(page.query_section(s.query_image, s.query_name))
        body.append(page.search_section(s, heading=getattr(s, "heading", None) or "Hits"))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = _asset("template.html")
    # substitute the data/JS last so that nothing inside them is treated as a placeholder
    for key, value in (
        ("__QE_TITLE__", _esc(title)),
        ("__QE_SUBTITLE__", _esc(subtitle + (" · " if subtitle else "") + stamp)),
        ("__QE_VERSION__", _esc(__version__)),
        ("__QE_CSS__", _asset("report.css")),
        ("__QE_BODY__", "\n".join(body)),
    ):
        text = text.replace(key, value)
    head, _, tail = text.partition("__QE_DATA__")
    tail_head, _, tail_tail = tail.partition("__QE_JS__")
    return head + _json_for_script({"panels": page.panels}) + tail_head + _asset("report.js") + tail_tail


def render_result(result: Any, *, title: str | None = None) -> str:
    """Render any result type of :mod:`qdrant_explain.results` as a self-contained page."""
    from ..results import AuditReport, Comparison, Hit, PairExplanation, SearchResults

    if isinstance(result, PairExplanation):
        sub = f"encoder {result.encoder} · {result.method} · order {result.order}"
        return render_report(title=title or "qdrant-explain: why this hit matched", subtitle=sub,
                             query_image=result.query_image, query_name=result.query_name, explanations=[result])
    if isinstance(result, SearchResults):
        sub = " · ".join(x for x in (f"collection {result.collection}" if result.collection else "",
                                     f"encoder {result.encoder}" if result.encoder else "") if x)
        return render_report(title=title or "qdrant-explain: search results", subtitle=sub,
                             query_image=result.query_image, query_name=result.query_name, searches=[result])
    if isinstance(result, Comparison):
        return render_report(title=title or "qdrant-explain: why A ranks above B", subtitle=f"encoder {result.encoder}",
                             query_image=result.query_image, query_name=result.query_name, comparisons=[result])
    if isinstance(result, AuditReport):
        return render_report(title=title or "qdrant-explain: audit", subtitle=str(result.summary.get("encoder", "")),
                             searches=result.searches, summary=result.summary)
    if isinstance(result, Hit):
        raise TypeError("A single Hit has no report; explain it first (SearchExplainer.explain).")
    raise TypeError(f"render_result expects a qdrant_explain result; got {type(result).__name__}.")


__all__ = ["MAX_SIDE", "render_report", "render_result"]
