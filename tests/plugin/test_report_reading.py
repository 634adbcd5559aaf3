"""The report a person reads (issue 18), in a real headless browser: the summary sentence, the region
numbers where the regions are, lines between the strongest query<->hit pairs, the threshold slider,
hover text on every number, a phone-width layout, and axe-core's accessibility check."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from plugin_helpers import chromium, open_page, synthetic_pair
from qdrant_explain.report.sections import MAX_LINES, TOP_LINES, region_anchors, strongest_pairs
from qdrant_explain.results import Hit, SearchResults


# ----------------------------------------------------------------------------- pure parts (no browser)


def test_anchors_lie_inside_their_regions_even_when_not_convex():
    idx = np.zeros((40, 40), dtype=np.int32)
    idx[:, 20:] = 1
    idx[10:30, 5:35] = 2  # region 0 and 1 become U shapes whose centroids fall outside them
    idx[:, :2] = -1
    anchors = region_anchors(idx, 4)
    for k, (x, y) in enumerate(anchors[:3]):
        assert idx[int(y), int(x)] == k, (k, x, y)
    assert anchors[3] == [-1.0, -1.0]  # a region without a visible pixel gets no number


def test_strongest_pairs_by_magnitude_with_shares():
    cross = np.array([[0.1, -0.4], [0.05, 0.2]])
    pairs = strongest_pairs(cross, base_value=0.0, full_value=0.8, k=3)
    assert [p[:2] for p in pairs] == [[0, 1], [1, 1], [0, 0]]
    assert pairs[0][2] == -0.4 and pairs[0][3] == pytest.approx(-0.5)
    assert strongest_pairs(cross, base_value=0.9, full_value=0.8)[0][3] is None  # no shares when base >= full


# ----------------------------------------------------------------------------- in the browser


def _results() -> SearchResults:
    a, b = synthetic_pair(2, seed=1), synthetic_pair(1, seed=2)
    hits = [Hit(id=7, score=0.8, payload={"path": "a.png"}), Hit(id=8, score=0.7, payload={"path": "b.png"})]
    return SearchResults(query_image=a.query_image, hits=hits, explanations=[a, b], query_name="q.png",
                         encoder="tiny-random", collection="photos")


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _slide(page, panel: int, t: float) -> None:
    page.evaluate("([k, t]) => { const i = document.querySelectorAll('.threshold input')[k]; i.value = String(t);"
                  " i.dispatchEvent(new Event('input')); }", [panel, t])


@pytest.mark.browser
def test_summary_numbers_lines_and_slider(tmp_path, browser):
    results = _results()
    joint, first = results.explanations
    path = tmp_path / "report.html"
    results.to_html(path)
    errors: list[str] = []
    page = open_page(browser, path, errors, width=1200)
    try:
        # the summary sentence of each card, as the result says it
        assert page.locator(".summary").all_inner_texts() == [joint.summary, first.summary]

        # the regions the summary names carry that number on the image, at a pixel of that region
        i, j = (int(x) for x in re.search(r"query region (\d+).*hit region (\d+)", joint.summary).groups())
        for side, k, n in (("q", i, joint.cross.shape[0]), ("h", j, joint.cross.shape[1])):
            numbers = page.locator(f".joint .stage:has(canvas[data-side={side}]) .rn")
            assert numbers.count() == n
            assert numbers.nth(k).locator("text").text_content() == str(k)
            at_region = page.evaluate(
                "([side, k]) => { const p = document.querySelector('.joint').qePanel, s = side === 'q' ? p.q : p.h;"
                " const c = document.querySelectorAll(`.joint .stage:has(canvas[data-side=${side}]) .rn circle`)[k];"
                " const x = Math.floor(+c.getAttribute('cx')), y = Math.floor(+c.getAttribute('cy'));"
                " return s.labels[y * s.w + x]; }", [side, k])
            assert at_region == k
            title = numbers.nth(k).locator("title").text_content()
            assert title.startswith(f"{'query' if side == 'q' else 'hit'} region {k} (") and "% of the score" in title

        # lines join the 5 strongest pairs, from a query region's number to a hit region's number
        lines = page.locator(".joint svg.pair-lines line.pair-line")
        assert lines.count() == TOP_LINES
        top = strongest_pairs(joint.cross, joint.base_value, joint.full_value)
        assert lines.first.get_attribute("data-pair") == f"{top[0][0]}-{top[0][1]}"
        qbox = page.locator(".joint canvas[data-side=q]").bounding_box()
        hbox = page.locator(".joint canvas[data-side=h]").bounding_box()
        figs = page.locator(".joint .figs").bounding_box()
        for n in range(TOP_LINES):
            x1, y1, x2, y2 = (float(lines.nth(n).get_attribute(a)) for a in ("x1", "y1", "x2", "y2"))
            assert qbox["x"] <= figs["x"] + x1 <= qbox["x"] + qbox["width"]
            assert qbox["y"] <= figs["y"] + y1 <= qbox["y"] + qbox["height"]
            assert hbox["x"] <= figs["x"] + x2 <= hbox["x"] + hbox["width"]
            assert hbox["y"] <= figs["y"] + y2 <= hbox["y"] + hbox["height"]
        assert "pair value" in lines.first.locator("title").text_content()

        # the slider: t = 0 shows every pair (up to MAX_LINES), a high t keeps only the strongest
        _slide(page, 0, 0.0)
        assert lines.count() == min(MAX_LINES, int(np.count_nonzero(joint.cross)))
        _slide(page, 0, abs(top[0][2]) * 0.999)
        assert lines.count() == 1
        assert page.locator(".threshold output").first.inner_text() == f"{abs(top[0][2]) * 0.999:.3g}"
        faded = page.locator(".joint .rn.faded").count()
        expected = int(np.sum(np.abs(joint.query_values) < abs(top[0][2]) * 0.999)
                       + np.sum(np.abs(joint.hit_values) < abs(top[0][2]) * 0.999))
        assert faded == expected

        # order 1: numbers on both heatmaps; the slider fades regions under t and repaints the veil
        sal = page.locator(".saliency")
        assert sal.locator(".rn").count() == len(first.query_values) + len(first.hit_values)
        allv = np.abs(np.concatenate([first.query_values, first.hit_values]))
        assert sal.get_attribute("data-shown") == str(allv.size)
        veil = "document.querySelector('.saliency canvas.veil').toDataURL()"
        before = page.evaluate(veil)
        t = float(np.mean(np.sort(allv)[allv.size // 2: allv.size // 2 + 2]))  # between two values
        _slide(page, 1, t)
        assert sal.get_attribute("data-shown") == str(int(np.sum(allv >= t)))
        assert page.evaluate(veil) != before
        # hovering a region tells its value and share
        box = sal.locator("canvas.veil").first.bounding_box()
        page.mouse.move(box["x"] + 2 + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
        assert re.search(r"Query region \d+ \(.*\): Shapley value [+\u2212][0-9.]+, \d+ % of the score",
                         sal.locator(".status").inner_text())
        # the provenance line and the score explain themselves on hover
        assert "full − base" in page.locator(".card-head .meta").first.get_attribute("title")
        assert page.locator(".card-head .score").first.get_attribute("title")
    finally:
        page.close()
    assert errors == [], errors


@pytest.mark.browser
def test_phone_width_layout(tmp_path, browser):
    """At 375 px (a phone) nothing overflows sideways, the images shrink, and the lines follow them."""
    path = tmp_path / "report.html"
    _results().to_html(path)
    errors: list[str] = []
    page = open_page(browser, path, errors, width=375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        for sel in (".joint canvas[data-side=q]", ".joint canvas[data-side=h]", ".saliency img"):
            box = page.locator(sel).first.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, sel
        line = page.locator(".joint line.pair-line").first
        hbox = page.locator(".joint canvas[data-side=h]").bounding_box()
        figs = page.locator(".joint .figs").bounding_box()
        x2, y2 = float(line.get_attribute("x2")), float(line.get_attribute("y2"))
        assert hbox["x"] <= figs["x"] + x2 <= hbox["x"] + hbox["width"]
        assert hbox["y"] <= figs["y"] + y2 <= hbox["y"] + hbox["height"]
    finally:
        page.close()
    assert errors == [], errors


@pytest.mark.browser
@pytest.mark.parametrize("width", [1200, 375])
def test_axe_finds_no_serious_or_critical_violation(tmp_path, browser, width):
    """axe-core (bundled by the axe-playwright-python test dependency) on a report with both panel kinds."""
    axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright",
                                  reason="axe-playwright-python is not installed (pip install -e '.[test]')")
    path = tmp_path / "report.html"
    _results().to_html(path)
    errors: list[str] = []
    page = open_page(browser, path, errors, width=width)
    try:
        results = axe_mod.Axe().run(page)
        violations = results.response["violations"]
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
        assert bad == [], json.dumps(bad, indent=1)
        assert results.response["testEngine"]["name"] == "axe-core"  # axe really ran on the page
    finally:
        page.close()
    assert errors == [], errors

