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

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from qdrant_explain.explainers.encoder import PreparedImage, prepare_image, to_rgb_array
from qdrant_explain.explainers.games import HitGame, QueryGame
from qdrant_explain.explainers.joint import explain_joint
from qdrant_explain.explainers.masking import make_baseline
from qdrant_explain.explainers.players import Players, make_players
from qdrant_explain.explainers.result import Explanation
from qdrant_explain.explainers.scores import check_score, normalize_rows
from qdrant_explain.explainers.side import ImageSide

from .results import PairExplanation

DEFAULT_PLAYERS = {1: "slic:50", 2: "slic:16"}
"""Player spec used when ``players=None``, by order."""

DEFAULT_SIDE_BUDGET = 1024
"""Order 1 with ``budget=None``: encoder passes per explained side (or 2^n when smaller)."""

ORDER1_METHODS = ("auto", "exact", "kernel-shap", "permutation", "lime", "occlusion")
ORDER2_METHODS = ("auto", "exact", "stratified", "product-kst")


ImagePairExplanation = PairExplanation
"""The result of :func:`explain_pair`: the one pair-explanation type of :mod:`qdrant_explain.results`
(metric, players, joint and side explanations, ``hit_heatmap_for`` / ``query_heatmap_for`` live there)."""


# ----------------------------------------------------------------------------- helpers


