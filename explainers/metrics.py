"""Fidelity metrics for explanations: ground-truth checks, faithfulness curves, sanity checks.

Numpy only, model-free. Three families:

* **Ground truth** (scenes whose similarity is known to come from shared objects):
  :func:`shared_object_ranking`, :func:`shared_relevance_mass` (first order) and
  :func:`correspondence_accuracy` (second order, query x hit cross indices).
* **Any model** (a game / value function is all they need):
  :func:`deletion_curve`, :func:`insertion_curve` (region removal / insertion in
  attribution order, with their AUC) and :func:`censoring_curve` (the censoring
  test of Hamilton et al., arXiv 2103.00370: keep only the top-attributed
  query x hit region pairs and measure how much similarity survives).
* **Sanity** (Adebayo et al. 2018): :func:`map_rank_correlation` between maps of
  a trained and a weight-randomised model.

Plus :func:`retrieval_metrics` (R@1, mAP, Spearman) for a score matrix against a
graded ground truth.

Players are integer region ids ``0 .. n-1``; an *attribution* is an (n,) float
vector (one-sided map) or an (nq, nh) cross matrix. Objects are given as region
ids, e.g. the grid cell a digit sits in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._typing import FloatMatrix, FloatVector, ValueFunction
from .evaluation import evaluate

# --------------------------------------------------------------------------- helpers


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of a 1-d array, ties get their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.shape[0], dtype=np.float64)
    sorted_x = x[order]
    # boundaries of tie groups
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x) != 0) + 1]
    ends = np.r_[starts[1:], x.shape[0]]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally long vectors (ties averaged); NaN if one is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman needs two vectors of the same length; got {a.shape} and {b.shape}.")
    ra, rb = _rankdata(a), _rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _check_vector(values: np.ndarray, name: str, caller: str) -> FloatVector:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{caller}({name}=...) must be a 1-d attribution vector; got shape {v.shape}.")
    if not np.isfinite(v).all():
        raise ValueError(f"{caller}({name}=...) contains NaN or inf.")
    return v


def _check_ids(ids, n: int, name: str, caller: str) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{caller}({name}=...) holds region ids outside 0..{n - 1}; got {arr.tolist()}.")
    return arr


# --------------------------------------------------------------------------- ground truth, order 1


def shared_object_ranking(values: np.ndarray, shared, unshared) -> float:
    """Fraction of (shared, unshared) object pairs where the shared object gets more credit.

    Args:
        values: (n,) attribution per region.
        shared: region ids of objects the other image also holds (what *should* explain the score).
        unshared: region ids of objects it does not hold.

    Returns:
        Fraction in [0, 1] of pairs (s, u) with ``values[s] > values[u]`` (ties count 1/2);
        NaN when either set is empty (no pair to rank).
    """
    v = _check_vector(values, "values", "shared_object_ranking")
    s = _check_ids(shared, v.shape[0], "shared", "shared_object_ranking")
    u = _check_ids(unshared, v.shape[0], "unshared", "shared_object_ranking")
    if s.size == 0 or u.size == 0:
        return float("nan")
    diff = v[s][:, None] - v[u][None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def ranking_pairs(values: np.ndarray, shared, unshared) -> tuple[int, int]:
    """(correctly ordered pairs, total pairs) behind :func:`shared_object_ranking`; ties count as wrong."""
    v = _check_vector(values, "values", "ranking_pairs")
    s = _check_ids(shared, v.shape[0], "shared", "ranking_pairs")
    u = _check_ids(unshared, v.shape[0], "unshared", "ranking_pairs")
    if s.size == 0 or u.size == 0:
        return 0, 0
    diff = v[s][:, None] - v[u][None, :]
    return int((diff > 0).sum()), int(diff.size)


def shared_relevance_mass(values: np.ndarray, shared, objects=None) -> float:
    """Share of the positive credit that lands on shared objects.

    ``sum_{s in shared} max(values[s], 0) / sum_{o in objects} max(values[o], 0)``,
    where ``objects`` defaults to every region. NaN when no region gets positive credit.
    """
    v = _check_vector(values, "values", "shared_relevance_mass")
    s = _check_ids(shared, v.shape[0], "shared", "shared_relevance_mass")
    o = np.arange(v.shape[0]) if objects is None else _check_ids(objects, v.shape[0], "objects", "shared_relevance_mass")
    pos = np.maximum(v, 0.0)
    total = pos[o].sum()
    return float(pos[s].sum() / total) if total > 0 else float("nan")


# --------------------------------------------------------------------------- ground truth, order 2


def correspondence_accuracy(cross: np.ndarray, matches: dict[int, int] | list[tuple[int, int]]) -> float:
    """Fraction of shared query objects whose strongest cross entry lands on their match in the hit.

    Args:
        cross: (nq, nh) query x hit interaction indices (rows: query regions).
        matches: query region -> hit region of the same object (e.g. the cell of
            the same-class digit), as a dict or (query, hit) pairs.

    Returns:
        Fraction in [0, 1]; ties at the maximum count as misses; NaN without matches.
    """
    c = np.asarray(cross, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"correspondence_accuracy(cross=...) must be an (nq, nh) matrix; got shape {c.shape}.")
    pairs = list(matches.items()) if isinstance(matches, dict) else [tuple(p) for p in matches]
    if not pairs:
        return float("nan")
    hits = 0
    for q, h in pairs:
        if not (0 <= q < c.shape[0] and 0 <= h < c.shape[1]):
            raise ValueError(
                f"correspondence_accuracy: match ({q}, {h}) is outside the cross matrix of shape {c.shape}."
            )
        row = c[q]
        others = np.delete(row, h)
        hits += bool(others.size == 0 or row[h] > others.max())
    return hits / len(pairs)


# --------------------------------------------------------------------------- any model: curves


@dataclass(frozen=True)
class Curve:
    """A deletion / insertion / censoring curve.

    Attributes:
        fractions: (K+1,) x axis in [0, 1] (share of regions removed / inserted / pairs kept).
        scores: (K+1,) game value at each step.
        normalized: (K+1,) ``(scores - v(empty)) / (v(full) - v(empty))`` (NaN-free: 0 when the
            game is flat).
        auc: trapezoid area under ``normalized`` over ``fractions``.
        n_evaluations: distinct coalitions evaluated.
    """

    fractions: FloatVector
    scores: FloatVector
    normalized: FloatVector
    auc: float
    n_evaluations: int


def _order(values: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Regions by decreasing attribution; exact ties broken at random (or by index)."""
    v = np.asarray(values, dtype=np.float64)
    tiebreak = rng.random(v.shape[0]) if rng is not None else -np.arange(v.shape[0], dtype=np.float64)
    return np.lexsort((-tiebreak, -v))


