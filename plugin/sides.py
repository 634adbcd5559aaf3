"""Sides and the one explain function every entry point goes through.

A *side* is one end of a score. :class:`ImageSide` is an image with its players,
baseline and encoder (maskable); :class:`VectorSide` is a fixed vector (a stored
point, later a recommend target); :class:`DifferenceSide` is the difference of
two fixed vectors (the relative game: why A ranks above B);
:class:`qdrant_explain.text.TextSide` is a sentence with word players and a text encoder. All
share the metadata of :class:`SideInfo` and implement ``prepare(...) -> PreparedSide``; the
pipeline below never looks at the kind.

:func:`explain_sides` takes one query side and k hit sides and

1. **prepares** each side once (image loaded through
   :func:`qdrant_explain.connectors.load_image`, EXIF orientation applied;
   players; baseline; a cached, batched encoder evaluator);
2. **plans** with the one ``auto`` rule (:func:`qdrant_explain.explainers.vocabulary.resolve_method`),
   the budget capped at the exact cost, refusing what cannot fit in memory;
3. **evaluates** factorised across sides and hits: the k hits share one query
   plan and one set of masked-query encodes; every fixed vector (a hit, or the
   two ends of a difference) is scored in one matrix product;
4. **solves** once per plan (k games in one solve).

Every entry point (``explain_pair``, ``explain_hits``, ``SearchExplainer``, the
CLI, the demo) builds sides and calls :func:`explain_sides`.

Example:
    >>> from qdrant_explain.sides import ImageSide, VectorSide, explain_sides       # doctest: +SKIP
    >>> q = ImageSide("query.jpg", enc, players="grid:3x3")                           # doctest: +SKIP
    >>> hits = [VectorSide(v, id=i, score=s) for i, s, v in found]                    # doctest: +SKIP
    >>> results = explain_sides(q, hits, metric="cosine", side="query")              # doctest: +SKIP
"""

from __future__ import annotations

import os
import pathlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

SIDES = ("both", "query", "hit")
"""Values of ``side=``: which ends of the pair an order-1 explanation masks."""

from qdrant_explain.explainers.memory import DEFAULT_MEMORY_FRACTION as MEMORY_FRACTION  # noqa: E402
from qdrant_explain.explainers.memory import available_memory  # noqa: E402  (re-exported)
from qdrant_explain.explainers.vocabulary import DEFAULT_BASELINE  # noqa: E402

from .anytime import at_once  # noqa: E402


# ----------------------------------------------------------------------------- sides


@dataclass(frozen=True)
class PreparedSide:
    """One side, ready for the pipeline.

    Attributes:
        source: the side it was made from (:class:`ImageSide`, :class:`VectorSide`, ...).
        fixed: (d,) the vector used when this side is held fixed (a stored vector when
            given, else the fresh encode of the whole side).
        evaluator: the cached mask -> embedding evaluator when the side can be masked, else None.
        players: the side's players (``paint`` maps values to pixels), or None.
        image: (H, W, 3) uint8 original image for reports, or None.
        fresh: (d,) fresh encode of the whole side (None for a fixed vector).
        vector_check: the :class:`~qdrant_explain.connectors.VectorAgreement` of a stored
            vector against the fresh encode, when both exist.
        combination: for a :class:`DifferenceSide`, the (2, d) vectors and weights (+1, -1).
        parts: for a :class:`DifferenceSide`, the prepared ends (a, b).
        unmasked_passes: encodes of the whole image made without an evaluator (a side that is
            held fixed but has no stored vector, or a vector check).
        value_fn: for a fixed hit whose score is not one metric of two vectors (a recommend, discover or
            context score): ``value_fn((m, d) masked-query embeddings) -> (m,)`` values; else None.
    """

    source: Any
    fixed: np.ndarray | None
    evaluator: Any = None
    players: Any = None
    image: np.ndarray | None = None
    fresh: np.ndarray | None = None
    vector_check: Any = None
    combination: tuple[np.ndarray, np.ndarray] | None = None
    parts: tuple = ()
    unmasked_passes: int = 0
    value_fn: Any = None

    @property
    def n_players(self) -> int:
        """Players of the side (0 when it cannot be masked)."""
        return 0 if self.evaluator is None else int(self.evaluator.n_players)

    @property
    def passes(self) -> int:
        """Encoder passes spent on this side so far."""
        return self.unmasked_passes + (0 if self.evaluator is None else int(self.evaluator.encoder_passes))

    @property
    def encoder_seconds(self) -> float:
        """Seconds spent inside the encoder for this side."""
        return 0.0 if self.evaluator is None else float(self.evaluator.encoder_seconds)


@runtime_checkable
class Side(Protocol):
    """What :func:`explain_sides` needs from a side: metadata and ``prepare``."""

    can_mask: bool
    name: str
    label: str | None
    id: Any
    score: float | None
    payload: dict | None

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str) -> PreparedSide:
        """Build the :class:`PreparedSide` (players and evaluator only when ``maskable``)."""
        ...


def load_side_image(image: object, name: str) -> object:
    """Paths and encoded bytes through :func:`~qdrant_explain.connectors.load_image` (EXIF orientation
    applied, as ``index`` does); PIL images with an orientation tag are turned upright the same way;
    arrays are returned unchanged."""
    from PIL import Image, ImageOps

    from qdrant_explain.connectors import load_image

    if image is None:
        raise ValueError(f"the {name} image is None; give a path, a PIL image or an (H, W, 3) array.")
    if isinstance(image, (str, bytes, bytearray, memoryview)) or isinstance(image, os.PathLike):
        return load_image(image)
    if isinstance(image, Image.Image):
        try:
            oriented = image.getexif().get(0x0112, 1) not in (None, 1)
        except Exception:  # noqa: BLE001 - unreadable EXIF: use the pixels as they are
            oriented = False
        return ImageOps.exif_transpose(image) if oriented else image
    return image