def _open(image: object) -> object:
    """Paths become loaded PIL images; anything else is returned unchanged."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        from PIL import Image

        with Image.open(image) as im:
            im.load()
            return im.copy()
    return image


def _prepare(encoder: Any, image: object, name: str) -> PreparedImage:
    if image is None:
        raise ValueError(f"explain_pair needs a {name} image (PIL image, array or path); got None.")
    if hasattr(encoder, "prepare"):
        return encoder.prepare(image)
    return prepare_image(image, tuple(encoder.input_size), name=name)


def _check_encoder(encoder: Any) -> None:
    if encoder is None or not callable(getattr(encoder, "encode", None)):
        raise TypeError(
            "explain_pair needs an encoder with encode((m, H, W, 3) uint8) -> (m, d) and prepare(image) "
            "(or input_size); load one with qdrant_explain.connectors.encoders.load_encoder(spec). "
            f"Got {type(encoder).__name__}."
        )
    if not hasattr(encoder, "prepare") and not hasattr(encoder, "input_size"):
        raise TypeError("explain_pair: the encoder has neither prepare(image) nor input_size.")


def _split_players(players: object, order: int) -> tuple[object, object]:
    if players is None:
        spec = DEFAULT_PLAYERS[order]
        return spec, spec
    if isinstance(players, str):
        return players, players
    if isinstance(players, (tuple, list)) and len(players) == 2:
        return players[0], players[1]
    raise ValueError(
        "players must be a spec such as 'slic:50' or 'grid:7x7', or a pair (query_labels, hit_labels) of "
        f"integer label maps in original pixels (either may be a spec); got {type(players).__name__}."
    )


def _baseline_name(baseline: object) -> str:
    return baseline if isinstance(baseline, str) else ("callable" if callable(baseline) else "array")


def _full_mask(n: int) -> np.ndarray:
    return np.ones((1, n), dtype=bool)


def _side_plan(n: int, method: str, budget: int | None, seed: int) -> tuple[Any, Any]:
    """The estimator and plan of a first-order side explanation ("auto": exact when 2^n fits the budget)."""
    from qdrant_explain.explainers.api import plan_game

    if method not in ORDER1_METHODS:
        raise ValueError(f"explain_pair(order=1, method=...) must be one of {ORDER1_METHODS}; got {method!r}.")
    b = budget if budget is not None else min(2**n, DEFAULT_SIDE_BUDGET)
    if method == "auto":
        method = "exact" if 2**n <= b else "kernel-shap"
    if method == "exact":
        b = None
    return plan_game(n, method=method, order=1, budget=b, seed=seed)


def _side_explain(game: QueryGame, n: int, method: str, budget: int | None, seed: int) -> list[Explanation]:
    """First-order explanations of a side game against each of its fixed embeddings (one plan, one solve)."""
    from qdrant_explain.explainers.api import solve_game
    from qdrant_explain.explainers.evaluation import unique_rows

    est, plan = _side_plan(n, method, budget, seed)
    distinct, inverse = unique_rows(plan.coalitions)
    values = game.values(distinct)[inverse]  # (m, k): every planned mask against every fixed embedding
    return solve_game(est, plan, values, seed=seed, requested_method=est.name)


@dataclass
class _Sides:
    query: PreparedImage
    query_players: Players
    query_side: ImageSide
    hit: PreparedImage | None = None
    hit_players: Players | None = None
    hit_side: ImageSide | None = None
    extra: dict = field(default_factory=dict)


def _make_side(encoder, prepared, spec, baseline, batch_size, progress, name, seed) -> tuple[Players, ImageSide]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # the blur runs while SLIC segments (both release the GIL)
        pending = pool.submit(make_baseline, baseline, prepared.pixels)
        players = make_players(spec, prepared, name=name, seed=seed)
        base = pending.result()
    side = encoder_side(encoder, prepared.pixels, base, players.labels, batch_size=batch_size, progress=progress, name=name)
    return players, side


def encoder_side(encoder: Any, pixels: np.ndarray, baseline: np.ndarray, labels: np.ndarray, *, batch_size: int,
                 progress: bool | None, name: str) -> ImageSide:
    """The cached side evaluator of one image for ``encoder``.

    An encoder with ``masked_encoder(pixels, baseline, labels)`` (the torch
    encoders on a GPU) builds the masked images itself, on the device; any other
    gets numpy-masked uint8 batches.
    """
    factory = getattr(encoder, "masked_encoder", None)
    masked = factory(pixels, baseline, labels) if callable(factory) else None
    return ImageSide(pixels, baseline, labels, encoder.encode, batch_size=batch_size, progress=progress, name=name,
                     masked_encode=masked)


def _check_hit_embedding(hit_embedding: object, dim: int) -> np.ndarray:
    arr = np.asarray(hit_embedding, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"hit_embedding must be one (d,) vector; got shape {arr.shape}.")
    if arr.shape[0] != dim:
        raise ValueError(
            f"hit_embedding has dimension {arr.shape[0]} but the encoder produces {dim}-d embeddings; "
            f"pass the stored vector of the same encoder/collection (or omit it to encode hit_image)."
        )
    if not np.isfinite(arr).all():
        raise ValueError("hit_embedding contains NaN or inf values.")
    return arr


# ----------------------------------------------------------------------------- entry points


def explain_pair(
    query_image: object,
    hit_image: object,
    encoder: Any,
    *,
    order: int = 1,
    method: str = "auto",
    players: object = None,
    baseline: object = "blur",
    budget: int | None = None,
    score: str = "cosine",
    seed: int = 0,
    hit_embedding: object = None,
    batch_size: int = 64,
    progress: bool | None = None,
    side: str = "both",
) -> ImagePairExplanation:
    """Explain the similarity of a query image and a hit image for ``encoder``.

    Args:
        query_image: PIL image, (H, W[, 3|4]) array (greyscale, RGBA, 16-bit are
            converted) or a file path.
        hit_image: the same for the hit; may be None at order 1 when
            ``hit_embedding`` is given (then only the query side is explained).
        encoder: an :class:`~qdrant_explain.explainers.encoder.Encoder`
            (``prepare`` + ``encode``), e.g. from ``load_encoder(spec)``.
        order: 1 (Shapley saliency maps on each side) or 2 (joint Shapley-Taylor:
            the (nq, nh) ``cross`` matrix of region correspondences).
        method: order 1: ``"auto"`` (exact when 2^n fits the budget, else
            ``"kernel-shap"``), ``"exact"``, ``"kernel-shap"``, ``"permutation"``,
            ``"lime"``, ``"occlusion"``; order 2: ``"auto"``, ``"exact"``, ``"stratified"``.
        players: ``"slic:N"``, ``"grid:RxC"``, or a pair (query_labels, hit_labels)
            of integer label maps in original pixels; None: ``"slic:50"`` (order 1),
            ``"slic:16"`` (order 2).
        baseline: what removed regions become: ``"blur"`` (default), ``"mean"``,
            ``"constant"``, ``"constant:R,G,B"`` or a callable on the model-space image.
        budget: encoder passes. Order 1: per explained side (None: min(2^n, 1024));
            order 2: query + hit together (None: 2048).
        score: Qdrant metric, ``"cosine"``, ``"dot"``, ``"euclid"``, ``"manhattan"``.
        seed: seed for the samplers.
        hit_embedding: the hit's stored vector (from Qdrant); the query-side game
            then scores against it instead of a fresh encode of ``hit_image``.
        batch_size: masked images per encoder call.
        progress: tqdm bars (None: automatic, only on a TTY for long runs).
        side: order 1 only: ``"both"``, ``"query"`` or ``"hit"``.

    Returns:
        :class:`ImagePairExplanation` (a :class:`~qdrant_explain.results.PairExplanation`).

    Raises:
        ValueError: bad images (1x1, unreadable), players, label maps, baseline,
            method, a hit embedding of the wrong dimension, NaN embeddings from
            the encoder (:class:`~qdrant_explain.explainers.side.EmbeddingError`).
        TypeError: an object that is not an encoder.
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
    )[0]


