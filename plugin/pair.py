"""Explain why two images are similar for an encoder: saliency maps and region correspondences.

Usage::

    from qdrant_explain import explain_pair
    from qdrant_explain.connectors.encoders import load_encoder

    enc = load_encoder("clip:ViT-B-32@laion2b_s34b_b79k")
    res = explain_pair("query.jpg", "hit.jpg", enc, order=1, players="slic:50", budget=1000)
    res.query_heatmap, res.hit_heatmap      # (H, W) float maps in original pixels, NaN where cropped
    res.full_value                          # the score Qdrant returns for the pair (cosine here)

    res2 = explain_pair(query_img, hit_img, enc, order=2, players="grid:4x4")   # joint, exact
    res2.cross                              # (nq, nh) query-region x hit-region Shapley-Taylor
    res2.hit_heatmap_for((120, 80))         # over the hit: what matches query pixel (y=120, x=80)
    res2.query_heatmap_for(hit_mask)        # over the query: what matches a hit region (bool mask)

    from qdrant_explain.viz import save_overlays, save_correspondence
    save_overlays(res, "pair.png"); save_correspondence(res2, "links.png")

Order 1 explains two games with Shapley values: the *query-side* game (query
regions masked, the hit embedding fixed: encoded from ``hit_image`` or the
stored vector ``hit_embedding``) and the *hit-side* game (hit regions masked,
the full query fixed). Order 2 explains the *joint* game (query regions u hit
regions) with order-2 Shapley-Taylor indices, evaluated factorised: exact costs
2^nq + 2^nh encoder passes, the ``"stratified"`` sampler any budget above a
small minimum (:func:`qdrant_explain.explainers.joint.explain_joint`).

Values are Qdrant's raw scores: for ``euclid``/``manhattan`` (distances) a
positive attribution means "pushes the images apart".
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from qdrant_explain.explainers.scores import check_score
from qdrant_explain.explainers.vocabulary import DEFAULT_BASELINE, DEFAULT_PLAYERS

from .results import PairExplanation
from .sides import ImageSide, SideOutcome, VectorSide, check_encoder, explain_sides, side_name


ImagePairExplanation = PairExplanation
"""The result of :func:`explain_pair`: the one pair-explanation type of :mod:`qdrant_explain.results`
(metric, players, joint and side explanations, ``hit_heatmap_for`` / ``query_heatmap_for`` live there)."""


# ----------------------------------------------------------------------------- helpers


def _split_players(players: object) -> tuple[object, object]:
    """(query players, hit players): one spec for both, or a pair; None keeps the vocabulary's default."""
    if players is None or isinstance(players, str):
        return players, players
    if isinstance(players, (tuple, list)) and len(players) == 2:
        return players[0], players[1]
    raise ValueError(
        "players must be a spec such as 'slic:50' or 'grid:7x7', or a pair (query_labels, hit_labels) of "
        f"integer label maps in original pixels (either may be a spec); got {type(players).__name__}."
    )


def _baseline_name(baseline: object) -> str:
    from qdrant_explain.explainers.masking import Backgrounds

    if isinstance(baseline, (str, Backgrounds)):
        return str(baseline)
    return "callable" if callable(baseline) else "array"


def _vector_check_dict(check: Any) -> dict | None:
    if check is None:
        return None
    return {"cosine": check.cosine, "rel_diff": check.rel_diff, "disagrees": not check.agrees,
            "message": check.message}


def hit_sides(hits: Sequence[Any], hit_embeddings: Sequence[Any] | None, encoder: Any, *, players: object,
              baseline: object, name_payload: bool = False, segments: Any = None) -> list[Any]:
    """The hit sides of an explanation: an :class:`ImageSide` per hit image (with its stored vector, if
    given), a :class:`VectorSide` where only the stored vector is given.

    Raises:
        ValueError: ``hit_embeddings`` of another length than ``hits``, or a hit with neither.
    """
    if hit_embeddings is not None and len(hit_embeddings) != len(hits):
        raise ValueError(f"hit_embeddings has {len(hit_embeddings)} entries for {len(hits)} hits.")
    sides: list[Any] = []
    for idx, image in enumerate(hits):
        stored = None if hit_embeddings is None else hit_embeddings[idx]
        if image is None and stored is None:
            raise ValueError(f"hit {idx}: give its image or its stored vector (both are None).")
        if image is None:
            sides.append(VectorSide(stored, name="hit"))
            continue
        label = side_name(image)
        sides.append(ImageSide(image, encoder, players=players, baseline=baseline, name="hit", label=label,
                               payload={"image": label} if name_payload and label else None, vector=stored,
                               segments=segments))
    return sides