def resolve_backgrounds(baseline: object, *, seed: int) -> Any:
    """A :class:`~qdrant_explain.explainers.masking.Backgrounds` for ``"background:DIR"`` (or one given), else None.

    A folder's images are listed in name order; when it holds more than
    :data:`~qdrant_explain.explainers.masking.DEFAULT_BACKGROUNDS`, a sample of that many is drawn with ``seed``.
    A single image file is one background.

    Raises:
        ValueError: a missing folder or one without images.
    """
    from qdrant_explain.connectors.images import iter_image_files
    from qdrant_explain.explainers.masking import DEFAULT_BACKGROUNDS, Backgrounds, is_background

    if isinstance(baseline, Backgrounds) or not is_background(baseline):
        return baseline if isinstance(baseline, Backgrounds) else None
    where = pathlib.Path(str(baseline).strip()[len("background:"):]).expanduser()
    if where.is_file():
        return Backgrounds(images=(where,), name=f"background:{where}")
    if not where.is_dir():
        raise ValueError(f"baseline 'background:{where}': no such folder or image file; give a folder of photos "
                         f"to fill removed regions from, e.g. --baseline background:./backgrounds.")
    files = iter_image_files(where)
    if not files:
        raise ValueError(f"baseline 'background:{where}': the folder holds no images (.jpg, .png, ...).")
    if len(files) > DEFAULT_BACKGROUNDS:
        pick = np.sort(np.random.default_rng(seed).choice(len(files), DEFAULT_BACKGROUNDS, replace=False))
        files = [files[i] for i in pick]
    return Backgrounds(images=tuple(files), name=f"background:{where}")


def check_encoder(encoder: Any, caller: str) -> Any:
    """An encoder object, loading a spec string with ``load_encoder`` (as SearchExplainer does).

    Raises:
        TypeError: neither a spec string nor an object with ``encode`` and ``prepare``/``input_size``.
    """
    if isinstance(encoder, str):
        from qdrant_explain.connectors import load_encoder

        return load_encoder(encoder)
    if encoder is None or not callable(getattr(encoder, "encode", None)):
        raise TypeError(
            f"{caller} needs an encoder with encode((m, H, W, 3) uint8) -> (m, d) and prepare(image) (or "
            f"input_size), or an encoder spec string; load one with "
            f"qdrant_explain.connectors.load_encoder(spec). Got {type(encoder).__name__}."
        )
    if not hasattr(encoder, "prepare") and not hasattr(encoder, "input_size"):
        raise TypeError(f"{caller}: the encoder has neither prepare(image) nor input_size.")
    return encoder


def encoder_side(encoder: Any, pixels: np.ndarray, baseline: np.ndarray, labels: np.ndarray, *, batch_size: int,
                 progress: bool | None, name: str) -> Any:
    """The cached side evaluator of one model-space image for ``encoder``.

    An encoder with ``masked_encoder(pixels, baseline, labels)`` (the torch
    encoders on a GPU) builds the masked images itself, on the device; any other
    gets numpy-masked uint8 batches. A multivector encoder's (m, t, d) token
    matrices are cached flattened to (m, t * d) rows (scored by a
    :class:`~qdrant_explain.explainers.maxsim.MaxSimScore`).
    """
    from qdrant_explain.explainers.side import ImageSide as ImageEvaluator

    factory = getattr(encoder, "masked_encoder", None)
    masked = factory(pixels, baseline, labels) if callable(factory) else None
    encode = encoder.encode
    if encoder_is_multivector(encoder):
        encode, masked = _flattened(encode, name), None if masked is None else _flattened(masked, name)
    return ImageEvaluator(pixels, baseline, labels, encode, batch_size=batch_size, progress=progress,
                          name=name, masked_encode=masked)


def encoder_is_multivector(encoder: Any) -> bool:
    """Whether the encoder returns (m, t, d) token multivectors (``multivector`` attribute)."""
    from qdrant_explain.explainers.maxsim import encoder_is_multivector as is_multi

    return is_multi(encoder)


def _flattened(fn: Callable[[Any], Any], name: str) -> Callable[[Any], np.ndarray]:
    from qdrant_explain.explainers.maxsim import flatten_multivectors

    return lambda x: flatten_multivectors(fn(x), name=f"{name} encoder")


