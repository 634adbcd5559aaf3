"""Baselines for removed regions and masked batches built directly with numpy.

A coalition keeps its players' pixels and replaces every other player's pixels
by the *baseline* image (same size, model space). Baselines:

- ``"blur"`` (default) / ``"blur:SIGMA"``: a strong Gaussian blur of the image
  itself, which removes the region's detail while keeping the global colour
  layout, so masked images stay close to natural images;
- ``"mean"``: the image's mean colour;
- ``"gray"`` / ``"grey"``: mid grey (128, 128, 128), the same everywhere;
- ``"constant"`` / ``"constant:R,G,B"`` / an (R, G, B) tuple: one colour
  (default: open_clip's normalisation mean, which the encoder maps to zero);
- a callable ``f(pixels (H, W, 3) uint8) -> (H, W, 3)`` array;
- ``"background:DIR"`` / :class:`Backgrounds`: removed regions filled from each of several other
  images in turn, the game being the mean score over them (SHAP's background data). The plugin
  loads the images (``qdrant_explain.sides``); each coalition then costs one encoder pass per
  background.

The names and their meaning are :data:`qdrant_explain.explainers.vocabulary.BASELINES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .vocabulary import BASELINES

CLIP_MEAN_RGB = (123, 117, 104)
"""open_clip's normalisation mean (0.4815, 0.4578, 0.4082) in 0..255: encodes to zero input."""

GRAY_RGB = (128, 128, 128)
"""Mid grey: the baseline ``"gray"`` / ``"grey"``."""


MAX_BACKGROUNDS = 32
"""Most background images one explanation averages over (each multiplies the encoder passes)."""

DEFAULT_BACKGROUNDS = 8
"""Background images taken from a folder when it holds more (a seeded sample)."""


@dataclass(frozen=True)
class Backgrounds:
    """Background fills: removed regions take each image's pixels in turn; the game is the mean score.

    Args:
        images: 1..:data:`MAX_BACKGROUNDS` images (arrays, PIL images or paths: anything the
            plugin's image loader reads), any size: each is prepared to the encoder's model space
            like the explained image.
        name: how reports name the baseline (e.g. the folder).
    """

    images: tuple
    name: str = "background"

    def __post_init__(self) -> None:
        images = tuple(self.images)
        if not 1 <= len(images) <= MAX_BACKGROUNDS:
            raise ValueError(
                f"Backgrounds needs 1..{MAX_BACKGROUNDS} images (each costs one encoder pass per coalition); "
                f"got {len(images)}.")
        object.__setattr__(self, "images", images)

    def __str__(self) -> str:
        return f"{self.name} ({len(self.images)} images)"


def is_background(baseline: object) -> bool:
    """True for a :class:`Backgrounds` or a ``"background:..."`` spec."""
    return isinstance(baseline, Backgrounds) or (
        isinstance(baseline, str) and baseline.strip().lower().startswith("background:"))


