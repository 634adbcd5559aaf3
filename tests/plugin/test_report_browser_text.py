"""The text report in a real headless browser: hover a word -> its regions over the hit; hover a region ->
the words coloured by it; click pins; the sentence and top pairs are shown; no JS errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qdrant_explain.explainers.words import split_words
from qdrant_explain.text_results import TextExplanation

from plugin_helpers import grid_labels

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (Debian's chromium package; .ci/run installs it)"),
]


def synthetic_text(order: int = 2) -> TextExplanation:
    """A word x region explanation with known values: word k matches region k (no model involved)."""
    words = split_words("a red <b>bicycle</b> near two cats")
    n = words.n_players
    yy, xx = np.mgrid[0:120, 0:160]
    img = np.stack([xx * 255 // 160, yy * 255 // 120, 128 + 0 * xx], axis=2).astype(np.uint8)
    labels = grid_labels(120, 160, 2, 4)
    cross = np.full((n, 8), -0.001) + np.eye(n, 8) * 0.05 if order == 2 else None
    return TextExplanation(text=words.text, words=words, word_values=np.linspace(-0.02, 0.04, n),
                           hit_values=np.linspace(0.03, -0.01, 8), cross=cross, hit_image=img, hit_labels=labels,
                           base_value=0.1, full_value=0.3, order=order, method="exact", encoder="tiny", seed=0,
                           text_passes=2**n, image_passes=256, score=0.3, hit_id=4, hit_payload={"path": "x.png"})


def test_text_report_hover_word_paints_regions_and_region_colours_words(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")
    path = tmp_path / "text.html"
    result = synthetic_text()
    result.to_html(path)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_function("document.body.dataset.textReady === '1'", timeout=15000)
            panel = page.locator(".text-joint").first
            canvas = panel.locator("canvas[data-side=h]")
            pixels = "document.querySelector('.text-joint canvas[data-side=h]').toDataURL()"
            assert canvas.get_attribute("data-shows") == "singletons"
            # the sentence: every word a span, markup in the text shown as text
            assert panel.locator("span.word").count() == result.n_words
            assert page.locator("b").count() == 0 and "<b>bicycle</b>" not in page.content().split("<main>")[0]
            before = page.evaluate(pixels)

            # hover word 3 ("bicycle") -> its row over the hit
            panel.locator("span.word[data-word='3']").hover()
            page.wait_for_function("document.querySelector('.text-joint').dataset.selection === 'w:3'")
            assert canvas.get_attribute("data-shows") == "row-3"
            after = page.evaluate(pixels)
            assert after != before
            assert "bicycle" in panel.locator(".status").inner_text() and "#3" in panel.locator(".status").inner_text()
            panel.locator("span.word[data-word='1']").hover()
            page.wait_for_function("document.querySelector('.text-joint').dataset.selection === 'w:1'")
            assert page.evaluate(pixels) != after

            # hover a region -> the words coloured by its column; region 1 is word 1's ("red")
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * (1.5 / 4), box["y"] + box["height"] * 0.25)
            page.wait_for_function("document.querySelector('.text-joint').dataset.selection === 'h:1'")
            assert panel.get_attribute("data-words") == "col-1"
            colours = panel.locator("span.word").evaluate_all("els => els.map(e => e.style.background)")
            assert len(set(colours)) == 2  # word 1 red, the others the same faint blue
            assert "red" in panel.locator(".status").inner_text()

            # click pins; leaving keeps the selection
            page.mouse.click(box["x"] + box["width"] * (1.5 / 4), box["y"] + box["height"] * 0.25)
            page.mouse.move(5, 5)
            assert panel.get_attribute("data-selection") == "h:1"

            # top pairs listed
            assert panel.locator("table.pairs tr").count() == 6
            page.screenshot(path=str(tmp_path / "text.png"), full_page=True)
        finally:
            browser.close()
    assert errors == [], errors
    assert (tmp_path / "text.png").stat().st_size > 10_000
