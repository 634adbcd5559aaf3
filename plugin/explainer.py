"""``SearchExplainer``: search a Qdrant collection by image and explain what it returns.

Built from a collection connector and an encoder (the one recorded with the
collection by default), it wraps :func:`qdrant_explain.pair.explain_hits` (multi-hit:
one set of masked-query encodes for all hits) and the relative game, and returns
the typed results of :mod:`qdrant_explain.results`.

Example:
    >>> from qdrant_explain import SearchExplainer                         # doctest: +SKIP
    >>> ex = SearchExplainer.open("photos", path="~/.qdrant-explain/db")    # doctest: +SKIP
    >>> hits = ex.search("query.jpg", limit=5)                              # doctest: +SKIP
    >>> why = ex.explain("query.jpg", hits[0], order=2, players="grid:3x3")  # doctest: +SKIP
    >>> why.full_value, hits[0].score                                       # doctest: +SKIP
    >>> why.to_html("why.html")                                             # doctest: +SKIP
"""

from __future__ import annotations

import os
import pathlib
import time
from dataclasses import replace
from typing import Any, Iterable, Sequence

import numpy as np

from .results import AuditReport, Comparison, Hit, PairExplanation, SearchResults

SIDES = ("query", "hit", "both")


def _as_rgb(image: Any, name: str) -> tuple[np.ndarray, str | None]:
    """(H, W, 3) uint8 of a path / PIL image / array, plus a display name."""
    from qdrant_explain.connectors.images import load_image
    from qdrant_explain.explainers.encoder import to_rgb_array

    if isinstance(image, (str, os.PathLike)):
        return to_rgb_array(load_image(image), name=name), pathlib.Path(image).name
    return to_rgb_array(image, name=name), None