def _blur(pixels: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur (truncated at 4 sigma, reflected edges: skimage's ``gaussian``), rounded to uint8.

    Model-space images (up to 512 px a side) are blurred as two matrix products
    with the blur's (n, n) matrices: the same sums as the separable filter, about
    3x faster for a 224 x 224 image at the default sigma (the explanation waits
    for the baseline).
    """
    h, w = pixels.shape[:2]
    s = float(sigma) if sigma is not None else max(1.0, 0.08 * max(h, w))
    if max(h, w) > 512:
        from skimage.filters import gaussian

        out = gaussian(pixels.astype(np.float64), sigma=s, channel_axis=-1, preserve_range=True, mode="reflect")
    else:
        c = pixels.shape[2]
        out = _blur_matrix(h, s) @ pixels.reshape(h, w * c).astype(np.float64)  # along each column
        out = _blur_matrix(w, s) @ out.reshape(h, w, c).transpose(1, 0, 2).reshape(w, h * c)  # along each row
        out = out.reshape(w, h, c).transpose(1, 0, 2)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _blur_matrix(n: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """(n, n) matrix of a 1-D Gaussian filter with half-sample reflected edges (scipy.ndimage's "reflect")."""
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    src = (np.arange(n)[:, None] + x[None, :]) % (2 * n)
    src = np.where(src >= n, 2 * n - 1 - src, src)
    out = np.zeros((n, n))
    np.add.at(out, (np.repeat(np.arange(n), x.size), src.ravel()), np.tile(k, n))
    return out


def make_baseline(baseline: object, pixels: np.ndarray) -> np.ndarray:
    """The (H, W, 3) uint8 image that replaces removed regions.

    Args:
        baseline: a name from :data:`~qdrant_explain.explainers.vocabulary.BASELINES`
            (``"blur"``, ``"blur:SIGMA"``, ``"mean"``, ``"gray"``/``"grey"``,
            ``"constant"``, ``"constant:R,G,B"``; case and surrounding spaces
            ignored), an (R, G, B) tuple/list of numbers in 0..255, an (H, W, 3)
            array or a callable taking the (H, W, 3) uint8 model-space pixels.
        pixels: (H, W, 3) uint8 model-space image.

    Returns:
        (H, W, 3) uint8 array.

    Raises:
        ValueError: unknown name, a bad ``blur:`` sigma or ``constant:`` colour,
            a colour outside 0..255, or a callable/array of the wrong shape or
            with NaN/inf values.

    Example:
        >>> make_baseline("gray", np.zeros((2, 2, 3), np.uint8))[0, 0].tolist()
        [128, 128, 128]
    """
    img = np.asarray(pixels)
    shape = img.shape
    if is_background(baseline):
        raise ValueError(
            f"baseline={str(baseline)!r} fills regions from other images: it is a game over several fills, "
            f"not one replacement image; explain through qdrant_explain (explain_pair, SearchExplainer, the CLI), "
            f"which average the score over the backgrounds.")
    if callable(baseline):
        out = np.asarray(baseline(img.copy()))
        where = "the baseline callable returned"
    elif isinstance(baseline, str):
        return _named_baseline(baseline, img)
    else:
        out = np.asarray(baseline)
        where = "baseline is"
        if out.shape == (3,):
            _check_colour(out, baseline)
            out = np.broadcast_to(out, shape)
    if out.shape != shape:
        raise ValueError(f"{where} an array of shape {out.shape}; it must match the model-space image {shape}.")
    if not np.isfinite(np.asarray(out, dtype=np.float64)).all():
        raise ValueError("the baseline contains NaN or inf values.")
    return np.clip(np.round(np.asarray(out, dtype=np.float64)), 0, 255).astype(np.uint8)


def _named_baseline(baseline: str, img: np.ndarray) -> np.ndarray:
    """A baseline given by its name (see :data:`BASELINES`)."""
    text = baseline.strip().lower()
    if text == "blur":
        return _blur(img)
    if text.startswith("blur:"):
        return _blur(img, _parse_sigma(baseline, text[5:]))
    if text == "mean":
        colour = img.reshape(-1, 3).mean(axis=0)
        return np.broadcast_to(np.round(colour).astype(np.uint8), img.shape).copy()
    if text in ("gray", "grey", "constant") or text.startswith("constant:"):
        colour = {"gray": GRAY_RGB, "grey": GRAY_RGB, "constant": CLIP_MEAN_RGB}.get(text)
        if colour is None:
            colour = _parse_colour(baseline, text[9:])
        return np.broadcast_to(np.asarray(colour, dtype=np.uint8), img.shape).copy()
    raise ValueError(
        f"baseline={baseline!r} is not a baseline name; use one of {list(BASELINES)} (e.g. 'blur:8' or "
        f"'constant:0,0,0'), an RGB tuple, an image or a callable."
    )


def _parse_sigma(baseline: str, text: str) -> float:
    try:
        sigma = float(text)
    except ValueError:
        sigma = None
    if sigma is None or math.isnan(sigma):
        raise ValueError(
            f"baseline={baseline!r}: 'blur:SIGMA' needs SIGMA to be a number of pixels > 0; got {text.strip()!r}. "
            f"Use e.g. 'blur:8', or 'blur' for the default sigma."
        )
    if not (0.0 < sigma < math.inf):
        raise ValueError(
            f"baseline={baseline!r}: the blur sigma must be finite and > 0 pixels; got {sigma}. "
            f"Use e.g. 'blur:8', or 'blur' for the default sigma."
        )
    return sigma


def _parse_colour(baseline: str, text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.split(",")]
    try:
        colour = tuple(int(p) for p in parts)
    except ValueError:
        colour = ()
    if len(colour) != 3:
        raise ValueError(
            f"baseline={baseline!r}: expected 'constant:R,G,B' with three integers 0..255; got {text.strip()!r}. "
            f"Use e.g. 'constant:128,128,128'."
        )
    bad = [c for c in colour if not 0 <= c <= 255]
    if bad:
        raise ValueError(
            f"baseline={baseline!r}: each of R, G, B must be in 0..255; got {bad[0]}. Use e.g. 'constant:128,128,128'."
        )
    return colour  # type: ignore[return-value]


def _check_colour(colour: np.ndarray, baseline: object) -> None:
    try:
        values = np.asarray(colour, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"baseline={baseline!r}: an RGB colour needs three numbers 0..255.") from None
    if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 255).all()):
        raise ValueError(f"baseline={baseline!r}: an RGB colour needs three numbers 0..255; got {values.tolist()}.")


def masked_batch(
    pixels: np.ndarray,
    baseline: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Masked images: player i's pixels come from ``pixels`` when ``masks[r, i]``, else ``baseline``.

    Args:
        pixels: (H, W, 3) uint8 model-space image.
        baseline: (H, W, 3) uint8 replacement image.
        labels: (H, W) int labels 0..n-1.
        masks: (m, n) bool coalitions.
        out: optional (m, H, W, 3) uint8 buffer to fill.

    Returns:
        (m, H, W, 3) uint8 batch.
    """
    z = np.asarray(masks, dtype=bool)
    # (m, H, W) 0/1 by one gather: no per-mask Python work
    keep = np.take(z, np.asarray(labels).reshape(-1), axis=1).view(np.uint8).reshape((z.shape[0],) + labels.shape)
    if out is None:
        out = np.empty((z.shape[0],) + pixels.shape, dtype=np.uint8)
    # uint8 arithmetic wraps modulo 256, so baseline + keep * (pixels - baseline) is exact
    diff = np.subtract(pixels, baseline, dtype=np.uint8)
    np.multiply(keep[..., None], diff[None], out=out)
    out += baseline[None]
    return out


def region_adjacency(labels: np.ndarray, n_players: int | None = None) -> np.ndarray:
    """(n, n) bool: which regions of a label map touch (8-connected: side or corner), diagonal False.

    Region players that touch tend to interact (one object spans them), so the
    joint sampler's control variate keeps their pair terms first
    (:func:`~qdrant_explain.explainers.joint.fit_side_model`).

    Args:
        labels: (H, W) int labels 0..n-1.
        n_players: n (default: ``labels.max() + 1``).
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer) or lab.size == 0:
        raise ValueError(f"region_adjacency: labels must be a non-empty (H, W) integer map; got {lab.dtype} "
                         f"of shape {lab.shape}.")
    n = int(lab.max()) + 1 if n_players is None else int(n_players)
    if lab.min() < 0 or lab.max() >= n:
        raise ValueError(f"region_adjacency: labels must lie in 0..{n - 1}; got {lab.min()}..{lab.max()}.")
    out = np.zeros((n, n), dtype=bool)
    for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :]), (lab[:-1, :-1], lab[1:, 1:]),
                 (lab[:-1, 1:], lab[1:, :-1])):
        cut = a != b
        out[a[cut], b[cut]] = True
        out[b[cut], a[cut]] = True
    return out


__all__ = [
    "region_adjacency",
    "BASELINES",
    "Backgrounds",
    "CLIP_MEAN_RGB",
    "DEFAULT_BACKGROUNDS",
    "GRAY_RGB",
    "MAX_BACKGROUNDS",
    "is_background",
    "make_baseline",
    "masked_batch",
]