def baseline_warnings(outcome: SideOutcome, metric: str, baseline: object) -> list[str]:
    """The warning of :func:`~qdrant_explain.summary.baseline_warning` for each explained side (once)."""
    from qdrant_explain.explainers.scores import higher_is_better
    from qdrant_explain.summary import baseline_warning

    if outcome.joint is not None:
        bases = [outcome.joint.base_value]
    else:
        bases = [e.base_value for e in (outcome.query_explanation, outcome.hit_explanation) if e is not None]
    lines = [baseline_warning(b, outcome.full_value, higher_is_better=higher_is_better(metric),
                              baseline=_baseline_name(baseline), joint=outcome.joint is not None) for b in bases]
    return list(dict.fromkeys(line for line in lines if line))[:1]


def pair_explanation(outcome: SideOutcome, *, encoder: str, seed: int, baseline: object, metric: str,
                     query_name: str | None = None) -> "ImagePairExplanation":
    """The :class:`ImagePairExplanation` of one :class:`~qdrant_explain.sides.SideOutcome`, built in one go.

    Score, hit id, payload and the query's name come from the sides.
    """
    q, h = outcome.query, outcome.hit
    qe, he, joint = outcome.query_explanation, outcome.hit_explanation, outcome.joint
    extra: dict = {"heatmaps": "side Shapley values" if outcome.order == 2 else "Shapley values",
                   "query_passes": outcome.query_passes, "hit_passes": outcome.hit_passes}
    notes = list(outcome.notes)
    grey = grey_box_summary(outcome)
    if grey is not None:  # search-cam / search-gradcam / sam: feature cells, zero feature masking
        extra["heatmaps"], extra["grey_box"], baseline = grey["heatmaps"], grey, "zero feature cells"
    else:  # a grey-box map has no --baseline to change
        notes += baseline_warnings(outcome, metric, baseline)
    if notes:
        extra["warnings"] = notes
    if outcome.stopped is not None:  # budget="auto": why the rounds stopped, and each side's rounds
        extra["stopped"], extra["anytime"] = outcome.stopped["reason"], outcome.stopped
    stderr = outcome_stderr(outcome)
    if joint is not None:
        q_values, h_values, cross = joint.query_values, joint.hit_values, joint.cross
        q_heat, h_heat = q.players.paint(joint.query_side_values), h.players.paint(joint.hit_side_values)
    else:
        q_values = None if qe is None else qe.values
        h_values = None if he is None else he.values
        cross = None
        q_heat = None if q_values is None else q.players.paint(q_values)
        h_heat = None if h_values is None else h.players.paint(h_values)
        if qe is not None and he is not None:
            extra["hit_base_value"] = he.base_value
    src_q, src_h = q.source, h.source
    return ImagePairExplanation(
        query_image=q.image, hit_image=h.image,
        query_labels=None if q.players is None else q.players.original_labels,
        hit_labels=None if h.players is None or h_values is None and joint is None else h.players.original_labels,
        query_values=q_values, hit_values=h_values, cross=cross, **stderr,
        base_value=outcome.base_value, full_value=outcome.full_value, method=outcome.method, order=outcome.order,
        encoder=encoder, seed=seed, encoder_passes=outcome.passes, seconds=outcome.seconds, budget=outcome.budget,
        baseline=_baseline_name(baseline), side=outcome.side, estimated=outcome.estimated,
        score=getattr(src_h, "score", None), hit_id=getattr(src_h, "id", None),
        hit_payload=getattr(src_h, "payload", None),
        query_name=query_name if query_name is not None else getattr(src_q, "label", None),
        query_heatmap=q_heat, hit_heatmap=h_heat, vector_check=_vector_check_dict(h.vector_check), extra=extra,
        metric=metric, query_players=q.players, hit_players=h.players, joint=joint,
        query_explanation=qe, hit_explanation=he, encoder_seconds=outcome.encoder_seconds,
    )


def grey_box_summary(outcome: SideOutcome) -> dict | None:
    """What a grey-box outcome tells the reader (exact or not, why, measured deviation, passes), else None."""
    parts = {"query": outcome.query_explanation, "hit": outcome.hit_explanation, "joint": outcome.joint}
    metas = {k: e.meta for k, e in parts.items() if e is not None and e.meta.get("grey_box")}
    if not metas:
        return None
    first = next(iter(metas.values()))
    grid = "x".join(str(g) for g in first["feature_grid"][0])
    return {"heatmaps": f"{outcome.method} over the {grid} feature cells",
            "exact_shapley": all(m["exact_shapley"] for m in metas.values()),
            "approximation": "; ".join(dict.fromkeys(m["approximation"] for m in metas.values() if m["approximation"])) or None,
            "pooling": first["pooling"], "pooling_error": max(m["pooling_error"] for m in metas.values()),
            "feature_game": {k: m["feature_game"] for k, m in metas.items()},
            "backward_passes": int(sum(m.get("backward_passes", 0) for m in metas.values()))}


