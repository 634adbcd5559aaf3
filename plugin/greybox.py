"""The grey-box path of the pipeline of sides: search-CAM, search-GradCAM and SAM from feature maps.

:func:`qdrant_explain.sides.explain_sides` hands a grey-box method (``vocabulary.list_methods``
lists them beside the black-box ones; :func:`qdrant_explain.explainers.is_grey_box` tells them
apart) to :func:`explain_sides_grey`. Instead of masking images it reads each image's last
spatial feature map once (one forward pass; search-GradCAM adds one backward pass through the
pooling head per explained side) and applies the closed forms of
:mod:`qdrant_explain.explainers.greybox`. The players are the feature cells: an h x w grid over
model space (``grid:7x7`` for EfficientNet-Lite0 at 224 px), painted back to original pixels
through each side's geometry. The results are the usual :class:`~qdrant_explain.sides.SideOutcome`
(so :class:`~qdrant_explain.results.PairExplanation`), whose explanations' ``meta`` (and the
pair's ``extra["grey_box"]``) say whether the map is exact Shapley and how far it measured from
the feature-cell game.

:func:`qdrant_explain.preview.instant_preview` is the anytime budget's first frame (issue 18).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np


def _is_image(side: Any) -> bool:
    """An image side (maskable, with an encoder): its feature maps are read."""
    return bool(getattr(side, "can_mask", False)) and hasattr(side, "encoder") and hasattr(side, "image")


def _players_for(side: Any, prepared: Any, grid: tuple[int, int], method: str) -> Any:
    from qdrant_explain.explainers.players import make_players

    spec = f"grid:{grid[0]}x{grid[1]}"
    if side.players is not None and side.players != spec:
        shown = side.players if isinstance(side.players, str) else f"a {type(side.players).__name__} label map"
        raise ValueError(
            f"method={method!r} explains the encoder's feature cells, so the {side.name}'s players are its "
            f"{grid[0]} x {grid[1]} feature grid ({spec!r}); got players={shown!r}. Leave players unset (CLI: no "
            f"--players) or pass {spec!r}; for other regions use a black-box method (kernel-shap, exact, ...).")
    return make_players(spec, prepared, name=side.name)


def _prepared_images(sides: Sequence[Any], load_image: Callable) -> list[tuple[np.ndarray, Any]]:
    from qdrant_explain.explainers.encoder import prepare_image, to_rgb_array

    out = []
    for s in sides:
        rgb = to_rgb_array(load_image(s.image, s.name), name=s.name)
        enc = s.encoder
        prepared = enc.prepare(rgb) if hasattr(enc, "prepare") else prepare_image(rgb, tuple(enc.input_size), name=s.name)
        out.append((rgb, prepared))
    return out


def _read_sides(sides: list[Any], method: str, metric: str, check_vectors: bool, kit: Any) -> tuple[list, list, float]:
    """Prepare every side: image sides read their feature maps in one batched forward pass."""
    from qdrant_explain.connectors import compare_vectors, read_features

    images = [i for i, s in enumerate(sides) if _is_image(s)]
    prepared: list = [None] * len(sides)
    maps: list = [None] * len(sides)
    seconds = 0.0
    if images:
        encoder = sides[images[0]].encoder
        loaded = _prepared_images([sides[i] for i in images], kit.load_image)
        t0 = time.perf_counter()
        read = read_features(encoder, np.stack([p.pixels for _, p in loaded]), method=method)
        seconds = time.perf_counter() - t0
        for i, (rgb, p), fm in zip(images, loaded, read):
            side = sides[i]
            players = _players_for(side, p, fm.grid, method)
            stored = None if side.vector is None else np.asarray(side.vector, dtype=np.float64).reshape(-1)
            check = None
            if stored is not None:
                if stored.shape != fm.embedding.shape:
                    raise ValueError(
                        f"the {side.name}'s stored vector has dimension {stored.shape[0]} but the encoder produces "
                        f"{fm.embedding.shape[0]}-d embeddings; use the encoder the collection was built with.")
                check = compare_vectors(stored, fm.embedding, metric)
            prepared[i] = kit.prepared(source=side, fixed=fm.embedding if stored is None else stored, players=players,
                                       image=rgb, fresh=fm.embedding, vector_check=check, unmasked_passes=1)
            maps[i] = fm
    kw = dict(order=1, maskable=False, check_vector=check_vectors, seed=0, batch_size=1, progress=False, metric=metric)
    for i, s in enumerate(sides):
        if prepared[i] is None:
            prepared[i] = s.prepare(**kw)
    return prepared, maps, seconds


def _others(hit: Any) -> tuple[np.ndarray, np.ndarray]:
    """(k, d) vectors and (k,) weights the query-side game scores against."""
    if hit.combination is not None:
        return hit.combination
    return hit.fixed[None], np.ones(1)


def _with_gradients(encoder: Any, fm: Any, others: np.ndarray, weights: np.ndarray, metric: str, method: str) -> Any:
    from qdrant_explain.connectors import read_gradients

    grads = read_gradients(encoder, fm.activations[None], others[None], metric=metric, weights=weights, method=method)
    return replace(fm, gradients=grads[0])


def _side_explanation(est: Any, encoder: Any, fm: Any, others: np.ndarray, weights: np.ndarray, metric: str) -> tuple[Any, int]:
    """(explanation, backward passes) of one side."""
    backward = 0
    if est.needs_gradients:
        fm = _with_gradients(encoder, fm, others, weights, metric, est.name)
        backward = 1
    e = est.explain(fm, others, score=metric, weights=weights)
    return replace(e, meta={**e.meta, "forward_passes": 1, "backward_passes": backward}), backward


class SideKit(NamedTuple):
    """What the grey-box path builds its sides and outcomes with (:mod:`qdrant_explain.sides` passes its own:
    ``PreparedSide``, ``SideOutcome``, ``load_side_image``), so that this module does not import it."""

    prepared: Callable[..., Any]
    outcome: Callable[..., Any]
    load_image: Callable[[object, str], object]


PREVIEW_METHODS = {1: "search-cam", 2: "sam"}
"""The grey-box method an instant preview (:func:`qdrant_explain.instant_preview`) uses, by order."""


def explain_sides_grey(query: Any, hits: Sequence[Any], *, order: int, method: str, metric: str, side: str,
                       kit: SideKit, check_vectors: bool = False, log: Callable[[str], None] | None = None,
                       measure: bool = True) -> list:
    """:func:`~qdrant_explain.sides.explain_sides` for a grey-box method (its arguments already checked there).

    ``measure``: order 1 also measures each map's deviation from the Shapley values of the
    feature-cell game (no encoder pass, ~0.1-1 s); False skips it (the instant preview).

    Raises:
        GreyBoxUnavailableError: the encoder has no feature maps (or no gradients for search-GradCAM);
            the message names the black-box methods.
        ValueError: a metric other than cosine/dot, players other than the feature grid.
    """
    from qdrant_explain.explainers.greybox import check_grey_box_score
    from qdrant_explain.explainers.vocabulary import estimator_class

    metric = check_grey_box_score(metric, method)
    say = log or (lambda _line: None)
    t0 = time.perf_counter()
    cls = estimator_class(method, order=order, kind="side" if order == 1 else "joint")
    est = cls() if measure else cls(reference_budget=0)
    sides = [query, *hits]
    for s in sides:
        if _is_image(s) and not has_grey_box(s.encoder):
            from qdrant_explain.connectors import GreyBoxUnavailableError
            from qdrant_explain.connectors.torch_base import no_feature_maps_message

            raise GreyBoxUnavailableError(no_feature_maps_message(s.encoder, method))
    prepared, maps, read_seconds = _read_sides(sides, method, metric, check_vectors, kit)
    q, hs = prepared[0], prepared[1:]
    q_maps, h_maps = maps[0], maps[1:]
    n_images = sum(m is not None for m in maps)
    say(f"{method}: grey-box, {n_images} forward pass{'es' if n_images != 1 else ''} (one per image)"
        f"{', plus one backward pass through the pooling head per explained side' if est.needs_gradients else ''}; "
        f"players: the {q_maps.grid[0] if q_maps else h_maps[0].grid[0]} x "
        f"{q_maps.grid[1] if q_maps else h_maps[0].grid[1]} feature cells")
    encoder = getattr(query, "encoder", None) or next(h.encoder for h in hits if _is_image(h))
    outcomes = []
    for i, (h, hm) in enumerate(zip(hs, h_maps)):
        t_hit = time.perf_counter()
        qe = he = joint = None
        if order == 2:
            joint = _joint(est, q_maps, hm, metric, first=i == 0, seconds=read_seconds if i == 0 else 0.0)
        else:
            if q_maps is not None and (side in ("both", "query") or h.combination is not None):
                others, weights = _others(h)
                qe, _ = _side_explanation(est, encoder, q_maps, others, weights, metric)
            if side in ("both", "hit") and hm is not None:
                he, _ = _side_explanation(est, encoder, hm, q.fixed[None], np.ones(1), metric)
        q_passes = q.passes if i == 0 else 0
        notes = ()
        if h.vector_check is not None and not h.vector_check.agrees:
            notes += (h.vector_check.message,)
        explained = [e for e in (qe, he) if e is not None]
        backward = sum(int(e.meta.get("backward_passes", 0)) for e in explained)
        extra_seconds = (t_hit - t0) if i == 0 else 0.0
        outcomes.append(kit.outcome(
            query=q, hit=h, order=order, method=method, budget=None, passes=int(q_passes + h.passes),
            query_passes=int(q_passes), hit_passes=int(h.passes),
            encoder_seconds=float(read_seconds if i == 0 else 0.0), seconds=time.perf_counter() - t_hit + extra_seconds,
            query_explanation=qe, hit_explanation=he, joint=joint,
            notes=notes + ((f"{backward} backward pass{'es' if backward != 1 else ''} through the pooling head",)
                           if backward else ())))
    return outcomes


def has_grey_box(encoder: Any) -> bool:
    """Whether the encoder gives feature maps (the grey-box methods can run on it)."""
    from qdrant_explain.connectors import has_feature_maps

    return has_feature_maps(encoder)


def _joint(est: Any, q_maps: Any, h_maps: Any, metric: str, *, first: bool, seconds: float) -> Any:
    from qdrant_explain.explainers.joint import JointExplanation

    if q_maps is None or h_maps is None:
        raise ValueError("method='sam' needs both images (query and hit) to read their feature maps.")
    t0 = time.perf_counter()
    parts = est.explain(q_maps, h_maps, score=metric)
    meta = {**parts.pop("meta"), "forward_passes": 2 if first else 1, "backward_passes": 0}
    qp = 1 if first else 0
    return JointExplanation(score=metric, method=est.name, encoder_passes=qp + 1, query_passes=qp, hit_passes=1,
                            seconds=time.perf_counter() - t0 + seconds, meta=meta, **parts)


__all__ = ["PREVIEW_METHODS", "SideKit", "explain_sides_grey", "has_grey_box"]
