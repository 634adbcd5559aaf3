"""Every Qdrant query shape on :class:`~qdrant_explain.SearchExplainer`: nearest (also multivector MaxSim),
recommend, discover, context and fusion, each with ``explain=``.

Without ``explain`` a method runs the query and returns Qdrant's hits (:class:`~qdrant_explain.results.Hit`,
best first). With ``explain=True`` it returns a :class:`~qdrant_explain.shapes.ShapeExplanation` of one hit
(``hit=``: a point id or a Hit; None: the top hit): the score Qdrant returned beside the exact one
(stored vectors, and freshly encoded images when regions are drawn), the exact split over the shape's
players, then region maps (``order=2``: the joint correspondence) through the one pipeline of sides.

Example:
    >>> ex = SearchExplainer.open("photos", path="~/.qdrant-explain/db")              # doctest: +SKIP
    >>> ex.recommend([id1, id2], [id3], strategy="best_score", limit=5)              # doctest: +SKIP
    >>> why = ex.recommend([id1, id2], [id3], strategy="best_score", explain=True)   # doctest: +SKIP
    >>> why.values, why.total, why.exact_score, why.parity["gap"]                    # doctest: +SKIP
    >>> ex.fuse(["a.jpg", "b.jpg"], method="rrf", explain=True, order=2)             # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _is_image_like(x: Any) -> bool:
    import os

    from PIL import Image

    if isinstance(x, (str, os.PathLike)) and not _looks_like_id(x):
        return True
    if isinstance(x, Image.Image):
        return True
    return isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[-1] in (3, 4) and x.dtype == np.uint8


def _looks_like_id(x: Any) -> bool:
    import uuid

    if not isinstance(x, str):
        return False
    try:
        uuid.UUID(x)
        return True
    except ValueError:
        return x.isdigit()


class ShapeQueries:
    """The query-shape methods of :class:`~qdrant_explain.SearchExplainer` (a mixin: it uses the explainer's
    ``collection``, ``encoder``, defaults and ``_encode``)."""

    collection: Any
    encoder: Any
    batch_size: int
    progress: bool | None

    def query(self, shape: Any, *, limit: int = 10, filter: Any = None, explain: bool = False,  # noqa: A002
              hit: Any = None, query_image: Any = None, hit_image: Any = None, order: int = 1, side: str = "query",
              regions: bool = True, method: str | None = None, players: Any = None, baseline: Any = None,
              budget: int | None = None, seed: int | None = None, rescore: bool | None = None, log: Any = None) -> Any:
        """Run any shape of :mod:`qdrant_explain.connectors.shapes` (``Nearest``, ``Recommend``, ``Discover``,
        ``Context``, ``Fusion``); with ``explain=True`` explain one hit.

        Args:
            shape: the query shape (example / target / pair ids are looked up in the collection).
            limit: hits returned (with ``explain``: the results searched for the hit's rank).
            filter: a ``qdrant_client.models.Filter`` (or its dict form).
            explain: return a :class:`~qdrant_explain.shapes.ShapeExplanation` of ``hit`` instead of the hits.
            hit: the hit to explain (a point id or a Hit); None: the top hit.
            query_image: the image the nearest / prefetch vectors were encoded from (their region maps).
            hit_image, order, side, regions, rescore: as in :func:`qdrant_explain.shapes.explain_shape`.
            method, players, baseline, budget, seed: None uses this explainer's defaults.
            log: called with one line per plan.

        Returns:
            ``list[Hit]`` (best first), or a :class:`~qdrant_explain.shapes.ShapeExplanation`.
        """
        from qdrant_explain.connectors import shapes as S

        from .results import Hit

        if not explain:
            return [Hit.from_connector(h) for h in S.run_shape(self.collection, shape, limit=limit, query_filter=filter)]
        from .shapes import explain_shape

        o = self._options(method, players, baseline, budget, seed)  # type: ignore[attr-defined]
        return explain_shape(self.collection, shape, getattr(hit, "id", hit), encoder=self.encoder, regions=regions,
                             query_image=query_image, hit_image=hit_image, order=order, side=side, limit=limit,
                             query_filter=filter, rescore=rescore, batch_size=self.batch_size, progress=self.progress,
                             log=log, **o)

    def nearest(self, query: Any, *, using: str | None = None, **options: Any) -> Any:
        """Nearest neighbours of an image (encoded with this explainer's encoder: a (t, d) multivector with a
        multivector encoder on a MaxSim collection) or of a vector / multivector; ``**options`` as in :meth:`query`.

        An image is also the ``query_image`` of the explanation (its region map).
        """
        from qdrant_explain.connectors import shapes as S

        vector, image = self._shape_vector(query, "query")
        if image is not None:
            options.setdefault("query_image", image)
        return self.query(S.Nearest(vector, using=using), **options)

    def recommend(self, positive: Sequence[Any] = (), negative: Sequence[Any] = (), strategy: str = "average_vector",
                  *, using: str | None = None, **options: Any) -> Any:
        """Recommend by example point ids (or vectors) with one of Qdrant's strategies (``average_vector``,
        ``best_score``, ``sum_scores``); ``explain=True``: exact Shapley values over the examples, then the
        region map (``order=2``: the joint correspondence with the hit) of the example that drives the hit most.
        ``**options`` as in :meth:`query`."""
        from qdrant_explain.connectors import shapes as S

        return self.query(S.Recommend(positive=tuple(positive), negative=tuple(negative), strategy=strategy,
                                      using=using), **options)

    def discover(self, target: Any, pairs: Sequence[tuple[Any, Any]], *, using: str | None = None,
                 **options: Any) -> Any:
        """Discovery search: a target and (positive, negative) context pairs (point ids or vectors);
        ``explain=True``: each pair's rank term (which pair lets the hit through), then the target's regions."""
        from qdrant_explain.connectors import shapes as S

        return self.query(S.Discover(target=target, pairs=tuple(pairs), using=using), **options)

    def context(self, pairs: Sequence[tuple[Any, Any]], *, using: str | None = None, **options: Any) -> Any:
        """Context search with (positive, negative) pairs only; ``explain=True``: each pair's term, then the
        regions of the positive of the pair that holds the hit back most."""
        from qdrant_explain.connectors import shapes as S

        return self.query(S.Context(pairs=tuple(pairs), using=using), **options)

    def fuse(self, prefetches: Sequence[Any], method: str = "rrf", *, k: int | None = None,
             weights: Sequence[float] | None = None, prefetch_limit: int = 10, **options: Any) -> Any:
        """``query_points`` with prefetches fused by RRF or DBSF.

        Args:
            prefetches: each a :class:`~qdrant_explain.connectors.shapes.Nearest`, an image (encoded with this
                explainer's encoder) or a vector.
            method: ``"rrf"`` or ``"dbsf"``.
            k, weights: RRF's constant and per-prefetch weights (Qdrant's ``Rrf``).
            prefetch_limit: results of each prefetch given as an image or a vector.
            **options: as in :meth:`query`; ``explain=True`` splits the fused score per prefetch (RRF's rank
                terms exactly, DBSF's normalised scores) and draws the regions of the first image prefetch
                against the hit (its own nearest score).
        """
        from qdrant_explain.connectors import shapes as S

        shapes, first_image = [], None
        for i, p in enumerate(prefetches):
            if isinstance(p, S.Nearest):
                shapes.append(p)
                continue
            vector, image = self._shape_vector(p, f"prefetch {i + 1}")
            first_image = image if first_image is None else first_image
            shapes.append(S.Nearest(vector, limit=prefetch_limit))
        if first_image is not None:
            options.setdefault("query_image", first_image)
        return self.query(S.Fusion(prefetches=tuple(shapes), method=method, k=k,
                                   weights=None if weights is None else tuple(weights)), **options)

    # ------------------------------------------------------------------------- multivector collections
    @property
    def multivector(self) -> bool:
        """Whether the collection's vector in use is a MaxSim multivector (searched and explained with MaxSim)."""
        from qdrant_explain.connectors import shapes as S

        try:
            return S.is_multivector(self.collection, None)
        except Exception:  # noqa: BLE001 - a backend whose configuration cannot be read: a dense vector
            return False

    def _game_score(self) -> Any:
        """The score of the pair games: the collection's distance, or MaxSim over flattened multivectors."""
        if not self.multivector:
            return self.collection.info.distance
        from qdrant_explain.explainers.maxsim import MaxSimScore

        return MaxSimScore(self.collection.info.distance, int(self.collection.info.vector_size))

    def _nearest_hits(self, vector: np.ndarray, *, limit: int, filter: Any, with_vectors: bool = True) -> list:  # noqa: A002
        """Connector hits of a nearest query (a multivector runs as a MaxSim query)."""
        from qdrant_explain.connectors import shapes as S

        if self.multivector:
            return S.run_shape(self.collection, S.Nearest(vector), limit=limit, query_filter=filter,
                               with_vectors=with_vectors)
        return self.collection.search(vector, limit=limit, query_filter=filter, with_vectors=with_vectors,
                                      with_payload=True)

    def _stored_side(self, vector: Any) -> Any:
        """A stored vector as a pipeline side takes it (a multivector flattened), and whether it can be compared
        with a fresh encode (not a flattened multivector: its parity is the fresh score, see explain_shape)."""
        if self.multivector and vector is not None and np.ndim(vector) == 2:
            return np.asarray(vector, dtype=np.float64).reshape(-1), False
        return vector, True

    def _shape_vector(self, query: Any, name: str) -> tuple[np.ndarray, Any]:
        """(vector, image): an image encoded with this explainer's encoder, or a vector / multivector as is."""
        if _is_image_like(query):
            from qdrant_explain.explainers.encoder import to_rgb_array

            from .sides import load_side_image

            rgb = to_rgb_array(load_side_image(query, name), name=name)
            return self._encode(rgb), rgb  # type: ignore[attr-defined]
        try:
            arr = np.asarray(query, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.zeros((0, 0, 0))
        if arr.ndim not in (1, 2) or arr.size == 0:
            raise TypeError(f"the {name} must be an image (path, PIL image, (H, W, 3) uint8 array), a (d,) vector or a "
                            f"(tokens, d) multivector; got {type(query).__name__} of shape {np.shape(query)}.")
        return arr, None


__all__ = ["ShapeQueries"]
