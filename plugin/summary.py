"""Plain-language summaries of explanations: position words, shares of the score, a baseline check.

Everything here is a pure function of arrays and numbers, so the CLI, the JSON (``summary``) and the
report say the same sentence. A region is named by its number (player k is the k-th distinct label in
ascending order, the number the report draws on the image) and by where it lies ("top left").

The *share* of a value is ``value / (v(N) - v(empty))``: with an efficient method the values (plus the
pairs at order 2) add up to that difference, so the shares add up to 100 %. When the baseline scores at
least as well as the full pair the difference is not positive and shares mean nothing:
:func:`baseline_warning` says so and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "centre", "right")


def region_centroids(labels: np.ndarray) -> np.ndarray:
    """(n, 2) centroids (y, x) in 0..1 of each region of a label map (-1 = not seen by the model).

    Region k is the k-th distinct non-negative label in ascending order.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be an (H, W) integer label map; got shape {lab.shape}.")
    ok = lab >= 0
    if not ok.any():
        raise ValueError("the label map has no region (every pixel is -1).")
    uniq, idx = np.unique(lab[ok], return_inverse=True)
    ys, xs = np.nonzero(ok)
    counts = np.bincount(idx, minlength=uniq.size).astype(np.float64)
    h, w = lab.shape
    cy = np.bincount(idx, weights=(ys + 0.5) / h, minlength=uniq.size) / counts
    cx = np.bincount(idx, weights=(xs + 0.5) / w, minlength=uniq.size) / counts
    return np.stack([cy, cx], axis=1)


def position_word(y: float, x: float) -> str:
    """Where a point (y, x in 0..1) lies, in words: ``"top left"``, ``"centre"``, ``"bottom"``..."""
    row = _ROWS[min(2, max(0, int(y * 3)))]
    col = _COLS[min(2, max(0, int(x * 3)))]
    if row == "middle" and col == "centre":
        return "centre"
    if row == "middle":
        return col
    if col == "centre":
        return row
    return f"{row} {col}"


@dataclass(frozen=True)
class Region:
    """A region as a person reads it: ``"query region 3"`` and where it lies (``"top left"``, or None)."""

    side: str
    index: int
    where: str | None = None
    word: str | None = None

    @property
    def head(self) -> str:
        """``"query region 3"``, or ``"the word 'bicycle'"`` for a text query's word."""
        return f"the word {self.word!r}" if self.word is not None else f"{self.side} region {self.index}"

    @property
    def name(self) -> str:
        """``"query region 3 (top left)"``."""
        return self.head if self.where is None else f"{self.head} ({self.where})"

    def phrase(self, share: float | None) -> str:
        """``"query region 3 (top left, 41 % of the score)"``; without a share, just the name."""
        if share is None:
            return self.name
        inner = "" if self.where is None else f"{self.where}, "
        return f"{self.head} ({inner}{100 * share:.0f} % of the score)"


def regions(labels: np.ndarray | None, n: int, side: str, words: Sequence[str] | None = None) -> list[Region]:
    """The n regions of a side with their positions (no position without a label map); ``words``: the
    players are a text query's words."""
    if words is not None:
        if len(words) != n:
            raise ValueError(f"the {side} has {len(words)} words but {n} values were given.")
        return [Region(side, k, word=str(w)) for k, w in enumerate(words)]
    if labels is None:
        return [Region(side, k) for k in range(n)]
    cents = region_centroids(labels)
    if cents.shape[0] != n:
        raise ValueError(f"the {side} label map has {cents.shape[0]} regions but {n} values were given.")
    return [Region(side, k, position_word(*cents[k])) for k in range(n)]


def shares(values: np.ndarray, base_value: float, full_value: float) -> np.ndarray | None:
    """Each value's share of ``full_value - base_value`` (None when that difference is not positive or NaN)."""
    total = float(full_value) - float(base_value)
    if not np.isfinite(total) or total <= 0:
        return None
    return np.asarray(values, dtype=np.float64) / total


