"""Audit statistics over queries, with confidence intervals, and the ``ci_width`` stopping rule.

Every audit statistic is a *ratio of per-query sums*: query q contributes a numerator
``a_q`` and a denominator ``b_q`` (for the border share: the part of its attribution mass,
``sum |region value|`` over the explained sides of its hits, that lies in the border band, and
its whole attribution mass), and the statistic is
``R = sum(a) / sum(b)``. Queries are the sampling unit (hits of one query are not
independent), so intervals are over queries:

- ``"clt"`` (default): the linearised (delta-method) standard error of a ratio estimator,
  ``se = sqrt(sum((a_q - R b_q)^2) / (n (n - 1))) / mean(b)``, and ``R ± z se``;
- rates (stale vectors, where the top region lies) use a Wilson score interval with the
  effective sample size ``sum(m) / deff`` (Kish's design effect of the clustering by query),
  so that 0 stale vectors out of 20 does not read as an interval of width 0;
- ``"bootstrap"``: percentile bootstrap over queries (:func:`scipy.stats.bootstrap`, paired).

:func:`query_stats` turns one explained search into its row of numerators and denominators
(pure numpy on the result's label maps and values; it never calls a model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from qdrant_explain.audit import BORDER_BAND, border_mask, region_border_fractions

INTERVALS = ("clt", "bootstrap")
"""Values of ``interval=``: how confidence intervals over queries are computed."""

LEVEL = 0.95
"""Default confidence level of every interval."""

CELLS = tuple(f"{v}-{h}" for v in ("top", "middle", "bottom") for h in ("left", "centre", "right"))
"""The 3 x 3 cells of the visible image where an explanation's top region can lie."""

STOP_STATISTICS = ("border_share", "object_share", "stale_rate", "stability")
"""Statistics the ``ci_width`` stopping rule waits for (each one that has data)."""

MIN_QUERIES = 10
"""The stopping rule never stops before this many explained queries."""

MAX_TOP_REGIONS = 10
"""Regions a query row keeps (its most attributed ones): enough for the audit's top 10."""


# ----------------------------------------------------------------------------- one query