def _vector(value: object, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be one (d,) vector; got shape {arr.shape}.")
    if np.iscomplexobj(value) or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a finite real vector; it contains NaN, inf or complex values.")
    return arr


@dataclass(frozen=True, kw_only=True)
class SideInfo:
    """What every side says about itself (keyword-only fields, shared by all side kinds).

    Attributes:
        name: the side's role in messages and progress bars (``"query"``, ``"hit"``, ``"text"``, ...).
        label: display name (a file name, a short text), for reports.
        id, score, payload: the Qdrant point this side is, when it is one.
    """

    name: str = "query"
    label: str | None = None
    id: Any = None
    score: float | None = None
    payload: dict | None = None


@dataclass(frozen=True)
class ImageSide(SideInfo):
    """An image end of a score: masked over its players, encoded by ``encoder``.

    Args:
        image: a file path or encoded bytes (read by ``load_image``: EXIF orientation applied),
            a PIL image or an (H, W[, 3|4]) array.
        encoder: the encoder (``prepare`` + ``encode``).
        players: ``"slic:N"``, ``"grid:RxC"`` or an integer label map in original pixels;
            None: the vocabulary's default for the order.
        baseline: what removed regions become (a name of the vocabulary's ``BASELINES``, an RGB
            tuple, an image or a callable).
        name: ``"query"`` or ``"hit"`` (messages, progress bars).
        label: display name (a file name), for reports.
        id, score, payload: the Qdrant point this image is, when it is one.
        vector: the point's stored vector: used when this side is held fixed, and compared with a
            fresh encode of the image (``vector_check``).
        segments: a :class:`~qdrant_explain.explainers.players.SegmentCache` to take the players from (an
            image explained again is not segmented again; :class:`~qdrant_explain.SearchExplainer` keeps one);
            None: :func:`explain_sides` uses one for the call.
    """

    can_mask = True  # class attribute: the pipeline may mask this side

    image: object
    encoder: Any
    players: object = None
    baseline: object = DEFAULT_BASELINE
    vector: object = None
    segments: Any = None

    def _prepared(self) -> tuple[np.ndarray, Any]:
        """The image loaded (RGB, original pixels) and in the encoder's input space."""
        from qdrant_explain.explainers.encoder import prepare_image, to_rgb_array

        rgb = to_rgb_array(load_side_image(self.image, self.name), name=self.name)
        prepared = self.encoder.prepare(rgb) if hasattr(self.encoder, "prepare") else prepare_image(
            rgb, tuple(self.encoder.input_size), name=self.name)
        return rgb, prepared

    def _spec(self, order: int) -> object:
        from qdrant_explain.explainers.vocabulary import DEFAULT_PLAYERS

        return DEFAULT_PLAYERS[order] if self.players is None else self.players

    def staged(self, *, order: int, seed: int) -> tuple:
        """The encoder-free part of :meth:`prepare`, safe to run in a worker thread: the image loaded and
        prepared, its players (from ``segments`` when there is one) and its baseline (None for a background
        baseline, made with its evaluator). :func:`explain_sides` stages the hits while the query is prepared."""
        from qdrant_explain.explainers.masking import make_baseline

        rgb, prepared = self._prepared()
        players = self._players(self._spec(order), prepared, seed)
        base = None if resolve_backgrounds(self.baseline, seed=seed) is not None else make_baseline(
            self.baseline, prepared.pixels)
        return rgb, prepared, players, base

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str, staged: tuple | None = None) -> PreparedSide:
        """Load, segment and wrap the image (segmentation only when ``maskable``; ``staged``: what
        :meth:`staged` returned for it, not done again)."""
        from qdrant_explain.explainers.encoder import to_rgb_array

        stored = None if self.vector is None else _vector(self.vector, f"the {self.name}'s stored vector")
        if not maskable and not check_vector and stored is not None:
            image = None if self.image is None else to_rgb_array(load_side_image(self.image, self.name), name=self.name)
            return PreparedSide(source=self, fixed=stored, image=image)
        rgb, prepared = self._prepared() if staged is None else staged[:2]
        if maskable:
            players, evaluator = self._evaluator(prepared, order, seed, batch_size, progress, metric,
                                                 staged=None if staged is None else staged[2:])
            raw = getattr(evaluator, "first", evaluator)  # a background side: the full image has no fill
            fresh = raw.embed(np.ones((1, players.n_players), dtype=bool))[0]
        else:
            players = evaluator = None
            raw = self.encoder.encode(prepared.pixels[None])
            if encoder_is_multivector(self.encoder):
                from qdrant_explain.explainers.maxsim import flatten_multivectors

                raw = flatten_multivectors(raw, name=f"{self.name} encoder")
            fresh = _vector(raw[0], f"the {self.name} embedding")
        check = None
        if stored is not None:
            from qdrant_explain.connectors import compare_vectors

            if stored.shape != fresh.shape:
                raise ValueError(
                    f"the {self.name}'s stored vector has dimension {stored.shape[0]} but the encoder produces "
                    f"{fresh.shape[0]}-d embeddings; use the encoder the collection was built with.")
            check = compare_vectors(stored, fresh, metric)
        return PreparedSide(source=self, fixed=fresh if stored is None else stored, evaluator=evaluator,
                            players=players, image=rgb, fresh=fresh, vector_check=check,
                            unmasked_passes=0 if maskable else 1)

    def _evaluator(self, prepared: Any, order: int, seed: int, batch_size: int, progress: bool | None,
                   metric: str = "cosine", staged: tuple | None = None):
        from qdrant_explain.explainers.masking import make_baseline

        spec = self._spec(order)
        backgrounds = resolve_backgrounds(self.baseline, seed=seed)
        if backgrounds is not None:
            return self._background_evaluator(prepared, backgrounds, spec, seed, batch_size, progress, metric,
                                              players=None if staged is None else staged[0])
        if staged is not None:
            players, base = staged
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:  # the blur runs while SLIC segments
                pending = pool.submit(make_baseline, self.baseline, prepared.pixels)
                players = self._players(spec, prepared, seed)
                base = pending.result()
        evaluator = encoder_side(self.encoder, prepared.pixels, base, players.labels, batch_size=batch_size,
                                 progress=progress, name=self.name)
        return players, evaluator

    def _players(self, spec: object, prepared: Any, seed: int) -> Any:
        """The players of the prepared image: from ``segments`` when there is one, else segmented now."""
        from qdrant_explain.explainers.players import make_players

        if self.segments is None:
            return make_players(spec, prepared, name=self.name, seed=seed)
        return self.segments.get(spec, prepared, name=self.name, seed=seed)

    def _background_evaluator(self, prepared: Any, backgrounds: Any, spec: object, seed: int, batch_size: int,
                              progress: bool | None, metric: str, players: Any = None):
        """One evaluator per background image (prepared to model space like the image), averaged."""
        from qdrant_explain.explainers.encoder import prepare_image, to_rgb_array
        from qdrant_explain.explainers.scores import BILINEAR_SCORES
        from qdrant_explain.explainers.side import ExpectedSide

        if metric not in BILINEAR_SCORES:
            raise ValueError(
                f"baseline {backgrounds}: the mean score over backgrounds is computed from mean embeddings, which "
                f"needs a cosine or dot score; the collection scores with {metric!r}. Use another baseline "
                f"(blur, gray, mean).")
        players = self._players(spec, prepared, seed) if players is None else players
        fills = []
        for k, image in enumerate(backgrounds.images):
            rgb = to_rgb_array(load_side_image(image, f"background {k}"), name=f"background {k}")
            fill = self.encoder.prepare(rgb) if hasattr(self.encoder, "prepare") else prepare_image(
                rgb, tuple(self.encoder.input_size), name=f"background {k}")
            fills.append(fill.pixels)
        sides = [encoder_side(self.encoder, prepared.pixels, fill, players.labels, batch_size=batch_size,
                              progress=progress, name=self.name) for fill in fills]
        return players, ExpectedSide(sides, normalise=metric == "cosine")


@dataclass(frozen=True)
class VectorSide(SideInfo):
    """A fixed vector end of a score (a stored point, a recommend target); never masked.

    Args:
        vector: the (d,) vector.
        name, label, id, score, payload: as in :class:`ImageSide`.
        image: (H, W, 3) image shown in reports (not explained), or None.
    """

    can_mask = False

    vector: object
    image: object = None
    name: str = field(default="hit", kw_only=True)

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str) -> PreparedSide:
        """The vector itself (and the display image, if any)."""
        from qdrant_explain.explainers.encoder import to_rgb_array

        image = None if self.image is None else to_rgb_array(load_side_image(self.image, self.name), name=self.name)
        return PreparedSide(source=self, fixed=_vector(self.vector, f"the {self.name} vector"), image=image)


@dataclass(frozen=True)
class DifferenceSide(SideInfo):
    """The relative game's hit: score(q, a) - score(q, b), two fixed ends (why A ranks above B).

    Args:
        a, b: :class:`VectorSide` (or any side whose ``prepare`` gives a fixed vector).
    """

    can_mask = False

    a: Any
    b: Any
    name: str = field(default="difference", kw_only=True)

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str) -> PreparedSide:
        """Both ends' vectors with weights (+1, -1)."""
        kw = dict(order=order, maskable=False, check_vector=False, seed=seed, batch_size=batch_size,
                  progress=progress, metric=metric)
        pa, pb = self.a.prepare(**kw), self.b.prepare(**kw)
        if pa.fixed.shape != pb.fixed.shape:
            raise ValueError(f"hit A has dimension {pa.fixed.shape[0]} but hit B {pb.fixed.shape[0]}.")
        return PreparedSide(source=self, fixed=None, combination=(np.stack([pa.fixed, pb.fixed]), np.array([1.0, -1.0])),
                            parts=(pa, pb))


