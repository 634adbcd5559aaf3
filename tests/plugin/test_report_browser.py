"""The HTML report in a real headless browser (Playwright for Python driving /usr/bin/chromium).

Outside CI a missing Chromium (or Playwright) skips these tests; under ``CI=true`` it fails them, so a CI run
cannot go green without the browser checks. ``QE_CHROMIUM`` points at another Chromium binary.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from plugin_helpers import chromium, goto_ready, new_page, open_page, require_chromium, synthetic_pair
from qdrant_explain.results import Hit

pytestmark = [pytest.mark.browser]


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    require_chromium()


def _hit_pixels(page, k: int = 0) -> str:
    return page.evaluate(f"document.querySelectorAll('.joint')[{k}].querySelector('canvas[data-side=h]').toDataURL()")


def test_report_hover_highlights_matches_and_screenshot(tmp_path, search_results):
    path = tmp_path / "report.html"
    evil = synthetic_pair(2, seed=3, payload={"title": "<img src=x onerror=alert(1)><script>alert(2)</script>"})
    search_results = replace(search_results, hits=search_results.hits + (Hit(id=9, score=0.6, payload=evil.hit_payload),),
                             explanations=search_results.explanations + (evil,))
    search_results.to_html(path)

    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, path, errors)

        panel = page.locator(".joint").first
        hit_canvas = panel.locator("canvas[data-side=h]")
        query_canvas = panel.locator("canvas[data-side=q]")
        assert hit_canvas.get_attribute("data-shows") == "singletons"
        before = _hit_pixels(page)

        box = query_canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.wait_for_function("document.querySelector('.joint').dataset.selection.startsWith('q:')")
        shows_a = hit_canvas.get_attribute("data-shows")
        after_a = _hit_pixels(page)
        assert shows_a.startswith("row-")
        assert after_a != before, "hovering a query region did not change the hit canvas"

        # another query region -> a different highlight in the hit
        page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.85)
        page.wait_for_function(f"document.querySelector('.joint canvas[data-side=h]').dataset.shows !== '{shows_a}'")
        assert _hit_pixels(page) != after_a

        # the reverse: hovering the hit repaints the query
        q_before = page.evaluate("document.querySelector('.joint canvas[data-side=q]').toDataURL()")
        hbox = hit_canvas.bounding_box()
        page.mouse.move(hbox["x"] + hbox["width"] * 0.3, hbox["y"] + hbox["height"] * 0.3)
        page.wait_for_function("document.querySelector('.joint').dataset.selection.startsWith('h:')")
        assert query_canvas.get_attribute("data-shows").startswith("col-")
        assert page.evaluate("document.querySelector('.joint canvas[data-side=q]').toDataURL()") != q_before

        # click pins the selection; leaving the canvas keeps it
        page.mouse.click(hbox["x"] + hbox["width"] * 0.3, hbox["y"] + hbox["height"] * 0.3)
        page.mouse.move(5, 5)
        assert page.locator(".joint").first.get_attribute("data-selection").startswith("h:")

        # payload markup is shown as text, never executed
        assert page.locator("text=<script>alert(2)</script>").count() >= 1
        assert page.locator("img[src=x]").count() == 0

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    assert errors == [], errors


def test_real_joint_report_from_the_cli(tmp_path, indexed):
    """A report made by `explain --order 2` on a real collection behaves the same in the browser."""
    import json

    from click.testing import CliRunner

    from qdrant_explain.cli import main

    runner = CliRunner()
    args = ["--collection", "photos", "--db", str(indexed["db"])]
    hits = json.loads(runner.invoke(main, ["search", str(indexed["query"]), *args, "-k", "1", "--json", "-"]).stdout)["hits"]
    html = tmp_path / "why.html"
    out = runner.invoke(main, ["explain", str(indexed["query"]), "--point-id", str(hits[0]["id"]), *args, "--order", "2",
                               "--players", "grid:3x3", "--html", str(html), "--quiet"])
    assert out.exit_code == 0, out.output
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, html, errors, width=1000, height=800)
        before = _hit_pixels(page)
        box = page.locator(".joint canvas[data-side=q]").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.wait_for_function("document.querySelector('.joint').dataset.selection.startsWith('q:')")
        assert _hit_pixels(page) != before
        page.screenshot(path=str(tmp_path / "why.png"))
    assert errors == [], errors
    assert (tmp_path / "why.png").stat().st_size > 5_000


def test_every_result_page_loads_without_errors(tmp_path):
    """Each result type's own layout (hit, pair, search, comparison, audit) renders and runs its JS cleanly."""
    from test_results import every_result

    pages = {}
    for name, result in every_result().items():
        pages[name] = tmp_path / f"{name}.html"
        result.to_html(pages[name])
    errors: list[str] = []
    with chromium() as browser:
        page = new_page(browser, errors, width=1000, height=800)
        for name, path in pages.items():
            goto_ready(page, path)
            assert page.locator("section").count() >= 1, name
            joint_panels = page.locator(".joint").count()
            assert joint_panels == (1 if name in ("pair-synthetic-2", "pair-real-2") else
                                    {"search": 1, "audit": 2}.get(name, 0)), name
    assert errors == [], errors


def test_report_greys_and_explains_values_whose_interval_covers_zero(tmp_path):
    import numpy as np

    e = synthetic_pair(1, seed=4)
    se = np.full(12, 1e-6)
    big = np.argsort(np.abs(e.query_values))[-2:]
    se[big] = 1.0  # the two largest query values: their 95 % intervals cover 0
    e = replace(e, query_values_stderr=se, hit_values_stderr=np.full(9, 1e-6), stderr_dof={"query": 30.0})
    path = tmp_path / "intervals.html"
    e.to_html(path)
    with chromium() as browser:
        page = open_page(browser, path)
        rows = page.locator("table.intervals[data-which=query] tr.covers-zero")
        assert rows.count() == 2
        assert "interval covers 0" in rows.first.get_attribute("title")
        opacity = float(page.evaluate("getComputedStyle(document.querySelector('tr.covers-zero')).opacity"))
        plain = float(page.evaluate(
            "getComputedStyle(document.querySelector('table.intervals tr:not(.covers-zero):nth-child(n+2)')).opacity"))
        assert opacity < 0.8 and plain == 1.0  # greyed, the others not
        assert page.locator(".hatched-legend").is_visible()
        assert page.locator("table.intervals[data-which=hit] tr.covers-zero").count() == 0
        # the hatch is drawn on the query overlay: its pixels differ from the same report without errors
        with_hatch = page.evaluate("document.querySelector('.figs img').src")
        replace(e, query_values_stderr=None, hit_values_stderr=None, stderr_dof={}).to_html(path)
        goto_ready(page, path)
        assert page.evaluate("document.querySelector('.figs img').src") != with_hatch
        assert page.locator("tr.covers-zero").count() == 0 and page.locator(".hatched-legend").count() == 0