def _is_point_id(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    if isinstance(x, str):
        from qdrant_explain.connectors.qdrant import normalize_id

        try:
            normalize_id(x)
            return True
        except ValueError:
            return False
    return False


class SearchExplainer:
    """Search a collection by image and explain why each hit came back.

    Args:
        collection: an opened collection (:func:`qdrant_explain.connectors.open_collection`).
        encoder: an Encoder or a spec string; None uses the encoder recorded with the
            collection (refused when the collection records another one).
        players: default player spec (``"slic:50"``, ``"grid:7x7"``); None: explain_pair's
            defaults (``slic:50`` at order 1, ``slic:16`` at order 2).
        baseline: default baseline for removed regions (``"blur"``, ``"mean"``, ``"gray"``,
            ``"constant:R,G,B"`` or a callable).
        method: default estimator (``"auto"``: exact when it fits the budget).
        budget: default encoder-pass budget (None: the method's default).
        seed: default seed.
        batch_size: masked images per encoder call.
        progress: progress bars (None: automatic on a TTY, False: never).

    Raises:
        DimensionMismatchError / EncoderMismatchError: the encoder does not fit the collection.
    """

    def __init__(self, collection: Any, encoder: Any = None, *, players: Any = None, baseline: Any = "blur",
                 method: str = "auto", budget: int | None = None, seed: int = 0, batch_size: int = 64,
                 progress: bool | None = None) -> None:
        from qdrant_explain.connectors import load_encoder

        self.collection = collection
        if encoder is None:
            encoder = collection.load_encoder()
        elif isinstance(encoder, str):
            encoder = load_encoder(encoder)
        collection.check_encoder(encoder)
        self.encoder = encoder
        self.players = players
        self.baseline = baseline
        self.method = method
        self.budget = budget
        self.seed = seed
        self.batch_size = batch_size
        self.progress = progress

    @classmethod
    def open(cls, name: str, *, path: str | None = None, url: str | None = None, api_key: str | None = None,
             encoder: Any = None, **options: Any) -> "SearchExplainer":
        """Open collection ``name`` (embedded at ``path`` or a server at ``url``) read-only and wrap it.

        Args:
            name: collection name.
            path: embedded Qdrant folder (or ``":memory:"``).
            url: server URL; ``api_key`` its key.
            encoder: Encoder or spec; None uses the one recorded with the collection.
            **options: :class:`SearchExplainer` defaults (players, baseline, method, budget, seed, ...).
        """
        from qdrant_explain.connectors import open_collection

        if path is not None and path != ":memory:":
            path = str(pathlib.Path(path).expanduser())
        col = open_collection(name, path=path, url=url, api_key=api_key)
        return cls(col, encoder, **options)

    # ------------------------------------------------------------------------- helpers
    @property
    def encoder_name(self) -> str:
        """Spec/name of the encoder in use."""
        return str(getattr(self.encoder, "name", type(self.encoder).__name__))

    @property
    def distance(self) -> str:
        """The collection's distance (the game's score)."""
        return self.collection.info.distance

    def _baseline(self, baseline: Any) -> Any:
        b = self.baseline if baseline is None else baseline
        return "constant:128,128,128" if isinstance(b, str) and b in ("gray", "grey") else b

    def _hit(self, hit: Any) -> Hit:
        """A :class:`Hit` (with stored vector and image) from a Hit, a connectors Hit or a point id."""
        if isinstance(hit, Hit) and hit.vector is not None and hit.image is not None:
            return hit
        if isinstance(hit, Hit) or hasattr(hit, "payload") and hasattr(hit, "id"):
            h = Hit.from_connector(hit)
        elif _is_point_id(hit):
            got = self.collection.retrieve([hit], with_vectors=True, with_payload=True)[0]
            h = Hit(id=got.id, score=None, payload=dict(got.payload or {}), vector=got.vector)
        else:
            raise TypeError(
                f"hit must be a Hit (from search), a point id (int or UUID string) or, for a raw pair, an image; "
                f"got {type(hit).__name__}."
            )
        if h.vector is None:
            h = replace(h, vector=self.collection.retrieve([h.id], with_vectors=True, with_payload=False)[0].vector)
        if h.image is None:
            from qdrant_explain.explainers.encoder import to_rgb_array

            h = replace(h, image=to_rgb_array(self.collection.resolve_image(h), name=f"hit {h.id}"))
        return h

    def _qdrant_score(self, query_vector: np.ndarray, point_id: Any) -> float:
        """The score Qdrant itself gives ``point_id`` for ``query_vector`` (a search filtered to that id)."""
        res = self.collection.search(query_vector, limit=1, query_filter={"must": [{"has_id": [point_id]}]},
                                     with_vectors=False, with_payload=False)
        if not res:
            from qdrant_explain.connectors.errors import PointNotFoundError

            raise PointNotFoundError(f"Collection {self.collection.info.name!r} has no point with id {point_id!r}.")
        return float(res[0].score)

    def _encode(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.encode(self.encoder.prepare(rgb).pixels[None]), dtype=np.float64)[0]

    # ------------------------------------------------------------------------- API
    def search(self, query: Any, limit: int = 10, filter: Any = None) -> SearchResults:  # noqa: A002 - Qdrant's word
        """Encode ``query`` and return the top ``limit`` hits (with stored vectors and payloads).

        Args:
            query: image path, PIL image or (H, W, 3) array.
            limit: number of hits.
            filter: a ``qdrant_client.models.Filter`` (or its dict form), passed to Qdrant.

        Returns:
            :class:`SearchResults` (iterable of :class:`Hit`; images are resolved on demand).
        """
        rgb, name = _as_rgb(query, "query")
        qvec = self._encode(rgb)
        found = self.collection.search(qvec, limit=limit, query_filter=filter, with_vectors=True, with_payload=True)
        hits = [Hit.from_connector(h) for h in found]
        return SearchResults(query_image=rgb, hits=hits, query_name=name, encoder=self.encoder_name,
                             collection=self.collection.info.name, query_vector=qvec)

    def explain(self, query: Any, hit: Any, *, order: int = 1, method: str | None = None, players: Any = None,
                baseline: Any = None, budget: int | None = None, side: str = "both",
                seed: int | None = None) -> PairExplanation:
        """Explain why ``hit`` matched ``query``.

        Args:
            query: image path, PIL image or array.
            hit: a :class:`Hit` from :meth:`search`, a point id, or an image (a raw pair, no Qdrant score).
            order: 1 (saliency maps) or 2 (joint: query-region x hit-region correspondences).
            method, players, baseline, budget, seed: as in :func:`qdrant_explain.explain_pair`;
                None uses this explainer's defaults.
            side: order 1: ``"query"``, ``"hit"`` or ``"both"``.

        Returns:
            :class:`PairExplanation`; ``score`` is Qdrant's score and, for the query side,
            ``full_value`` reproduces it (the stored vector is the fixed hit embedding).
        """
        return self.explain_hits(query, [hit], order=order, method=method, players=players, baseline=baseline,
                                 budget=budget, side=side, seed=seed).explanations[0]

    def explain_hits(self, query: Any, hits: Iterable[Any] | SearchResults | None = None, *, limit: int = 5,
                     order: int = 1, method: str | None = None, players: Any = None, baseline: Any = None,
                     budget: int | None = None, side: str = "both", seed: int | None = None,
                     check_vectors: bool = False) -> SearchResults:
        """Explain several hits of one query, sharing the masked-query encodes across them.

        Args:
            query: image path, PIL image or array.
            hits: Hits / point ids / images, or a :class:`SearchResults`; None searches ``limit`` hits first.
            limit: hits to search when ``hits`` is None.
            order, method, players, baseline, budget, side, seed: as in :meth:`explain`.
            check_vectors: also encode each hit image afresh and compare with its stored vector
                (``vector_check`` on each explanation; one extra encoder pass per hit).

        Returns:
            :class:`SearchResults` with one explanation per hit.
        """
        from .pair import explain_hits as _explain_hits

        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}; got {side!r}.")
        t0 = time.perf_counter()
        rgb, name = _as_rgb(query, "query")
        if hits is None:
            hits = self.search(rgb, limit=limit)
        if isinstance(hits, SearchResults):
            name = name or hits.query_name
            hits = hits.hits
        resolved: list[Hit] = []
        for h in hits:
            if isinstance(h, (np.ndarray, os.PathLike)) or _is_image(h) or (isinstance(h, str) and not _is_point_id(h)):
                img, hname = _as_rgb(h, "hit")
                resolved.append(Hit(id=None, score=None, payload={"name": hname} if hname else {}, image=img))
            else:
                resolved.append(self._hit(h))
        qvec = None
        for i, h in enumerate(resolved):
            if h.id is not None and h.score is None:
                qvec = self._encode(rgb) if qvec is None else qvec
                resolved[i] = replace(h, score=self._qdrant_score(qvec, h.id))
        embeddings = [h.vector for h in resolved]
        results = _explain_hits(
            rgb, [h.image for h in resolved], self.encoder, order=order,
            method=self.method if method is None else method,
            players=self.players if players is None else players,
            baseline=self._baseline(baseline),
            budget=self.budget if budget is None else budget,
            score=self.distance, seed=self.seed if seed is None else seed,
            hit_embeddings=None if all(e is None for e in embeddings) else embeddings,
            batch_size=self.batch_size, progress=self.progress, side=side,
        )
        results = [replace(r, score=h.score, hit_id=h.id, hit_payload=h.payload, query_name=name,
                           vector_check=self.vector_check(h) if check_vectors and h.vector is not None
                           and h.image is not None else r.vector_check)
                   for h, r in zip(resolved, results)]
        seconds = time.perf_counter() - t0
        return SearchResults(query_image=rgb, hits=resolved, explanations=list(results), query_name=name,
                             encoder=self.encoder_name, collection=self.collection.info.name,
                             encoder_passes=int(sum(r.encoder_passes for r in results)), seconds=seconds,
                             method=results[0].method if results else None, budget=results[0].budget if results else None,
                             seed=self.seed if seed is None else seed)

    def vector_check(self, hit: Any) -> dict:
        """Compare a hit's stored vector with a fresh encode of its image.

        Returns:
            ``{"cosine", "rel_diff", "disagrees", "message"}`` (see
            :func:`qdrant_explain.connectors.compare_vectors`).
        """
        from qdrant_explain.connectors import compare_vectors

        h = self._hit(hit)
        agreement = compare_vectors(h.vector, self._encode(h.image), self.distance)
        return {"cosine": agreement.cosine, "rel_diff": agreement.rel_diff, "disagrees": not agreement.agrees,
                "message": agreement.message}

    def compare(self, query: Any, hit_a: Any, hit_b: Any, *, method: str | None = None, players: Any = None,
                baseline: Any = None, budget: int | None = None, seed: int | None = None) -> Comparison:
        """Why ``hit_a`` ranks above ``hit_b``: Shapley values of score(q, A) − score(q, B) over query regions.

        Args:
            query: image path, PIL image or array.
            hit_a, hit_b: Hits or point ids of the collection.
            method, players, baseline, budget, seed: as in :meth:`explain` (order 1).

        Returns:
            :class:`Comparison`; ``full_value`` = score(q, A) − score(q, B) from the stored vectors.
        """
        from qdrant_explain.explainers.api import explain_game
        from qdrant_explain.explainers.games import RelativeGame
        from qdrant_explain.explainers.masking import make_baseline
        from qdrant_explain.explainers.players import make_players

        from .pair import DEFAULT_PLAYERS, DEFAULT_SIDE_BUDGET, encoder_side

        t0 = time.perf_counter()
        rgb, name = _as_rgb(query, "query")
        a, b = self._hit(hit_a), self._hit(hit_b)
        seed = self.seed if seed is None else seed
        spec = players if players is not None else (self.players or DEFAULT_PLAYERS[1])
        prepared = self.encoder.prepare(rgb)
        pl = make_players(spec, prepared, name="query", seed=seed)
        side = encoder_side(self.encoder, prepared.pixels, make_baseline(self._baseline(baseline), prepared.pixels),
                            pl.labels, batch_size=self.batch_size, progress=self.progress, name="query")
        game = RelativeGame(side, a.vector, b.vector, self.distance)
        n = pl.n_players
        method = self.method if method is None else method
        budget = self.budget if budget is None else budget
        b_used = budget if budget is not None else min(2**n, DEFAULT_SIDE_BUDGET)
        if method == "auto":
            method = "exact" if 2**n <= b_used else "kernel-shap"
        expl = explain_game(game, n, method=method, order=1, budget=None if method == "exact" else b_used, seed=seed,
                            batch_size=4096, progress=False)
        qvec = side.embed(np.ones((1, n), dtype=bool))[0]
        a, b = (h if h.score is not None else replace(h, score=self._qdrant_score(qvec, h.id)) for h in (a, b))
        return Comparison(query_image=rgb, query_labels=pl.original_labels, query_values=expl.values, hit_a=a, hit_b=b,
                          base_value=expl.base_value, full_value=expl.full_value, method=expl.method,
                          encoder=self.encoder_name, seed=seed, encoder_passes=side.encoder_passes,
                          seconds=time.perf_counter() - t0, budget=None if method == "exact" else b_used,
                          query_name=name, query_heatmap=pl.paint(expl.values), metric=self.distance,
                          query_players=pl, explanation=expl, baseline=_baseline_label(self._baseline(baseline)),
                          estimated=bool(expl.estimated))

    def audit(self, queries: Sequence[Any], *, limit: int = 5, players: Any = "slic:24", budget: int | None = 128,
              method: str | None = None, seed: int | None = None, progress: Any = None) -> AuditReport:
        """Explain the top hits of many queries and summarise where similarity comes from.

        Args:
            queries: image paths (or images).
            limit: hits per query.
            players, budget, method, seed: explanation settings (order 1, both sides).
            progress: an optional callable ``progress(i, n, name)`` called before each query.

        Returns:
            :class:`AuditReport` (see :func:`qdrant_explain.audit.summarise`).
        """
        from .audit import summarise

        t0 = time.perf_counter()
        searches = []
        queries = list(queries)
        for i, q in enumerate(queries):
            if progress is not None:
                progress(i, len(queries), str(q))
            searches.append(self.explain_hits(q, None, limit=limit, order=1, method=method, players=players,
                                              budget=budget, side="both", seed=seed, check_vectors=True))
        summary = summarise(searches)
        summary.update(encoder=self.encoder_name, collection=self.collection.info.name,
                       seconds=round(time.perf_counter() - t0, 2))
        return AuditReport(searches=searches, summary=summary, collection=self.collection.info.name,
                           method=method if method is not None else self.method, budget=budget,
                           encoder_passes=summary.get("encoder_passes"), seconds=summary["seconds"],
                           encoder=self.encoder_name, seed=self.seed if seed is None else seed)


def _baseline_label(baseline: Any) -> str:
    return baseline if isinstance(baseline, str) else ("callable" if callable(baseline) else "array")


def _is_image(x: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, Image.Image)


__all__ = ["SearchExplainer"]