# ----------------------------------------------------------------------------- outcome


@dataclass(frozen=True)
class SideOutcome:
    """What :func:`explain_sides` computed for one hit (entry points turn it into a result).

    Attributes:
        query, hit: the :class:`PreparedSide` of each end.
        order: 1 or 2.
        query_explanation / hit_explanation: order-1 :class:`~qdrant_explain.explainers.result.Explanation`
            of the query-side / hit-side game, or None.
        joint: order 2 :class:`~qdrant_explain.explainers.joint.JointExplanation`, or None.
        method, budget: the resolved method and the budget it planned with (None: exact).
        passes: encoder passes newly spent for this hit (the first hit carries the shared query passes).
        query_passes / hit_passes: of which on each side.
        encoder_seconds, seconds: time inside the encoder, wall time.
        notes: lines the user should read (a capped budget, a stale stored vector).
        stopped: why an anytime explanation (``budget="auto"``) stopped: ``{"reason": ..., "query": {...},
            "hit": {...}}`` (:mod:`qdrant_explain.anytime`); None for a fixed cost.
    """

    query: PreparedSide
    hit: PreparedSide
    order: int
    method: str
    budget: int | None
    passes: int
    query_passes: int
    hit_passes: int
    encoder_seconds: float
    seconds: float
    query_explanation: Any = None
    hit_explanation: Any = None
    joint: Any = None
    notes: tuple[str, ...] = ()
    stopped: dict | None = None

    @property
    def first(self) -> Any:
        """The explanation that carries base/full values (query side first)."""
        return self.query_explanation or self.hit_explanation

    @property
    def base_value(self) -> float:
        """v(empty): the score with every explained region removed."""
        return float(self.joint.base_value if self.joint is not None else self.first.base_value)

    @property
    def full_value(self) -> float:
        """v(all players): the score of the full pair."""
        return float(self.joint.full_value if self.joint is not None else self.first.full_value)

    @property
    def estimated(self) -> bool:
        """False when every explanation is exact."""
        if self.joint is not None:
            return bool(self.joint.estimated)
        return any(bool(e.estimated) for e in (self.query_explanation, self.hit_explanation) if e is not None)

    @property
    def side(self) -> str:
        """``"both"``, ``"query"`` or ``"hit"``: what was explained."""
        if self.joint is not None or (self.query_explanation is not None and self.hit_explanation is not None):
            return "both"
        return "query" if self.query_explanation is not None else "hit"


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class GamePlan:
    """The resolved plan of one game family (one side's players at order 1, a joint pair at order 2).

    Attributes:
        kind: ``"side"`` or ``"joint"``.
        n_players: n (side) or (nq, nh) (joint).
        method: concrete method after ``auto``.
        budget: budget planned with (None: exact).
        passes: encoder passes it will take at most.
        exact_cost: 2^n or 2^nq + 2^nh.
        note: a line for the user when the budget was capped, else None.
    """

    kind: str
    n_players: int | tuple[int, int]
    method: str
    budget: int | None
    passes: int
    exact_cost: int
    note: str | None = None


def resolve_plan(method: str, *, order: int, kind: str, n_players: int | tuple[int, int], budget: int | None,
                 metric: str | None = None, dim: int | None = None, games: int = 1,
                 memory_cap: object = None) -> GamePlan:
    """The one ``auto`` rule (vocabulary) plus the cap at the exact cost, within the memory cap.

    A budget at or above the exact cost plans the exact cost (a sampler then
    evaluates every coalition once): ``--budget 1000000000`` on 9 players is 512 passes.
    The memory each candidate states (``dim``-d embeddings cached per pass,
    ``games`` games on one plan) must fit ``memory_cap``
    (:func:`qdrant_explain.explainers.memory.memory_cap`).

    Raises:
        ValueError: unknown method for the order (the message lists the allowed ones).
        MemoryCapError: (a MemoryError and a ValueError) nothing fits the memory cap.
    """
    from qdrant_explain.explainers.vocabulary import exact_cost, resolve_method

    cost = exact_cost(n_players)
    note = None
    if budget is not None and int(budget) > cost:
        note = (f"budget {int(budget)} capped at the exact cost {cost} encoder passes "
                f"({'2^nq + 2^nh' if kind == 'joint' else '2^n'} for {n_players} players)")
        budget = cost
    name, planned = resolve_method(method, order=order, kind=kind, n_players=n_players, budget=budget,
                                   score=metric if kind == "joint" else None, memory_cap=memory_cap, dim=dim,
                                   games=games)
    if planned is not None and int(planned) > cost:
        planned = cost
    passes = cost if name == "exact" else int(planned)
    return GamePlan(kind=kind, n_players=n_players, method=name, budget=None if name == "exact" else planned,
                    passes=passes, exact_cost=cost, note=note)


def plan_memory(plan: GamePlan, dim: int, games: int, *, metric: str | None = None) -> int:
    """Bytes ``plan`` states it needs (its estimator's ``memory_bytes``, with ``dim``-d embeddings cached per
    pass and ``games`` games on one plan): :func:`qdrant_explain.explainers.vocabulary.method_memory`."""
    from qdrant_explain.explainers.vocabulary import method_memory

    order = 2 if plan.kind == "joint" else 1
    return method_memory(plan.method, order=order, kind=plan.kind, n_players=plan.n_players, budget=plan.budget,
                         dim=dim, games=games, score=metric)


def check_fits(plan: GamePlan, dim: int, games: int, *, available: int | None = None,
               memory_cap: object = None, metric: str | None = None) -> None:
    """Refuse a plan whose stated memory (:func:`plan_memory`) exceeds the memory cap.

    The cap: ``memory_cap``, else :data:`MEMORY_FRACTION` of ``available`` bytes when given, else
    :func:`qdrant_explain.explainers.memory.memory_cap` (``$QDRANT_EXPLAIN_MEMORY_CAP`` or 80 % of the
    available memory). :func:`resolve_plan` already applies it; this checks a plan made elsewhere.

    Raises:
        MemoryCapError: (a MemoryError and a ValueError) with the statement, the cap and what to do.
    """
    from qdrant_explain.explainers.memory import MemoryCapError, format_bytes, memory_cap as cap_of
    from qdrant_explain.explainers.vocabulary import estimator_class

    order = 2 if plan.kind == "joint" else 1
    if plan.method == "exact" and not estimator_class("exact", order=order, kind=plan.kind).fits(
            plan.n_players, score=metric):
        return  # the exact estimator refuses it with its own limit (and a hint)
    cap = cap_of(memory_cap) if memory_cap is not None or available is None else int(MEMORY_FRACTION * available)
    need = plan_memory(plan, dim, games, metric=metric)
    if cap is not None and need > cap:
        raise MemoryCapError(
            f"this explanation would plan {plan.passes} encoder passes ({plan.method}, {plan.n_players} players), "
            f"stated {format_bytes(need)} of memory, above the memory cap of {format_bytes(cap)}; lower the "
            f"budget, use fewer players or raise the cap (--memory-cap).", needed=need, cap=cap)


