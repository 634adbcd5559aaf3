"""Qdrant's scores for every query shape, as Qdrant computes them, and their exact additive splits.

Nearest-neighbour scores are in :mod:`.scores`. This module adds the shapes of
``query_points`` that are not one vector against one vector, each reproduced
from Qdrant's own definitions (the embedded engine of qdrant-client,
``qdrant_client/local/distances.py``, ``multi_distances.py`` and
``hybrid/fusion.py``, checked against Qdrant Edge in the tests), in float32 as
Qdrant computes them:

================= ============================================================================
shape             score of a candidate vector ``h``
================= ============================================================================
recommend         ``average_vector``: the nearest score of ``2 mean(P) - mean(N)`` (``mean(P)``
                  without negatives); ``best_score``: ``s(max_p core(p, h))`` when the best
                  positive beats the best negative, else ``-s(max_n core(n, h))`` (``s`` is
                  the scaled fast sigmoid); ``sum_scores``: ``sum_p core(p, h) - sum_n core(n, h)``
discovery         ``sum_pairs rank_i + s(core(target, h))``, ``rank_i`` = +1 / 0 / -1 when ``h`` is
                  closer to the pair's positive / equally close / closer to its negative
context           ``sum_pairs fast_sigmoid(min(core(pos, h) - core(neg, h) - eps, 0))``
MaxSim            ``sum_tokens max_patches sim(q_t, h_p)`` (multivectors)
RRF fusion        ``sum_prefetches 1 / ((rank + 1) / w + k - 1)`` (rank from 0, default k = 2)
DBSF fusion       ``sum_prefetches (score - (mean - 3 sd)) / (6 sd)`` over each prefetch's results
================= ============================================================================

``core`` is Qdrant's internal similarity: cosine similarity, dot product, minus the
squared L2 distance (euclid), minus the L1 distance (manhattan).

Discovery, context, MaxSim and both fusions are sums of one term per pair, per query
token or per prefetch: those terms *are* the exact split of the score
(:func:`discovery_terms`, :func:`context_terms`, :func:`maxsim_terms`, :func:`rrf_terms`,
:func:`dbsf_terms`). Recommend is not a sum, so its examples are players of a game
(:func:`recommend_game_table`, exact Shapley over all subsets of examples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .scores import check_score

STRATEGIES = ("average_vector", "best_score", "sum_scores")
"""Qdrant's recommend strategies (``models.RecommendStrategy`` values)."""

EPSILON = np.float32(1.1920929e-7)
"""f32::EPSILON, as in Qdrant's context score."""

DEFAULT_RRF_K = 2
"""Qdrant's default RRF ranking constant."""

MAX_EXAMPLES = 16
"""Most recommend examples of an exact game (2^16 example subsets, no encoder pass)."""


def check_strategy(strategy: object) -> str:
    """Normalise a recommend strategy (also Qdrant's ``RecommendStrategy`` enum) or raise ValueError."""
    name = getattr(strategy, "value", strategy)
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else None
    if key not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} (Qdrant's recommend strategies); "
                         f"got {strategy!r}.")
    return key


def _rows(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (d,) vector or an (m, d) matrix; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return arr


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms != 0.0, norms, EPSILON)


def core_scores(queries: object, vectors: object, metric: str) -> np.ndarray:
    """Qdrant's internal similarity of every query row against every vector row, (k, m) float32.

    Cosine similarity, dot product, ``-||q - h||^2`` (euclid) or ``-||q - h||_1`` (manhattan):
    higher is always closer. Recommend, discovery and context scores are built from it. ``metric`` may
    be a :class:`~qdrant_explain.explainers.maxsim.MaxSimScore`: rows are then flattened multivectors and
    the core similarity is MaxSim's (Qdrant's recommend, discovery and context on multivector vectors).
    """
    metric = check_score(metric)
    if callable(getattr(metric, "core", None)):  # a MaxSimScore: rows are flattened multivectors
        return np.asarray(metric.core(_rows(queries, "queries"), _rows(vectors, "vectors")), dtype=np.float32)
    q, v = _rows(queries, "queries"), _rows(vectors, "vectors")
    if q.shape[1] != v.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but vectors {v.shape[1]}; use vectors of one "
                         "collection vector.")
    if metric == "cosine":
        return (_unit(q) @ _unit(v).T).astype(np.float32)
    if metric == "dot":
        return (q @ v.T).astype(np.float32)
    diff = v[None, :, :] - q[:, None, :]
    if metric == "euclid":
        return -np.square(diff, dtype=np.float32).sum(axis=-1, dtype=np.float32)
    return -np.abs(diff, dtype=np.float32).sum(axis=-1, dtype=np.float32)


