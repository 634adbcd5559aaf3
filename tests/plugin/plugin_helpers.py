"""Shared helpers of the product tests (a module with a unique name: ``from conftest import ...`` picks
whichever conftest.py was imported last when several test folders run together)."""

from __future__ import annotations

import numpy as np

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