def baseline_warning(base_value: float, full_value: float, *, higher_is_better: bool,
                     baseline: object = None, joint: bool = False) -> str | None:
    """A warning when the baseline (every region removed) scores at least as well as the full pair.

    Then the values add up to zero or less, and a positive-looking region only means "less harmful
    than the rest"; a person would read "these regions make the images less similar". Returns None
    when the baseline is worse than the full pair, as it should be.

    ``joint``: the joint game, where both images are removed at once: any one-colour or blurred fill makes
    the two removed images alike (benchmarks/baselines.py: v(empty) >= v(N) in nearly every pair), so the
    advice is a background baseline, whose fills of the two sides are independent photos.
    """
    base, full = float(base_value), float(full_value)
    if not (np.isfinite(base) and np.isfinite(full)):
        return None
    if (base < full) if higher_is_better else (base > full):
        return None
    name = "the baseline" if baseline is None else f"the baseline {str(baseline)!r}"
    if joint:
        advice = ("In the joint game both images are removed at once and one-colour or blurred fills make them "
                  "alike; fill from other photos instead (--baseline background:DIR, a folder of unrelated photos), "
                  "or read the cross values as relative only.")
    else:
        others = [b for b in ("gray", "blur", "mean") if str(baseline).split(":")[0].lower() != b][:2]
        advice = (f"Try another baseline (--baseline {others[0]} or --baseline {others[1]}) so that removing "
                  f"regions lowers the score.")
    return (
        f"{name} scores at least as well as the full pair (base {base:.4f}, full {full:.4f}): with every region "
        f"removed the images look as similar as the originals, so the values add up to {full - base:+.4f} and read "
        f"as 'regions that make the pair less similar'. {advice}"
    )


def summary_sentence(*, query_values: np.ndarray | None, hit_values: np.ndarray | None,
                     cross: np.ndarray | None, base_value: float, full_value: float,
                     query_labels: np.ndarray | None = None, hit_labels: np.ndarray | None = None,
                     higher_is_better: bool = True, baseline: object = None,
                     hit_base_value: float | None = None, warn: bool = True,
                     query_words: Sequence[str] | None = None) -> str:
    """One sentence that says why the hit matched, with the regions' positions and shares.

    Order 2 (``cross`` given): the strongest query<->hit pair. Order 1: the strongest region of each
    explained side (``hit_base_value``: the hit side's own v(empty) when both sides were explained, each
    against the other image complete). The baseline warning, when there is one, comes first (``warn=False``:
    leave it out, e.g. when it was printed already). ``query_words``: the query is a text, its players
    these words.
    """
    pick = np.argmax if higher_is_better else np.argmin
    verb = "matched" if higher_is_better else "is close"
    if cross is not None:
        c = np.asarray(cross, dtype=np.float64)
        i, j = np.unravel_index(int(pick(c)), c.shape)
        q = regions(query_labels, c.shape[0], "query", query_words)[i]
        h = regions(hit_labels, c.shape[1], "hit")[j]
        sh = shares(np.array([c[i, j]]), base_value, full_value)
        share = "" if sh is None else f" ({100 * sh[0]:.0f} % of the score)"
        body = f"The hit {verb} mostly on {q.name} <-> {h.name}{share}."
    else:
        phrases = []
        hit_base = base_value if hit_base_value is None else hit_base_value
        sides = (("query", query_values, query_labels, base_value), ("hit", hit_values, hit_labels, hit_base))
        for side, vals, labels, base in sides:
            if vals is None or len(vals) == 0:
                continue
            v = np.asarray(vals, dtype=np.float64)
            k = int(pick(v))
            sh = shares(v, base, full_value)
            words = query_words if side == "query" else None
            phrases.append(regions(labels, len(v), side, words)[k].phrase(None if sh is None else float(sh[k])))
        body = f"The hit {verb} mostly on {' and '.join(phrases)}." if phrases else "No region was explained."
    if not warn:
        return body
    bases = [base_value] if hit_base_value is None or query_values is None else [base_value, hit_base_value]
    warning = next((w for w in (baseline_warning(b, full_value, higher_is_better=higher_is_better, baseline=baseline,
                                                 joint=cross is not None) for b in bases) if w), None)
    return body if warning is None else f"Warning: {warning} {body}"


__all__ = [
    "Region",
    "baseline_warning",
    "position_word",
    "region_centroids",
    "regions",
    "shares",
    "summary_sentence",
]
