"""``SearchExplainer``: search a Qdrant collection by image and explain what it returns.

Built from a collection connector and an encoder (the one recorded with the
collection by default), it turns queries and hits into sides and explains them
through :func:`qdrant_explain.sides.explain_sides` (multi-hit: one set of
masked-query encodes for all hits; the relative game: a hit that is the
difference of two stored vectors), and returns
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
from typing import Any, Iterable

import numpy as np

from qdrant_explain.explainers.players import SegmentCache
from qdrant_explain.explainers.vocabulary import DEFAULT_BASELINE

from .results import AuditReport, Comparison, Hit, PairExplanation, SearchResults, stderr_dof_of
from .shape_queries import ShapeQueries

SIDES = ("query", "hit", "both")


def _as_rgb(image: Any, name: str) -> tuple[np.ndarray, str | None]:
    """(H, W, 3) uint8 of a path / bytes / PIL image / array (through the one loader), plus a display name."""
    from qdrant_explain.explainers.encoder import to_rgb_array

    from .sides import load_side_image, side_name

    return to_rgb_array(load_side_image(image, name), name=name), side_name(image)


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


from ._errors import RESOLVE_ERRORS, systemic as _systemic  # noqa: E402 - shared with qdrant_explain.scale


class SearchExplainer(ShapeQueries):
    """Search a collection by image and explain why each hit came back.

    Every Qdrant query shape too (:class:`~qdrant_explain.shape_queries.ShapeQueries`): :meth:`nearest`
    (also multivector MaxSim), :meth:`recommend`, :meth:`discover`, :meth:`context`, :meth:`fuse` and
    :meth:`query`, each with ``explain=``.

    It keeps a :class:`~qdrant_explain.explainers.players.SegmentCache` (``segments``): a query explained
    against hit after hit, or a hit explained again, is segmented once.

    Args:
        collection: an opened collection (:func:`qdrant_explain.connectors.open_collection`).
        encoder: an Encoder or a spec string; None uses the encoder recorded with the
            collection (refused when the collection records another one).
        players: default player spec (``"slic:50"``, ``"grid:7x7"``); None: explain_pair's
            defaults (``slic:24`` at order 1, ``slic:16`` at order 2).
        baseline: default baseline for removed regions: a name of ``vocabulary.BASELINES``
            (``"gray"`` is ``"constant:128,128,128"`` here as everywhere), an RGB tuple or a callable.
        method: default estimator (``"auto"``: the vocabulary's one rule).
        budget: default encoder-pass budget: ``"auto"`` (sample in rounds until the top ``top_k`` regions of each
            side settle, :func:`qdrant_explain.explain_pair`), ``"auto:N"`` (at most N passes per side), an
            integer (fixed) or None (the method's fixed default).
        top_k: regions per side an anytime explanation identifies before stopping.
        max_seconds: time cap of an anytime explanation (None: none).
        seed: default seed.
        batch_size: masked images per encoder call.
        progress: progress bars (None: automatic on a TTY, False: never).
        memory_cap: bytes or a size (``"4GiB"``, ``"50%"``) every plan must fit (None:
            ``$QDRANT_EXPLAIN_MEMORY_CAP``, else 80 % of the available memory).

    Raises:
        DimensionMismatchError / EncoderMismatchError: the encoder does not fit the collection.
    """

    def __init__(self, collection: Any, encoder: Any = None, *, players: Any = None, baseline: Any = DEFAULT_BASELINE,
                 method: str = "auto", budget: int | str | None = "auto", seed: int = 0, batch_size: int = 64,
                 progress: bool | None = None, memory_cap: object = None, top_k: int = 3,
                 max_seconds: float | None = None) -> None:
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
        self.memory_cap = memory_cap
        self.segments = SegmentCache()  # each image segmented once per explainer, however often it is explained
        self.top_k = top_k
        self.max_seconds = max_seconds

    @classmethod
    def open(cls, name: str, *, path: str | None = None, url: str | None = None, api_key: str | None = None,
             encoder: Any = None, backend: str = "client", vector_name: str | None = None, image_root: Any = None,
             allow_urls: bool = False, insecure: bool = False, client: Any = None, resolver: Any = None,
             **options: Any) -> "SearchExplainer":
        """Open collection ``name`` (embedded at ``path`` or a server at ``url``) read-only and wrap it.

        Args:
            name: collection name.
            path: embedded Qdrant folder (or ``":memory:"``).
            url: server URL; ``api_key`` its key.
            encoder: Encoder or spec; None uses the one recorded with the collection
                (only a trusted built-in family; see docs/security.md).
            backend, vector_name, image_root, allow_urls, insecure, client, resolver: as in
                :func:`qdrant_explain.connectors.open_collection`.
            **options: :class:`SearchExplainer` defaults (players, baseline, method, budget, seed, ...).
        """
        from qdrant_explain.connectors import open_collection

        if path is not None and path != ":memory:":
            path = str(pathlib.Path(path).expanduser())
        col = open_collection(name, path=path, url=url, api_key=api_key, backend=backend, vector_name=vector_name,
                              image_root=image_root, allow_urls=allow_urls, insecure=insecure, client=client,
                              resolver=resolver)
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

    def _point(self, hit: Any, *, need_image: bool) -> Hit:
        """A new :class:`Hit` with its stored vector (and its image when ``need_image``) from a Hit,
        a connectors Hit or a point id. Nothing is changed on the object passed in."""
        if isinstance(hit, Hit) or (hasattr(hit, "payload") and hasattr(hit, "id")):
            lifted = Hit.from_connector(hit)  # a NaN score (a retrieved point) becomes None
            hid, score, payload = lifted.id, lifted.score, dict(lifted.payload or {})
            vector, image = lifted.vector, lifted.image
        elif _is_point_id(hit):
            got = self.collection.retrieve([hit], with_vectors=True, with_payload=True)[0]
            hid, score, payload, vector, image = got.id, None, dict(got.payload or {}), got.vector, None
        else:
            raise TypeError(
                f"hit must be a Hit (from search), a point id (int or UUID string) or, for a raw pair, an image; "
                f"got {type(hit).__name__}."
            )
        if vector is None:
            vector = self.collection.retrieve([hid], with_vectors=True, with_payload=False)[0].vector
        point = Hit(id=hid, score=score, payload=payload, vector=vector, image=image)
        if image is None and need_image:
            from qdrant_explain.explainers.encoder import to_rgb_array

            point = replace(point, image=to_rgb_array(self.collection.resolve_image(point), name=f"hit {hid}"))
        return point

    def _with_score(self, hit: Hit, query_vector: np.ndarray) -> Hit:
        if hit.id is None or hit.score is not None:
            return hit
        return replace(hit, score=self._qdrant_score(query_vector, hit.id))

    def _qdrant_score(self, query_vector: np.ndarray, point_id: Any) -> float:
        """The score Qdrant itself gives ``point_id`` for ``query_vector`` (a search filtered to that id)."""
        res = self._nearest_hits(query_vector, limit=1, filter={"must": [{"has_id": [point_id]}]}, with_vectors=False)
        if not res:
            from qdrant_explain.connectors.errors import PointNotFoundError

            raise PointNotFoundError(f"Collection {self.collection.info.name!r} has no point with id {point_id!r}.")
        return float(res[0].score)

    def _encode(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.encode(self.encoder.prepare(rgb).pixels[None]), dtype=np.float64)[0]

    def _options(self, method: Any, players: Any, baseline: Any, budget: Any, seed: Any) -> dict:
        """Per-call options over this explainer's defaults (no translation: the vocabulary's names mean one thing)."""
        return {"method": self.method if method is None else method,
                "players": self.players if players is None else players,
                "baseline": self.baseline if baseline is None else baseline,
                "budget": self.budget if budget is None else budget,
                "seed": self.seed if seed is None else seed}

    def _side(self, hit: Hit, *, players: Any, baseline: Any) -> Any:
        """The pipeline side of a hit: an image side when its image is known, else its stored vector."""
        from .sides import ImageSide, VectorSide

        label = hit.payload.get("path") or hit.payload.get("name") if hit.payload else None
        vector, comparable = self._stored_side(hit.vector)
        if hit.image is None:
            return VectorSide(vector, name="hit", label=label, id=hit.id, score=hit.score, payload=hit.payload)
        return ImageSide(hit.image, self.encoder, players=players, baseline=baseline, name="hit", label=label,
                         id=hit.id, score=hit.score, payload=hit.payload, vector=vector if comparable else None,
                         segments=self.segments)

    # ------------------------------------------------------------------------- API
    def search(self, query: Any = None, limit: int = 10, filter: Any = None, *,  # noqa: A002 - Qdrant's word
               text: str | None = None) -> SearchResults:
        """Encode ``query`` (an image) or ``text`` and return the top ``limit`` hits (with stored vectors and payloads).

        Args:
            query: image path, PIL image or (H, W, 3) array.
            limit: number of hits.
            filter: a ``qdrant_client.models.Filter`` (or its dict form), passed to Qdrant.
            text: a text query instead of an image (the collection's encoder must have a text tower:
                ``clip:``); embedded exactly as :meth:`explain_text` embeds it.

        Returns:
            :class:`SearchResults` (iterable of :class:`Hit`; images are resolved on demand; for a text
            query ``query_name`` is the text and ``query_image`` None).

        Raises:
            ValueError: both or neither of ``query`` and ``text``; a bad text (empty, no words, too long).
            TypeError: a text query against an image-only encoder.
        """
        if (query is None) == (text is None):
            raise ValueError("SearchExplainer.search takes one query: an image (query=...) or a text (text=...); "
                             f"got {'both' if text is not None else 'neither'}.")
        if text is not None:
            from .text import search_text

            return search_text(self, text, limit=limit, filter=filter)
        rgb, name = _as_rgb(query, "query")
        qvec = self._encode(rgb)
        found = self._nearest_hits(qvec, limit=limit, filter=filter)
        hits = [Hit.from_connector(h) for h in found]
        return SearchResults(query_image=rgb, hits=hits, query_name=name, encoder=self.encoder_name,
                             collection=self.collection.info.name, query_vector=qvec)

    def explain(self, query: Any, hit: Any, *, order: int = 1, method: str | None = None, players: Any = None,
                baseline: Any = None, budget: int | None = None, side: str = "both",
                seed: int | None = None, log: Any = None) -> PairExplanation:
        """Explain why ``hit`` matched ``query``.

        Args:
            query: image path, PIL image or array.
            hit: a :class:`Hit` from :meth:`search`, a point id, or an image (a raw pair, no Qdrant score).
            order: 1 (saliency maps) or 2 (joint: query-region x hit-region correspondences).
            method, players, baseline, budget, seed: as in :func:`qdrant_explain.explain_pair`;
                None uses this explainer's defaults.
            side: order 1: ``"query"``, ``"hit"`` or ``"both"``.
            log: optional callable given one line per plan (method, passes, time estimate).

        Returns:
            :class:`PairExplanation`; ``score`` is Qdrant's score and, for the query side,
            ``full_value`` reproduces it (the stored vector is the fixed hit embedding). When the
            stored vector no longer matches a fresh encode of the hit's image, ``vector_check``
            says so and ``extra["warnings"]`` carries the message.
        """
        return self.explain_hits(query, [hit], order=order, method=method, players=players, baseline=baseline,
                                 budget=budget, side=side, seed=seed, log=log).explanations[0]

    def explain_text(self, text: str, hit: Any, *, order: int = 1, method: str | None = None, players: Any = None,
                     baseline: Any = None, budget: int | None = None, side: str = "both", seed: int | None = None,
                     text_mode: str | None = None, log: Any = None) -> Any:
        """Explain why ``hit`` came back for the text query ``text``: words, regions, word x region pairs.

        Args:
            text: the query sentence.
            hit: a :class:`Hit` from ``search(text=...)`` or a point id.
            order: 1 (which words / which regions) or 2 (joint word <-> region Shapley-Taylor).
            method, players, baseline, budget, seed: as in :meth:`explain` (players are the hit's).
            side: order 1: ``"query"`` (words), ``"hit"`` (regions) or ``"both"``.
            text_mode: ``"pad"`` (default for clip:) or ``"delete"``.
            log: optional callable given one line per plan.

        Returns:
            :class:`~qdrant_explain.text_results.TextExplanation`; ``full_value`` reproduces Qdrant's
            score of the hit for the text; ``text_passes`` and ``image_passes`` count each encoder.
        """
        from .text import explain_text_hits

        return explain_text_hits(self, text, [hit], order=order, method=method, players=players, baseline=baseline,
                                 budget=budget, side=side, seed=seed, text_mode=text_mode, log=log)[0]

    def explain_text_hits(self, text: str, hits: Any = None, *, limit: int = 5, order: int = 1,
                          method: str | None = None, players: Any = None, baseline: Any = None,
                          budget: int | None = None, side: str = "both", seed: int | None = None,
                          text_mode: str | None = None, log: Any = None) -> list:
        """:meth:`explain_text` for several hits (searched with ``text`` when None), sharing the word-mask encodes."""
        from .text import explain_text_hits

        return explain_text_hits(self, text, hits, limit=limit, order=order, method=method, players=players,
                                 baseline=baseline, budget=budget, side=side, seed=seed, text_mode=text_mode, log=log)

    def compare_text(self, text: str, hit_a: Any, hit_b: Any, *, method: str | None = None, budget: int | None = None,
                     seed: int | None = None, text_mode: str | None = None, log: Any = None) -> Any:
        """Why ``hit_a`` ranks above ``hit_b`` for the text query ``text``: Shapley values of
        score(t, A) - score(t, B) over the words (see :func:`qdrant_explain.text.compare_text`).

        Returns:
            :class:`~qdrant_explain.text_results.TextExplanation` (order 1, words only);
            ``full_value`` = score(A) - score(B); ``extra["comparison"]`` names both points.
        """
        from .text import compare_text

        return compare_text(self, text, hit_a, hit_b, method=method, budget=budget, seed=seed, text_mode=text_mode,
                            log=log)

    def audit_texts(self, texts: Sequence[str], *, limit: int = 5, players: Any = "slic:24", budget: int | None = 128,
                    method: str | None = None, seed: int | None = None, progress: Any = None) -> AuditReport:
        """:meth:`audit` for text queries: words and hit regions of the top hits of each text, summarised
        (the most-attributed words; text and image encodes counted apart). A text that cannot be explained
        becomes a finding (see :func:`qdrant_explain.text.audit_texts`)."""
        from .text import audit_texts

        return audit_texts(self, texts, limit=limit, players=players, budget=budget, method=method, seed=seed,
                           progress=progress, recordable=lambda exc: isinstance(exc, RESOLVE_ERRORS) and not _systemic(exc))

    def explain_hits(self, query: Any, hits: Iterable[Any] | SearchResults | None = None, *, limit: int = 5,
                     order: int = 1, method: str | None = None, players: Any = None, baseline: Any = None,
                     budget: int | None = None, side: str = "both", seed: int | None = None,
                     check_vectors: bool = False, errors: str = "raise", log: Any = None) -> SearchResults:
        """Explain several hits of one query, sharing the masked-query encodes across them.

        Args:
            query: image path, PIL image or array.
            hits: Hits / point ids / images, or a :class:`SearchResults`; None searches ``limit`` hits first.
            limit: hits to search when ``hits`` is None.
            order, method, players, baseline, budget, side, seed: as in :meth:`explain`.
            check_vectors: also encode each hit image afresh and compare with its stored vector
                (``vector_check`` on each explanation; one extra encoder pass per hit not masked).
            errors: ``"raise"`` (default) or ``"record"``: a hit whose image cannot be resolved
                (or a point that is gone) is recorded in ``findings`` and the others are explained
                (its explanation is None; on the query side alone its stored vector suffices).
            log: optional callable given one line per plan.

        Returns:
            :class:`SearchResults` with one explanation per hit (None for a recorded failure).
        """
        return self._explain_hits(query, hits, limit=limit, order=order, method=method, players=players,
                                  baseline=baseline, budget=budget, side=side, seed=seed, check_vectors=check_vectors,
                                  errors=errors, log=log)[0]

    def _explain_hits(self, query: Any, hits: Any, *, limit: int, order: int, method: Any, players: Any,
                      baseline: Any, budget: Any, side: str, seed: Any, check_vectors: bool, errors: str,
                      log: Any) -> tuple[SearchResults, list[dict]]:
        """:meth:`explain_hits` plus the findings (one dict per hit that could not be explained)."""
        from .pair import pair_explanation
        from .sides import ImageSide, explain_sides

        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}; got {side!r}.")
        if errors not in ("raise", "record"):
            raise ValueError(f"errors must be 'raise' or 'record'; got {errors!r}.")
        t0 = time.perf_counter()
        opts = self._options(method, players, baseline, budget, seed)
        rgb, name = _as_rgb(query, "query")
        if hits is None:
            hits = self.search(rgb, limit=limit)
        if isinstance(hits, SearchResults):
            name = name or hits.query_name
            hits = hits.hits
        need_image = order == 2 or side in ("both", "hit")
        resolved: list[Hit] = []
        failed: dict[int, str] = {}
        qvec = None
        for i, h in enumerate(hits):
            try:
                if isinstance(h, (np.ndarray, os.PathLike, bytes)) or _is_image(h) or (
                        isinstance(h, str) and not _is_point_id(h)):
                    img, hname = _as_rgb(h, "hit")
                    resolved.append(Hit(id=None, score=None, payload={"name": hname} if hname else {}, image=img))
                    continue
                point = self._point(h, need_image=False)
                if point.score is None:
                    qvec = self._encode(rgb) if qvec is None else qvec
                    point = self._with_score(point, qvec)
                if need_image or check_vectors:
                    point = self._point(point, need_image=True)
                resolved.append(point)
            except RESOLVE_ERRORS as exc:
                if errors == "raise" or _systemic(exc):
                    raise
                failed[i] = " ".join(str(exc).split()) or type(exc).__name__
                resolved.append(Hit.from_connector(h) if hasattr(h, "payload") else Hit(id=h, score=None, payload={}))
        usable = [i for i in range(len(resolved)) if i not in failed]
        explanations: list[PairExplanation | None] = [None] * len(resolved)
        if usable:
            sides = [self._side(resolved[i], players=opts["players"], baseline=opts["baseline"]) for i in usable]
            query_side = ImageSide(rgb, self.encoder, players=opts["players"], baseline=opts["baseline"],
                                   name="query", label=name, segments=self.segments)
            outcomes = explain_sides(query_side, sides, order=order, method=opts["method"], budget=opts["budget"],
                                     metric=self._game_score(), seed=opts["seed"], side=side, batch_size=self.batch_size,
                                     progress=self.progress, check_vectors=check_vectors, log=log,
                                     memory_cap=self.memory_cap, top_k=self.top_k, max_seconds=self.max_seconds)
            for i, o in zip(usable, outcomes):
                explanations[i] = pair_explanation(o, encoder=self.encoder_name, seed=opts["seed"],
                                                   baseline=opts["baseline"], metric=self.distance, query_name=name)
        findings = [{"query": name, "hit": resolved[i].id, "error": msg} for i, msg in failed.items()]
        done = [e for e in explanations if e is not None]
        result = SearchResults(query_image=rgb, hits=resolved, explanations=explanations, query_name=name,
                               encoder=self.encoder_name, collection=self.collection.info.name,
                               encoder_passes=int(sum(e.encoder_passes for e in done)),
                               seconds=time.perf_counter() - t0, method=done[0].method if done else None,
                               budget=done[0].budget if done else None, seed=opts["seed"])
        return result, findings

    def resolve_images(self, hits: Iterable[Any]) -> tuple[list[Hit], list[dict]]:
        """New :class:`Hit` objects with their images resolved where possible (for reports).

        Returns:
            (hits, findings): one Hit per input (``image`` None where it could not be resolved)
            and one ``{"hit", "error"}`` per failure.
        """
        out, findings = [], []
        for h in hits:
            try:
                out.append(self._point(h, need_image=True))
            except RESOLVE_ERRORS as exc:
                findings.append({"hit": getattr(h, "id", h), "error": " ".join(str(exc).split())})
                out.append(Hit.from_connector(h) if hasattr(h, "payload") else self._point(h, need_image=False))
        return out, findings

    def vector_check(self, hit: Any) -> dict:
        """Compare a hit's stored vector with a fresh encode of its image (one threshold:
        :func:`qdrant_explain.connectors.compare_vectors`).

        Returns:
            ``{"cosine", "rel_diff", "disagrees", "message"}``.
        """
        from qdrant_explain.connectors import compare_vectors

        h = self._point(hit, need_image=True)
        agreement = compare_vectors(h.vector, self._encode(h.image), self.distance)
        return {"cosine": agreement.cosine, "rel_diff": agreement.rel_diff, "disagrees": not agreement.agrees,
                "message": agreement.message}

    def compare(self, query: Any, hit_a: Any, hit_b: Any, *, method: str | None = None, players: Any = None,
                baseline: Any = None, budget: int | None = None, seed: int | None = None,
                log: Any = None) -> Comparison:
        """Why ``hit_a`` ranks above ``hit_b``: Shapley values of score(q, A) − score(q, B) over query regions.

        The relative game runs through the same pipeline as :meth:`explain`: its hit is the
        difference of the two stored vectors (:class:`~qdrant_explain.sides.DifferenceSide`).

        Args:
            query: image path, PIL image or array.
            hit_a, hit_b: Hits or point ids of the collection.
            method, players, baseline, budget, seed: as in :meth:`explain` (order 1).
            log: optional callable given one line per plan.

        Returns:
            :class:`Comparison`; ``full_value`` = score(q, A) − score(q, B) from the stored vectors.
        """
        from .sides import DifferenceSide, ImageSide, VectorSide, explain_sides

        t0 = time.perf_counter()
        opts = self._options(method, players, baseline, budget, seed)
        rgb, name = _as_rgb(query, "query")
        qvec = None
        ends = []
        for h in (hit_a, hit_b):
            point = self._point(h, need_image=False)
            if point.score is None:
                qvec = self._encode(rgb) if qvec is None else qvec
                point = self._with_score(point, qvec)
            try:
                point = self._point(point, need_image=True)  # shown in the report; not needed for the game
            except RESOLVE_ERRORS:
                pass
            ends.append(point)
        a, b = ends
        diff = DifferenceSide(VectorSide(a.vector, id=a.id, score=a.score), VectorSide(b.vector, id=b.id, score=b.score))
        query_side = ImageSide(rgb, self.encoder, players=opts["players"], baseline=opts["baseline"], name="query",
                               label=name, segments=self.segments)
        (o,) = explain_sides(query_side, [diff], order=1, method=opts["method"], budget=opts["budget"],
                             metric=self.distance, seed=opts["seed"], side="query", batch_size=self.batch_size,
                             progress=self.progress, log=log, memory_cap=self.memory_cap, top_k=self.top_k,
                             max_seconds=self.max_seconds)
        expl = o.query_explanation
        return Comparison(query_image=rgb, query_labels=o.query.players.original_labels, query_values=expl.values,
                          hit_a=a, hit_b=b, base_value=expl.base_value, full_value=expl.full_value,
                          method=expl.method, encoder=self.encoder_name, seed=opts["seed"],
                          encoder_passes=o.passes, seconds=time.perf_counter() - t0, budget=o.budget,
                          query_name=name, query_heatmap=o.query.players.paint(expl.values), metric=self.distance,
                          query_players=o.query.players, explanation=expl,
                          baseline=_baseline_label(opts["baseline"]), estimated=bool(expl.estimated),
                          query_values_stderr=expl.stderr, stderr_dof={"query": stderr_dof_of(expl)})

    def audit(self, queries: Any, *, limit: int = 5, players: Any = "slic:24", budget: int | None = 128,
              method: str | None = None, seed: int | None = None, progress: Any = False, engine: str = "local",
              out: Any = None, **options: Any) -> AuditReport:
        """Explain the top hits of many queries and summarise where similarity comes from, with intervals.

        Work is split by query (one masked-query plan shared by its k hits, batched encodes); each
        query's row is committed to ``out`` as it finishes, so an interrupted audit resumes where it
        stopped. One bad item does not stop the audit: a query that fails to load, or a hit whose
        image cannot be resolved, becomes an entry of ``summary["findings"]``. Nothing is written
        to the collection.

        Args:
            queries: a list of query images (paths, PIL images, arrays) or point ids, a folder,
                or a source of :mod:`qdrant_explain.scale` (``CollectionSource(filter=...)``: every
                point of the collection; ``FolderSource``; ``QueryFileSource``: a file of queries).
            limit: hits per query.
            players, budget, method, seed: explanation settings (order 1, both sides).
            progress: True / None (on a TTY) / False, a file-like object, or ``progress(done, total, widths)``.
            engine: ``"local"`` or ``"ray"``.
            out: the audit's folder (state, ``audit.json``, ``report.html``); None: a temporary one.
            **options: :func:`qdrant_explain.scale.run_audit` options (``address``, ``workers``,
                ``threads``, ``num_gpus``, ``batch_size``, ``ci_width``, ``max_queries``, ``stability``,
                ``interval``, ``restart``, ...).

        Returns:
            :class:`AuditReport`: ``summary`` holds the statistics, ``summary["intervals"]`` their
            confidence intervals; ``searches`` the explained queries shown with maps (all of them
            for a small audit, else the worst offenders).

        Raises:
            TypeError: ``queries`` is None, a single image path or string, or not iterable.
            ValueError: bad options, an empty source, or ``out`` holding another audit.
        """
        from .scale import as_source, run_audit

        source = as_source(queries)  # the TypeError for a single query comes first
        return run_audit(self, source, limit=limit, players=players, budget=budget, method=method, seed=seed,
                         progress=progress, engine=engine, out=out, **options)


def _baseline_label(baseline: Any) -> str:
    return baseline if isinstance(baseline, str) else ("callable" if callable(baseline) else "array")


def _is_image(x: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, Image.Image)


__all__ = ["SearchExplainer"]
