"""Self-contained HTML reports: one file, images inlined as base64 PNG, a little JS, no network.

A page is a list of typed sections (:mod:`qdrant_explain.report.sections`). Every result of
:mod:`qdrant_explain.results` declares its own page (``result.report_layout()``) and its part of a
larger page (``result.report_sections()``); :func:`render_layout` draws sections and never asks
which result class it got. :func:`render_result` renders one result, :func:`render_report`
composes several (query, hits, comparisons, audit summary) into one page. All payload and
file-name text is HTML-escaped; the data blob for the JS is JSON with ``<``, ``>`` and ``&``
escaped, so a payload cannot close the script tag.
"""

from __future__ import annotations

import datetime as _dt
import json
from importlib import resources
from typing import Any, Iterable

import numpy as np

from .. import __version__, _images
from .sections import MAX_SIDE, Layout, Page, QuerySection, Section, SummarySection, esc, tidy


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _sections_of(result: Any) -> tuple[Section, ...]:
    sections = getattr(result, "report_sections", None)
    if not callable(sections):
        raise TypeError(f"a report shows qdrant_explain results (objects with report_sections()); "
                        f"got {type(result).__name__}.")
    return tuple(sections())


def render_layout(layout: Layout, *, title: str | None = None, shown_query: QuerySection | None = None) -> str:
    """Render a :class:`~qdrant_explain.report.sections.Layout` as one self-contained HTML page.

    Args:
        layout: title, subtitle and sections in page order.
        title: overrides ``layout.title`` (escaped).
        shown_query: a query section already among the sections (later copies of it are dropped).

    Returns:
        The HTML text.
    """
    page = Page()
    body = [s.render(page) for s in tidy(list(layout.sections), shown_query=shown_query)]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = layout.subtitle
    text = _asset("template.html")
    # substitute the data/JS last so that nothing inside them is treated as a placeholder
    for key, value in (
        ("__QE_TITLE__", esc(title or layout.title)),
        ("__QE_SUBTITLE__", esc(subtitle + (" · " if subtitle else "") + stamp)),
        ("__QE_VERSION__", esc(__version__)),
        ("__QE_CSS__", _asset("report.css")),
        ("__QE_BODY__", "\n".join(b for b in body if b)),
    ):
        text = text.replace(key, value)
    head, _, tail = text.partition("__QE_DATA__")
    tail_head, _, tail_tail = tail.partition("__QE_JS__")
    return head + _json_for_script({"panels": page.panels, "cmap": list(_images.DIVERGING_HEX)}) + tail_head + _asset("report.js") + _asset("report_text.js") + tail_tail


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
    results: Iterable[Any] = (),
) -> str:
    """Render several results as one self-contained HTML page.

    The page shows, in order: the audit ``summary``, the query, the ``comparisons``, the
    ``explanations``, the ``searches``, then any other ``results``; each result contributes its
    own sections (``result.report_sections()``), a query already shown is not repeated, and
    neighbouring cards under one heading share a section.

    Args:
        title: page title (escaped).
        subtitle: a line under the title (escaped).
        query_image: (H, W, 3) uint8 shown at the top, if given.
        query_name: its label.
        searches: :class:`~qdrant_explain.results.SearchResults` to show (each with its own query
            when it differs from the one above).
        explanations: standalone :class:`~qdrant_explain.results.PairExplanation` cards.
        comparisons: :class:`~qdrant_explain.results.Comparison` sections.
        summary: audit summary dict (see :class:`~qdrant_explain.results.AuditReport`).
        results: any further results (e.g. an :class:`~qdrant_explain.results.AuditReport`).

    Returns:
        The HTML text.

    Raises:
        TypeError: an object that is not a result (has no ``report_sections()``).
    """
    sections: list[Section] = []
    if summary:
        sections.append(SummarySection(summary=summary))
    if query_image is not None:
        sections.append(QuerySection(image=np.asarray(query_image), name=query_name))
    for group in (comparisons, explanations, searches, results):
        for r in group:
            sections.extend(_sections_of(r))
    return render_layout(Layout(title=title, subtitle=subtitle, sections=tuple(sections)))


def render_result(result: Any, *, title: str | None = None) -> str:
    """Render one result of :mod:`qdrant_explain.results` as a self-contained page (its own layout).

    Args:
        result: any object with ``report_layout()`` (every result type has one).
        title: overrides the result's title.

    Returns:
        The HTML text.

    Raises:
        TypeError: ``result`` is not a result.
    """
    layout = getattr(result, "report_layout", None)
    if not callable(layout):
        raise TypeError(f"render_result expects a qdrant_explain result (with report_layout()); "
                        f"got {type(result).__name__}.")
    return render_layout(layout(), title=title)


__all__ = ["MAX_SIDE", "render_layout", "render_report", "render_result"]