# ----------------------------------------------------------------------------- the pipeline


def _validate(order: int, side: str, metric: str) -> str:
    from qdrant_explain.explainers.scores import check_score

    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 or 2; got {order!r}.")
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}; got {side!r}.")
    return check_score(metric)


def _check_method_name(method: str, order: int) -> None:
    from qdrant_explain.explainers.vocabulary import list_methods

    allowed = list_methods(order, "side" if order == 1 else "joint")
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)} at order {order}; got {method!r}.")


def explain_sides(
    query: Any,
    hits: Sequence[Any],
    *,
    order: int = 1,
    method: str = "auto",
    budget: int | None = None,
    metric: Any = "cosine",
    seed: int = 0,
    side: str = "both",
    batch_size: int = 64,
    progress: bool | None = None,
    check_vectors: bool = False,
    log: Callable[[str], None] | None = None,
    memory_cap: object = None,
    top_k: int = 3,
    max_seconds: float | None = None,
) -> list[SideOutcome]:
    """Explain the score of ``query`` against each of ``hits``: plan, evaluate (shared), solve.

    Args:
        query: the query side (an :class:`ImageSide`; a fixed side only with ``side="hit"``).
        hits: the hit sides (:class:`ImageSide`, :class:`VectorSide`, :class:`DifferenceSide`).
        order: 1 (Shapley values per side) or 2 (joint Shapley-Taylor, both sides images).
        method: a name of ``vocabulary.list_methods(order, "side" | "joint")``; ``"auto"`` follows
            the vocabulary's one rule.
        budget: encoder passes (``vocabulary.BUDGET_MEANING``): per explained side at order 1,
            query + hit together at order 2; capped at the exact cost. None: the default (fixed).
            ``"auto"`` / ``"auto:N"``: at order 1 with a sampled method, sample in rounds and stop when the
            ``top_k`` regions of every side are identified with 95 % confidence, at the pass cap (N, else
            the default budget) or at ``max_seconds`` (:mod:`qdrant_explain.anytime`); exact methods,
            other methods and order 2 use the fixed default (or N).
        metric: Qdrant metric of the score, or a score object (``matrix(query, hits) -> (mq, mh)``, e.g.
            :class:`~qdrant_explain.explainers.maxsim.MaxSimScore` for multivector sides).
        seed: seed of every sampler.
        side: order 1: ``"both"``, ``"query"`` or ``"hit"`` (a fixed hit is explained on the query side).
        batch_size: masked images per encoder call.
        progress: progress bars (None: automatic on a TTY).
        check_vectors: also encode a hit image that is not masked, to compare it with its stored vector.
        log: called with one line per plan (method, passes, an estimate of the time) before encoding.
        memory_cap: bytes or a size (``"4GiB"``, ``"50%"``) every plan's stated memory must fit; ``"auto"``
            picks only what fits (None: ``$QDRANT_EXPLAIN_MEMORY_CAP``, else 80 % of the available memory).
        top_k: under ``budget="auto"``: regions per side to identify before stopping.
        max_seconds: under ``budget="auto"``: no new round starts that would end after this many seconds.

    Returns:
        One :class:`SideOutcome` per hit, in order.

    Raises:
        ValueError: bad order/side/metric/method, images, players, baselines, vectors, budgets.
        MemoryCapError: (a MemoryError and a ValueError) a plan whose stated memory exceeds the memory cap,
            raised before any masked encode; the message gives both and what to change.
    """
    metric = _validate(order, side, metric)
    _check_method_name(method, order)
    hits = list(hits)
    if not hits:
        raise ValueError("explain_sides needs at least one hit side.")
    say = log or (lambda _line: None)
    t_start = time.perf_counter()
    from .anytime import anytime_spec

    anytime, budget = anytime_spec(budget, method=method, order=order, top_k=top_k, max_seconds=max_seconds,
                                   started=t_start)
    kw = dict(order=order, seed=seed, batch_size=batch_size, progress=progress, metric=metric)
    wants_query = order == 2 or side in ("both", "query")
    if order == 2:
        for h in hits:
            if not getattr(h, "can_mask", False):
                raise ValueError("order=2 masks both images: pass hit_image (a stored vector alone is not enough); "
                                 f"got a {type(h).__name__}.")
    if order == 1 and side == "hit":
        for i, h in enumerate(hits):
            if not getattr(h, "can_mask", False):
                raise ValueError(f"side='hit' masks the hit, but hit {i} is a {type(h).__name__} (a fixed vector); "
                                 "give its image, or explain the query side (side='query').")
    if wants_query and not getattr(query, "can_mask", False):
        raise ValueError(f"the query side cannot be masked (a {type(query).__name__}); explain the hit side (side='hit').")
    from qdrant_explain.explainers.greybox import is_grey_box

    if is_grey_box(method):  # feature maps instead of masks: search-cam, search-gradcam, sam
        from .greybox import explain_sides_grey

        return explain_sides_grey(query, hits, order=order, method=method, metric=metric, side=side,
                                  kit=grey_kit(), check_vectors=check_vectors, log=log)
    masked = [wants_query] + [order == 2 or (side in ("both", "hit") and not isinstance(h, DifferenceSide))
                              for h in hits]
    query, *hits = _with_segments([query, *hits], masked)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the hits load and segment while the query is prepared
        staged = [pool.submit(h.staged, order=order, seed=seed) if mask and isinstance(h, ImageSide) else None
                  for h, mask in zip(hits, masked[1:])]
        q = query.prepare(maskable=wants_query, check_vector=False, **kw)
        prepared = [h.prepare(maskable=mask, check_vector=check_vectors, **kw) if st is None else
                    h.prepare(maskable=mask, check_vector=check_vectors, staged=st.result(), **kw)
                    for h, mask, st in zip(hits, masked[1:], staged)]
    dim = int(q.fixed.shape[0]) if q.fixed is not None else None
    from qdrant_explain.explainers.scores import is_pair_score

    for p in prepared:
        d = p.combination[0].shape[1] if p.combination is not None else p.fixed.shape[0]
        if dim is not None and d != dim and not is_pair_score(metric):  # a score object checks its own rows
            raise ValueError(
                f"the {p.source.name} vector has dimension {d} but the encoder produces {dim}-d embeddings; pass "
                f"the stored vector of the same encoder/collection (or the image, to encode it).")
    prep_seconds = time.perf_counter() - t_start
    if log is not None and anytime is not None and order == 1:
        _say_preview(q, prepared[0], metric, say)
    game_metric = metric
    if any(getattr(p.evaluator, "expectation", False) for p in (q, *prepared)):
        q, prepared, game_metric = score_space(q, prepared, metric)
    if order == 1:
        outcomes = _order1(q, prepared, method, budget, game_metric, seed, side, say, dim, memory_cap, anytime)
    else:
        outcomes = _order2(q, prepared, method, budget, game_metric, seed, progress, say, dim, memory_cap)
        if game_metric != metric:  # the joint values are of the metric itself, scored in its score space
            outcomes = [_replace(o, joint=_replace(o.joint, score=metric)) for o in outcomes]
    # the first outcome carries the time spent preparing the sides
    if outcomes:
        first = outcomes[0]
        outcomes[0] = _replace(first, seconds=first.seconds + prep_seconds)
    return outcomes


