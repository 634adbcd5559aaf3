"""Product designs for joint games: Shapley-Taylor context weights, stratified masks per side, budget split."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np

from ..scores import normalize_rows


def context_weights(nq: int, nh: int) -> np.ndarray:
    """P[a, b]: Shapley-Taylor probability of a context with a query and b hit players (cross pairs).

    ``P[a, b] = (2/n) C(nq-1, a) C(nh-1, b) / C(n-1, a+b)`` for a < nq, b < nh;
    the entries sum to 1.
    """
    n = nq + nh
    p = np.zeros((nq, nh))
    for a in range(nq):
        for b in range(nh):
            p[a, b] = 2.0 / n * comb(nq - 1, a) * comb(nh - 1, b) / comb(n - 1, a + b)
    return p


def _size_blocks(z: np.ndarray, sizes: np.ndarray, n: int) -> list[np.ndarray]:
    return [np.flatnonzero(sizes == s) for s in range(n + 1)]


def _prep(emb: np.ndarray, metric: str) -> np.ndarray:
    return normalize_rows(emb) if metric == "cosine" else emb


def _balanced_masks(
    n: int, size: int, count: int, rng: np.random.Generator, taken: np.ndarray | None = None
) -> np.ndarray:
    """``count`` new distinct size-``size`` masks, each player included about equally often.

    ``taken`` (m, n) are masks of this size already drawn: they are never repeated
    and count towards the balance. Fewer rows come back when the stratum runs out.
    """
    taken = np.zeros((0, n), dtype=bool) if taken is None else np.asarray(taken, dtype=bool)
    seen = {row.tobytes() for row in taken}
    total = comb(n, size)
    count = min(count, total - len(seen))
    if count <= 0:
        return np.zeros((0, n), dtype=bool)
    if count + len(seen) >= total:
        rows = []
        for combo in itertools.combinations(range(n), size):
            row = np.zeros(n, dtype=bool)
            row[list(combo)] = True
            if row.tobytes() not in seen:
                rows.append(row)
        return np.array(rows, dtype=bool).reshape(-1, n)
    counts = taken.sum(axis=0).astype(np.float64)
    out = np.zeros((count, n), dtype=bool)
    r = tries = 0
    while r < count:
        if tries < 8:
            key = counts + rng.random(n)  # least-used players first, random tie-break
            chosen = np.argpartition(key, size - 1)[:size] if size < n else np.arange(n)
        else:  # rare collisions near full enumeration: plain uniform draw
            chosen = rng.choice(n, size=size, replace=False)
        row = np.zeros(n, dtype=bool)
        row[chosen] = True
        k = row.tobytes()
        if k in seen:
            tries += 1
            continue
        seen.add(k)
        counts[chosen] += 1
        out[r] = row
        r += 1
        tries = 0
    return out


def _side_minimum(n: int) -> list[int]:
    """Fewest masks per size so every player is both in and out of every middle stratum."""
    need = []
    for s in range(n + 1):
        if s in (0, n):
            need.append(1)
        else:
            need.append(min(comb(n, s), -(-n // min(s, n - s))))
    return need


def stratified_minimum_budget(n_query: int, n_hit: int) -> int:
    """Smallest encoder-pass budget ``method="stratified"`` accepts."""
    return sum(_side_minimum(n_query)) + sum(_side_minimum(n_hit))


def _allocate(n: int, budget: int, importance: np.ndarray) -> list[int]:
    """Masks per size: the minimum, then the rest in proportion to ``importance``, capped at C(n, s)."""
    counts = np.array(_side_minimum(n), dtype=np.int64)
    caps = np.array([comb(n, s) for s in range(n + 1)], dtype=np.float64)
    left = budget - int(counts.sum())
    imp = np.asarray(importance, dtype=np.float64).copy()
    while left > 0:
        open_ = (counts < caps) & (imp > 0)
        if not open_.any():
            break
        share = imp * open_
        extra = np.floor(left * share / share.sum()).astype(np.int64)
        extra = np.minimum(extra, (caps - counts).astype(np.int64))
        if extra.sum() == 0:  # hand out the remainder one by one, most important first
            for s in np.argsort(-share):
                if left == 0:
                    break
                if open_[s]:
                    counts[s] += 1
                    left -= 1
            break
        counts += extra
        left -= int(extra.sum())
    return [int(c) for c in counts]


def plan_side(
    n: int, budget: int, importance: np.ndarray, rng: np.random.Generator, pilot: np.ndarray | None = None
) -> np.ndarray:
    """Stratified masks for one side: (K, n) bool, sizes 0..n, about ``budget`` rows.

    With ``pilot`` (masks drawn already, e.g. :func:`pilot_side`) only the *new*
    masks are returned: pilot and new rows together follow the allocation.
    """
    counts = _allocate(n, budget, importance)
    pilot = np.zeros((0, n), dtype=bool) if pilot is None else np.asarray(pilot, dtype=bool)
    sizes = pilot.sum(axis=1)
    parts = []
    for s, c in enumerate(counts):
        have = pilot[sizes == s]
        parts.append(_balanced_masks(n, s, c - len(have), rng, taken=have))
    return np.concatenate(parts)


def pilot_side(n: int, rng: np.random.Generator) -> np.ndarray:
    """The smallest stratified design (:func:`_side_minimum` masks per size): the sampler's first round."""
    return np.concatenate([_balanced_masks(n, s, c, rng) for s, c in enumerate(_side_minimum(n))])


