"""Text queries on the pipeline of sides: which words made this image come back, and word <-> region pairs.

:class:`TextSide` is a sentence with word players (:func:`qdrant_explain.connectors.text.word_players`:
whitespace/punctuation-aware words, a word's subword pieces masked together) and a text encoder
(open_clip's text tower for ``clip:`` encoders, or any callable ``texts -> (m, d)``). It plugs into
:func:`qdrant_explain.sides.explain_sides` like an image side, so every game of image pairs works:

- order 1, ``side="query"``: the text-side game (words masked, the hit vector fixed);
- order 1, ``side="hit"``: the image-side game against the full text (regions masked);
- order 2: the joint word x region game, factorised (each distinct word mask and each distinct
  region mask encoded once, every combination scored by one product): exact (2^w text encodes +
  2^nh image encodes) or the stratified sampler, as for image pairs; when sampled, a text of at
  most 12 words (``explainers.joint.exact_query.EXACT_QUERY_PLAYERS``) is enumerated exactly
  (2^w text encodes: they are cheap) and only the regions are sampled, unless a budget is given
  whose text share (in proportion to players ** 1.5) is below 2^w: then both sides are sampled,
  which is more exact for the same encodes.

:func:`explain_text` explains a text against hit images or stored vectors;
:func:`text_explanation` turns a :class:`~qdrant_explain.sides.SideOutcome` into a
:class:`~qdrant_explain.text_results.TextExplanation` (text and image encodes counted apart).

Example:
    >>> from qdrant_explain.text import explain_text                                   # doctest: +SKIP
    >>> enc = load_encoder("clip:ViT-B-32@laion2b_s34b_b79k")                        # doctest: +SKIP
    >>> (why,) = explain_text("a red bicycle", ["bike.jpg"], enc, order=2, players="grid:4x4")  # doctest: +SKIP
    >>> why.top_pairs(3)                                  # [(word index, word, region, value), ...]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from qdrant_explain.explainers.scores import check_score

from .pair import hit_sides
from .sides import PreparedSide, SideInfo, SideOutcome, VectorSide, _vector, explain_sides
from .text_results import TextExplanation


@dataclass(frozen=True)
class TextSide(SideInfo):
    """A text end of a score: a sentence, its word players and a text encoder.

    Args:
        text: the query text (a str; see :func:`qdrant_explain.explainers.words.split_words`).
        encoder: a text encoder (``encode_text``), an image encoder that carries one (``clip:``:
            ``encoder.text_encoder()``) or a callable ``texts -> (m, d)``.
        mode: how a removed word is masked: ``"pad"`` (the tokenizer's pad token, positions kept;
            the default when the encoder takes tokens) or ``"delete"`` (the only mode of a callable).
        name, label, id, score, payload: as every side (:class:`~qdrant_explain.sides.SideInfo`).
    """

    can_mask = True
    exact_query_side = True  # order 2, sampled: every word mask encoded (<= EXACT_QUERY_PLAYERS words), regions sampled

    text: str
    encoder: Any
    mode: str | None = None

    def text_encoder(self) -> Any:
        """The text encoder (:func:`qdrant_explain.connectors.text.text_encoder_of`)."""
        from qdrant_explain.connectors.text import text_encoder_of

        return text_encoder_of(self.encoder)

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str) -> PreparedSide:
        """Cut the text into words (checked: not empty, has words, fits the context) and wrap the encoder."""
        from qdrant_explain.connectors.text import TextEvaluator, word_players

        encoder = self.text_encoder()
        players = word_players(self.text, encoder, mode=self.mode, name=self.name)
        evaluator = TextEvaluator(players, encoder, batch_size=batch_size, progress=progress, name=self.name)
        fresh = _vector(evaluator.embed(np.ones((1, players.n_players), dtype=bool))[0], f"the {self.name} embedding")
        if not maskable:
            return PreparedSide(source=self, fixed=fresh, players=players, fresh=fresh, unmasked_passes=1)
        return PreparedSide(source=self, fixed=fresh, evaluator=evaluator, players=players, fresh=fresh)


def text_explanation(outcome: SideOutcome, *, encoder: str, seed: int, baseline: object, metric: str) -> TextExplanation:
    """The :class:`~qdrant_explain.text_results.TextExplanation` of one outcome whose query is a :class:`TextSide`."""
    q, h = outcome.query, outcome.hit
    te, he, joint = outcome.query_explanation, outcome.hit_explanation, outcome.joint
    if joint is not None:
        word_values, hit_values, cross = joint.query_values, joint.hit_values, joint.cross
    else:
        word_values = None if te is None else te.values
        hit_values = None if he is None else he.values
        cross = None
    extra: dict = {"values": "singleton terms (joint)" if joint is not None else "Shapley values"}
    if outcome.notes:
        extra["warnings"] = list(outcome.notes)
    if te is not None and he is not None:
        extra["hit_base_value"] = he.base_value
    src = h.source
    words = q.players.words
    return TextExplanation(
        text=words.text, words=words, word_values=word_values, hit_values=hit_values, cross=cross,
        hit_image=h.image, hit_labels=None if h.players is None else h.players.original_labels,
        base_value=outcome.base_value, full_value=outcome.full_value, order=outcome.order, metric=metric,
        score=getattr(src, "score", None), hit_id=getattr(src, "id", None), hit_payload=getattr(src, "payload", None),
        baseline=baseline if isinstance(baseline, str) else "custom", side=outcome.side,
        text_mode=q.players.mode, text_passes=outcome.query_passes, image_passes=outcome.hit_passes,
        estimated=outcome.estimated, hit_players=h.players, joint=joint, text_explanation=te, hit_explanation=he,
        encoder_seconds=outcome.encoder_seconds, extra=extra, method=outcome.method, budget=outcome.budget,
        encoder_passes=outcome.passes, seconds=outcome.seconds, encoder=encoder, seed=seed,
    )


def explain_text(
    text: str,
    hits: Sequence[object],
    encoder: Any,
    *,
    text_encoder: Any = None,
    order: int = 1,
    method: str = "auto",
    players: object = None,
    baseline: object = "blur",
    budget: int | None = None,
    score: str = "cosine",
    seed: int = 0,
    hit_embeddings: Sequence[object] | np.ndarray | None = None,
    side: str = "both",
    text_mode: str | None = None,
    batch_size: int = 64,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> list[TextExplanation]:
    """Explain why each of ``hits`` scores as it does for the text query ``text``.

    Args:
        text: the query sentence.
        hits: hit images (paths, PIL images, arrays); an entry may be None when ``hit_embeddings``
            gives its stored vector (then only the words are explained).
        encoder: the image encoder (an Encoder or a spec string); for ``clip:`` it carries the text tower.
        text_encoder: the text encoder, when ``encoder`` has none (a callable ``texts -> (m, d)``).
        order: 1 (words and regions, each against the other side whole) or 2 (word x region pairs).
        method: a name of ``vocabulary.list_methods(1, "side")`` / ``list_methods(2, "joint")``, or ``"auto"``.
        players: the hit's players (``"slic:N"``, ``"grid:RxC"``, a label map); None: the vocabulary's default.
        baseline: what removed hit regions become (``vocabulary.BASELINES``).
        budget: encoder passes, as for image pairs (order 1 per side; order 2 text + image together).
        score: the Qdrant metric.
        seed: seed of the samplers.
        hit_embeddings: stored vectors of the hits ((k, d) or a list), or None.
        side: order 1: ``"both"``, ``"query"`` (words) or ``"hit"`` (regions).
        text_mode: ``"pad"`` or ``"delete"`` (None: the encoder's default).
        batch_size: masks per encoder call; progress: bars; log: one line per plan.

    Returns:
        One :class:`~qdrant_explain.text_results.TextExplanation` per hit.

    Raises:
        TypeError: an image-only encoder and no ``text_encoder``; a text that is not a str.
        ValueError: an empty text, one without words, one too long for the context
            (:class:`~qdrant_explain.explainers.words.TextInputError`); bad images, players, methods.
    """
    from .sides import check_encoder

    image_encoder = check_encoder(encoder, "explain_text")
    query = TextSide(text, image_encoder if text_encoder is None else text_encoder, mode=text_mode, name="text",
                     label=text if isinstance(text, str) else None)
    hits = list(hits)
    if not hits:
        raise ValueError("explain_text needs at least one hit image (or None with a hit embedding).")
    sides = hit_sides(hits, hit_embeddings, image_encoder, players=players, baseline=baseline)
    outcomes = explain_sides(query, sides, order=order, method=method, budget=budget, metric=score, seed=seed,
                             side=side, batch_size=batch_size, progress=progress, log=log)
    name = str(getattr(image_encoder, "name", type(image_encoder).__name__))
    metric = check_score(score)
    return [text_explanation(o, encoder=name, seed=seed, baseline=baseline, metric=metric) for o in outcomes]


__all__ = ["TextSide", "explain_text", "text_explanation"]


# ----------------------------------------------------------------------------- SearchExplainer's text entry points


def search_text(explainer: Any, text: str, *, limit: int = 10, filter: Any = None) -> Any:  # noqa: A002 - Qdrant's word
    """Embed ``text`` with the collection's encoder's text tower and search (``SearchExplainer.search(text=...)``).

    Raises:
        TypeError: the collection's encoder is image-only (the message says which encoder and what to do).
        TextInputError: an empty text, one without words, or one longer than the encoder's context.
    """
    from qdrant_explain.connectors.text import text_encoder_of

    from .results import Hit, SearchResults

    encoder = text_encoder_of(explainer.encoder)
    qvec = np.asarray(encoder.encode_text([text]), dtype=np.float64)[0]
    found = explainer.collection.search(qvec, limit=limit, query_filter=filter, with_vectors=True, with_payload=True)
    return SearchResults(query_image=None, hits=[Hit.from_connector(h) for h in found], query_name=text,
                         encoder=explainer.encoder_name, collection=explainer.collection.info.name, query_vector=qvec)


def explain_text_hits(explainer: Any, text: str, hits: Any = None, *, limit: int = 5, order: int = 1,
                      method: Any = None, players: Any = None, baseline: Any = None, budget: Any = None,
                      side: str = "both", seed: Any = None, text_mode: str | None = None,
                      log: Any = None) -> list[TextExplanation]:
    """``SearchExplainer.explain_text_hits``: explain the hits of a text query (searched when ``hits`` is None).

    Every hit's score is Qdrant's; the fixed hit vector is its stored vector, so ``full_value`` of the
    word game reproduces the score.
    """
    from qdrant_explain.connectors.text import text_encoder_of, word_players

    from .results import SearchResults

    word_players(text, text_encoder_of(explainer.encoder), mode=text_mode)  # a bad text fails before any lookup
    opts = explainer._options(method, players, baseline, budget, seed)
    if hits is None:
        hits = search_text(explainer, text, limit=limit)
    if isinstance(hits, SearchResults):
        hits = hits.hits
    query = TextSide(text, explainer.encoder, mode=text_mode, name="text", label=text)
    need_image = order == 2 or side in ("both", "hit")
    points = []
    qvec = None
    for h in hits:
        point = explainer._point(h, need_image=False)
        if point.score is None:
            if qvec is None:
                qvec = np.asarray(text_encoder_of(explainer.encoder).encode_text([text]), dtype=np.float64)[0]
            point = explainer._with_score(point, qvec)
        points.append(explainer._point(point, need_image=True) if need_image else point)
    sides = [explainer._side(p, players=opts["players"], baseline=opts["baseline"]) for p in points]
    outcomes = explain_sides(query, sides, order=order, method=opts["method"], budget=opts["budget"],
                             metric=explainer.distance, seed=opts["seed"], side=side, batch_size=explainer.batch_size,
                             progress=explainer.progress, log=log)
    return [text_explanation(o, encoder=explainer.encoder_name, seed=opts["seed"], baseline=opts["baseline"],
                             metric=explainer.distance) for o in outcomes]


def compare_text(explainer: Any, text: str, hit_a: Any, hit_b: Any, *, method: Any = None, budget: Any = None,
                 seed: Any = None, text_mode: str | None = None, log: Any = None) -> TextExplanation:
    """``SearchExplainer.compare_text``: which words make ``hit_a`` score above ``hit_b`` for ``text``.

    The relative game score(t, A) - score(t, B) over the words, both ends their stored vectors
    (:class:`~qdrant_explain.sides.DifferenceSide`, the same pipeline as image comparisons).

    Returns:
        :class:`~qdrant_explain.text_results.TextExplanation` (order 1, ``side="query"``) whose
        ``full_value`` is score(A) - score(B) and ``extra["comparison"]`` gives both points' ids and scores.

    Raises:
        TextInputError: a bad text (empty, no words, too long); TypeError: an image-only encoder.
    """
    from dataclasses import replace

    from qdrant_explain.connectors.text import text_encoder_of, word_players

    from .sides import DifferenceSide

    encoder = text_encoder_of(explainer.encoder)
    word_players(text, encoder, mode=text_mode)  # a bad text fails before any lookup
    opts = explainer._options(method, None, None, budget, seed)
    qvec = None
    ends = []
    for h in (hit_a, hit_b):
        point = explainer._point(h, need_image=False)
        if point.score is None:
            if qvec is None:
                qvec = np.asarray(encoder.encode_text([text]), dtype=np.float64)[0]
            point = explainer._with_score(point, qvec)
        ends.append(point)
    a, b = ends
    diff = DifferenceSide(VectorSide(a.vector, id=a.id, score=a.score), VectorSide(b.vector, id=b.id, score=b.score))
    query = TextSide(text, explainer.encoder, mode=text_mode, name="text", label=text)
    (o,) = explain_sides(query, [diff], order=1, method=opts["method"], budget=opts["budget"], metric=explainer.distance,
                         seed=opts["seed"], side="query", batch_size=explainer.batch_size, progress=explainer.progress,
                         log=log)
    result = text_explanation(o, encoder=explainer.encoder_name, seed=opts["seed"], baseline="none",
                              metric=explainer.distance)
    comparison = {"hit_a": a.id, "hit_b": b.id, "score_a": a.score, "score_b": b.score,
                  "value": "score(text, A) - score(text, B)"}
    return replace(result, score=None if a.score is None or b.score is None else float(a.score - b.score),
                   extra={**dict(result.extra), "comparison": comparison})


def read_queries_file(path: Any) -> list[str]:
    """The text queries of a file: one per line, UTF-8, blank lines skipped.

    Raises:
        ValueError: the file is not UTF-8 (the message gives the line and byte offset), or holds no query.
    """
    import pathlib

    raw = pathlib.Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"the query file {str(path)!r} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
            f"(line {line}) cannot be decoded. Save it as UTF-8 (one query per line).") from None
    queries = [line.strip() for line in text.splitlines() if line.strip()]
    if not queries:
        raise ValueError(f"the query file {str(path)!r} holds no query; write one text query per line.")
    return queries


def audit_texts(explainer: Any, texts: Sequence[str], *, limit: int = 5, players: Any = "slic:24",
                budget: int | None = 128, method: Any = None, seed: Any = None, progress: Any = None,
                recordable: Callable[[BaseException], bool] = lambda exc: isinstance(exc, ValueError)) -> Any:
    """Explain the top hits of many text queries (order 1: words and hit regions) and summarise them
    (``SearchExplainer.audit_texts``).

    A query that cannot be explained (no words, too long) becomes a finding and the audit goes on;
    ``recordable(exc)`` says which errors are recorded (the others stop the audit).

    Returns:
        :class:`~qdrant_explain.results.AuditReport`: one :class:`~qdrant_explain.results.SearchResults` per
        query (its explanations are :class:`~qdrant_explain.text_results.TextExplanation`), and a summary:
        ``queries``, ``hits``, ``text_passes``, ``image_passes``, ``encoder_passes``, the most-attributed
        words (``top_regions`` rows with ``side="text"``) and the findings.
    """
    import time

    from .results import AuditReport, SearchResults

    t0 = time.perf_counter()
    searches, findings, tops = [], [], []
    texts = list(texts)
    for i, text in enumerate(texts):
        if progress is not None:
            progress(i, len(texts), text)
        try:
            found = search_text(explainer, text, limit=limit)
            expl = explain_text_hits(explainer, text, found, order=1, method=method, players=players, budget=budget,
                                     seed=seed)
        except Exception as exc:  # noqa: BLE001 - recordable() decides; the rest is raised again
            if not recordable(exc):
                raise
            findings.append({"query": text, "hit": None, "error": " ".join(str(exc).split()) or type(exc).__name__})
            continue
        searches.append(SearchResults(query_image=None, hits=found.hits, explanations=expl, query_name=text,
                                      encoder=explainer.encoder_name, collection=explainer.collection.info.name,
                                      heading=f"Hits for the text {text!r}", query_vector=found.query_vector,
                                      encoder_passes=sum(e.encoder_passes for e in expl)))
        for e in expl:
            k = int(np.argmax(e.word_values))
            spread = float(np.abs(e.word_values).sum()) or 1.0
            tops.append({"query": text, "hit": e.hit_id, "side": "text", "region": k, "value": float(e.word_values[k]),
                         "share": float(e.word_values[k]) / spread, "where": e.words.words[k]})
    explained = [e for s in searches for e in s.explanations]
    summary = {
        "queries": len(searches), "hits": len(explained),
        "text_passes": int(sum(e.text_passes for e in explained)),
        "image_passes": int(sum(e.image_passes for e in explained)),
        "encoder_passes": int(sum(e.encoder_passes for e in explained)),
        "border_share": None, "border_area": None, "vector_mismatch_count": 0, "vector_mismatches": [],
        "top_regions": sorted(tops, key=lambda t: -t["value"])[:20], "encoder": explainer.encoder_name,
        "collection": explainer.collection.info.name, "seconds": round(time.perf_counter() - t0, 2),
        "findings": findings, "finding_count": len(findings), "queries_failed": len(findings),
    }
    return AuditReport(searches=searches, summary=summary, collection=explainer.collection.info.name,
                       method=method if method is not None else explainer.method, budget=budget,
                       encoder_passes=summary["encoder_passes"], seconds=summary["seconds"],
                       encoder=explainer.encoder_name, seed=explainer.seed if seed is None else seed)