def _curve(value_fn: ValueFunction, path: np.ndarray, batch_size: int) -> Curve:
    """Scores along a path of coalitions, normalised by v(empty) -> 0 and v(full) -> 1.

    One evaluation covers the path plus the empty and full coalitions (deduplicated,
    so they cost nothing extra when the path already contains them).
    """
    n = path.shape[1]
    ends = np.array([np.zeros(n, bool), np.ones(n, bool)])
    ev = evaluate(value_fn, np.concatenate([path, ends]), batch_size=batch_size)
    scores, (base, full) = ev.values[:-2], ev.values[-2:]
    span = float(full - base)
    normalized = (scores - base) / span if abs(span) > 1e-12 else np.zeros_like(scores)
    steps = path.shape[0] - 1
    fractions = np.arange(steps + 1, dtype=np.float64) / max(steps, 1)
    auc = float(np.sum((normalized[1:] + normalized[:-1]) * 0.5 * np.diff(fractions)))
    return Curve(fractions=fractions, scores=scores, normalized=normalized, auc=auc, n_evaluations=ev.n_evaluations)


def _ordered_curve(
    value_fn: ValueFunction, values: np.ndarray, *, insert: bool, seed: int | None, batch_size: int, caller: str
) -> Curve:
    """Insert (or delete) regions one by one in decreasing attribution."""
    v = _check_vector(values, "values", caller)
    n = v.shape[0]
    order = _order(v, None if seed is None else np.random.default_rng(seed))
    z = np.full((n + 1, n), not insert, dtype=bool)
    for step, region in enumerate(order, start=1):
        z[step:, region] = insert
    return _curve(value_fn, z, batch_size)


def deletion_curve(
    value_fn: ValueFunction, values: np.ndarray, *, seed: int | None = 0, batch_size: int = 256
) -> Curve:
    """Remove regions one by one in decreasing attribution; the lower the AUC, the better the map.

    Args:
        value_fn: the game (boolean (m, n) coalitions -> m scores), e.g. the query-side similarity.
        values: (n,) attribution; the highest-attributed region is removed first.
        seed: breaks exact ties at random (None: by index).
        batch_size: coalitions per call of ``value_fn``.

    Returns:
        :class:`Curve` over n+1 coalitions, from all regions present to none.
        ``normalized`` maps v(full) to 1 and v(empty) to 0.
    """
    return _ordered_curve(value_fn, values, insert=False, seed=seed, batch_size=batch_size, caller="deletion_curve")


def insertion_curve(
    value_fn: ValueFunction, values: np.ndarray, *, seed: int | None = 0, batch_size: int = 256
) -> Curve:
    """Insert regions one by one in decreasing attribution, from none; the higher the AUC, the better."""
    return _ordered_curve(value_fn, values, insert=True, seed=seed, batch_size=batch_size, caller="insertion_curve")