def largest_object_mask(image: np.ndarray, *, max_side: int = 128) -> np.ndarray | None:
    """(H, W) bool: the largest object of an image against its background, or None when there is none.

    The background colour is the median of the outer 5 % ring; a pixel is foreground when its colour
    distance to it exceeds Otsu's threshold of those distances; small specks are opened away,
    holes filled, and the largest connected component is the object. An image with no contrast,
    or whose "object" covers more than 90 % of it, has no object (None). Computed on a copy
    at most ``max_side`` pixels on its longest side, then scaled back (nearest).

    Args:
        image: (H, W, 3) uint8.
        max_side: working resolution.

    Returns:
        The mask in the image's pixels, or None.
    """
    from PIL import Image
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"largest_object_mask needs an (H, W, 3) image; got shape {rgb.shape}.")
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = rgb if scale == 1.0 else np.asarray(Image.fromarray(rgb).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
    sh, sw = small.shape[:2]
    ring = max(1, round(0.05 * min(sh, sw)))
    edge = np.ones((sh, sw), dtype=bool)
    edge[ring:sh - ring, ring:sw - ring] = False
    x = small.astype(np.float64)
    background = np.median(x[edge], axis=0)
    dist = np.sqrt(((x - background) ** 2).sum(axis=2))
    if float(dist.max() - dist.min()) < 1e-9:
        return None
    fg = dist > threshold_otsu(dist)
    fg = ndimage.binary_opening(fg, iterations=1)
    labels, n = ndimage.label(fg)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    obj = ndimage.binary_fill_holes(labels == (1 + int(np.argmax(sizes))))
    if obj.mean() > 0.9 or not obj.any():
        return None
    if scale == 1.0:
        return obj
    ys = np.minimum((np.arange(h) * sh) // h, sh - 1)
    xs = np.minimum((np.arange(w) * sw) // w, sw - 1)
    return obj[ys[:, None], xs[None, :]]


def _cell(labels: np.ndarray, region: int) -> str | None:
    """The 3 x 3 cell of the visible box holding the centre of mass of ``region``."""
    visible = labels >= 0
    mask = labels == region
    if not mask.any() or not visible.any():
        return None
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    ys, xs = np.nonzero(mask)
    cy = (ys.mean() - rows[0]) / max(1, rows[-1] + 1 - rows[0])
    cx = (xs.mean() - cols[0]) / max(1, cols[-1] + 1 - cols[0])
    v = ("top", "middle", "bottom")[min(2, int(cy * 3))]
    hz = ("left", "centre", "right")[min(2, int(cx * 3))]
    return f"{v}-{hz}"


def _paint(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    out = np.full(lab.shape, np.nan)
    ok = lab >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[lab[ok]]
    return out


def heatmap_correlation(labels_a: np.ndarray, values_a: np.ndarray, labels_b: np.ndarray,
                        values_b: np.ndarray) -> float | None:
    """Pearson correlation of two explanations' pixel heatmaps of one image (pixels both show).

    Players may differ between the two (another seed), so the comparison is per pixel.

    Returns:
        The correlation, or None when either map is constant or the maps do not overlap.
    """
    a, b = _paint(labels_a, values_a), _paint(labels_b, values_b)
    if a.shape != b.shape:
        return None
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return None
    x, y = a[ok], b[ok]
    sx, sy = x.std(), y.std()
    if sx < 1e-15 or sy < 1e-15:
        return None
    return float(np.clip(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy), -1.0, 1.0))


def _image_key(image: np.ndarray) -> tuple:
    import hashlib

    arr = np.ascontiguousarray(image)
    return arr.shape, hashlib.blake2b(arr.tobytes(), digest_size=16).digest()


def _sides(e: Any) -> Iterable[tuple[str, np.ndarray | None, np.ndarray, np.ndarray]]:
    """(side, image, labels, values) of each explained side of a pair explanation."""
    for side, image, labels, values in (("query", e.query_image, e.query_labels, e.query_values),
                                        ("hit", e.hit_image, e.hit_labels, e.hit_values)):
        if labels is not None and values is not None:
            yield side, image, np.asarray(labels), np.asarray(values, dtype=np.float64)


def query_stats(search: Any, *, band: float = BORDER_BAND, object_masks: dict | None = None,
                top: int = 3) -> dict:
    """The numerators and denominators one explained search adds to the audit statistics.

    Args:
        search: a :class:`~qdrant_explain.results.SearchResults` with order-1 explanations.
        band: border band width (fraction of the visible size).
        object_masks: a cache of :func:`largest_object_mask` by image content, shared between calls
            (None: a fresh one); each distinct image is segmented once.
        top: how many top regions of each explained side to consider (the row keeps the
            query's :data:`MAX_TOP_REGIONS` most attributed of them).

    Returns:
        A JSON-safe dict: ``pairs`` (hits explained), ``explained`` (sides explained), ``total`` (the
        attribution mass, sum of ``|region value|``, over them), ``border`` (the part of that mass in the
        border band, each region weighted by its share of pixels in the band), ``border_area`` (sum of the band's pixel
        shares), ``object_total`` / ``object`` (the same over sides whose image has an object),
        ``object_area``, ``checked`` / ``stale`` (hits whose stored vector was compared / disagreed),
        ``cells`` (top region's cell -> count), ``top_regions`` (list), ``stale_hits`` (list),
        ``hit_ids`` (the hits' ids), ``score_sum`` (sum of the explained scores full − base).
    """
    masks = {} if object_masks is None else object_masks
    out = {"pairs": 0, "explained": 0, "total": 0.0, "border": 0.0, "border_area": 0.0, "object_total": 0.0, "object": 0.0,
           "object_sides": 0, "object_area": 0.0, "checked": 0, "stale": 0, "cells": {}, "top_regions": [],
           "stale_hits": [], "hit_ids": [h.id for h in search.hits], "score_sum": 0.0}
    for i, e in enumerate(search.explanations or ()):
        if e is None:
            continue
        hit = search.hits[i] if i < len(search.hits) else None
        payload = (getattr(hit, "payload", None) or e.hit_payload or {})
        hit_label = payload.get("path") or payload.get("name") or e.hit_id
        denom = float(e.full_value - e.base_value)
        out["pairs"] += 1
        out["score_sum"] += denom
        for side, image, labels, values in _sides(e):
            out["explained"] += 1
            border = border_mask(labels, band)
            visible = labels >= 0
            out["border_area"] += float(border.sum() / max(1, visible.sum()))
            n = len(values)
            mass = np.abs(values)
            out["border"] += float(mass @ region_border_fractions(labels, n, border))
            out["total"] += float(mass.sum())
            if image is not None:
                key = _image_key(image)
                if key not in masks:
                    masks[key] = largest_object_mask(image)
                obj = masks[key]
                if obj is not None and obj.shape == labels.shape:
                    out["object_sides"] += 1
                    out["object"] += float(mass @ region_border_fractions(labels, n, obj & visible))
                    out["object_total"] += float(mass.sum())
                    out["object_area"] += float((obj & visible).sum() / max(1, visible.sum()))
            best = int(np.argmax(values))
            cell = _cell(labels, best)
            if cell is not None:
                out["cells"][f"{side}:{cell}"] = out["cells"].get(f"{side}:{cell}", 0) + 1
            for r in np.argsort(-values)[:top]:
                out["top_regions"].append({"query": search.query_name, "hit": hit_label, "hit_id": e.hit_id,
                                           "side": side, "region": int(r), "value": float(values[r]),
                                           "share": float(values[r] / denom) if abs(denom) > 1e-12 else None,
                                           "where": _cell(labels, int(r))})
        if e.vector_check is not None:
            out["checked"] += 1
            if e.vector_check.get("disagrees"):
                out["stale"] += 1
                out["stale_hits"].append({"query": search.query_name, "id": e.hit_id, "hit": hit_label,
                                          "cosine": e.vector_check.get("cosine")})
    out["top_regions"] = sorted(out["top_regions"], key=lambda t: -t["value"])[:MAX_TOP_REGIONS]
    return out


def stability_stats(first: Any, second: Any) -> dict:
    """Heatmap correlations between two explanations of the same hits (two seeds).

    Returns:
        ``{"sum": sum of correlations, "count": sides compared, "values": [each]}``.
    """
    vals = []
    for a, b in zip(first.explanations or (), second.explanations or ()):
        if a is None or b is None:
            continue
        for (_, _, la, va), (_, _, lb, vb) in zip(_sides(a), _sides(b)):
            c = heatmap_correlation(la, va, lb, vb)
            if c is not None:
                vals.append(c)
    return {"sum": float(sum(vals)), "count": len(vals), "values": vals}


# ----------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A statistic with its confidence interval over queries.

    Attributes:
        estimate: the statistic (None when no query has data for it).
        low, high: the interval's ends (None with the estimate).
        n: queries that contributed.
        level: confidence level.
        method: ``"clt"``, ``"wilson"`` or ``"bootstrap"``.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    level: float = LEVEL
    method: str = "clt"

    @property
    def width(self) -> float:
        """``high - low`` (infinite while the interval is not defined)."""
        if self.low is None or self.high is None:
            return math.inf
        return float(self.high - self.low)

    def to_dict(self) -> dict:
        """JSON-safe form (``width`` None while infinite)."""
        w = self.width
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "width": None if math.isinf(w) else w,
                "n": self.n, "level": self.level, "method": self.method}


def _z(level: float) -> float:
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    return float(norm.ppf(0.5 + level / 2))


def ratio_interval(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL, method: str = "clt",
                   seed: int = 0, n_resamples: int = 999) -> Interval:
    """``sum(a) / sum(b)`` over queries with its interval (see the module docstring).

    Args:
        a, b: per-query numerators and denominators (queries with ``b == 0`` count as 0 / 0).
        level: confidence level.
        method: ``"clt"`` or ``"bootstrap"``.
        seed: seed of the bootstrap resamples.
        n_resamples: bootstrap resamples.

    Raises:
        ValueError: ``method`` not in :data:`INTERVALS`, or ``a`` and ``b`` of different lengths.
    """
    if method not in INTERVALS:
        raise ValueError(f"interval method must be one of {INTERVALS}; got {method!r}.")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ratio_interval needs one numerator per denominator; got {a.shape} and {b.shape}.")
    n = int(a.size)
    if n == 0 or abs(b.sum()) < 1e-12:
        return Interval(None, None, None, n, level, method)
    r = float(a.sum() / b.sum())
    if n < 2:
        return Interval(r, None, None, n, level, method)
    if method == "clt":
        se = math.sqrt(float(((a - r * b) ** 2).sum()) / (n * (n - 1))) / abs(float(b.mean()))
        z = _z(level)
        return Interval(r, r - z * se, r + z * se, n, level, "clt")
    from scipy.stats import bootstrap

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        den = y.sum(axis=axis)
        return np.divide(x.sum(axis=axis), den, out=np.full(np.shape(den), np.nan), where=np.abs(den) > 1e-12)

    res = bootstrap((a, b), stat, paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=level,
                    method="percentile", random_state=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return Interval(r, None, None, n, level, "bootstrap")
    return Interval(r, lo, hi, n, level, "bootstrap")


def rate_interval(x: Sequence[float], m: Sequence[float], *, level: float = LEVEL, method: str = "clt",
                  seed: int = 0) -> Interval:
    """A rate (events ``x_q`` out of trials ``m_q`` per query) with a clustered Wilson interval.

    With ``method="bootstrap"`` the percentile bootstrap over queries is used instead.
    """
    if method == "bootstrap":
        return ratio_interval(x, m, level=level, method="bootstrap", seed=seed)
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    n, total = int(x.size), float(m.sum())
    if n == 0 or total <= 0:
        return Interval(None, None, None, n, level, "wilson")
    p = float(x.sum() / total)
    deff = 1.0
    if n >= 2 and 0 < p < 1:
        var_cluster = float(((x - p * m) ** 2).sum()) / (n * (n - 1)) / float(m.mean()) ** 2
        deff = max(1.0, var_cluster / (p * (1 - p) / total))
    n_eff = total / deff
    z = _z(level)
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / (1 + z * z / n_eff)
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    high = 1.0 if p == 1.0 else min(1.0, centre + half)
    return Interval(p, low, high, n, level, "wilson")


# ----------------------------------------------------------------------------- over queries


@dataclass
class AuditStatistics:
    """Accumulates per-query rows and gives the statistics with intervals (the audit's running state).

    Args:
        interval: ``"clt"`` or ``"bootstrap"``.
        level: confidence level.
        seed: bootstrap seed.
    """

    interval: str = "clt"
    level: float = LEVEL
    seed: int = 0
    rows: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValueError(f"interval must be one of {INTERVALS}; got {self.interval!r}. 'clt' is the "
                             "delta-method interval over queries, 'bootstrap' the percentile bootstrap.")

    def add(self, row: Mapping) -> None:
        """Add one committed row (its ``stats`` and ``stability``); failed queries add nothing."""
        if row.get("status") == "ok" and row.get("stats"):
            self.rows.append({"stats": row["stats"], "stability": row.get("stability"),
                              "order": (row.get("index", 0), row.get("key", ""))})
            self._sorted = False

    def _ordered(self) -> list:
        """The rows in audit order: sums do not depend on which worker finished first."""
        if not getattr(self, "_sorted", True):
            self.rows.sort(key=lambda r: r.get("order", (0, "")))
            self._sorted = True
        return self.rows

    @property
    def n(self) -> int:
        """Queries explained so far."""
        return len(self.rows)

    def _col(self, key: str) -> np.ndarray:
        return np.array([r["stats"].get(key, 0.0) for r in self._ordered()], dtype=np.float64)

    def intervals(self, *, method: str | None = None) -> dict[str, Interval]:
        """``border_share``, ``object_share``, ``stale_rate``, ``stability``, ``border_area``, ``object_area``."""
        how = method or self.interval
        kw = dict(level=self.level, method=how, seed=self.seed)
        explained = self._col("explained")
        out = {
            "border_share": ratio_interval(self._col("border"), self._col("total"), **kw),
            "object_share": ratio_interval(self._col("object"), self._col("object_total"), **kw),
            "stale_rate": rate_interval(self._col("stale"), self._col("checked"), **kw),
            "border_area": ratio_interval(self._col("border_area"), explained, **kw),
            "object_area": ratio_interval(self._col("object_area"), self._col("object_sides"), **kw),
        }
        stab = [r["stability"] for r in self._ordered() if r.get("stability") and r["stability"].get("count")]
        out["stability"] = ratio_interval([s["sum"] for s in stab], [s["count"] for s in stab], **kw)
        return out

    def cells(self, *, top: int = 6) -> list[dict]:
        """Where the top region of an explained side lies most often, with intervals (by side and cell)."""
        explained = {"query": [], "hit": []}
        counts: dict[str, list[float]] = {}
        for r in self._ordered():
            c = r["stats"].get("cells", {})
            per_side = {"query": 0, "hit": 0}
            for key, v in c.items():
                per_side[key.split(":", 1)[0]] += v
            for side in explained:
                explained[side].append(per_side[side])
            for key in c:
                counts.setdefault(key, [0.0] * len(self.rows))
        for key in counts:
            counts[key] = [float(r["stats"].get("cells", {}).get(key, 0)) for r in self.rows]
        out = []
        for key, xs in counts.items():
            side, cell = key.split(":", 1)
            iv = rate_interval(xs, explained[side], level=self.level, method=self.interval, seed=self.seed)
            out.append({"side": side, "cell": cell, "count": int(sum(xs)), **iv.to_dict()})
        out.sort(key=lambda d: -(d["estimate"] or 0.0))
        return out[:top]

    def widths(self, statistics: Sequence[str] = STOP_STATISTICS) -> dict[str, float]:
        """Current full widths of the stopping rule's intervals, infinite while undefined.

        Always the CLT / Wilson intervals (cheap after every query); with ``interval="bootstrap"``
        only the summary's intervals are bootstrapped."""
        ivs = self.intervals(method="clt")
        return {k: ivs[k].width for k in statistics if k in ivs and (k != "stability" or ivs[k].n > 0)}

    def should_stop(self, ci_width: float | None, *, min_queries: int = MIN_QUERIES,
                    statistics: Sequence[str] = STOP_STATISTICS) -> bool:
        """True once ``min_queries`` are explained and every interval is at most ``ci_width`` wide."""
        if ci_width is None or self.n < max(2, min_queries):
            return False
        widths = self.widths(statistics)
        return bool(widths) and all(w <= ci_width for w in widths.values())


def format_widths(widths: Mapping[str, float]) -> str:
    """``border ±0.012 object ±0.020 stale ±0.031`` (half widths; ``?`` while undefined)."""
    short = {"border_share": "border", "object_share": "object", "stale_rate": "stale", "stability": "stab"}
    parts = []
    for k, w in widths.items():
        parts.append(f"{short.get(k, k)} ±{'?' if math.isinf(w) else f'{w / 2:.3f}'}")
    return " ".join(parts)


__all__ = ["AuditStatistics", "CELLS", "INTERVALS", "Interval", "LEVEL", "MIN_QUERIES", "STOP_STATISTICS",
           "format_widths", "heatmap_correlation", "largest_object_mask", "query_stats", "rate_interval",
           "ratio_interval", "stability_stats"]