def _say_preview(q: PreparedSide, h: PreparedSide, metric: Any, say: Callable[[str], None]) -> None:
    """The anytime budget's instant first frame, said before the black-box rounds start: where search-CAM
    (one forward pass per image, :func:`qdrant_explain.instant_preview`) puts the match on each side, when
    the encoder has feature maps."""
    from qdrant_explain.explainers.greybox import GREY_BOX_SCORES

    from .greybox import PREVIEW_METHODS, explain_sides_grey, has_grey_box
    from .summary import regions
    from qdrant_explain.explainers.scores import higher_is_better

    encoder = getattr(q.source, "encoder", None)
    if (encoder is None or q.image is None or h.image is None or not isinstance(metric, str)
            or metric not in GREY_BOX_SCORES or not has_grey_box(encoder)):
        return
    t0 = time.perf_counter()
    method = PREVIEW_METHODS[1]
    try:
        (o,) = explain_sides_grey(ImageSide(q.image, encoder, name="query"), [ImageSide(h.image, encoder, name="hit")],
                                  order=1, method=method, metric=metric, side="both", kit=grey_kit(), measure=False)
    except (TypeError, ValueError):  # feature maps that do not fit this pair: no preview
        return
    where = []
    for side, e, p in (("query", o.query_explanation, o.query), ("hit", o.hit_explanation, o.hit)):
        if e is not None and p.players is not None and len(e.values):
            k = int(np.argmax(e.values) if higher_is_better(metric) else np.argmin(e.values))
            where.append(f"the {side}'s {regions(p.players.original_labels, len(e.values), side)[k].where}")
    if where:
        say(f"instant preview ({method} over feature cells, {o.passes} encoder passes, "
            f"{time.perf_counter() - t0:.1f} s): the match is strongest at {' and '.join(where)}; the black-box "
            f"result below replaces it.")


def score_space(q: PreparedSide, hits: list[PreparedSide], metric: str) -> tuple[PreparedSide, list[PreparedSide], str]:
    """Sides scored by ``"dot"`` in the metric's score space, for a game with a background side.

    A background side's embeddings are means over fills (already normalised per fill for cosine): a
    cosine game is then a dot game of normalised vectors, so every fixed vector and every other
    evaluator is normalised too. A dot game is unchanged.
    """
    from dataclasses import replace

    from qdrant_explain.explainers.scores import normalize_rows
    from qdrant_explain.explainers.side import NormalisedSide

    if metric != "cosine":
        return q, hits, metric

    def normalised(p: PreparedSide) -> PreparedSide:
        ev = p.evaluator
        if ev is not None and not getattr(ev, "expectation", False):
            ev = NormalisedSide(ev)
        fixed = None if p.fixed is None else normalize_rows(p.fixed[None])[0]
        comb = None if p.combination is None else (normalize_rows(p.combination[0]), p.combination[1])
        return replace(p, evaluator=ev, fixed=fixed, combination=comb)

    return normalised(q), [normalised(h) for h in hits], "dot"