def nearest_scores(query: object, vectors: object, metric: str) -> np.ndarray:
    """The score a nearest query returns for each vector, (m,): cosine, dot, L2 or L1 distance."""
    metric = check_score(metric)
    core = core_scores(query, vectors, metric)[0]
    metric = getattr(metric, "metric", metric)  # a MaxSimScore transforms like its distance
    if metric == "euclid":
        return np.sqrt(np.abs(core)).astype(np.float32)
    if metric == "manhattan":
        return np.abs(core)
    return core


def fast_sigmoid(x: np.ndarray) -> np.ndarray:
    """Qdrant's ``x / (1 + |x|)`` in float32 (inf and NaN pass through)."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        out = x / (np.float32(1.0) + np.abs(x))
    return np.where(np.isfinite(x), out, x).astype(np.float32)


def scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    """Qdrant's ``0.5 (fast_sigmoid(x) + 1)``, in (0, 1)."""
    return (np.float32(0.5) * (fast_sigmoid(x) + np.float32(1.0))).astype(np.float32)


def average_vector(positive: object, negative: object | None = None) -> np.ndarray:
    """The query vector of ``average_vector``: ``2 mean(P) - mean(N)``, or ``mean(P)`` without negatives.

    Raises:
        ValueError: no positive example (Qdrant refuses it too).
    """
    p = _rows(positive, "positive") if positive is not None and np.size(positive) else None
    if p is None:
        raise ValueError("strategy 'average_vector' needs at least one positive example; got none. Add a positive "
                         "example or use strategy 'best_score' or 'sum_scores'.")
    mean_p = p.astype(np.float64).mean(axis=0)
    if negative is None or not np.size(negative):
        return mean_p.astype(np.float32)
    n = _rows(negative, "negative")
    return (mean_p + mean_p - n.astype(np.float64).mean(axis=0)).astype(np.float32)


def recommend_scores(positive: object, negative: object, vectors: object, *, strategy: str,
                     metric: str) -> np.ndarray:
    """Qdrant's recommend score of each vector row, (m,) float32.

    Args:
        positive: (p, d) positive example vectors (p may be 0).
        negative: (n, d) negative example vectors (n may be 0).
        vectors: (m, d) candidate vectors.
        strategy: one of :data:`STRATEGIES`.
        metric: the collection's distance.

    Raises:
        ValueError: no example at all, or ``average_vector`` without a positive example.
    """
    strategy, metric = check_strategy(strategy), check_score(metric)
    v = _rows(vectors, "vectors")
    d = v.shape[1]
    p = np.asarray(positive, dtype=np.float32).reshape(-1, d) if positive is not None else np.zeros((0, d), np.float32)
    n = np.asarray(negative, dtype=np.float32).reshape(-1, d) if negative is not None else np.zeros((0, d), np.float32)
    if strategy == "average_vector":
        return nearest_scores(average_vector(p, n), v, metric)
    if len(p) + len(n) == 0:
        raise ValueError(f"strategy {strategy!r} needs at least one positive or negative example; got none.")
    if strategy == "sum_scores":
        pos = core_scores(p, v, metric).sum(axis=0, dtype=np.float32) if len(p) else np.zeros(len(v), np.float32)
        neg = core_scores(n, v, metric).sum(axis=0, dtype=np.float32) if len(n) else np.zeros(len(v), np.float32)
        return (pos - neg).astype(np.float32)
    pos = core_scores(p, v, metric).max(axis=0) if len(p) else np.full(len(v), -np.inf, np.float32)
    neg = core_scores(n, v, metric).max(axis=0) if len(n) else np.full(len(v), -np.inf, np.float32)
    return np.where(pos > neg, scaled_fast_sigmoid(pos), -scaled_fast_sigmoid(neg)).astype(np.float32)


