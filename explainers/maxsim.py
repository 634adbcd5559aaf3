"""MaxSim (late interaction) as a score of the image games: multivectors flattened to rows.

The side evaluators hold one embedding row per mask. A multivector encoder returns (m, t, d) token
matrices; the pipeline of sides flattens them to (m, t * d) rows (:func:`flatten_multivectors`) and
scores rows with a :class:`MaxSimScore`, which reshapes each row back to (t, d) and returns Qdrant's
MaxSim score: ``sum over query tokens of max over document tokens`` of the core similarity (cosine,
dot, ``-||q - h||^2``, ``-||q - h||_1``), then ``sqrt(|core|)`` for euclid and ``|core|`` for
manhattan, as :func:`~qdrant_explain.explainers.query_scores.maxsim_scores` and Qdrant compute it.

MaxSim is not bilinear, so joint (order-2) games score every (query mask, hit mask) combination of
the two cached side tables (still 2^nq + 2^nh encoder passes for the exact joint game).

Example:
    >>> import numpy as np
    >>> q, h = np.eye(4)[:2], np.eye(4)[1:3]            # 2 query tokens, 2 document tokens, d = 4
    >>> s = MaxSimScore("dot", dim=4)
    >>> float(s.matrix(q.reshape(1, -1), h.reshape(1, -1))[0, 0])   # token 0 matches nothing, token 1 itself
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 2**24  # bound on the elements of one (query tokens x document tokens) similarity block


def encoder_is_multivector(encoder: object) -> bool:
    """Whether ``encoder`` produces (m, t, d) token multivectors (its ``multivector`` attribute is True)."""
    return bool(getattr(encoder, "multivector", False))


def flatten_multivectors(embeddings: object, *, name: str = "encoder") -> np.ndarray:
    """(m, t, d) token multivectors as (m, t * d) rows (what the side evaluators cache).

    Raises:
        ValueError: not a 3-d array.
    """
    arr = np.asarray(embeddings, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"the {name} is a multivector encoder and must return (m, tokens, d) arrays; got shape "
                         f"{arr.shape}.")
    return arr.reshape(arr.shape[0], -1)


@dataclass(frozen=True)
class MaxSimScore:
    """Qdrant's MaxSim score of flattened multivectors, usable wherever a metric name is (a score object).

    Attributes:
        metric: the collection's distance (``"cosine"``, ``"dot"``, ``"euclid"``, ``"manhattan"``).
        dim: the size d of one token vector (rows hold ``t * d`` numbers).
    """

    metric: str
    dim: int

    def __post_init__(self) -> None:
        from .scores import check_score

        object.__setattr__(self, "metric", check_score(self.metric))
        if int(self.dim) < 1 or isinstance(self.dim, bool):
            raise ValueError(f"MaxSimScore(dim=...) is the size of one token vector, >= 1; got {self.dim!r}.")
        object.__setattr__(self, "dim", int(self.dim))

    @property
    def name(self) -> str:
        """``"maxsim:" + metric`` (what results record as their score)."""
        return f"maxsim:{self.metric}"

    @property
    def higher_is_better(self) -> bool:
        """Cosine and dot MaxSim are similarities; euclid / manhattan MaxSim are distances (as Qdrant returns them)."""
        return self.metric in ("cosine", "dot")

    def tokens(self, rows: object, what: str) -> np.ndarray:
        """(m, t, d) token matrices of flattened rows."""
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] % self.dim or arr.shape[1] == 0:
            raise ValueError(f"{what} must be flattened multivectors: rows of tokens x {self.dim} numbers; got shape "
                             f"{arr.shape}.")
        return arr.reshape(arr.shape[0], -1, self.dim)

    def matrix(self, query: object, hits: object) -> np.ndarray:
        """(mq, mh) MaxSim scores of every flattened query multivector against every flattened document."""
        core = self.core(query, hits)
        if self.metric == "euclid":
            return np.sqrt(np.abs(core))
        if self.metric == "manhattan":
            return np.abs(core)
        return core

    def core(self, query: object, hits: object) -> np.ndarray:
        """(mq, mh) core MaxSim (higher = closer: the sum over query tokens of the best core similarity), the
        similarity Qdrant's recommend, discovery and context formulas use for multivectors."""
        q, h = self.tokens(query, "query embeddings"), self.tokens(hits, "hit embeddings")
        if self.metric == "cosine":
            q, h = _unit(q), _unit(h)
        mq, t, d = q.shape
        mh, s, _ = h.shape
        core = np.empty((mq, mh), dtype=np.float64)
        hf = h.reshape(mh * s, d)
        step = max(1, _CHUNK // max(1, t * mh * s * (1 if self.metric in ("cosine", "dot") else d)))
        for a in range(0, mq, step):
            block = q[a : a + step]
            sim = _core(block.reshape(-1, d), hf, self.metric).reshape(block.shape[0], t, mh, s)
            core[a : a + block.shape[0]] = sim.max(axis=3).sum(axis=1)
        return core


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _core(q: np.ndarray, h: np.ndarray, metric: str) -> np.ndarray:
    """(a, b) core similarity (higher = closer) of token rows."""
    if metric in ("cosine", "dot"):
        return q @ h.T
    if metric == "euclid":
        sq = (q * q).sum(1)[:, None] + (h * h).sum(1)[None, :] - 2.0 * (q @ h.T)
        return -np.maximum(sq, 0.0)
    return -np.abs(q[:, None, :] - h[None, :, :]).sum(axis=2)


__all__ = ["MaxSimScore", "encoder_is_multivector", "flatten_multivectors"]
