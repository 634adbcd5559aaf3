"""Report sections of a collection-scale audit: intervals, histograms, recurring regions, drill-down.

An :class:`~qdrant_explain.results.AuditReport` whose summary holds ``intervals`` (made by
:func:`qdrant_explain.scale.run_audit`) shows, in order: the statistics with their confidence
intervals, the summary tables, the histograms over queries, where the top regions recur and
which hits recur, the worst offenders with their maps, and the drill-down list of queries.
Plots are inline SVG (no script, no network).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .sections import Page, Section, esc, num

_NAMES = {
    "border_share": "share of the attribution in the border band",
    "object_share": "share of the attribution on the largest object",
    "stale_rate": "stored vectors that disagree with a fresh encode",
    "stability": "stability: heatmap correlation across two seeds",
    "border_area": "share of the pixels in the border band (uniform attribution)",
    "object_area": "share of the pixels on the largest object (uniform attribution)",
}


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.1f} %"


def _value(name: str, v: Any) -> str:
    return num(v, 3) if name == "stability" else _pct(v)


@dataclass(frozen=True, eq=False)
class IntervalsSection(Section):
    """The audit statistics with their intervals, the stopping rule and what ran the audit."""

    summary: Mapping = field(default_factory=dict)

    def render(self, page: Page) -> str:
        """``<section>`` with one row per statistic."""
        s = self.summary
        level = int(round(100 * float(s.get("level", 0.95))))
        rows = []
        for name, iv in (s.get("intervals") or {}).items():
            if iv.get("low") is None:
                interval = "not yet defined" if iv.get("estimate") is not None else "no data"
            else:
                interval = f"[{_value(name, iv['low'])}, {_value(name, iv['high'])}]"
            width = "–" if iv.get("width") is None else num(iv["width"], 3)
            target = s.get("ci_width")
            cls = ' class="warn"' if target and iv.get("width") is not None and iv["width"] > target else ""
            rows.append(f"<tr><th>{esc(_NAMES.get(name, name))}</th><td>{_value(name, iv.get('estimate'))}</td>"
                        f"<td>{interval}</td><td{cls}>{width}</td><td>{esc(iv.get('n'))}</td>"
                        f"<td>{esc(iv.get('method'))}</td></tr>")
        rule = ""
        if s.get("ci_width"):
            rule = (f"<p class=\"hint\">Stopping rule: every interval at most {num(s['ci_width'], 3)} wide after at "
                    f"least the minimum of queries; {'met' if s.get('stopped_early') else 'not met before the source ran out'}"
                    f" with {esc(s.get('queries'))} of {esc(s.get('planned_queries'))} planned queries.</p>")
        ran = (f"<p class=\"hint\">{esc(s.get('queries'))} queries explained ({esc(s.get('resumed', 0))} resumed from an "
               f"earlier run), {esc(s.get('encoder_passes'))} encoder passes ({num(s.get('passes_per_query'), 1)} per "
               f"query) + {esc(s.get('stability_passes', 0))} for stability, on {esc(s.get('workers'))} "
               f"{esc(s.get('engine'))} worker(s).</p>")
        return (f"<section><h2>Audit statistics ({level} % intervals over queries)</h2><table><tr><th>statistic</th>"
                "<th>estimate</th><th>interval</th><th>width</th><th>queries</th><th>method</th></tr>"
                + "".join(rows) + "</table>" + rule + ran + "</section>")


def _svg_histogram(h: Mapping, label: str) -> str:
    counts, edges = list(h["counts"]), list(h["edges"])
    top = max(counts) or 1
    width, height, pad = 320, 120, 18
    bw = (width - 2 * pad) / len(counts)
    bars = []
    for i, c in enumerate(counts):
        bh = (height - 2 * pad) * c / top
        bars.append(f'<rect x="{pad + i * bw:.1f}" y="{height - pad - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
                    f'height="{bh:.1f}" fill="#c0392b"><title>{edges[i]:.3g} to {edges[i + 1]:.3g}: {c}</title></rect>')
    axis = (f'<text x="{pad}" y="{height - 3}" font-size="10">{edges[0]:.2g}</text>'
            f'<text x="{width - pad}" y="{height - 3}" font-size="10" text-anchor="end">{edges[-1]:.2g}</text>'
            f'<text x="{pad}" y="11" font-size="10">{top} queries</text>')
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{esc(label)}">{"".join(bars)}{axis}</svg><figcaption>{esc(label)} '
            f'({esc(h.get("n"))} queries)</figcaption></figure>')


@dataclass(frozen=True, eq=False)
class HistogramsSection(Section):
    """Histograms over queries of the per-query border share, object share and stability."""

    summary: Mapping = field(default_factory=dict)

    def render(self, page: Page) -> str:
        """``<section>`` with one SVG histogram per statistic that has data."""
        figs = [_svg_histogram(h, _NAMES.get(k, k)) for k, h in (self.summary.get("histograms") or {}).items() if h]
        if not figs:
            return ""
        return '<section><h2>Over queries</h2><div class="figs">' + "".join(figs) + "</div></section>"


@dataclass(frozen=True, eq=False)
class RecurringSection(Section):
    """Where the top region of an explanation lies most often, and the hits that come back for many queries."""

    summary: Mapping = field(default_factory=dict)

    def render(self, page: Page) -> str:
        """``<section>`` with the two tables."""
        cells = self.summary.get("recurring_cells") or []
        hits = self.summary.get("recurring_hits") or []
        if not cells and not hits:
            return ""
        out = ["<section><h2>Recurring regions</h2>"]
        if cells:
            out.append("<table><tr><th>side</th><th>where the top region lies</th><th>share of explanations</th>"
                       "<th>interval</th><th>count</th></tr>")
            for c in cells:
                iv = "–" if c.get("low") is None else f"[{_pct(c['low'])}, {_pct(c['high'])}]"
                out.append(f"<tr><td>{esc(c.get('side'))}</td><td>{esc(c.get('cell'))}</td>"
                           f"<td>{_pct(c.get('estimate'))}</td><td>{iv}</td><td>{esc(c.get('count'))}</td></tr>")
            out.append("</table>")
        if hits:
            out.append("<h2 style=\"margin-top:14px\">Hits that come back for many queries</h2><table><tr><th>id</th>"
                       "<th>queries</th><th>share of queries</th></tr>")
            for h in hits:
                out.append(f"<tr><td>{esc(h.get('id'))}</td><td>{esc(h.get('queries'))}</td>"
                           f"<td>{_pct(h.get('share'))}</td></tr>")
            out.append("</table>")
        out.append("</section>")
        return "".join(out)


@dataclass(frozen=True, eq=False)
class HeadingSection(Section):
    """A heading and a line of text between sections."""

    title: str = ""
    text: str = ""

    def render(self, page: Page) -> str:
        """``<section>`` with the heading."""
        return f"<section><h2>{esc(self.title)}</h2><p class=\"hint\">{esc(self.text)}</p></section>"


@dataclass(frozen=True, eq=False)
class DrillDownSection(Section):
    """Every query (the highest border share first) with its numbers."""

    summary: Mapping = field(default_factory=dict)

    def render(self, page: Page) -> str:
        """``<section>`` with the table."""
        rows = self.summary.get("drilldown") or []
        if not rows:
            return ""
        out = [f"<section><h2>All queries ({len(rows)} shown, highest border share first; queries.parquet has every "
               "row)</h2><table><tr><th>query</th><th>border share</th><th>object share</th><th>stale / checked</th>"
               "<th>stability</th><th>encoder passes</th><th>seconds</th></tr>"]
        for r in rows:
            stale = f"{esc(r.get('stale'))} / {esc(r.get('checked'))}"
            cls = ' class="warn"' if r.get("stale") else ""
            out.append(f"<tr><td title=\"{esc(r.get('key'))}\">{esc(r.get('name'))}</td><td>{_pct(r.get('border_share'))}"
                       f"</td><td>{_pct(r.get('object_share'))}</td><td{cls}>{stale}</td><td>{num(r.get('stability'), 3)}"
                       f"</td><td>{esc(r.get('passes'))}</td><td>{num(r.get('seconds'), 2)}</td></tr>")
        out.append("</table></section>")
        return "".join(out)


def audit_sections(summary: Mapping, summary_section: Section, searches: tuple, search_sections: list) -> list:
    """The page of an audit: with ``intervals`` in the summary the scale layout, else the summary and the searches."""
    if "intervals" not in summary:
        return [summary_section, *search_sections]
    out: list[Section] = [IntervalsSection(summary=summary), summary_section, HistogramsSection(summary=summary),
                          RecurringSection(summary=summary)]
    if search_sections:
        small = len(searches) >= int(summary.get("queries") or 0)
        out.append(HeadingSection(
            title="Every query with its maps" if small else "Worst offenders with their maps",
            text="" if small else "The queries with the highest border share, those with a stale stored vector "
                                  "and the least stable ones."))
        out.extend(search_sections)
    out.append(DrillDownSection(summary=summary))
    return out


__all__ = ["DrillDownSection", "HeadingSection", "HistogramsSection", "IntervalsSection", "RecurringSection",
           "audit_sections"]
