"""The text report in a real headless browser: hover a word -> its regions over the hit; hover a region ->
the words coloured by it; click pins; the sentence and top pairs are shown; no JS errors."""

from __future__ import annotations

import pytest

from plugin_helpers import chromium, open_page, synthetic_text

pytestmark = [pytest.mark.browser]


def test_text_report_hover_word_paints_regions_and_region_colours_words(tmp_path):
    path = tmp_path / "text.html"
    result = synthetic_text()
    result.to_html(path)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, path, errors, ready="textReady")
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
    assert errors == [], errors
    assert (tmp_path / "text.png").stat().st_size > 10_000