def outcome_stderr(outcome: SideOutcome) -> dict:
    """The standard-error fields of a :class:`PairExplanation` for one outcome: ``query_values_stderr``,
    ``hit_values_stderr``, ``cross_stderr`` and ``stderr_dof``, carried from the side explanations (order 1)
    or the joint result (order 2) as the estimators filled them."""
    from .results import stderr_dof_of

    joint = outcome.joint
    if joint is not None:
        dof = stderr_dof_of(joint)
        return {"query_values_stderr": joint.query_values_stderr, "hit_values_stderr": joint.hit_values_stderr,
                "cross_stderr": joint.cross_stderr, "stderr_dof": {"query": dof, "hit": dof, "cross": dof}}
    qe, he = outcome.query_explanation, outcome.hit_explanation
    return {"query_values_stderr": None if qe is None else qe.stderr,
            "hit_values_stderr": None if he is None else he.stderr,
            "stderr_dof": {"query": stderr_dof_of(qe), "hit": stderr_dof_of(he)}}


# ----------------------------------------------------------------------------- entry points


def explain_pair(
    query_image: object,
    hit_image: object,
    encoder: Any,
    *,
    order: int = 1,
    method: str = "auto",
    players: object = None,
    baseline: object = DEFAULT_BASELINE,
    budget: int | str | None = "auto",
    score: str = "cosine",
    seed: int = 0,
    hit_embedding: object = None,
    batch_size: int = 64,
    progress: bool | None = None,
    side: str = "both",
    log: Callable[[str], None] | None = None,
    memory_cap: object = None,
    top_k: int = 3,
    max_seconds: float | None = None,
    segments: Any = None,
) -> ImagePairExplanation:
    """Explain the similarity of a query image and a hit image for ``encoder``.

    Args:
        query_image: PIL image, (H, W[, 3|4]) array (greyscale, RGBA, 16-bit are
            converted) or a file path (read with ``connectors.load_image``: EXIF
            orientation applied, as ``index`` does).
        hit_image: the same for the hit; may be None at order 1 when
            ``hit_embedding`` is given (then only the query side is explained).
        encoder: an :class:`~qdrant_explain.explainers.encoder.Encoder`
            (``prepare`` + ``encode``), or an encoder spec string (loaded with
            ``qdrant_explain.connectors.load_encoder(spec)``, as ``SearchExplainer`` does).
        order: 1 (Shapley saliency maps on each side) or 2 (joint Shapley-Taylor:
            the (nq, nh) ``cross`` matrix of region correspondences).
        method: a name of ``vocabulary.list_methods(1, "side")`` at order 1 or
            ``list_methods(2, "joint")`` at order 2; ``"auto"`` follows the
            vocabulary's one rule (exact when its cost fits the budget, or 4096
            encoder passes without one).
        players: ``"slic:N"``, ``"grid:RxC"``, or a pair (query_labels, hit_labels)
            of integer label maps in original pixels; None: ``vocabulary.DEFAULT_PLAYERS``
            (``"slic:24"`` at order 1, ``"slic:16"`` at order 2).
        baseline: what removed regions become: a name of ``vocabulary.BASELINES``
            (``"blur"``, ``"blur:SIGMA"``, ``"mean"``, ``"gray"`` = ``"constant:128,128,128"``,
            ``"constant"``, ``"constant:R,G,B"``), an RGB tuple, an image or a callable.
        budget: ``"auto"`` (the default): at order 1 with a sampled method, sample in rounds and stop when
            the ``top_k`` regions of each side are identified with 95 % confidence, at the pass cap
            (``"auto:N"``: N passes per side, else the default budget) or after ``max_seconds``; why it
            stopped is ``extra["stopped"]`` (``"settled"``, ``"exact"``, ``"pass cap"``, ``"time cap"``).
            An integer: a fixed number of encoder passes (``vocabulary.BUDGET_MEANING``): order 1 per
            explained side, order 2 query + hit together; capped at the exact cost. None: the fixed default.
            Order 2 and methods without rounds (exact, lime, occlusion, ...) use the fixed default under ``"auto"``.
        score: Qdrant metric, ``"cosine"``, ``"dot"``, ``"euclid"``, ``"manhattan"``.
        seed: seed for the samplers.
        hit_embedding: the hit's stored vector (from Qdrant); the query-side game
            then scores against it instead of a fresh encode of ``hit_image``.
        batch_size: masked images per encoder call.
        progress: tqdm bars (None: automatic, only on a TTY for long runs).
        side: order 1 only: ``"both"``, ``"query"`` or ``"hit"``.
        log: called with one line per plan (method, encoder passes, time estimate) before encoding.
        top_k: under ``budget="auto"``: regions per side to identify before stopping.
        max_seconds: under ``budget="auto"``: the time cap (no round starts that would end after it).
        segments: a :class:`~qdrant_explain.explainers.players.SegmentCache` shared by calls, so an image
            explained again (a query against hit after hit) is segmented once; None: one for this call.

    Returns:
        :class:`ImagePairExplanation` (a :class:`~qdrant_explain.results.PairExplanation`).

    Raises:
        ValueError: bad images (1x1, unreadable), players, label maps, baseline,
            method, a hit embedding of the wrong dimension, NaN embeddings from
            the encoder (:class:`~qdrant_explain.explainers.side.EmbeddingError`).
        TypeError: an object that is not an encoder (nor a spec string).
        MemoryCapError: (a MemoryError and a ValueError) a plan whose stated memory exceeds
            ``memory_cap`` (bytes or ``"4GiB"``/``"50%"``; None: ``$QDRANT_EXPLAIN_MEMORY_CAP``,
            else 80 % of the available memory), refused before any masked encode.
    """
    return explain_hits(
        query_image,
        [hit_image],
        encoder,
        order=order,
        method=method,
        players=players,
        baseline=baseline,
        budget=budget,
        score=score,
        seed=seed,
        hit_embeddings=None if hit_embedding is None else [hit_embedding],
        batch_size=batch_size,
        progress=progress,
        side=side,
        log=log,
        memory_cap=memory_cap,
        top_k=top_k,
        max_seconds=max_seconds,
        segments=segments,
    )[0]