def recommend_defined(n_positive: int, n_negative: int, strategy: str) -> bool:
    """Whether Qdrant accepts a recommend query with these many examples (the game's value is 0 otherwise)."""
    if check_strategy(strategy) == "average_vector":
        return n_positive > 0
    return n_positive + n_negative > 0


@dataclass(frozen=True)
class ExampleTable:
    """Every subset of recommend examples and the hit's score under it.

    Attributes:
        values: (2^n,) value of each subset in bitmask order (example i = bit i); 0 where
            Qdrant accepts no query (no example; ``average_vector`` without a positive).
        defined: (2^n,) bool, whether Qdrant accepts the subset's query.
        n_positive: the first ``n_positive`` players are the positive examples, the rest negative.
    """

    values: np.ndarray
    defined: np.ndarray
    n_positive: int


def subset_masks(n: int) -> np.ndarray:
    """(2^n, n) bool: row s holds the players of bitmask s (player i = bit i)."""
    s = np.arange(2**n)[:, None]
    return ((s >> np.arange(n)[None, :]) & 1).astype(bool)


def recommend_game_table(positive: object, negative: object, hit: object, *, strategy: str,
                         metric: str) -> ExampleTable:
    """The recommend game of one hit: players are the examples (positives first), value = Qdrant's score.

    Args:
        positive: (p, d) positive example vectors; negative: (n, d) negative example vectors.
        hit: (d,) the hit's stored vector.
        strategy, metric: Qdrant's strategy and the collection's distance.

    Raises:
        ValueError: more than :data:`MAX_EXAMPLES` examples, or vectors of different dimensions.
    """
    strategy = check_strategy(strategy)
    h = _rows(hit, "hit")
    d = h.shape[1]
    p = np.asarray(positive, dtype=np.float32).reshape(-1, d)
    n = np.asarray(negative, dtype=np.float32).reshape(-1, d)
    k = len(p) + len(n)
    if k > MAX_EXAMPLES:
        raise ValueError(f"an exact recommend game takes at most {MAX_EXAMPLES} examples (2^n subsets); got {k}. "
                         "Explain a query with fewer examples.")
    masks = subset_masks(k)
    values = np.zeros(2**k, dtype=np.float64)
    defined = np.zeros(2**k, dtype=bool)
    examples = np.concatenate([p, n]) if k else np.zeros((0, d), np.float32)
    for s, row in enumerate(masks):
        pos, neg = examples[: len(p)][row[: len(p)]], examples[len(p):][row[len(p):]]
        if recommend_defined(len(pos), len(neg), strategy):
            defined[s] = True
            values[s] = float(recommend_scores(pos, neg, h, strategy=strategy, metric=metric)[0])
    return ExampleTable(values=values, defined=defined, n_positive=len(p))


