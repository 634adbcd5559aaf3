"""Small image helpers for results and reports: colour maps, overlays, PNG/base64.

Private: used by :mod:`qdrant_explain.results` and :mod:`qdrant_explain.report`.
Pure numpy + PIL (no matplotlib import on the report path, so reports are fast).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Diverging colour map, colour-blind safe (ColorBrewer PuOr, reversed): negative purple-blue, zero
# near-white, positive orange. Both arms keep their lightness order and stay apart under simulated
# protan-, deutan- and tritanopia (tests/plugin/test_colours.py measures it); the report's JS and CSS
# read these same stops (DIVERGING_HEX), so the HTML and the PNG outputs use one map.
_DIVERGING = np.array(
    [
        [45, 0, 75],
        [84, 39, 136],
        [128, 115, 172],
        [178, 171, 210],
        [216, 218, 235],
        [247, 247, 247],
        [254, 224, 182],
        [253, 184, 99],
        [224, 130, 20],
        [179, 88, 6],
        [127, 59, 8],
    ],
    dtype=np.float64,
)
DIVERGING_HEX = tuple("#%02x%02x%02x" % tuple(int(c) for c in row) for row in _DIVERGING)
"""The diverging map's stops, most negative first, as ``#rrggbb``."""
POSITIVE_WORD, NEGATIVE_WORD = "orange", "purple"
"""How the report names the two ends of the map."""
CROPPED_RGB = np.array([120, 120, 120], dtype=np.float64)


