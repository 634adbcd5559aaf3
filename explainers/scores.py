"""Qdrant's similarity scores, vectorised over every (query, hit) combination.

The value of an image game is the score Qdrant itself returns, so the full
coalition reproduces the number a search showed:

========== ============================================ ==================
metric     value                                        better
========== ============================================ ==================
cosine     <q/|q|, h/|h|> (Qdrant normalises at insert) higher = closer
dot        <q, h>                                       higher = closer
euclid     ||q - h||_2 (Qdrant returns the distance)    lower = closer
manhattan  ||q - h||_1                                  lower = closer
========== ============================================ ==================

Sign convention: games keep Qdrant's raw score. For ``euclid`` and
``manhattan`` a *positive* attribution therefore means "this region pushes the
images apart"; :func:`higher_is_better` tells plots and reports which way to
read the colours.
"""

from __future__ import annotations

import numpy as np

from ._typing import FloatMatrix

SCORES = ("cosine", "dot", "euclid", "manhattan")
"""Metric names accepted everywhere (Qdrant's ``Distance`` values, lower-cased)."""

BILINEAR_SCORES = ("cosine", "dot")
"""Scores that are a dot product of (possibly normalised) embeddings."""

_ALIASES = {"cos": "cosine", "euclidean": "euclid", "l2": "euclid", "l1": "manhattan", "dotproduct": "dot"}

_CHUNK_ELEMENTS = 2**24  # bound on the (mq, mh, d) temporaries of manhattan


def is_pair_score(score: object) -> bool:
    """Whether ``score`` is a score object (:class:`~qdrant_explain.explainers.maxsim.MaxSimScore`, or any
    object with ``name``, ``higher_is_better`` and ``matrix(query, hits) -> (mq, mh)``) rather than a metric name.

    Score objects carry games whose value is not one metric of two vectors (MaxSim over flattened
    multivectors, a recommend score); :func:`score_matrix` calls their ``matrix``.
    """
    return not isinstance(score, str) and callable(getattr(score, "matrix", None)) and hasattr(score, "name")


def score_name(score: object) -> str:
    """The metric name, or a score object's ``name`` (what results record)."""
    return str(score.name) if is_pair_score(score) else check_score(score)


def check_score(score: str) -> str:
    """Normalise a metric name (also Qdrant's ``Distance.COSINE`` etc.) or raise ValueError.

    A score object (:func:`is_pair_score`) is returned unchanged.
    """
    if is_pair_score(score):
        return score  # type: ignore[return-value]
    name = getattr(score, "value", score)
    if not isinstance(name, str):
        raise ValueError(f"score must be one of {SCORES}; got {score!r}.")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SCORES:
        raise ValueError(f"score must be one of {SCORES} (Qdrant's distances); got {score!r}.")
    return key


def higher_is_better(score: str) -> bool:
    """True for similarity scores (cosine, dot); False for distances (euclid, manhattan)."""
    if is_pair_score(score):
        return bool(score.higher_is_better)  # type: ignore[attr-defined]
    return check_score(score) in BILINEAR_SCORES


def normalize_rows(x: np.ndarray) -> FloatMatrix:
    """Rows scaled to unit L2 norm, as Qdrant stores cosine vectors (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _as_matrix(x: np.ndarray, name: str) -> FloatMatrix:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (d,) vector or an (m, d) matrix; got shape {arr.shape}.")
    return arr


def score_matrix(query: np.ndarray, hits: np.ndarray, score: str = "cosine") -> FloatMatrix:
    """Qdrant scores of every query row against every hit row.

    Args:
        query: (mq, d) or (d,) embeddings.
        hits: (mh, d) or (d,) embeddings.
        score: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.

    Returns:
        (mq, mh) float64 matrix of the values Qdrant would return.

    Raises:
        ValueError: unknown score or mismatched dimensions.
    """
    metric = check_score(score)
    if is_pair_score(metric):
        return np.asarray(metric.matrix(query, hits), dtype=np.float64)  # type: ignore[attr-defined]
    q, h = _as_matrix(query, "query"), _as_matrix(hits, "hits")
    if q.shape[1] != h.shape[1]:
        raise ValueError(
            f"score_matrix: query embeddings have dimension {q.shape[1]} but hit embeddings have "
            f"{h.shape[1]}; both sides must come from the same encoder."
        )
    if metric == "cosine":
        return normalize_rows(q) @ normalize_rows(h).T
    if metric == "dot":
        return q @ h.T
    if metric == "euclid":
        if q.shape[0] * h.shape[0] * q.shape[1] <= _CHUNK_ELEMENTS // 4:
            return np.sqrt(((q[:, None, :] - h[None, :, :]) ** 2).sum(axis=2))
        sq = (q * q).sum(1)[:, None] + (h * h).sum(1)[None, :] - 2.0 * (q @ h.T)
        return np.sqrt(np.maximum(sq, 0.0))
    out = np.empty((q.shape[0], h.shape[0]), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(1, h.shape[0] * h.shape[1]))
    for start in range(0, q.shape[0], step):
        block = q[start : start + step]
        out[start : start + block.shape[0]] = np.abs(block[:, None, :] - h[None, :, :]).sum(axis=2)
    return out


def score_rows(query: np.ndarray, hits: np.ndarray, score: str = "cosine") -> np.ndarray:
    """Row-wise scores score(query[r], hits[r]) for two (m, d) matrices; shape (m,)."""
    metric = check_score(score)
    q, h = _as_matrix(query, "query"), _as_matrix(hits, "hits")
    if is_pair_score(metric):
        if q.shape[0] != h.shape[0]:
            raise ValueError(f"score_rows needs as many query rows as hit rows; got {q.shape[0]} and {h.shape[0]}.")
        return np.array([float(metric.matrix(q[i : i + 1], h[i : i + 1])[0, 0]) for i in range(q.shape[0])])
    if q.shape != h.shape:
        raise ValueError(f"score_rows needs two matrices of the same shape; got {q.shape} and {h.shape}.")
    if metric == "cosine":
        return (normalize_rows(q) * normalize_rows(h)).sum(1)
    if metric == "dot":
        return (q * h).sum(1)
    if metric == "euclid":
        return np.sqrt(((q - h) ** 2).sum(1))
    return np.abs(q - h).sum(1)


__all__ = ["SCORES", "BILINEAR_SCORES", "check_score", "higher_is_better", "is_pair_score", "normalize_rows", "score_matrix",
           "score_name", "score_rows"]
