"""Matplotlib figures of pair explanations: heatmap overlays and query<->hit correspondences.

Drawn with the Agg canvas directly (no pyplot, no global backend switch), so
it works headless and leaves an interactive session's backend alone.

- :func:`plot_heatmap`: one signed heatmap over its image (diverging colormap
  centred at zero, colour bar; pixels the centre crop removed are hatched grey:
  the model never saw them, which is not the same as zero attribution).
- :func:`save_overlays`: query and hit overlays side by side, one shared scale.
- :func:`save_correspondence`: query and hit side by side with the strongest
  region pairs of an order-2 explanation linked.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ._images import symmetric_scale as _scale


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _draw(ax: Any, image: np.ndarray, heatmap: np.ndarray | None, scale: float, title: str | None, alpha: float = 0.65):
    img = np.asarray(image, dtype=np.float64)
    grey = img.mean(axis=2, keepdims=True) * 0.6 + img * 0.2 + 255 * 0.2
    ax.imshow(np.clip(grey, 0, 255).astype(np.uint8), interpolation="nearest")
    mappable = None
    if heatmap is not None:
        hm = np.asarray(heatmap, dtype=np.float64)
        mappable = ax.imshow(
            np.ma.masked_invalid(hm), cmap="PuOr_r", vmin=-scale, vmax=scale, alpha=alpha, interpolation="nearest"
        )
        nan = ~np.isfinite(hm)
        if nan.any():
            ax.contourf(nan.astype(float), levels=[0.5, 1.5], colors=["0.55"], hatches=["//"], alpha=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return mappable


def plot_heatmap(
    image: np.ndarray,
    heatmap: np.ndarray,
    path: str | pathlib.Path | None = None,
    *,
    title: str | None = None,
    scale: float | None = None,
    label: str = "attribution (score units)",
):
    """One heatmap over its image, with a colour bar centred at zero.

    Args:
        image: (H, W, 3) uint8 original image.
        heatmap: (H, W) float map in original pixels, NaN where the crop removed pixels.
        path: PNG to write; None returns the figure only.
        title: panel title.
        scale: colour-bar limit (default: largest |value|).
        label: colour-bar label.

    Returns:
        The matplotlib ``Figure``.
    """
    hm = np.asarray(heatmap, dtype=np.float64)
    if hm.shape != np.asarray(image).shape[:2]:
        raise ValueError(f"heatmap shape {hm.shape} must match the image's (H, W) {np.asarray(image).shape[:2]}.")
    s = _scale(hm) if scale is None else float(scale)
    fig = _figure(5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    m = _draw(ax, image, hm, s, title)
    fig.colorbar(m, ax=ax, fraction=0.046, pad=0.04, label=label)
    if path is not None:
        fig.savefig(str(path), format="png", bbox_inches="tight")
    return fig


def _label(result: Any) -> str:
    """Colour-bar label: what the values add up to, and how to read the sign (distances: + = farther apart)."""
    hib = result.higher_is_better
    return f"contribution to {result.metric} ({'+ = more similar' if hib else '+ = farther apart'})"


def _title(result: Any) -> str:
    """Method, order, the explained value (``full_value``) and Qdrant's ``score`` when there is one."""
    qdrant = "" if result.score is None else f", Qdrant score {result.score:.4f}"
    return (f"{result.method} (order {result.order}), {result.metric} {result.full_value:.4f}{qdrant}, "
            f"{result.encoder_passes} encoder passes")


def save_overlays(result: Any, path: str | pathlib.Path, *, title: str | None = None):
    """Query and hit heatmaps of a pair explanation side by side, one shared colour scale.

    Args:
        result: a :class:`~qdrant_explain.results.PairExplanation` (from ``explain_pair``).
        path: PNG file to write.
        title: figure title (default: method, order, the explained value and Qdrant's score).

    Returns:
        The matplotlib ``Figure``.
    """
    if result.query_image is None:
        raise ValueError("save_overlays needs the explanation's images; this one has none (read from a JSON "
                         "written with arrays=False?). Use a full to_json() or explain again.")
    panels = [("query", result.query_image, result.query_heatmap)]
    if result.hit_image is not None:
        panels.append(("hit", result.hit_image, result.hit_heatmap))
    s = _scale(*(p[2] for p in panels))
    fig = _figure(4.2 * len(panels) + 1.0, 4.4)
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    mappable = None
    for ax, (name, img, hm) in zip(axes, panels):
        m = _draw(ax, img, hm, s, name)
        mappable = mappable or m
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, fraction=0.03, pad=0.02, label=_label(result))
    fig.suptitle(title or _title(result), fontsize=10)
    fig.savefig(str(path), format="png", bbox_inches="tight")
    return fig