def _replace(outcome: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(outcome, **changes)


def _throughput(p: PreparedSide) -> float | None:
    """Images per second measured on the passes made so far (None when nothing was timed)."""
    if p.evaluator is None or p.passes == 0 or p.encoder_seconds <= 0:
        return None
    return p.passes / p.encoder_seconds


def _fills(*sides: PreparedSide) -> int:
    """Encoder passes per coalition: the number of background fills (1 for the other baselines)."""
    return max(len(getattr(p.evaluator, "sides", ())) or 1 for p in sides)


def _announce(say: Callable[[str], None], what: str, plan: GamePlan, rate: float | None, fills: int = 1) -> None:
    eta = ""
    if rate is not None:
        seconds = plan.passes * fills / rate
        eta = (f", {'under 1 s' if seconds < 1 else f'about {seconds:.0f} s'} at the {rate:.0f} images/s "
               "measured on the whole image")
    cost = f"{plan.passes} encoder passes" if fills == 1 else (
        f"{plan.passes} coalitions x {fills} background images = {plan.passes * fills} encoder passes")
    say(f"{what}: {plan.method}, {cost} at most{eta}")
    if plan.note:
        say(plan.note)


def _solve(evaluator: Any, plan: GamePlan, fixed: np.ndarray, weights: np.ndarray, metric: str, seed: int,
           memory_cap: object = None) -> list:
    """Evaluate one side's plan against every fixed vector and solve all games at once.

    ``fixed`` (k', d) are the vectors scored; ``weights`` (k', k) combine their score columns into
    the k games (identity for plain hits, +1/-1 for a difference).
    """
    from qdrant_explain.explainers.api import plan_game, solve_game
    from qdrant_explain.explainers.evaluation import unique_rows
    from qdrant_explain.explainers.scores import score_matrix

    est, game_plan = plan_game(evaluator.n_players, method=plan.method, order=1, budget=plan.budget, seed=seed,
                               memory_cap=memory_cap)
    distinct, inverse = unique_rows(game_plan.coalitions)
    scores = score_matrix(evaluator.embed(distinct), fixed, metric)  # (m, k'): every mask against every vector
    values = (scores @ weights)[inverse]
    return solve_game(est, game_plan, values, seed=seed, requested_method=est.name)


def _solve_fn(evaluator: Any, plan: GamePlan, value_fns: list, seed: int) -> list:
    """Like :func:`_solve` for games whose value is a function of the masked-query embedding (one column each)."""
    from qdrant_explain.explainers.api import plan_game, solve_game
    from qdrant_explain.explainers.evaluation import unique_rows

    est, game_plan = plan_game(evaluator.n_players, method=plan.method, order=1, budget=plan.budget, seed=seed)
    distinct, inverse = unique_rows(game_plan.coalitions)
    emb = evaluator.embed(distinct)
    values = np.stack([np.asarray(fn(emb), dtype=np.float64).reshape(-1) for fn in value_fns], axis=1)[inverse]
    return solve_game(est, game_plan, values, seed=seed, requested_method=est.name)


def _order1(q: PreparedSide, hits: list[PreparedSide], method: str, budget: int | None, metric: str, seed: int,
            side: str, say: Callable[[str], None], dim: int | None, memory_cap: object = None,
            anytime: Any = None) -> list[SideOutcome]:
    t0 = time.perf_counter()
    stops: dict[str, Any] = {}
    k = len(hits)
    q_expl: list[Any] = [None] * k
    q_plan = None
    q_games = [i for i, h in enumerate(hits) if side in ("both", "query") or h.combination is not None]
    fn_games = [i for i in q_games if hits[i].value_fn is not None]  # scored by a function of the query embedding
    q_games = [i for i in q_games if hits[i].value_fn is None]
    if fn_games and q.evaluator is not None:
        q_plan = resolve_plan(method, order=1, kind="side", n_players=q.n_players, budget=budget)
        check_fits(q_plan, dim or 1, len(fn_games))
        _announce(say, f"query side ({q.n_players} players, {len(fn_games)} scored games)", q_plan, _throughput(q))
        for i, e in zip(fn_games, _solve_fn(q.evaluator, q_plan, [hits[i].value_fn for i in fn_games], seed)):
            q_expl[i] = e
    if q_games and q.evaluator is not None:
        columns, blocks = [], []
        for i in q_games:
            h = hits[i]
            if h.combination is not None:
                vecs, w = h.combination
            else:
                vecs, w = h.fixed[None], np.ones(1)
            blocks.append((len(columns), w))
            columns.extend(vecs)
        weights = np.zeros((len(columns), len(q_games)))
        for j, (start, w) in enumerate(blocks):
            weights[start : start + len(w), j] = w
        def q_plan_at(b: int | None) -> GamePlan:
            return resolve_plan(method, order=1, kind="side", n_players=q.n_players, budget=b, dim=dim or 1,
                                games=len(columns), memory_cap=memory_cap)

        shared = f", {len(q_games)} games share one plan" if len(q_games) > 1 else ""
        what = f"query side ({q.n_players} players{shared})"
        solve = lambda plan: _solve(q.evaluator, plan, np.stack(columns), weights, metric, seed, memory_cap)  # noqa: E731
        if at_once(anytime, q.n_players, q_plan_at):  # a fixed cost, or a small side auto enumerates at once
            q_plan = q_plan_at(budget if anytime is None else anytime.cap)
            _announce(say, what, q_plan, _throughput(q), _fills(q))
            found = solve(q_plan)
        else:
            found, q_plan, stops["query"] = _rounds(anytime, q, q_plan_at, solve, say, what, _fills(q),
                                                    share=1.0 / (1 + (side in ("both", "hit"))))
        for i, e in zip(q_games, found):
            q_expl[i] = e
    q_passes, q_seconds = q.passes, q.encoder_seconds  # all of them, the full-image encode included
    h_expl, h_plans, h_stops = _hit_sides(q, hits, method, budget, metric, seed, side, say, dim, memory_cap, anytime)
    outcomes = []
    for i, h in enumerate(hits):
        t_hit = time.perf_counter()
        h_plan = h_plans[i]
        plan = q_plan if q_expl[i] is not None else h_plan
        first = q_expl[i] if q_expl[i] is not None else h_expl[i]
        notes = tuple(n for n in ((q_plan.note if q_expl[i] is not None and q_plan else None),
                                  (h_plan.note if h_plan else None)) if n)
        if h.vector_check is not None and not h.vector_check.agrees:
            notes += (h.vector_check.message,)
        hp = h.passes
        shared = q_passes if i == 0 else 0
        outcomes.append(SideOutcome(
            query=q, hit=h, order=1, method=first.method, budget=plan.budget, passes=int(shared + hp), query_passes=int(shared),
            hit_passes=int(hp), encoder_seconds=float((q_seconds if i == 0 else 0.0) + h.encoder_seconds),
            seconds=(time.perf_counter() - t_hit) + ((t_hit - t0) if i == 0 else 0.0),
            query_explanation=q_expl[i], hit_explanation=h_expl[i], notes=notes,
            stopped=_stopped(stops.get("query") if q_expl[i] is not None else None, h_stops[i], anytime)))
    return outcomes


def _with_segments(sides: list, masked: list[bool]) -> list:
    """The sides, the masked :class:`ImageSide` s without a segment cache given one for this call (an image
    that is both query and hit, or two hits, segmented once). Sides that already have one keep it."""
    from dataclasses import replace

    from qdrant_explain.explainers.players import SegmentCache

    if sum(bool(m) and isinstance(s, ImageSide) for s, m in zip(sides, masked)) < 2:
        return sides
    local = SegmentCache()
    return [replace(s, segments=local) if m and isinstance(s, ImageSide) and s.segments is None else s
            for s, m in zip(sides, masked)]


def _rounds(anytime: Any, p: PreparedSide, plan_at: Callable[[int | None], GamePlan], solve: Callable[[GamePlan], list],
            say: Callable[[str], None], what: str, fills: int, *, share: float = 1.0) -> tuple[list, GamePlan, Any]:
    """One side's games in anytime rounds (:func:`qdrant_explain.anytime.solve_in_rounds`), announced first."""
    from .anytime import rounds_line, side_rounds, solve_in_rounds

    rounds = side_rounds(anytime, p.n_players)
    say(rounds_line(what, plan_at(rounds[0]).method, rounds, anytime, _throughput(p), fills))
    found, plan, stopped = solve_in_rounds(anytime, p.n_players, plan_at, solve, lambda: (p.passes, p.encoder_seconds),
                                           fills=fills, share=share)
    say(f"{what}: stopped after {stopped.details['passes']} encoder passes ({stopped.reason}: rounds "
        f"{', '.join(str(b) for b in stopped.budgets)})")
    return found, plan, stopped


def _stopped(query: Any, hit: Any, anytime: Any) -> dict | None:
    """``SideOutcome.stopped``: the overall reason and each anytime side's rounds (None without anytime)."""
    from qdrant_explain.explainers.anytime import overall_reason

    if anytime is None:
        return None
    sides = {name: s.to_dict() for name, s in (("query", query), ("hit", hit)) if s is not None}
    return {"reason": overall_reason([s["reason"] for s in sides.values()]), "top_k": anytime.top_k,
            "max_seconds": anytime.max_seconds, **sides}


def _hit_sides(q: PreparedSide, hits: list[PreparedSide], method: str, budget: int | None, metric: str, seed: int,
               side: str, say: Callable[[str], None], dim: int | None,
               memory_cap: object = None, anytime: Any = None) -> tuple[list[Any], list[GamePlan | None], list[Any]]:
    """Order-1 hit-side games: hits with the same number of players share one plan and one solve.

    Each hit masks its own image against the fixed query vector; the plan (and so the coalitions)
    depends only on the players, the method, the budget and the seed.
    """
    from qdrant_explain.explainers.api import plan_game, solve_game
    from qdrant_explain.explainers.evaluation import unique_rows
    from qdrant_explain.explainers.scores import score_matrix

    k = len(hits)
    explanations: list[Any] = [None] * k
    plans: list[GamePlan | None] = [None] * k
    stops: list[Any] = [None] * k
    if side not in ("both", "hit"):
        return explanations, plans, stops
    groups: dict[int, list[int]] = {}
    for i, h in enumerate(hits):
        if h.evaluator is not None:
            groups.setdefault(h.n_players, []).append(i)
    if groups and q.fixed is None:
        raise ValueError("the query has no vector to hold fixed.")
    for left, (n, members) in enumerate(groups.items()):
        def plan_at(b: int | None, n: int = n, members: list[int] = members) -> GamePlan:
            return resolve_plan(method, order=1, kind="side", n_players=n, budget=b, dim=dim or 1,
                                games=len(members), memory_cap=memory_cap)

        def solve(plan: GamePlan, n: int = n, members: list[int] = members) -> list:
            est, game_plan = plan_game(n, method=plan.method, order=1, budget=plan.budget, seed=seed,
                                       memory_cap=memory_cap)
            distinct, inverse = unique_rows(game_plan.coalitions)
            values = np.concatenate([score_matrix(q.fixed[None], hits[i].evaluator.embed(distinct), metric).T
                                     for i in members], axis=1)[inverse]  # (m, hits of this size); query first:
            # MaxSim is not symmetric
            return solve_game(est, game_plan, values, seed=seed, requested_method=est.name)

        which = f"hit side {members[0] + 1}" if len(members) == 1 else f"hit sides {', '.join(str(i + 1) for i in members)}"
        what = f"{which} ({n} players{', one plan' if len(members) > 1 else ''})"
        fills = _fills(*(hits[i] for i in members))
        stop = None
        if at_once(anytime, n, plan_at):  # a fixed cost, or a small side auto enumerates at once
            plan = plan_at(budget if anytime is None else anytime.cap)
            _announce(say, what, plan, _throughput(hits[members[0]]), fills)
            found = solve(plan)
        else:
            group = [hits[i] for i in members]
            merged = PreparedSide(source=None, fixed=None, evaluator=group[0].evaluator)  # the rate of the group
            found, plan, stop = _rounds(anytime, merged, plan_at, solve, say, what, fills * len(members),
                                        share=1.0 / (len(groups) - left))
            stop = stop.__class__(stop.reason, stop.budgets, stop.top_k,
                                  {**stop.details, "passes": int(sum(h.passes for h in group))})
        for i, e in zip(members, found):
            explanations[i], plans[i], stops[i] = e, plan, stop
    return explanations, plans, stops


def _order2(q: PreparedSide, hits: list[PreparedSide], method: str, budget: int | None, metric: str, seed: int,
            progress: bool | None, say: Callable[[str], None], dim: int | None,
            memory_cap: object = None) -> list[SideOutcome]:
    from qdrant_explain.explainers.joint import explain_joint

    outcomes = []
    for i, h in enumerate(hits):
        t0 = time.perf_counter()
        q_before, q_sec = q.passes, q.encoder_seconds
        plan = resolve_plan(method, order=2, kind="joint", n_players=(q.n_players, h.n_players), budget=budget,
                            metric=metric, dim=dim or 1, memory_cap=memory_cap)
        _announce(say, f"joint {i + 1} ({q.n_players} + {h.n_players} players)", plan, _throughput(q), _fills(q, h))
        joint = explain_joint(q.evaluator, h.evaluator, q.n_players, h.n_players, score=metric, method=plan.method,
                              budget=plan.budget, seed=seed, progress=progress, memory_cap=memory_cap,
                              exact_query=bool(getattr(q.source, "exact_query_side", False)))
        qp = q.passes if i == 0 else q.passes - q_before
        notes = tuple(n for n in (plan.note,) if n)
        if h.vector_check is not None and not h.vector_check.agrees:
            notes += (h.vector_check.message,)
        outcomes.append(SideOutcome(
            query=q, hit=h, order=2, method=joint.method, budget=joint.budget, passes=int(qp + h.passes),
            query_passes=int(qp), hit_passes=int(h.passes),
            encoder_seconds=float((q.encoder_seconds if i == 0 else q.encoder_seconds - q_sec) + h.encoder_seconds),
            seconds=time.perf_counter() - t0, joint=joint, notes=notes))
    return outcomes


def grey_kit() -> Any:
    """The constructors the grey-box path (:mod:`qdrant_explain.greybox`) builds sides and outcomes with."""
    from .greybox import SideKit

    return SideKit(prepared=PreparedSide, outcome=SideOutcome, load_image=load_side_image)


def side_name(image: object) -> str | None:
    """A display name for a side given as a path (its file name), else None."""
    if isinstance(image, (str, os.PathLike)):
        return pathlib.Path(image).name
    return None


__all__ = [
    "DifferenceSide",
    "GamePlan",
    "ImageSide",
    "PreparedSide",
    "SIDES",
    "Side",
    "SideInfo",
    "SideOutcome",
    "VectorSide",
    "available_memory",
    "check_encoder",
    "check_fits",
    "encoder_is_multivector",
    "encoder_side",
    "explain_sides",
    "grey_kit",
    "load_side_image",
    "plan_memory",
    "resolve_backgrounds",
    "resolve_plan",
    "score_space",
    "side_name",
]
