"""Audit summaries: where does similarity come from across many queries' top hits?

:func:`summarise` reads order-1 explanations (query and hit sides) and reports

- ``border_share`` / ``centre_share``: share of the explained score (sum of region
  values = full − base) that comes from the image border band (the outer
  ``BORDER_BAND`` of the visible width/height on each side) versus the centre,
  pooled over all explanations; ``border_area`` is the share of pixels in the band,
  the value to expect if attribution were uniform. A border share well above the
  border area means the model matches backgrounds/frames more than subjects.
- ``top_regions``: the most-attributed regions (query, hit, side, region, value, its 95 %
  ``interval`` [low, high] or None,
  share of that pair's score, where it lies).
- ``vector_mismatches``: hits whose stored vector disagrees with a fresh encode of
  their image (another model, preprocessing or dtype built the collection).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

BORDER_BAND = 0.15
"""Width of the border band as a fraction of the visible image height/width, each side."""


def border_mask(labels: np.ndarray, band: float = BORDER_BAND) -> np.ndarray:
    """(H, W) bool: visible pixels (label >= 0) within ``band`` of the visible box's edges."""
    visible = np.asarray(labels) >= 0
    if not visible.any():
        return visible
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dy, dx = max(1, round((bottom - top) * band)), max(1, round((right - left) * band))
    inner = np.zeros_like(visible)
    inner[top + dy : bottom - dy, left + dx : right - dx] = True
    return visible & ~inner


def _where(labels: np.ndarray, region: int, border: np.ndarray) -> str:
    mask = labels == region
    if not mask.any():
        return "?"
    ys, xs = np.nonzero(mask)
    h, w = labels.shape
    cy, cx = ys.mean() / h, xs.mean() / w
    vert = "top" if cy < 1 / 3 else ("bottom" if cy > 2 / 3 else "middle")
    horiz = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "centre")
    place = "centre" if (vert, horiz) == ("middle", "centre") else f"{vert}-{horiz}"
    kind = "border" if border[mask].mean() > 0.5 else "interior"
    return f"{kind}, {place}"


def region_border_fractions(labels: np.ndarray, n: int, border: np.ndarray) -> np.ndarray:
    """(n,) share of each region's visible pixels that lie in the border band."""
    lab = np.asarray(labels)
    ok = lab >= 0
    counts = np.bincount(lab[ok], minlength=n).astype(np.float64)
    inb = np.bincount(lab[ok & border], minlength=n).astype(np.float64)
    return np.divide(inb, counts, out=np.zeros(n), where=counts > 0)


def summarise(searches: Iterable[Any], *, band: float = BORDER_BAND, top: int = 10) -> dict:
    """Aggregate order-1 explanations of many searches (see the module docstring).

    Args:
        searches: :class:`~qdrant_explain.results.SearchResults` with explanations.
        band: border band width (fraction of the visible size).
        top: how many top regions to list.

    Returns:
        A JSON-safe dict: ``queries``, ``hits``, ``explanations``, ``border_band``,
        ``border_area``, ``border_share``, ``centre_share``, ``border_share_query``,
        ``border_share_hit``, ``encoder_passes``, ``vectors_checked``,
        ``vector_mismatch_count``, ``top_regions`` (list), ``vector_mismatches`` (list).
    """
    searches = list(searches)
    totals = {"query": [0.0, 0.0], "hit": [0.0, 0.0]}  # [border value, total value]
    areas: list[float] = []
    regions: list[dict] = []
    mismatches: list[dict] = []
    n_expl = n_hits = passes = checked = 0
    for s in searches:
        for i, e in enumerate(s.explanations or []):
            if e is None:
                continue
            n_expl += 1
            passes += int(e.encoder_passes)
            hit = s.hits[i] if i < len(s.hits) else None
            hit_id = getattr(hit, "id", e.hit_id)
            payload = getattr(hit, "payload", None) or e.hit_payload or {}
            hit_label = payload.get("path") or payload.get("name") or hit_id
            denom = float(e.full_value - e.base_value)
            for side, labels, values in (("query", e.query_labels, e.query_values), ("hit", e.hit_labels, e.hit_values)):
                if labels is None or values is None:
                    continue
                vals = np.asarray(values, dtype=np.float64)
                border = border_mask(labels, band)
                visible = np.asarray(labels) >= 0
                if visible.any():
                    areas.append(float(border.sum() / visible.sum()))
                frac = region_border_fractions(labels, len(vals), border)
                totals[side][0] += float(vals @ frac)
                totals[side][1] += float(vals.sum())
                ci = e.interval(side) if hasattr(e, "interval") else None
                for r in np.argsort(-vals)[:3]:
                    regions.append({"query": s.query_name, "hit": hit_label, "hit_id": hit_id, "side": side, "region": int(r),
                                    "value": float(vals[r]), "share": float(vals[r] / denom) if abs(denom) > 1e-12 else None,
                                    "where": _where(np.asarray(labels), int(r), border),
                                    "interval": None if ci is None else [float(ci[0][r]), float(ci[1][r])]})
            if e.vector_check is not None:
                checked += 1
                if e.vector_check.get("disagrees"):
                    mismatches.append({"query": s.query_name, "id": hit_id, "hit": hit_label, "cosine": e.vector_check.get("cosine"),
                                       "rel_diff": e.vector_check.get("rel_diff")})
        n_hits += len(s.hits)

    def share(border_value: float, total: float) -> float | None:
        return border_value / total if abs(total) > 1e-12 else None

    b_all = totals["query"][0] + totals["hit"][0]
    t_all = totals["query"][1] + totals["hit"][1]
    border_share = share(b_all, t_all)
    regions.sort(key=lambda r: -r["value"])
    return {
        "queries": len(searches),
        "hits": n_hits,
        "explanations": n_expl,
        "border_band": band,
        "border_area": float(np.mean(areas)) if areas else None,
        "border_share": border_share,
        "centre_share": None if border_share is None else 1.0 - border_share,
        "border_share_query": share(*totals["query"]),
        "border_share_hit": share(*totals["hit"]),
        "encoder_passes": passes,
        "vectors_checked": checked,
        "vector_mismatch_count": len(mismatches),
        "top_regions": regions[:top],
        "vector_mismatches": mismatches,
    }


__all__ = ["BORDER_BAND", "border_mask", "region_border_fractions", "summarise"]
