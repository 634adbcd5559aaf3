"""Check that our numbers are Qdrant's numbers.

* :func:`check_score_parity`: recompute a hit's score from the query vector and
  the hit's stored vector with :func:`qdrant_explain.explainers.scores.score_rows`
  (the same function the explanation games use) and compare with the score
  Qdrant returned. Cosine: Qdrant normalises stored vectors at insert and the
  query at search; dot: inner product; euclid: Qdrant returns the L2 distance;
  manhattan: the L1 distance.
* :func:`compare_vectors` / :func:`check_stored_vector`: does a fresh encode of
  the hit's payload image agree with the vector stored in Qdrant? A different
  model, preprocessing or dtype shows up here, with the size of the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qdrant_explain.explainers.scores import check_score, normalize_rows, score_rows

SCORE_RTOL = 1e-4
"""Relative error allowed between a recomputed score and Qdrant's."""


def qdrant_score(query: Any, stored: Any, distance: str) -> float:
    """The score Qdrant gives ``stored`` (as returned with ``with_vectors``) for ``query``.

    Vectors are rounded to float32 first, as Qdrant stores and receives them.
    """
    q = np.asarray(query, dtype=np.float32).astype(np.float64).reshape(1, -1)
    s = np.asarray(stored, dtype=np.float32).astype(np.float64).reshape(1, -1)
    return float(score_rows(q, s, check_score(distance))[0])


@dataclass(frozen=True)
class ScoreParity:
    """Recomputed versus returned score of one hit.

    Attributes:
        qdrant: the score Qdrant returned.
        recomputed: our score from the query vector and the stored vector.
        rel_error: |recomputed - qdrant| / max(|qdrant|, floor), where floor is
            1e-3 of the score's natural scale (1 for cosine, |q||s| for dot,
            |q| + |s| for euclid, |q|_1 + |s|_1 for manhattan), so that a score
            of (nearly) zero, e.g. an image found as its own hit, compares sanely.
        ok: rel_error <= rtol.
    """

    qdrant: float
    recomputed: float
    rel_error: float
    ok: bool


def check_score_parity(hit: Any, query_vector: Any, distance: str, *, rtol: float = SCORE_RTOL) -> ScoreParity:
    """Compare a search hit's score with our recomputation from its stored vector.

    Args:
        hit: a :class:`~qdrant_explain.connectors.qdrant.Hit` searched with ``with_vectors=True``.
        query_vector: the (d,) query vector that produced the hit.
        distance: the collection's distance.
        rtol: tolerance for ``ok``.

    Raises:
        ValueError: the hit carries no stored vector.
    """
    if getattr(hit, "vector", None) is None:
        raise ValueError(f"Hit {getattr(hit, 'id', '?')!r} has no stored vector; search with with_vectors=True.")
    metric = check_score(distance)
    ours = qdrant_score(query_vector, hit.vector, metric)
    theirs = float(hit.score)
    rel = abs(ours - theirs) / max(abs(theirs), _score_floor(query_vector, hit.vector, metric))
    return ScoreParity(qdrant=theirs, recomputed=ours, rel_error=rel, ok=rel <= rtol)


def _score_floor(query: Any, stored: Any, metric: str) -> float:
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    s = np.asarray(stored, dtype=np.float64).reshape(-1)
    scale = {"cosine": 1.0, "dot": float(np.linalg.norm(q) * np.linalg.norm(s)),
             "euclid": float(np.linalg.norm(q) + np.linalg.norm(s)),
             "manhattan": float(np.abs(q).sum() + np.abs(s).sum())}[metric]
    return max(1e-3 * scale, 1e-12)


@dataclass(frozen=True)
class VectorAgreement:
    """A stored vector against a fresh encode of the same image.

    Attributes:
        cosine: cosine similarity of the two vectors.
        rel_diff: ||fresh' - stored|| / ||stored||, where fresh' is normalised
            first for cosine collections (Qdrant stored the unit vector).
        agrees: rel_diff <= tol.
        message: one line saying whether and by how much they differ.
    """

    cosine: float
    rel_diff: float
    agrees: bool
    message: str


def compare_vectors(stored: Any, fresh: Any, distance: str, *, tol: float = 1e-3) -> VectorAgreement:
    """Compare a stored vector with a fresh encode (see :class:`VectorAgreement`)."""
    s = np.asarray(stored, dtype=np.float64).reshape(-1)
    f = np.asarray(fresh, dtype=np.float64).reshape(-1)
    if s.shape != f.shape:
        return VectorAgreement(float("nan"), float("inf"), False,
                               f"stored vector has {s.size} dimensions, fresh encode {f.size}: different encoders.")
    if check_score(distance) == "cosine":  # cosine ignores length: Qdrant may store either the raw or the unit vector
        s, f = normalize_rows(s[None])[0], normalize_rows(f[None])[0]
    cos = float(normalize_rows(s[None])[0] @ normalize_rows(f[None])[0])
    rel = float(np.linalg.norm(f - s) / max(np.linalg.norm(s), 1e-12))
    ok = rel <= tol
    msg = (f"stored vector matches a fresh encode (relative difference {rel:.2e})" if ok else
           f"stored vector differs from a fresh encode of the payload image: relative difference {rel:.3g}, "
           f"cosine {cos:.4f}; the collection was probably built with another model, preprocessing or dtype, "
           "so explanations of the fresh encode will not add up to Qdrant's score exactly")
    return VectorAgreement(cos, rel, ok, msg)


def check_stored_vector(collection: Any, hit: Any, encoder: Any, *, tol: float = 1e-3) -> VectorAgreement:
    """Resolve the hit's image, encode it with ``encoder`` and compare with the stored vector."""
    if getattr(hit, "vector", None) is None:
        hit = collection.retrieve([hit.id], with_vectors=True)[0]
    image = collection.resolve_image(hit)
    fresh = np.asarray(encoder.encode(encoder.prepare(image).pixels[None]), dtype=np.float64)[0]
    return compare_vectors(hit.vector, fresh, collection.info.distance, tol=tol)


__all__ = ["SCORE_RTOL", "ScoreParity", "VectorAgreement", "check_score_parity", "check_stored_vector",
           "compare_vectors", "qdrant_score"]