def censoring_curve(
    joint_fn: ValueFunction,
    cross: np.ndarray,
    *,
    max_pairs: int | None = None,
    seed: int | None = 0,
    batch_size: int = 256,
) -> Curve:
    """Censoring test (Hamilton et al.): keep only the regions of the top-k cross pairs, k = 0..K.

    Pairs (i, j) are taken in decreasing ``cross[i, j]``; after k pairs the query keeps
    the union of their query regions and the hit the union of their hit regions, and
    everything else is censored in both images. The curve shows how much of the
    similarity survives; its AUC (higher is better) summarises it.

    Args:
        joint_fn: joint game on nq + nh players (query regions first, then hit regions).
        cross: (nq, nh) cross indices.
        max_pairs: K, the most pairs kept (default: all nq * nh; the curve usually
            saturates long before).
        seed: breaks exact ties at random (None: by index).
        batch_size: coalitions per call of ``joint_fn``.

    Returns:
        :class:`Curve`; ``fractions`` is k / K.
    """
    c = np.asarray(cross, dtype=np.float64)
    if c.ndim != 2 or not np.isfinite(c).all():
        raise ValueError(f"censoring_curve(cross=...) must be a finite (nq, nh) matrix; got shape {c.shape}.")
    nq, nh = c.shape
    k_max = nq * nh if max_pairs is None else int(min(max_pairs, nq * nh))
    if k_max < 1:
        raise ValueError(f"censoring_curve needs max_pairs >= 1; got {max_pairs}.")
    order = _order(c.ravel(), None if seed is None else np.random.default_rng(seed))[:k_max]
    z = np.zeros((k_max + 1, nq + nh), dtype=bool)
    for step, flat in enumerate(order, start=1):
        i, j = divmod(int(flat), nh)
        z[step:, i] = True
        z[step:, nq + j] = True
    return _curve(joint_fn, z, batch_size)


# --------------------------------------------------------------------------- sanity


def map_rank_correlation(a: np.ndarray, b: np.ndarray, *, absolute: bool = False) -> float:
    """Spearman correlation between two attribution maps of the same players (or pixels).

    ``absolute=True`` compares magnitudes (as in Adebayo et al.'s sanity checks).
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"map_rank_correlation needs maps of the same size; got {x.shape} and {y.shape}.")
    keep = np.isfinite(x) & np.isfinite(y)
    if absolute:
        x, y = np.abs(x), np.abs(y)
    return spearman(x[keep], y[keep])


# --------------------------------------------------------------------------- retrieval


@dataclass(frozen=True)
class RetrievalReport:
    """Retrieval quality of a score matrix against a graded truth.

    Attributes:
        r1_max: share of queries whose top hit has the maximal true overlap available.
        r1_any: share of queries whose top hit has positive true overlap (shares a class).
        map: mean average precision with relevance = positive true overlap.
        spearman: mean over queries of Spearman(score, true overlap) across the database.
        chance_r1_max, chance_r1_any, chance_map: the same for a random ranking (expected values).
    """

    r1_max: float
    r1_any: float
    map: float
    spearman: float
    chance_r1_max: float
    chance_r1_any: float
    chance_map: float

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return dict(self.__dict__)


def retrieval_metrics(scores: FloatMatrix, truth: FloatMatrix) -> RetrievalReport:
    """R@1, mAP and Spearman of a (queries x database) score matrix against true overlaps.

    Args:
        scores: (q, N) similarity of every query to every database item (higher = closer).
        truth: (q, N) graded true similarity (e.g. class overlap); > 0 means relevant.

    Returns:
        :class:`RetrievalReport`.
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if s.shape != t.shape or s.ndim != 2:
        raise ValueError(f"retrieval_metrics needs two (q, N) matrices of one shape; got {s.shape} and {t.shape}.")
    top = np.argmax(s, axis=1)
    rows = np.arange(s.shape[0])
    best = t.max(axis=1)
    r1_max = float(np.mean(np.isclose(t[rows, top], best)))
    rel = t > 0
    r1_any = float(np.mean(rel[rows, top]))
    aps, rhos = [], []
    for i in range(s.shape[0]):
        order = np.argsort(-s[i], kind="mergesort")
        r = rel[i, order]
        if r.any():
            hits = np.cumsum(r)
            aps.append(float(np.sum(hits[r] / (np.flatnonzero(r) + 1)) / r.sum()))
        rho = spearman(s[i], t[i])
        if np.isfinite(rho):
            rhos.append(rho)
    return RetrievalReport(
        r1_max=r1_max,
        r1_any=r1_any,
        map=float(np.mean(aps)) if aps else float("nan"),
        spearman=float(np.mean(rhos)) if rhos else float("nan"),
        chance_r1_max=float(np.mean(np.isclose(t, best[:, None]).mean(axis=1))),
        chance_r1_any=float(np.mean(rel.mean(axis=1))),
        chance_map=float(np.mean(rel.mean(axis=1))),
    )


__all__ = [
    "Curve",
    "RetrievalReport",
    "censoring_curve",
    "correspondence_accuracy",
    "deletion_curve",
    "insertion_curve",
    "map_rank_correlation",
    "ranking_pairs",
    "retrieval_metrics",
    "shared_object_ranking",
    "shared_relevance_mass",
    "spearman",
]
