"""The HTML report in a real headless browser (Playwright for Python driving /usr/bin/chromium).

Outside CI a missing Chromium (or Playwright) skips these tests; under ``CI=true`` it fails them, so a CI run
cannot go green without the browser checks. ``QE_CHROMIUM`` points at another Chromium binary.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from plugin_helpers import synthetic_pair
from qdrant_explain.results import Hit

CHROMIUM = os.environ.get("QE_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser]


def _missing(what: str) -> None:
    """Skip outside CI; fail under CI=true (a browser test that skips in CI proves nothing)."""
    if IN_CI:
        pytest.fail(f"CI=true but {what}; CI must run the browser tests (.ci/run installs Chromium).", pytrace=False)
    pytest.skip(what)


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"{CHROMIUM} is absent (Debian's chromium package; .ci/run installs it)")


def _browser():
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright (Python package) is not installed")
    return sync_api.sync_playwright()


def _hit_pixels(page, k: int = 0) -> str:
    return page.evaluate(f"document.querySelectorAll('.joint')[{k}].querySelector('canvas[data-side=h]').toDataURL()")


def test_report_hover_highlights_matches_and_screenshot(tmp_path, search_results):
    path = tmp_path / "report.html"
    evil = synthetic_pair(2, seed=3, payload={"title": "<img src=x onerror=alert(1)><script>alert(2)</script>"})
    search_results = replace(search_results, hits=search_results.hits + (Hit(id=9, score=0.6, payload=evil.hit_payload),),
                             explanations=search_results.explanations + (evil,))
    search_results.to_html(path)

    errors: list[str] = []
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)

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
        finally:
            browser.close()
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
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)
            before = _hit_pixels(page)
            box = page.locator(".joint canvas[data-side=q]").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            page.wait_for_function("document.querySelector('.joint').dataset.selection.startsWith('q:')")
            assert _hit_pixels(page) != before
            page.screenshot(path=str(tmp_path / "why.png"))
        finally:
            browser.close()
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
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, path in pages.items():
                page.goto(path.as_uri())
                page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)
                assert page.locator("section").count() >= 1, name
                joint_panels = page.locator(".joint").count()
                assert joint_panels == (1 if name in ("pair-synthetic-2", "pair-real-2") else
                                        {"search": 1, "audit": 2}.get(name, 0)), name
        finally:
            browser.close()
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
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(path.as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)
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
            page.goto(path.as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=15000)
            assert page.evaluate("document.querySelector('.figs img').src") != with_hatch
            assert page.locator("tr.covers-zero").count() == 0 and page.locator(".hatched-legend").count() == 0
        finally:
            browser.close()