def stratum_spread(z: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """(n+1,) spread of the embeddings within each mask size: sqrt of the summed per-dimension variance.

    Sizes with fewer than two masks (0 and n) get the mean spread of the others, so
    the allocation (masks per size proportional to weight x spread: Neyman) never starves a stratum.
    """
    n = z.shape[1]
    sizes = z.sum(axis=1)
    spread = np.full(n + 1, np.nan)
    for s in range(n + 1):
        block = emb[sizes == s]
        if len(block) > 1:
            spread[s] = float(np.sqrt(block.var(axis=0).sum()))
    known = spread[np.isfinite(spread)]
    fill = float(known.mean()) if known.size and known.mean() > 0 else 1.0
    spread[~np.isfinite(spread)] = fill
    return np.maximum(spread, 1e-3 * fill)


def fixed_plan_side(n: int, budget: int, importance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One side's masks in a single round: (K, n) bool, a fixed count per size, sizes drawn independently.

    Counts follow :func:`_allocate` (the minimum, then the rest in proportion to
    ``importance``); each size draws its balanced masks (:func:`_balanced_masks`)
    from its own child generator, so the masks of one size are independent of
    every other size (what the cross-fitted control variate needs to be unbiased).
    """
    counts = _allocate(n, budget, importance)
    seeds = rng.integers(0, 2**63 - 1, size=n + 1)
    parts = [_balanced_masks(n, s, c, np.random.default_rng(int(seed))) for s, (c, seed) in enumerate(zip(counts, seeds))]
    return np.concatenate(parts)


def _side_importance(p: np.ndarray, axis: int) -> np.ndarray:
    """(n+1,) data-free Neyman weight of each mask size of one side in the cross estimator (sizes 0..n).

    A size-s mask enters ``delta[s-1, i] = m_i^+(s) - ...`` for the s players it
    holds and ``delta[s, i] = ... - m_i^-(s)`` for the n - s it lacks, each with the
    context weight ``M(a)`` of that side (the marginal of :func:`context_weights`).
    With c_s masks of size s, the first mean averages c_s s/n masks and the
    second c_s (n-s)/n, so the variance of the cross estimate is
    ``sum_s (M(s-1)^2 n/s + M(s)^2 n/(n-s)) sigma_s^2 / c_s``: minimised by
    ``c_s ~ sqrt(M(s-1)^2 n/s + M(s)^2 n/(n-s)) sigma_s``. The unbiased sampler takes
    the within-size spread sigma_s as flat (measured ~flat for normalised
    embeddings; 10 words x 49 regions: 1.7x lower MSE of the cross block than
    weights ``M(s-1) + M(s)`` times ``sqrt(s (n-s))``, ``benchmarks/RESULTS.md``),
    so its counts never depend on the embeddings; ``unbiased=False`` multiplies
    by the measured spread (:func:`stratum_spread`).
    """
    marg = p.sum(axis=1 - axis)  # weight of context size a (0..n-1)
    n = marg.shape[0]
    s = np.arange(n + 1, dtype=np.float64)
    var = np.zeros(n + 1)
    var[1:] += marg**2 * n / s[1:]  # M(s-1): masks of size s holding i, share s/n
    var[:-1] += marg**2 * n / (n - s[:-1])  # M(s): masks of size s without i, share (n-s)/n
    return np.sqrt(var)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


_SPLIT_POWER = 1.5
"""The sides share a budget in proportion to players ** 1.5 (equal sides: halves). 10 words x 49 regions at 1,900
passes: text masks 80, 140, 220, 322 (players ** 1) give rel. MSE of the cross block 0.0092, 0.0086, 0.0092, 0.0100;
** 1.5 gives 160 (``benchmarks/RESULTS.md``, "FIxLIP's cross-modal sampler"). The side with more players has more
(size, player) means to estimate and, with regions against words, the more interacting players."""


def _split_budget(nq: int, nh: int, budget: int) -> tuple[int, int]:
    """Share the pass budget between the sides in proportion to players ** :data:`_SPLIT_POWER`, capped at 2^n."""
    min_q, min_h = sum(_side_minimum(nq)), sum(_side_minimum(nh))
    cap_q, cap_h = 2**nq if nq < 62 else budget, 2**nh if nh < 62 else budget
    wq, wh = float(nq) ** _SPLIT_POWER, float(nh) ** _SPLIT_POWER
    bq = max(min_q, int(round(budget * wq / (wq + wh))))
    bq = min(bq, cap_q, budget - min_h)
    bh = min(budget - bq, cap_h)
    bq = min(cap_q, budget - bh)
    return bq, bh


__all__ = [
    "context_weights",
    "fixed_plan_side",
    "pilot_side",
    "plan_side",
    "stratified_minimum_budget",
    "stratum_spread",
]
