"""Image games on top of side evaluators: query side, hit side, joint and relative.

Every game is a value function (bool (m, n) -> (m,) floats) usable with
:func:`~.api.explain_game`; its value is Qdrant's raw score (see
:mod:`.scores` for the sign convention of distances). Encodes are cached in the
:class:`~.side.SideEvaluator`, so

- **multi-hit**: one :class:`QueryGame` holding k hit embeddings scores every
  masked query against all k hits at once (:meth:`QueryGame.values`), and
  :meth:`QueryGame.for_hit` gives the per-hit games that share the same encodes:
  explaining 10 hits with the same plan costs the passes of one;
- **joint**: :class:`JointGame` splits each coalition into its query and hit
  masks, encodes the distinct masks of each side once and scores the
  combinations (see :mod:`.joint` for the exact and sampled order-2 indices).
"""

from __future__ import annotations

import numpy as np

from ._typing import CoalitionMatrix, GameValues
from .scores import check_score, score_matrix, score_rows
from .side import SideEvaluator


def _fixed_embeddings(embeddings: object, name: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(embeddings, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a (d,) vector or a (k, d) matrix of embeddings; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values; a stored vector must be finite.")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(
            f"{name} has dimension {arr.shape[1]} but the encoder produces {dim}-d embeddings; "
            f"pass a vector from the same encoder (and collection) as the query."
        )
    return arr


class QueryGame:
    """Mask the query; the hit embedding(s) stay fixed (possibly stored vectors from Qdrant).

    Args:
        query: side evaluator of the query's players.
        hit_embeddings: (d,) or (k, d) fixed embeddings of the hit(s).
        score: Qdrant metric.
        hit: which hit ``__call__`` scores against (default 0).

    Calling the game returns score(embed(query masked to S), hit[hit]) for
    every row S; :meth:`values` returns all k hits at once.
    """

    def __init__(self, query: SideEvaluator, hit_embeddings: object, score: str = "cosine", *, hit: int = 0) -> None:
        self.side = query
        self.score = check_score(score)
        self.hits = _fixed_embeddings(hit_embeddings, "hit_embeddings", query.dim)
        if not 0 <= int(hit) < self.hits.shape[0]:
            raise ValueError(f"hit must be in 0..{self.hits.shape[0] - 1}; got {hit}.")
        self.hit = int(hit)

    @property
    def n_players(self) -> int:
        """Players of the masked side."""
        return self.side.n_players

    def values(self, coalitions: CoalitionMatrix) -> np.ndarray:
        """(m, k) scores of every masked query against every hit."""
        emb = self.side.embed(coalitions)
        if emb.shape[1] != self.hits.shape[1]:
            raise ValueError(
                f"hit_embeddings have dimension {self.hits.shape[1]} but the {self.side.name} encoder returns "
                f"{emb.shape[1]}-d embeddings; pass a vector from the same encoder."
            )
        return score_matrix(emb, self.hits, self.score)

    def __call__(self, coalitions: CoalitionMatrix) -> GameValues:
        return self.values(coalitions)[:, self.hit]

    def for_hit(self, k: int) -> "QueryGame":
        """The same game against hit ``k``; shares the encode cache (no extra passes)."""
        game = QueryGame.__new__(QueryGame)
        game.side, game.score, game.hits = self.side, self.score, self.hits
        if not 0 <= int(k) < self.hits.shape[0]:
            raise ValueError(f"hit must be in 0..{self.hits.shape[0] - 1}; got {k}.")
        game.hit = int(k)
        return game


class HitGame(QueryGame):
    """Mask the hit; the query embedding stays fixed. Same interface as :class:`QueryGame`.

    Args:
        hit: side evaluator of the hit's players.
        query_embedding: (d,) embedding of the full query.
        score: Qdrant metric.

    Cosine, dot, euclid and manhattan are symmetric, so the value is
    score(query, embed(hit masked to S)).
    """

    def __init__(self, hit: SideEvaluator, query_embedding: object, score: str = "cosine") -> None:
        super().__init__(hit, query_embedding, score)


class RelativeGame:
    """Why does hit A outrank hit B: v(S) = score(q_S, A) - score(q_S, B), the query masked.

    Args:
        query: side evaluator of the query.
        hit_a: (d,) embedding of hit A.
        hit_b: (d,) embedding of hit B.
        score: Qdrant metric (for distances the value is dist(q, A) - dist(q, B),
            negative when A is closer).
    """

    def __init__(self, query: SideEvaluator, hit_a: object, hit_b: object, score: str = "cosine") -> None:
        pair = np.concatenate([_fixed_embeddings(hit_a, "hit_a", query.dim), _fixed_embeddings(hit_b, "hit_b", query.dim)])
        if pair.shape[0] != 2:
            raise ValueError("hit_a and hit_b must each be one (d,) embedding.")
        self._game = QueryGame(query, pair, score)
        self.side = query
        self.score = self._game.score

    @property
    def n_players(self) -> int:
        """Players of the query."""
        return self.side.n_players

    def __call__(self, coalitions: CoalitionMatrix) -> GameValues:
        both = self._game.values(coalitions)
        return both[:, 0] - both[:, 1]


class JointGame:
    """Players = query regions (first nq columns) then hit regions (next nh columns).

    v(S) = score(embed_q(S ∩ Q), embed_h(S ∩ H)). A call encodes only the
    distinct query masks and distinct hit masks of its rows (cached across
    calls), then scores the rows. Attributes ``query`` and ``hit`` expose the
    side evaluators, whose ``encoder_passes`` add up to the true cost.
    """

    def __init__(self, query: SideEvaluator, hit: SideEvaluator, score: str = "cosine") -> None:
        self.query, self.hit = query, hit
        self.score = check_score(score)
        self.n_query, self.n_hit = query.n_players, hit.n_players

    @property
    def n_players(self) -> int:
        """nq + nh."""
        return self.n_query + self.n_hit

    @property
    def encoder_passes(self) -> int:
        """Distinct query masks + distinct hit masks encoded so far."""
        return self.query.encoder_passes + self.hit.encoder_passes

    def __call__(self, coalitions: CoalitionMatrix) -> GameValues:
        z = np.asarray(coalitions, dtype=bool)
        if z.ndim != 2 or z.shape[1] != self.n_players:
            raise ValueError(f"JointGame expects a (m, {self.n_players}) coalition matrix; got shape {z.shape}.")
        eq = self.query.embed(z[:, : self.n_query])
        eh = self.hit.embed(z[:, self.n_query :])
        if eq.shape[1] != eh.shape[1]:
            raise ValueError(
                f"query embeddings have dimension {eq.shape[1]} but hit embeddings {eh.shape[1]}; "
                f"both sides must use the same encoder."
            )
        return score_rows(eq, eh, self.score)


__all__ = ["QueryGame", "HitGame", "RelativeGame", "JointGame"]