def explain_hits(
    query_image: object,
    hit_images: Sequence[object],
    encoder: Any,
    *,
    order: int = 1,
    method: str = "auto",
    players: object = None,
    baseline: object = "blur",
    budget: int | None = None,
    score: str = "cosine",
    seed: int = 0,
    hit_embeddings: Sequence[object] | np.ndarray | None = None,
    batch_size: int = 64,
    progress: bool | None = None,
    side: str = "both",
) -> list[ImagePairExplanation]:
    """Explain one query against several hits, sharing the masked-query encodes (multi-hit).

    Same arguments as :func:`explain_pair`, with ``hit_images`` (entries may be
    None when ``hit_embeddings`` gives the stored vectors) and ``hit_embeddings``
    ((k, d) or a list). The query side is encoded once for all hits: explaining
    10 hits costs the query passes of one. ``encoder_passes`` of each result
    counts only the masks newly encoded for it (the first result carries the
    shared query passes).
    """
    t_start = time.perf_counter()
    if order not in (1, 2):
        raise ValueError(f"explain_pair(order=...) must be 1 or 2; got {order!r}.")
    if side not in ("both", "query", "hit"):
        raise ValueError(f"explain_pair(side=...) must be 'both', 'query' or 'hit'; got {side!r}.")
    metric = check_score(score)
    _check_encoder(encoder)
    hits = [None if h is None else _open(h) for h in hit_images]
    query_image = _open(query_image)
    k = len(hits)
    if k == 0:
        raise ValueError("explain_hits needs at least one hit image (or None with a hit embedding).")
    if hit_embeddings is not None and len(hit_embeddings) != k:
        raise ValueError(f"hit_embeddings has {len(hit_embeddings)} entries for {k} hits.")
    q_spec, h_spec = _split_players(players, order)
    query = _prepare(encoder, query_image, "query")
    q_players, q_side = _make_side(encoder, query, q_spec, baseline, batch_size, progress, "query", seed)
    q_full = q_side.embed(_full_mask(q_players.n_players))[0]
    dim = q_full.shape[0]
    stored = [None] * k if hit_embeddings is None else [
        None if e is None else _check_hit_embedding(e, dim) for e in hit_embeddings
    ]
    query_rgb = to_rgb_array(query_image, name="query")
    results = []
    shared_counted = False
    q_batch = None
    if order == 1 and side in ("both", "query") and k > 1 and all(v is not None for v in stored):
        # every hit is a stored vector: one plan, one evaluation and one solve for all k query-side games
        q_batch = _side_explain(QueryGame(q_side, np.stack(stored), metric), q_players.n_players, method, budget, seed)
    for idx in range(k):
        t0 = time.perf_counter()
        q_before = q_side.encoder_passes if shared_counted else 0
        q_sec_before = q_side.encoder_seconds if shared_counted else 0.0
        hit_prep = None
        h_players = h_side = None
        if hits[idx] is not None:
            hit_prep = _prepare(encoder, hits[idx], "hit")
            h_players, h_side = _make_side(encoder, hit_prep, h_spec, baseline, batch_size, progress, "hit", seed)
        elif stored[idx] is None:
            raise ValueError(f"hit {idx}: give hit_image or hit_embedding (both are None).")
        h_full = None
        if h_side is not None:
            h_full = h_side.embed(_full_mask(h_players.n_players))[0]
            if h_full.shape[0] != dim:
                raise ValueError(f"the encoder returned {h_full.shape[0]}-d hit embeddings but {dim}-d query ones.")
        vector_check = None
        if stored[idx] is not None and h_full is not None:
            c = float(normalize_rows(stored[idx][None])[0] @ normalize_rows(h_full[None])[0])
            vector_check = {"cosine": c, "disagrees": bool(c < 0.99)}
        hit_vec = stored[idx] if stored[idx] is not None else h_full
        extra: dict = {"heatmaps": "side Shapley values" if order == 2 else "Shapley values"}
        q_expl = h_expl = joint = None
        if order == 1:
            q_values = h_values = None
            explained = side if h_side is not None else "query"
            if explained in ("both", "query"):
                if q_batch is None:
                    q_expl = _side_explain(QueryGame(q_side, hit_vec, metric), q_players.n_players, method, budget, seed)[0]
                else:
                    q_expl = q_batch[idx]
                q_values = q_expl.values
            if explained in ("both", "hit") and h_side is not None:
                h_expl = _side_explain(HitGame(h_side, q_full, metric), h_players.n_players, method, budget, seed)[0]
                h_values = h_expl.values
            first = q_expl or h_expl
            base = first.base_value
            full = first.full_value
            cross = None
            q_heat = None if q_values is None else q_players.paint(q_values)
            h_heat = None if h_values is None else h_players.paint(h_values)
            used_method = first.method
            estimated = bool((q_expl or h_expl).estimated or (h_expl is not None and h_expl.estimated))
            if q_expl is not None and h_expl is not None:
                extra["hit_base_value"] = h_expl.base_value
            used_budget = budget
        else:
            if h_side is None:
                raise ValueError("explain_pair(order=2) masks both images: pass hit_image (the stored vector alone is not enough).")
            if method not in ORDER2_METHODS:
                raise ValueError(f"explain_pair(order=2, method=...) must be one of {ORDER2_METHODS}; got {method!r}.")
            joint = explain_joint(q_side, h_side, q_players.n_players, h_players.n_players, score=metric,
                                  method=method, budget=budget, seed=seed, progress=progress)
            q_values, h_values, cross = joint.query_values, joint.hit_values, joint.cross
            q_heat = q_players.paint(joint.query_side_values)
            h_heat = h_players.paint(joint.hit_side_values)
            base, full = joint.base_value, joint.full_value
            used_method, estimated, used_budget = joint.method, joint.estimated, joint.budget
            explained = "both"
        passes = (q_side.encoder_passes - q_before) + (0 if h_side is None else h_side.encoder_passes)
        enc_sec = (q_side.encoder_seconds - q_sec_before) + (0.0 if h_side is None else h_side.encoder_seconds)
        shared_counted = True
        hit_rgb = None if hits[idx] is None else to_rgb_array(hits[idx], name="hit")
        results.append(
            ImagePairExplanation(
                query_image=query_rgb,
                hit_image=hit_rgb,
                query_labels=q_players.original_labels,
                hit_labels=None if h_players is None else h_players.original_labels,
                query_values=q_values,
                hit_values=h_values,
                cross=cross,
                base_value=float(base),
                full_value=float(full),
                method=used_method,
                order=order,
                encoder=str(getattr(encoder, "name", type(encoder).__name__)),
                seed=seed,
                encoder_passes=int(passes),
                seconds=(time.perf_counter() - t0) + ((t0 - t_start) if idx == 0 else 0.0),
                budget=used_budget,
                baseline=_baseline_name(baseline),
                side=explained,
                estimated=estimated,
                query_heatmap=q_heat,
                hit_heatmap=h_heat,
                vector_check=vector_check,
                extra=extra,
                metric=metric,
                query_players=q_players,
                hit_players=h_players,
                joint=joint,
                query_explanation=q_expl,
                hit_explanation=h_expl,
                encoder_seconds=float(enc_sec),
            )
        )
    return results


__all__ = ["ImagePairExplanation", "explain_pair", "explain_hits", "DEFAULT_PLAYERS"]