def diverging(t: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to (..., 3) float RGB in [0, 255] (PuOr reversed: -1 purple, 0 white, +1 orange)."""
    t = np.clip(np.nan_to_num(np.asarray(t, dtype=np.float64)), -1.0, 1.0)
    pos = (t + 1.0) / 2.0 * (len(_DIVERGING) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(_DIVERGING) - 1)
    frac = (pos - lo)[..., None]
    return _DIVERGING[lo] * (1.0 - frac) + _DIVERGING[hi] * frac


def symmetric_scale(*arrays: np.ndarray | None) -> float:
    """Largest finite |value| over the arrays (1.0 if all are zero or empty)."""
    m = 0.0
    for a in arrays:
        if a is None:
            continue
        a = np.asarray(a, dtype=np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            m = max(m, float(np.abs(finite).max()))
    return m if m > 0 else 1.0


def overlay(image: np.ndarray, heatmap: np.ndarray, *, scale: float | None = None, alpha: float = 0.6) -> np.ndarray:
    """Blend a signed heatmap (NaN = not seen by the model) over a greyed image.

    Args:
        image: (H, W, 3) uint8.
        heatmap: (H, W) floats; NaN pixels (cut away by a centre crop) are hatched grey.
        scale: value mapped to full colour; default the largest |value|.
        alpha: opacity of the colour at full scale.

    Returns:
        (H, W, 3) uint8 image.
    """
    img = np.asarray(image, dtype=np.float64)
    hm = np.asarray(heatmap, dtype=np.float64)
    if hm.shape != img.shape[:2]:
        hm = resize_nearest(hm, img.shape[:2])
    s = symmetric_scale(hm) if scale is None else float(scale) or 1.0
    grey = img.mean(axis=2, keepdims=True) * 0.55 + img * 0.25 + 255 * 0.2
    t = hm / s
    a = (alpha * np.clip(np.abs(np.nan_to_num(t)), 0.0, 1.0) ** 0.7)[..., None]
    out = grey * (1 - a) + diverging(t) * a
    nan = ~np.isfinite(hm)
    if nan.any():
        yy, xx = np.indices(hm.shape)
        stripes = ((yy + xx) // 6) % 2 == 0
        out[nan & stripes] = CROPPED_RGB
        out[nan & ~stripes] = out[nan & ~stripes] * 0.5 + CROPPED_RGB * 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def hatch(image: np.ndarray, mask: np.ndarray, *, every: int = 7) -> np.ndarray:
    """Light diagonal stripes over the pixels of ``mask`` (values whose interval covers 0).

    Args:
        image: (H, W, 3) uint8.
        mask: (H, W) bool (resized to the image when its shape differs).
        every: stripe period in pixels.

    Returns:
        (H, W, 3) uint8 copy with every ``every``-th anti-diagonal of ``mask`` whitened.
    """
    out = np.asarray(image, dtype=np.float64).copy()
    m = np.asarray(mask, dtype=bool)
    if m.shape != out.shape[:2]:
        m = resize_nearest(m, out.shape[:2])
    yy, xx = np.indices(m.shape)
    stripes = m & (((yy - xx) % every) < 2)
    out[stripes] = out[stripes] * 0.25 + 255 * 0.75
    return np.clip(out, 0, 255).astype(np.uint8)


def colorbar(height: int, scale: float, width: int = 16) -> np.ndarray:
    """A vertical (height, width, 3) uint8 colour bar from +scale (top) to -scale (bottom)."""
    t = np.linspace(1.0, -1.0, max(height, 2))[:, None].repeat(width, axis=1)
    return diverging(t).astype(np.uint8)


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W[, ...]) array to ``size`` = (h, w)."""
    arr = np.asarray(arr)
    h0, w0 = arr.shape[:2]
    h, w = int(size[0]), int(size[1])
    ys = np.minimum((np.arange(h) + 0.5) * h0 / h, h0 - 1).astype(np.int64)
    xs = np.minimum((np.arange(w) + 0.5) * w0 / w, w0 - 1).astype(np.int64)
    return arr[ys][:, xs]


def display_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """(h, w) with the longer side at most ``max_side``, aspect kept."""
    h0, w0 = int(shape[0]), int(shape[1])
    f = min(1.0, max_side / max(h0, w0))
    return max(1, round(h0 * f)), max(1, round(w0 * f))


def thumbnail(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale an (H, W, 3) uint8 image (Lanczos) so its longer side is at most ``max_side``."""
    h, w = display_size(image.shape, max_side)
    if (h, w) == image.shape[:2]:
        return np.asarray(image, dtype=np.uint8)
    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((w, h), Image.LANCZOS))


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def data_uri(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an (H, W, 3) uint8 array."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def region_index(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map a label map to region indices 0..n-1 in ascending label order (-1 stays -1).

    Returns:
        (index map of the same shape as ``labels`` with int32 values, sorted distinct labels).
    """
    lab = np.asarray(labels).astype(np.int64)
    valid = lab >= 0
    uniq = np.unique(lab[valid])
    idx = np.full(lab.shape, -1, dtype=np.int32)
    idx[valid] = np.searchsorted(uniq, lab[valid]).astype(np.int32)
    return idx, uniq


def heatmap_from_regions(index_map: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(H, W) heatmap: each pixel gets its region's value; pixels with index -1 get NaN."""
    vals = np.asarray(values, dtype=np.float64)
    out = np.full(index_map.shape, np.nan)
    ok = index_map >= 0
    out[ok] = vals[index_map[ok]]
    return out


def side_by_side(panels: list[np.ndarray], *, gap: int = 8, background: int = 255) -> np.ndarray:
    """Place (H, W, 3) uint8 panels left to right, top-aligned, on a white canvas."""
    h = max(p.shape[0] for p in panels)
    w = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    out = np.full((h, w, 3), background, dtype=np.uint8)
    x = 0
    for p in panels:
        out[: p.shape[0], x : x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def stack_rows(rows: list[np.ndarray], *, gap: int = 8, background: int = 255) -> np.ndarray:
    """Stack (H, W, 3) uint8 images top to bottom, left-aligned."""
    w = max(r.shape[1] for r in rows)
    h = sum(r.shape[0] for r in rows) + gap * (len(rows) - 1)
    out = np.full((h, w, 3), background, dtype=np.uint8)
    y = 0
    for r in rows:
        out[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + gap
    return out