def explain_hits(
    query_image: object,
    hit_images: Sequence[object],
    encoder: Any,
    *,
    order: int = 1,
    method: str = "auto",
    players: object = None,
    baseline: object = DEFAULT_BASELINE,
    budget: int | str | None = "auto",
    score: str = "cosine",
    seed: int = 0,
    hit_embeddings: Sequence[object] | np.ndarray | None = None,
    batch_size: int = 64,
    progress: bool | None = None,
    side: str = "both",
    log: Callable[[str], None] | None = None,
    memory_cap: object = None,
    top_k: int = 3,
    max_seconds: float | None = None,
    segments: Any = None,
) -> list[ImagePairExplanation]:
    """Explain one query against several hits, sharing the masked-query encodes (multi-hit).

    Same arguments as :func:`explain_pair`, with ``hit_images`` (entries may be
    None when ``hit_embeddings`` gives the stored vectors) and ``hit_embeddings``
    ((k, d) or a list). The query side is encoded once for all hits: explaining
    10 hits costs the query passes of one. ``encoder_passes`` of each result
    counts only the masks newly encoded for it (the first result carries the
    shared query passes).
    """
    encoder = check_encoder(encoder, "explain_pair")
    hits = list(hit_images)
    if not hits:
        raise ValueError("explain_hits needs at least one hit image (or None with a hit embedding).")
    q_spec, h_spec = _split_players(players)
    if query_image is None:
        raise ValueError("explain_pair needs a query image (PIL image, array or path); got None.")
    query = ImageSide(query_image, encoder, players=q_spec, baseline=baseline, name="query",
                      label=side_name(query_image), segments=segments)
    sides = hit_sides(hits, hit_embeddings, encoder, players=h_spec, baseline=baseline, name_payload=True,
                      segments=segments)
    outcomes = explain_sides(query, sides, order=order, method=method, budget=budget, metric=score, seed=seed,
                             side=side, batch_size=batch_size, progress=progress, check_vectors=False, log=log,
                             memory_cap=memory_cap, top_k=top_k, max_seconds=max_seconds)
    name = str(getattr(encoder, "name", type(encoder).__name__))
    metric = check_score(score)
    return [pair_explanation(o, encoder=name, seed=seed, baseline=baseline, metric=metric) for o in outcomes]


__all__ = ["ImagePairExplanation", "explain_pair", "explain_hits", "outcome_stderr", "pair_explanation", "DEFAULT_PLAYERS"]