def discovery_terms(target: object, pairs: object, vectors: object, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The exact split of Qdrant's discovery score: (m, pairs) rank terms in {-1, 0, 1} and (m,) target term.

    ``score = ranks.sum(axis=1) + target_term``; ``target_term = s(core(target, h))`` lies in (0, 1),
    so a candidate's integer part counts the pairs that let it through.

    Args:
        target: (d,) target vector; pairs: (k, 2, d) (positive, negative) context pairs.
        vectors: (m, d) candidates.
    """
    ranks = context_differences(pairs, vectors, metric=metric)
    ranks = np.sign(ranks).astype(np.int32)
    t = scaled_fast_sigmoid(core_scores(target, vectors, metric)[0])
    return ranks, t


def context_differences(pairs: object, vectors: object, *, metric: str) -> np.ndarray:
    """(m, k) ``core(pos_i, h) - core(neg_i, h)`` for every candidate and context pair (float32)."""
    v = _rows(vectors, "vectors")
    pr = np.asarray(pairs, dtype=np.float32)
    if pr.ndim != 3 or pr.shape[1] != 2 or pr.shape[2] != v.shape[1]:
        raise ValueError(f"pairs must be a (k, 2, d) array of (positive, negative) vectors with d = {v.shape[1]}; "
                         f"got shape {pr.shape}.")
    if len(pr) == 0:
        return np.zeros((len(v), 0), np.float32)
    pos = core_scores(pr[:, 0], v, metric)
    neg = core_scores(pr[:, 1], v, metric)
    return (pos - neg).T.astype(np.float32)


def discovery_scores(target: object, pairs: object, vectors: object, *, metric: str) -> np.ndarray:
    """Qdrant's discovery score of each candidate, (m,) float32."""
    ranks, t = discovery_terms(target, pairs, vectors, metric=metric)
    return (ranks.sum(axis=1).astype(np.float32) + t).astype(np.float32)


def context_terms(pairs: object, vectors: object, *, metric: str) -> np.ndarray:
    """The exact split of Qdrant's context score: (m, k) per-pair terms in (-1, 0]; score = their sum.

    A term is 0 when the candidate is closer to the pair's positive than to its negative.
    """
    diff = context_differences(pairs, vectors, metric=metric)
    return fast_sigmoid(np.minimum(diff - EPSILON, np.float32(0.0)))


def context_scores(pairs: object, vectors: object, *, metric: str) -> np.ndarray:
    """Qdrant's context score of each candidate, (m,) float32 (summed pair by pair, as Qdrant does)."""
    terms = context_terms(pairs, vectors, metric=metric)
    out = np.zeros(terms.shape[0], np.float32)
    for j in range(terms.shape[1]):
        out += terms[:, j]
    return out


# ----------------------------------------------------------------------------- multivectors


def _matrix(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be a (tokens, d) multivector; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return arr


@dataclass(frozen=True)
class MaxSimSplit:
    """The exact split of a MaxSim score over the query's tokens.

    Attributes:
        terms: (t,) per query token: its best similarity over the document's vectors (Qdrant's
            core similarity: cosine, dot, ``-||q - h||^2``, ``-||q - h||_1``).
        matched: (t,) index of the document vector each query token matched.
        core: ``terms.sum()``, the core MaxSim value.
        score: the score Qdrant returns: ``core`` for cosine/dot, ``sqrt(|core|)`` for euclid,
            ``|core|`` for manhattan.
    """

    terms: np.ndarray
    matched: np.ndarray
    core: float
    score: float


def maxsim_terms(query: object, document: object, *, metric: str) -> MaxSimSplit:
    """Split Qdrant's MaxSim score of ``document`` for the multivector ``query`` over query tokens.

    For cosine and dot the score is exactly ``terms.sum()``; for manhattan it is ``-terms.sum()``;
    for euclid ``sqrt(-terms.sum())`` (the terms add up to minus the squared score).
    """
    metric = check_score(metric)
    q, h = _matrix(query, "the query multivector"), _matrix(document, "the document multivector")
    sim = core_scores(q, h, metric)  # (t, s)
    matched = sim.argmax(axis=1)
    terms = sim[np.arange(len(q)), matched].astype(np.float32)
    core = float(np.sum(terms.astype(np.float64)))
    score = {"euclid": float(np.sqrt(abs(core))), "manhattan": abs(core)}.get(metric, core)
    return MaxSimSplit(terms=terms, matched=matched.astype(np.int64), core=core, score=score)


def maxsim_scores(queries: object, documents: object, *, metric: str) -> np.ndarray:
    """MaxSim scores of k query multivectors (k, t, d) against one document (s, d): (k,) float64.

    The masked-image game scores each masked query's tokens against the fixed document.
    """
    metric = check_score(metric)
    qs = np.asarray(queries, dtype=np.float32)
    if qs.ndim == 2:
        qs = qs[None]
    h = _matrix(documents, "the document multivector")
    if qs.ndim != 3 or qs.shape[2] != h.shape[1]:
        raise ValueError(f"query multivectors must be (k, t, {h.shape[1]}); got shape {qs.shape}.")
    k, t, d = qs.shape
    sim = core_scores(qs.reshape(k * t, d), h, metric).reshape(k, t, -1)
    core = sim.max(axis=2).astype(np.float64).sum(axis=1)
    if metric == "euclid":
        return np.sqrt(np.abs(core))
    if metric == "manhattan":
        return np.abs(core)
    return core


# ----------------------------------------------------------------------------- fusion


def rrf_terms(ranks: Sequence[int | None], *, k: int | None = None,
              weights: Sequence[float] | None = None) -> np.ndarray:
    """Qdrant's RRF score of one point split per prefetch: ``1 / ((rank + 1) / w + k - 1)``.

    Args:
        ranks: the point's 0-based rank in each prefetch's results, None where it is absent (term 0).
        k: ranking constant (None: Qdrant's default :data:`DEFAULT_RRF_K`).
        weights: per-prefetch weights (None: all 1; a weight <= 0 gives 0).

    Returns:
        (prefetches,) float64 terms; the fused score is their sum.
    """
    kk = DEFAULT_RRF_K if k is None else int(k)
    if weights is not None and len(weights) != len(ranks):
        raise ValueError(f"RRF weights must have one entry per prefetch ({len(ranks)}); got {len(weights)}.")
    out = np.zeros(len(ranks), dtype=np.float64)
    for i, r in enumerate(ranks):
        w = 1.0 if weights is None else float(weights[i])
        if r is None or w <= 0:
            continue
        out[i] = 1.0 / ((int(r) + 1.0) / w + kk - 1.0)
    return out


def dbsf_normalise(scores: Sequence[float]) -> np.ndarray:
    """Qdrant's DBSF normalisation of one prefetch's returned scores: ``(s - (mu - 3 sd)) / (6 sd)``.

    One result, or a zero spread, gives 0.5 to every point; ``sd`` is the sample standard deviation.
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    if len(s) == 1:
        return np.full(1, 0.5)
    mean = s.sum() / len(s)
    var = ((s - mean) ** 2).sum() / (len(s) - 1)
    if var == 0:
        return np.full(len(s), 0.5)
    sd = var**0.5
    low, high = mean - 3 * sd, mean + 3 * sd
    return (s - low) / (high - low)


def dbsf_terms(prefetch_scores: Sequence[Sequence[float]], positions: Sequence[int | None]) -> np.ndarray:
    """Qdrant's DBSF score of one point split per prefetch.

    Args:
        prefetch_scores: each prefetch's returned scores, in its result order.
        positions: the point's position in each prefetch's results (None: absent, term 0).

    Returns:
        (prefetches,) terms; the fused score is their sum.
    """
    out = np.zeros(len(prefetch_scores), dtype=np.float64)
    for i, (scores, pos) in enumerate(zip(prefetch_scores, positions, strict=True)):
        if pos is None:
            continue
        out[i] = dbsf_normalise(scores)[int(pos)]
    return out


__all__ = [
    "DEFAULT_RRF_K",
    "EPSILON",
    "ExampleTable",
    "MAX_EXAMPLES",
    "MaxSimSplit",
    "STRATEGIES",
    "average_vector",
    "check_strategy",
    "context_differences",
    "context_scores",
    "context_terms",
    "core_scores",
    "dbsf_normalise",
    "dbsf_terms",
    "discovery_scores",
    "discovery_terms",
    "fast_sigmoid",
    "maxsim_scores",
    "maxsim_terms",
    "nearest_scores",
    "recommend_defined",
    "recommend_game_table",
    "recommend_scores",
    "rrf_terms",
    "scaled_fast_sigmoid",
    "subset_masks",
]