def _centroids(labels: np.ndarray, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    ys, xs = np.indices(lab.shape)
    ok = lab >= 0
    cnt = np.bincount(lab[ok], minlength=n).astype(np.float64)
    cy = np.bincount(lab[ok], weights=ys[ok], minlength=n)
    cx = np.bincount(lab[ok], weights=xs[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([cy / cnt, cx / cnt], axis=1)


def save_correspondence(result: Any, path: str | pathlib.Path, *, top_k: int = 6, title: str | None = None):
    """Query and hit side by side, the ``top_k`` strongest region pairs linked.

    Lines join region centroids; orange links raise the score, purple ones lower it (the colour-blind-safe map of the reports),
    width in proportion to |cross|. Regions are outlined; the heatmaps underneath
    are the side attributions.

    Args:
        result: an order-2 pair explanation (``explain_pair(..., order=2)``).
        path: PNG file to write.
        top_k: number of links (largest |cross| first).
        title: figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.patches import ConnectionPatch
    from skimage.segmentation import find_boundaries

    cross = getattr(result, "cross", None)
    if cross is None or result.hit_image is None or result.query_image is None:
        raise ValueError("save_correspondence needs an order-2 explanation with both images (explain_pair(..., order=2); "
                         "a JSON written with arrays=False has no images).")
    cross = np.asarray(cross)
    nq, nh = cross.shape
    s = _scale(result.query_heatmap, result.hit_heatmap)
    fig = _figure(9.5, 4.6)
    axq, axh = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for ax, img, hm, lab, name in (
        (axq, result.query_image, result.query_heatmap, result.query_labels, "query"),
        (axh, result.hit_image, result.hit_heatmap, result.hit_labels, "hit"),
    ):
        _draw(ax, img, hm, s, name, alpha=0.45)
        edges = find_boundaries(np.asarray(lab), mode="inner")
        ax.imshow(np.ma.masked_where(~edges, edges), cmap="Greys", vmin=0, vmax=1, alpha=0.6, interpolation="nearest")
    cq, ch = _centroids(result.query_labels, nq), _centroids(result.hit_labels, nh)
    order = np.argsort(-np.abs(cross), axis=None)[: max(0, int(top_k))]
    biggest = float(np.abs(cross).max()) or 1.0
    for rank, flat in enumerate(order):
        i, j = np.unravel_index(flat, cross.shape)
        v = float(cross[i, j])
        if not (np.isfinite(cq[i]).all() and np.isfinite(ch[j]).all()) or v == 0.0:
            continue
        colour = "#b35806" if v > 0 else "#542788"
        link = ConnectionPatch(
            xyA=(cq[i, 1], cq[i, 0]), coordsA=axq.transData, xyB=(ch[j, 1], ch[j, 0]), coordsB=axh.transData,
            color=colour, linewidth=0.8 + 3.5 * abs(v) / biggest, alpha=0.85,
        )
        fig.add_artist(link)
        axq.plot(cq[i, 1], cq[i, 0], "o", color=colour, ms=4)
        axh.plot(ch[j, 1], ch[j, 0], "o", color=colour, ms=4)
        axq.annotate(str(rank + 1), (cq[i, 1], cq[i, 0]), fontsize=7, color="k", xytext=(3, 3), textcoords="offset points")
    fig.suptitle(title or f"strongest query-hit region pairs (order-2 Shapley-Taylor, {result.method})", fontsize=10)
    fig.savefig(str(path), format="png", bbox_inches="tight")
    return fig


__all__ = ["plot_heatmap", "save_overlays", "save_correspondence"]
