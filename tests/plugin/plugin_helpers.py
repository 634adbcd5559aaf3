"""Shared helpers of the product tests (a module with a unique name: ``from conftest import ...`` picks
whichever conftest.py was imported last when several test folders run together)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest

from qdrant_explain._testing import OTHER_SPEC, SPEC
from qdrant_explain.results import PairExplanation

TINY = SPEC
"""Encoder spec of the tiny random test encoder."""
OTHER = OTHER_SPEC


def _smooth_image(rng: np.random.Generator, h: int = 72, w: int = 96) -> np.ndarray:
    """A random smooth RGB 'photo' (upsampled noise) as uint8."""
    from PIL import Image

    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


def grid_labels(h: int, w: int, rows: int, cols: int, *, crop: int = 0) -> np.ndarray:
    """(h, w) label map of a rows x cols grid; the first/last ``crop`` columns are -1 (cut away)."""
    ys = np.minimum(np.arange(h) * rows // h, rows - 1)
    xs = np.minimum(np.arange(w) * cols // w, cols - 1)
    lab = ys[:, None] * cols + xs[None, :]
    if crop:
        lab = lab.copy()
        lab[:, :crop] = -1
        lab[:, w - crop:] = -1
    return lab


def synthetic_pair(order: int = 2, seed: int = 0, payload: dict | None = None) -> PairExplanation:
    """A joint explanation with random values on smooth synthetic images (no model involved)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:120, 0:160]
    q = np.stack([xx * 255 // 160, yy * 255 // 120, 128 + 0 * xx], axis=2).astype(np.uint8)
    h = np.stack([255 - xx[:, :120] * 2, yy[:, :120] * 2, 60 + 0 * yy[:, :120]], axis=2).clip(0, 255).astype(np.uint8)
    ql = grid_labels(120, 160, 3, 4, crop=10)
    hl = grid_labels(120, 120, 3, 3)
    nq, nh = 12, 9
    cross = rng.normal(size=(nq, nh)) * 0.01 if order == 2 else None
    return PairExplanation(
        query_image=q, hit_image=h, query_labels=ql, hit_labels=hl,
        query_values=rng.normal(size=nq) * 0.05, hit_values=rng.normal(size=nh) * 0.05, cross=cross,
        base_value=0.1, full_value=0.8, method="exact" if order == 2 else "kernel-shap", order=order,
        encoder="tiny-random", seed=seed, encoder_passes=4096 + 512 if order == 2 else 300, seconds=1.25,
        score=0.8, hit_id=7, hit_payload=payload if payload is not None else {"path": "cat.png"}, budget=None,
        baseline="blur", query_name="query.png",
    )


def synthetic_text(order: int = 2):
    """A word x region explanation with known values: word k matches region k (no model involved)."""
    from qdrant_explain.explainers.words import split_words
    from qdrant_explain.text_results import TextExplanation

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


# ----------------------------------------------------------------------------- a real browser

CHROMIUM = os.environ.get("QE_CHROMIUM", "/usr/bin/chromium")
"""The Chromium the browser tests drive (Debian's package; ``.ci/run`` installs it)."""
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


def browser_missing(what: str) -> None:
    """Skip outside CI; fail under CI=true (a browser test that skips in CI proves nothing)."""
    if IN_CI:
        pytest.fail(f"CI=true but {what}; CI must run the browser tests (.ci/run installs Chromium).", pytrace=False)
    pytest.skip(what)


def require_chromium() -> None:
    """:func:`browser_missing` when :data:`CHROMIUM` is not an executable file."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        browser_missing(f"{CHROMIUM} is absent (Debian's chromium package; .ci/run installs it)")


@contextmanager
def chromium():
    """A headless Chromium through Playwright, closed on exit (:func:`browser_missing` without either)."""
    require_chromium()
    try:
        from playwright import sync_api
    except ImportError:
        browser_missing("playwright (Python package) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, errors: list[str] | None = None, *, width: int = 1200, height: int = 900):
    """A page of ``browser``; console errors, page errors and dialogs go to ``errors`` (when given)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    if errors is not None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    return page


def open_page(browser, path, errors: list[str] | None = None, *, width: int = 1200, height: int = 900,
              ready: str = "ready"):
    """:func:`new_page` at ``path``, once its script is ready (:func:`goto_ready`)."""
    page = new_page(browser, errors, width=width, height=height)
    goto_ready(page, path, ready)
    return page


def goto_ready(page, path, ready: str = "ready") -> None:
    """Load ``path`` in ``page`` and wait for its script (``document.body.dataset[ready] === '1'``)."""
    page.goto(path.as_uri())
    page.wait_for_function(f"document.body.dataset.{ready} === '1'", timeout=15000)
