"""Explain a hit of any Qdrant query shape: the score Qdrant returned, its exact split, then regions.

:func:`explain_shape` takes a collection, a shape of :mod:`qdrant_explain.connectors.shapes`
(:class:`Nearest`, :class:`Recommend`, :class:`Discover`, :class:`Context`, :class:`Fusion`) and
a hit, and returns a :class:`ShapeExplanation`:

1. **score parity**: the score Qdrant returned, the exact score recomputed from the stored
   vectors with Qdrant's formula, the gap, the hit's rank under an exact re-query and the
   collection's quantization settings (:class:`~qdrant_explain.connectors.shapes.ShapeParity`);
2. **the exact split of the exact score** over the shape's own players: recommend examples
   (exact Shapley values over every subset of examples, value 0 where Qdrant takes no query),
   discovery pairs (their rank terms; the target's sigmoid term is the base), context pairs
   (their terms), fusion prefetches (RRF rank terms, DBSF normalised scores), MaxSim query tokens
   (each token's best match). ``base_value + values.sum() == exact_score``;
3. **regions** (with an encoder): for recommend, the example that drives the hit most is masked
   over its regions and every masked version re-scored with the *recommend* score (the other
   examples fixed), through the one pipeline of sides (:func:`qdrant_explain.sides.explain_sides`);
   for discovery the target, for context the positive of the pair that holds the hit back most;
   for nearest and for each dense prefetch of a fusion, the query image's regions against the
   hit's stored vector (one set of masked-query encodes shared by all prefetches). On a MaxSim
   collection the masked images are encoded to token multivectors and scored with MaxSim
   (:class:`~qdrant_explain.explainers.maxsim.MaxSimScore`): query side, hit side (against the
   multivector that was sent) or joint. ``order=2`` gives the joint correspondence between the
   driving image's regions and the hit's, of the shape's own score (:class:`SlotScore`).

With regions, the parity also holds the score recomputed from freshly encoded images
(:func:`fresh_parity`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from qdrant_explain.connectors import shapes as S
from qdrant_explain.explainers import query_scores as qs

from .report import sections as _sec
from .results import JSON_FORMAT, Hit, PairExplanation, Result, _point_id, _set, _vector, register_result_type
from .sides import PreparedSide, _vector as _side_vector, load_side_image


# ----------------------------------------------------------------------------- a side scored by a function


@dataclass(frozen=True)
class ScoredSide:
    """A fixed hit whose value is a function of the masked side's embedding (a recommend, discover or context score).

    Args:
        vector: the hit's (d,) stored vector.
        value_fn: ``value_fn((m, d) embeddings) -> (m,)`` the score of the hit when the masked side's
            vector is each embedding.
        name, label, id, score, payload, image: as in :class:`~qdrant_explain.sides.VectorSide`.
    """

    can_mask = False

    vector: object
    value_fn: Callable[[np.ndarray], np.ndarray]
    name: str = "hit"
    label: str | None = None
    id: Any = None
    score: float | None = None
    payload: dict | None = None
    image: object = None

    def prepare(self, *, order: int, maskable: bool, check_vector: bool, seed: int, batch_size: int,
                progress: bool | None, metric: str) -> PreparedSide:
        """The fixed vector with its value function."""
        from qdrant_explain.explainers.encoder import to_rgb_array

        image = None if self.image is None else to_rgb_array(load_side_image(self.image, self.name), name=self.name)
        return PreparedSide(source=self, fixed=_side_vector(self.vector, f"the {self.name} vector"), image=image,
                            value_fn=self.value_fn)


def slot_value_fn(res: S.Resolved, slot: tuple, hit_vector: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``fn(E)``: the hit's exact shape score with the vector at ``slot`` replaced by each row of E.

    Args:
        res: the resolved shape (recommend, discover or context).
        slot: ``("positive", j)``, ``("negative", j)``, ``("target",)`` or ``("pair", j, 0 | 1)``.
        hit_vector: (d,) the hit's stored vector.
    """
    h = np.asarray(hit_vector, dtype=np.float32)
    cosine = res.metric == "cosine"

    def stored(e: np.ndarray) -> np.ndarray:  # what Qdrant would hold for this example
        e = np.asarray(e, dtype=np.float32)
        if cosine:
            n = np.linalg.norm(e)
            return e / (n if n > 0 else qs.EPSILON)
        return e

    def one(e: np.ndarray) -> float:
        pos, neg, target, pairs = res.positive, res.negative, res.target, res.pairs
        if slot[0] in ("positive", "negative"):
            arr = (pos if slot[0] == "positive" else neg).copy()
            arr[slot[1]] = stored(e)
            pos, neg = (arr, neg) if slot[0] == "positive" else (pos, arr)
        elif slot[0] == "target":
            target = stored(e)
        else:
            pairs = pairs.copy()
            pairs[slot[1], slot[2]] = stored(e)
        return S.exact_shape_score(None, replace(res, positive=pos, negative=neg, target=target, pairs=pairs), h)
    # (a multivector hit is flattened by exact_shape_score; masked multivector examples arrive flattened)

    def fn(embeddings: np.ndarray) -> np.ndarray:
        return np.array([one(e) for e in np.asarray(embeddings)], dtype=np.float64)

    return fn


def _with_slot(res: S.Resolved, slot: tuple, e: np.ndarray) -> S.Resolved:
    """``res`` with the example vector at ``slot`` replaced by ``e`` (already as Qdrant stores it)."""
    if slot[0] in ("positive", "negative"):
        arr = (res.positive if slot[0] == "positive" else res.negative).copy()
        arr[slot[1]] = e
        return replace(res, **{slot[0]: arr})
    if slot[0] == "target":
        return replace(res, target=e)
    pairs = res.pairs.copy()
    pairs[slot[1], slot[2]] = e
    return replace(res, pairs=pairs)


def shape_scores(res: S.Resolved, vectors: np.ndarray) -> np.ndarray:
    """The exact recommend / discover / context score of every row of ``vectors`` (Qdrant's formulas)."""
    shape, metric = res.shape, res.score
    if isinstance(shape, S.Recommend):
        return qs.recommend_scores(res.positive, res.negative, vectors, strategy=shape.strategy, metric=metric)
    if isinstance(shape, S.Discover):
        return qs.discovery_scores(res.target, res.pairs, vectors, metric=metric)
    if isinstance(shape, S.Context):
        return qs.context_scores(res.pairs, vectors, metric=metric)
    raise TypeError(f"shape_scores takes a recommend, discover or context shape; got {type(shape).__name__}.")


@dataclass(frozen=True)
class SlotScore:
    """A score object (:func:`qdrant_explain.explainers.scores.is_pair_score`) for joint region games of a shape.

    ``matrix(E, H)[i, j]`` is the exact shape score (recommend, discover or context, Qdrant's formula)
    of a candidate whose vector is ``H[j]`` when the example at ``slot`` is ``E[i]`` (the other
    examples fixed): the value of the joint game between the driving example's regions and the hit's.
    Not bilinear, so a joint game scores every (example mask, hit mask) combination of the two cached
    side tables (still 2^nq + 2^nh encoder passes).

    Attributes:
        res: the resolved shape.
        slot: ``("positive", j)``, ``("negative", j)``, ``("target",)`` or ``("pair", j, 0 | 1)``.
    """

    res: Any
    slot: tuple

    @property
    def name(self) -> str:
        """e.g. ``"recommend:best_score"``, ``"discover"``."""
        return self.res.shape.kind + (f":{self.res.shape.strategy}" if isinstance(self.res.shape, S.Recommend) else "")

    @property
    def higher_is_better(self) -> bool:
        """Every shape score is a similarity except ``average_vector`` on a distance (a nearest distance)."""
        avg = isinstance(self.res.shape, S.Recommend) and self.res.shape.strategy == "average_vector"
        return not avg or self.res.metric in ("cosine", "dot")

    def matrix(self, query: np.ndarray, hits: np.ndarray) -> np.ndarray:
        """(m_examples, m_hits) scores."""
        e = np.atleast_2d(np.asarray(query, dtype=np.float32))
        h = np.atleast_2d(np.asarray(hits, dtype=np.float32))
        if self.res.metric == "cosine":  # what Qdrant stores for a cosine collection
            e, h = qs._unit(e), qs._unit(h)
        return np.stack([shape_scores(_with_slot(self.res, self.slot, row), h).astype(np.float64) for row in e])


# ----------------------------------------------------------------------------- the split


@dataclass(frozen=True)
class Split:
    """The exact split of a hit's exact score over the shape's players."""

    players: tuple[str, ...]
    values: np.ndarray
    base_value: float
    kind: str
    matched: tuple | None = None
    slots: tuple = ()


def _label(x: Any) -> str:
    return f"point {x}" if S._is_id(x) else "vector"


def split_score(res: S.Resolved, hit_vector: Any, *, hit_id: Any = None,
                prefetches: list | None = None) -> Split:
    """The exact split of the hit's exact score (see the module docstring)."""
    shape, metric = res.shape, res.metric
    h = None if hit_vector is None else np.asarray(hit_vector, dtype=np.float32)
    if isinstance(shape, (S.Recommend, S.Discover, S.Context)):
        h, metric = (None if h is None else res.rows(h)), res.score  # multivectors: flattened, MaxSim core
    if isinstance(shape, S.Recommend):
        table = qs.recommend_game_table(res.positive, res.negative, h, strategy=shape.strategy, metric=metric)
        from qdrant_explain.explainers.exact import shapley_values

        values = shapley_values(table.values) if len(table.values) > 1 else np.zeros(0)
        players = tuple(f"+ {_label(x)}" for x in shape.positive) + tuple(f"- {_label(x)}" for x in shape.negative)
        slots = tuple(("positive", j) for j in range(len(shape.positive))) + tuple(
            ("negative", j) for j in range(len(shape.negative)))
        return Split(players, np.asarray(values, float), 0.0, "shapley over examples", slots=slots)
    if isinstance(shape, S.Discover):
        ranks, target = qs.discovery_terms(res.target, res.pairs, h, metric=metric)
        players = tuple(f"pair ({_label(a)}, {_label(b)})" for a, b in shape.pairs)
        return Split(players, ranks[0].astype(float), float(target[0]), "exact: pair ranks; base = target term",
                     slots=tuple(("pair", j, 0) for j in range(len(shape.pairs))))
    if isinstance(shape, S.Context):
        terms = qs.context_terms(res.pairs, h, metric=metric)[0]
        players = tuple(f"pair ({_label(a)}, {_label(b)})" for a, b in shape.pairs)
        return Split(players, terms.astype(float), 0.0, "exact: pair terms",
                     slots=tuple(("pair", j, 0) for j in range(len(shape.pairs))))
    if isinstance(shape, S.Fusion):
        terms = S.fusion_terms(shape, prefetches, hit_id)
        players = tuple(f"prefetch {i + 1} ({p.using or 'default vector'})" for i, p in enumerate(shape.prefetches))
        return Split(players, terms.astype(float), 0.0, f"exact: {shape.method} terms per prefetch")
    if res.multivector:
        sp = qs.maxsim_terms(shape.vector, h, metric=metric)
        players = tuple(f"query token {t}" for t in range(len(sp.terms)))
        if metric in ("cosine", "dot"):
            return Split(players, sp.terms.astype(float), 0.0, "exact: MaxSim per query token",
                         matched=tuple(int(m) for m in sp.matched))
        kind = ("exact on the core score: MaxSim per query token of -||q - h||_1 (score = -sum)" if metric == "manhattan"
                else "MaxSim per query token of -||q - h||^2 (score = sqrt(-sum)); values split the score in proportion")
        values = -sp.terms.astype(float) if metric == "manhattan" else (
            sp.terms.astype(float) / sp.core * sp.score if sp.core != 0 else np.zeros(len(sp.terms)))
        return Split(players, values, 0.0, kind, matched=tuple(int(m) for m in sp.matched))
    score = float(qs.nearest_scores(shape.vector, h, metric)[0])
    return Split(("query",), np.array([score]), 0.0, "one vector: the whole score")


def driving_slot(split: Split, shape: Any) -> int | None:
    """Index of the player whose region map is drawn: the largest recommend contribution (by size),
    the discovery target (None here: handled by the caller), the context pair holding the hit back most."""
    if not split.slots:
        return None
    if isinstance(shape, S.Recommend):
        return int(np.argmax(np.abs(split.values))) if len(split.values) else None
    if isinstance(shape, S.Context):
        return int(np.argmin(split.values))
    return None


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True, kw_only=True, eq=False)
class ShapeExplanation(Result):
    """Why a hit came back for a query shape: score parity, the exact split, region maps.

    Attributes:
        shape: ``"nearest"``, ``"recommend"``, ``"discover"``, ``"context"`` or ``"fusion"``.
        detail: the strategy (recommend), the fusion method, ``"maxsim"`` for a multivector nearest, else None.
        query: the shape's inputs as JSON (example / target / pair ids, prefetch vectors' names).
        hit: the explained :class:`Hit` (its ``score`` is Qdrant's).
        score: the score Qdrant returned.
        exact_score: the score recomputed from stored vectors (Qdrant's formula); what is attributed.
        parity: :meth:`ShapeParity.to_dict`: returned, exact, gap, ranks, quantization, message.
        players: names of the split's players (examples, pairs, prefetches, query tokens).
        values: (n,) their contributions; ``base_value + values.sum() == exact_score``.
        base_value: the part no player carries (discovery: the target's term; else 0).
        split: how the values were computed (``"shapley over examples"``, ``"exact: ..."``).
        matched: MaxSim: the document vector each query token matched, else None.
        driver: the player whose regions were explained (its index in ``players``), or None.
        regions: :class:`PairExplanation` region maps (the driver's, or one per dense prefetch).
        metric: the collection's distance.
        notes: lines the user should read (parity gaps, what was not explained and why).
    """

    shape: str
    detail: str | None = None
    query: Mapping = field(default_factory=dict)
    hit: Hit
    score: float
    exact_score: float
    parity: Mapping = field(default_factory=dict)
    players: tuple = ()
    values: np.ndarray
    base_value: float = 0.0
    split: str = ""
    matched: tuple | None = None
    driver: int | None = None
    regions: tuple = ()
    metric: str = "cosine"
    notes: tuple = ()

    SHAPES: ClassVar[tuple[str, ...]] = ("nearest", "recommend", "discover", "context", "fusion")

    def __post_init__(self) -> None:
        _set(self, "hit", Hit.from_connector(self.hit))
        _set(self, "values", np.asarray(self.values, dtype=np.float64))
        _set(self, "players", tuple(self.players))
        _set(self, "regions", tuple(self.regions))
        _set(self, "notes", tuple(self.notes))
        _set(self, "score", float(self.score))
        _set(self, "exact_score", float(self.exact_score))
        _set(self, "base_value", float(self.base_value))
        if self.matched is not None:
            _set(self, "matched", tuple(int(m) for m in self.matched))
        super().__post_init__()

    @property
    def total(self) -> float:
        """``base_value + values.sum()``: equals :attr:`exact_score`."""
        return float(self.base_value + self.values.sum())

    def _fields(self, arrays: bool) -> dict:
        """Documented in README ("--json fields", recommend / shapes)."""
        return {
            "shape": self.shape, "detail": self.detail, "query": dict(self.query),
            "hit_id": _point_id(self.hit.id), "score": self.score, "exact_score": self.exact_score,
            "parity": dict(self.parity), "players": list(self.players), "values": self.values,
            "base_value": self.base_value, "total": self.total, "split": self.split,
            "matched": None if self.matched is None else list(self.matched), "driver": self.driver,
            "metric": self.metric, "notes": list(self.notes),
            "result": type(self).__name__, "format": JSON_FORMAT, **self._provenance_json(),
            "hit": self.hit._fields(arrays), "regions": [r._fields(arrays) for r in self.regions],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "ShapeExplanation":
        """Rebuild a :class:`ShapeExplanation` from :meth:`to_dict` output."""
        return cls(shape=data["shape"], detail=data.get("detail"), query=dict(data.get("query") or {}),
                   hit=Hit.from_dict(data["hit"]), score=data["score"], exact_score=data["exact_score"],
                   parity=dict(data.get("parity") or {}), players=tuple(data.get("players") or ()),
                   values=_vector(data["values"]), base_value=data.get("base_value", 0.0), split=data.get("split", ""),
                   matched=None if data.get("matched") is None else tuple(data["matched"]), driver=data.get("driver"),
                   regions=tuple(PairExplanation.from_dict(r) for r in data.get("regions") or ()),
                   metric=data.get("metric", "cosine"), notes=tuple(data.get("notes") or ()),
                   **cls._provenance_from(data))

    def _png(self, max_side: int) -> np.ndarray:
        if not self.regions:
            raise ValueError("this shape explanation has no region map to draw (explain it with an encoder).")
        from . import _images

        return _images.stack_rows([r._png(max_side) for r in self.regions])

    def report_sections(self) -> tuple[_sec.Section, ...]:
        """The split table with score parity, then each region map."""
        out: list[_sec.Section] = [ShapeSection(explanation=self)]
        for r in self.regions:
            out.extend(r.report_sections())
        return tuple(out)

    def report_layout(self) -> _sec.Layout:
        """"Why this hit came back for this {shape}"."""
        what = self.shape + (f" ({self.detail})" if self.detail else "")
        return _sec.Layout(title=f"qdrant-explain: why this hit came back for this {what}",
                           subtitle=f"point {self.hit.id} · {self.split}", sections=self.report_sections())


@dataclass(frozen=True, eq=False)
class ShapeSection(_sec.Section):
    """A shape explanation's table: score parity, then each player's contribution."""

    explanation: Any

    def render(self, page: _sec.Page) -> str:
        """``<section>`` with two tables."""
        e = self.explanation
        esc, num = _sec.esc, _sec.num
        p = e.parity
        quant = p.get("quantization")
        rows = [("shape", e.shape + (f" ({e.detail})" if e.detail else "")), ("point", e.hit.id),
                ("score Qdrant returned", num(e.score, 6)), ("exact score (attributed)", num(e.exact_score, 6)),
                ("gap", num(p.get("gap"), 3)), ("rank / under exact scoring",
                                                 f"{_rank(p.get('rank'))} / {_rank(p.get('exact_rank'))}"),
                ("quantization", esc(quant) if quant else "none"), ("split", e.split),
                ("base + sum of values", num(e.total, 6))]
        head = "".join(f"<tr><th>{esc(k)}</th><td>{v if isinstance(v, str) and v.startswith('<') else esc(v)}</td></tr>"
                       for k, v in rows)
        warn = "" if p.get("ok", True) and p.get("keeps_rank", True) is not False else \
            f'<p class="warn">{esc(p.get("message", ""))}</p>'
        body = [f"<tr><td>{esc(name)}</td><td>{num(v, 6)}</td>"
                + (f"<td>{'driver' if e.driver == i else ''}</td>" if e.driver is not None else "") + "</tr>"
                for i, (name, v) in enumerate(zip(e.players, e.values))]
        notes = "".join(f'<p class="hint">{esc(n)}</p>' for n in e.notes)
        return (f"<section><h2>Why point {esc(e.hit.id)} came back</h2><table>{head}</table>{warn}"
                f"<h2 style=\"margin-top:14px\">Contributions</h2><table><tr><th>player</th><th>value</th></tr>"
                f"<tr><td>base</td><td>{num(e.base_value, 6)}</td></tr>{''.join(body)}</table>{notes}</section>")


def _rank(r: Any) -> str:
    return "-" if r is None else str(int(r) + 1)


register_result_type(ShapeExplanation)


# ----------------------------------------------------------------------------- the entry point


def find_hit(collection: Any, shape: Any, hit: Any, *, limit: int, query_filter: Any, res: S.Resolved) -> tuple[Any, int | None]:
    """The hit (a connectors Hit with its score for ``shape``) and its rank among the first ``limit`` results."""
    from qdrant_explain.connectors.collection import Hit as CHit, normalize_id

    hits = S.run_shape(collection, shape, limit=limit, query_filter=query_filter, resolved=res)
    if hit is None:
        if not hits:
            raise ValueError(f"the {shape.kind} query returned no hit in collection {collection.name!r}; nothing to explain.")
        return hits[0], 0
    if isinstance(hit, CHit) and not isinstance(hit, type(None)) and getattr(hit, "vector", None) is not None \
            and np.isfinite(hit.score):
        pid = normalize_id(hit.id)
        rank = next((i for i, h in enumerate(hits) if h.id == pid), None)
        return hit, rank
    pid = normalize_id(getattr(hit, "id", hit))
    for i, h in enumerate(hits):
        if h.id == pid:
            return h, i
    if isinstance(shape, S.Fusion):
        raise ValueError(f"point {pid!r} is not among the first {limit} fused results; raise limit to explain it.")
    from qdrant_client import models

    collection.retrieve([pid], with_vectors=False, with_payload=False)  # a clear PointNotFoundError
    flt = models.Filter(must=[models.HasIdCondition(has_id=[pid])])
    if query_filter is not None:
        flt = models.Filter(must=[flt, query_filter])
    found = S.run_shape(collection, shape, limit=1, query_filter=flt, resolved=res)
    if not found:
        raise ValueError(f"point {pid!r} is excluded from this {shape.kind} query's results (it is one of its examples, "
                         "or the filter removes it); explain another point.")
    return found[0], None


def explain_shape(collection: Any, shape: Any, hit: Any = None, *, encoder: Any = None, regions: bool = True,
                  query_image: Any = None, hit_image: Any = None, order: int = 1, side: str = "query",
                  players: object = None, baseline: object = "blur", method: str = "auto",
                  budget: int | None = None, seed: int = 0, limit: int = 10, query_filter: Any = None,
                  rescore: bool | None = None, batch_size: int = 64, progress: bool | None = None,
                  log: Callable[[str], None] | None = None) -> ShapeExplanation:
    """Explain why ``hit`` came back for ``shape``: parity, the exact split of its exact score, regions.

    Args:
        collection: an open collection (``connectors.open_collection``).
        shape: a :class:`~qdrant_explain.connectors.shapes.Nearest`, ``Recommend``, ``Discover``, ``Context`` or
            ``Fusion``; example, target and pair ids are looked up in the collection.
        hit: a point id, a Hit, or None for the top hit.
        encoder: the collection's encoder (an object or a spec); None: the recorded one when ``regions`` needs it.
        regions: also explain regions (needs images: the driving example's payload image, or ``query_image``).
        query_image: the image the nearest / prefetch vectors were encoded from (regions of nearest and fusion).
            On a multivector (MaxSim) collection it may be left out with ``side="hit"``: the hit's regions are then
            explained against the query multivector that was sent.
        hit_image: the hit's image when it is masked (default: the one its payload points at).
        order: 1 (region maps) or 2: the joint (Shapley-Taylor) correspondence between the query's (recommend:
            the driving example's; discovery: the target's) regions and the hit's, of the shape's own score
            (MaxSim on a multivector collection).
        side: order 1: which image is masked, ``"query"`` (default), ``"hit"`` or ``"both"`` (nearest, fusion and
            multivector queries; recommend / discover / context always mask the driving example).
        players, baseline, method, budget, seed, batch_size, progress, log: as in ``explain_pair`` (order 1).
        limit: results searched for the hit's rank.
        query_filter: the query's filter.
        rescore: whether the search rescored quantized candidates (shown in the parity).

    Returns:
        A :class:`ShapeExplanation`; ``total == exact_score`` (to float error) and its parity says how far
        Qdrant's returned score is from it.

    Raises:
        PointNotFoundError: an example, target, pair or hit id that does not exist.
        ValueError: a bad shape (no examples, ``average_vector`` without positives, a multivector query on a
            dense collection, ...).
    """
    t0 = time.perf_counter()
    from .sides import SIDES

    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"explain_shape(order=...) must be 1 (region maps) or 2 (joint correspondence); got {order!r}.")
    if side not in SIDES:
        raise ValueError(f"explain_shape(side=...) must be one of {', '.join(SIDES)}; got {side!r}.")
    res = S.resolve_shape(collection, shape)
    found, rank = find_hit(collection, shape, hit, limit=limit, query_filter=query_filter, res=res)
    if found.vector is None:
        found = replace(found, vector=collection.retrieve([found.id], with_vectors=True, with_payload=False)[0].vector)
    prefetches = S.prefetch_results(collection, shape, query_filter=query_filter) if isinstance(shape, S.Fusion) else None
    parity = S.shape_parity(collection, shape, found, rank=rank, query_filter=query_filter, resolved=res,
                            prefetches=prefetches, rescore=rescore)
    split = split_score(res, found.vector, hit_id=found.id, prefetches=prefetches)
    notes: list[str] = [] if parity.ok and parity.keeps_rank is not False else [parity.message]
    region_results: list = []
    driver = driving_slot(split, shape)
    passes = 0
    if regions:
        try:
            region_results = _regions(collection, res, found, split, driver, encoder=encoder, query_image=query_image,
                                      hit_image=hit_image, order=order, side=side, players=players, baseline=baseline,
                                      method=method, budget=budget, seed=seed, batch_size=batch_size,
                                      progress=progress, log=log)
        except _NoRegions as why:
            notes.append(str(why))
        passes = sum(int(r.encoder_passes or 0) for r in region_results)
    parity_json = parity.to_dict()
    if region_results and not isinstance(shape, S.Fusion):
        fresh = fresh_parity(parity.exact, region_results[0])
        parity_json.update(fresh)
        if not fresh["fresh_ok"]:
            notes.append(fresh["fresh_message"])
    detail = getattr(shape, "strategy", None) or getattr(shape, "method", None) or ("maxsim" if res.multivector else None)
    enc_name = region_results[0].encoder if region_results else None
    return ShapeExplanation(
        shape=shape.kind, detail=detail, query=_query_json(shape), hit=found, score=found.score,
        exact_score=parity.exact, parity=parity_json, players=split.players, values=split.values,
        base_value=split.base_value, split=split.kind, matched=split.matched,
        driver=driver if region_results and driver is not None else None, regions=tuple(region_results),
        metric=res.metric, notes=tuple(notes), method="exact", encoder_passes=passes,
        seconds=time.perf_counter() - t0, encoder=enc_name, seed=seed,
        budget=region_results[0].budget if region_results else None)


def fresh_parity(exact: float, regions: PairExplanation, *, tol: float = S.PARITY_TOL) -> dict:
    """The exact score recomputed from freshly encoded vectors (the region game's full value: every image it
    masks is encoded afresh) against the exact score from stored vectors.

    Returns:
        ``{"fresh_score", "fresh_gap", "fresh_ok", "fresh_message"}`` (added to the parity dict).
    """
    fresh = float(regions.full_value)
    gap = fresh - float(exact)
    ok = abs(gap) / max(1.0, abs(float(exact))) <= tol
    msg = (f"the score recomputed from freshly encoded images ({fresh:.6g}) equals the exact score (gap {gap:.1e})" if ok
           else f"the score recomputed from freshly encoded images is {fresh:.6g}, {gap:+.3g} from the exact score from "
                "stored vectors: the stored vectors were not encoded from these images with this encoder (or "
                "another preprocessing); the region map explains the fresh encoding")
    return {"fresh_score": fresh, "fresh_gap": gap, "fresh_ok": ok, "fresh_message": msg}


class _NoRegions(Exception):
    """Why no region map could be drawn (becomes a note)."""


def _query_json(shape: Any) -> dict:
    def one(x: Any) -> Any:
        return _point_id(x) if S._is_id(x) else "vector"

    if isinstance(shape, S.Recommend):
        return {"positive": [one(x) for x in shape.positive], "negative": [one(x) for x in shape.negative],
                "strategy": shape.strategy, "using": shape.using}
    if isinstance(shape, S.Discover):
        return {"target": one(shape.target), "pairs": [[one(a), one(b)] for a, b in shape.pairs], "using": shape.using}
    if isinstance(shape, S.Context):
        return {"pairs": [[one(a), one(b)] for a, b in shape.pairs], "using": shape.using}
    if isinstance(shape, S.Fusion):
        return {"method": shape.method, "k": shape.k, "weights": None if shape.weights is None else list(shape.weights),
                "prefetches": [{"using": p.using, "limit": p.limit} for p in shape.prefetches]}
    return {"using": shape.using, "shape": list(np.shape(shape.vector))}


def _encoder(collection: Any, encoder: Any) -> Any:
    from .sides import check_encoder

    if encoder is None:
        return collection.load_encoder()
    return check_encoder(encoder, "explain_shape")


def _regions(collection: Any, res: S.Resolved, hit: Any, split: Split, driver: int | None, *, encoder: Any,
             query_image: Any, hit_image: Any, order: int, side: str, players: object, baseline: object, method: str,
             budget: int | None, seed: int, batch_size: int, progress: bool | None, log: Any) -> list:
    from .sides import ImageSide, VectorSide, explain_sides, side_name

    shape = res.shape
    kw = dict(order=order, method=method, budget=budget, seed=seed, batch_size=batch_size, progress=progress, log=log)
    if isinstance(shape, (S.Recommend, S.Discover, S.Context)):
        if isinstance(shape, S.Discover):
            slot, item = ("target",), shape.target
        else:
            if driver is None:
                raise _NoRegions("no example to draw regions for.")
            slot = split.slots[driver]
            item = (shape.positive + shape.negative)[driver] if isinstance(shape, S.Recommend) else shape.pairs[slot[1]][0]
        if not S._is_id(item):
            raise _NoRegions("the driving example is a raw vector, not a point: it has no image to mask.")
        if getattr(shape, "using", None) not in (None, collection.info.vector_name):
            raise _NoRegions(f"regions are explained on the collection's own vector ({collection.info.vector_name!r}).")
        enc = _encoder(collection, encoder)
        _check_kind(enc, res)
        point = collection.retrieve([item], with_vectors=True, with_payload=True)[0]
        q = ImageSide(collection.resolve_image(point), enc, players=players, baseline=baseline, name="query",
                      label=f"example {point.id}", id=point.id, payload=point.payload)
        if order == 2:  # the joint correspondence between the driving example's regions and the hit's
            h = ImageSide(_hit_image(collection, hit, hit_image), enc, players=players, baseline=baseline, name="hit",
                          id=hit.id, score=hit.score, payload=hit.payload)
            out = explain_sides(q, [h], metric=SlotScore(res, slot), side="both", **kw)[0]
            game = (f"the {shape.kind} score of the hit with example {point.id} (its regions) and the hit (its regions) "
                    "both masked, the other examples fixed")
        else:
            h = ScoredSide(res.rows(hit.vector), slot_value_fn(res, slot, hit.vector), id=hit.id, score=hit.score,
                           payload=hit.payload, image=_try_image(collection, hit))
            out = explain_sides(q, [h], metric=res.metric, side="query", **kw)[0]
            game = (f"the {shape.kind} score of point {hit.id} with example {point.id} masked over its regions "
                    "(the other examples fixed)")
        return [_pair(out, enc, res, seed, baseline, f"example {point.id}", game=game)]
    if res.multivector:
        if isinstance(shape, S.Fusion) and query_image is None:
            raise _NoRegions("pass query_image= (the image a prefetch multivector was encoded from) to draw regions "
                             "of a fusion on a multivector vector.")
        return [_multivector_regions(collection, res, hit, encoder=encoder, query_image=query_image,
                                     hit_image=hit_image, side=side, players=players, baseline=baseline, kw=kw)]
    if query_image is None:
        raise _NoRegions("pass query_image= (the image the query vectors were encoded from) to explain regions.")
    enc = _encoder(collection, encoder)
    q = ImageSide(query_image, enc, players=players, baseline=baseline, name="query", label=side_name(query_image))
    prefs = shape.prefetches if isinstance(shape, S.Fusion) else (shape,)
    own = [i for i, p in enumerate(prefs) if p.using in (None, collection.info.vector_name)]
    if not own:
        raise _NoRegions("no prefetch searches the collection's own vector; nothing to draw regions for.")
    masks_hit = order == 2 or side in ("hit", "both")
    if masks_hit:
        h = ImageSide(_hit_image(collection, hit, hit_image), enc, players=players, baseline=baseline, name="hit",
                      id=hit.id, score=hit.score, payload=hit.payload, vector=hit.vector)
    else:
        h = VectorSide(hit.vector, id=hit.id, score=hit.score, payload=hit.payload, image=_try_image(collection, hit))
    out = explain_sides(q, [h], metric=res.metric, side=side, **kw)[0]  # one game: every prefetch scores the same pair
    from qdrant_explain.connectors import compare_vectors

    fresh = out.query.fresh
    agree = [i for i in own if compare_vectors(np.asarray(prefs[i].vector), fresh, res.metric).agrees]
    game = (f"the nearest score of the query's regions against point {hit.id}"
            + (f" (prefetch {', '.join(str(i + 1) for i in agree)})" if isinstance(shape, S.Fusion) else ""))
    pe = _pair(out, enc, res, seed, baseline, side_name(query_image), game=game)
    extra = dict(pe.extra)
    extra["prefetches"] = [i + 1 for i in agree]
    if not agree:
        extra["warnings"] = list(extra.get("warnings", [])) + [
            "the query image's encoding matches no prefetch vector: this map explains the image, not the query sent"]
    return [replace(pe, extra=extra)]


def _pair(out: Any, enc: Any, res: S.Resolved, seed: int, baseline: object, query_name: str | None, *,
          game: str) -> PairExplanation:
    from .pair import pair_explanation

    pe = pair_explanation(out, encoder=getattr(enc, "name", str(enc)), seed=seed, baseline=baseline,
                          metric=res.metric, query_name=query_name)
    return replace(pe, extra={**pe.extra, "game": game})


def _flat(multivector: Any) -> np.ndarray:
    arr = np.asarray(multivector, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"a multivector must be a (tokens, d) matrix; got shape {arr.shape}.")
    return arr.reshape(-1)


def _multivector_regions(collection: Any, res: S.Resolved, hit: Any, *, encoder: Any, query_image: Any,
                         hit_image: Any, side: str, players: object, baseline: object, kw: dict) -> PairExplanation:
    """The region game on a MaxSim collection: the MaxSim score of masked multivectors (query side, hit side, joint).

    The query is the query image (masked or fixed) or, when no image is given and only the hit is masked,
    the multivector sent to Qdrant itself (a ColPali-style "why does this document match my query").
    """
    from qdrant_explain.explainers.maxsim import MaxSimScore

    from .sides import ImageSide, VectorSide, encoder_is_multivector, explain_sides, side_name

    order = kw["order"]
    masks_query = order == 2 or side in ("query", "both")
    masks_hit = order == 2 or side in ("hit", "both")
    if query_image is None and masks_query:
        raise _NoRegions("pass query_image= (the image the query multivector was encoded from) to explain the query's "
                         "regions, or side='hit' to explain the hit's regions against the query multivector itself.")
    enc = _encoder(collection, encoder)
    _check_kind(enc, res)
    score = MaxSimScore(res.metric, int(collection.info.vector_size))
    if query_image is not None:
        q = ImageSide(query_image, enc, players=players, baseline=baseline, name="query", label=side_name(query_image))
        qname = side_name(query_image)
    else:
        q, qname = VectorSide(_flat(res.shape.vector), name="query", label="query multivector"), "query multivector"
    if masks_hit:
        h = ImageSide(_hit_image(collection, hit, hit_image), enc, players=players, baseline=baseline, name="hit",
                      id=hit.id, score=hit.score, payload=hit.payload)
    else:
        h = VectorSide(_flat(hit.vector), id=hit.id, score=hit.score, payload=hit.payload,
                       image=_try_image(collection, hit))
    out = explain_sides(q, [h], metric=score, side="both" if order == 2 else side, **kw)[0]
    masked = " and ".join(w for w, m in (("the query's", masks_query), ("the hit's", masks_hit)) if m)
    return _pair(out, enc, res, kw["seed"], baseline, qname,
                 game=f"the MaxSim score ({res.metric}) of point {hit.id} with {masked} regions masked and re-encoded "
                      "to token multivectors")


def _check_kind(enc: Any, res: S.Resolved) -> None:
    """A multivector encoder for a multivector vector and a single-vector encoder for a dense one."""
    from .sides import encoder_is_multivector

    name = getattr(enc, "name", enc)
    if res.multivector and not encoder_is_multivector(enc):
        raise _NoRegions(f"the encoder {name!r} produces single vectors, but the collection's vector is a MaxSim "
                         "multivector: use a multivector encoder (clip-tokens:MODEL@WEIGHTS, or "
                         "CallableEncoder(fn, multivector=True)).")
    if not res.multivector and encoder_is_multivector(enc):
        raise _NoRegions(f"the encoder {name!r} produces token multivectors, but the collection's vector is dense: "
                         "use the single-vector encoder the collection was built with.")


def _hit_image(collection: Any, hit: Any, hit_image: Any) -> Any:
    if hit_image is not None:
        return hit_image
    try:
        return collection.resolve_image(hit)
    except Exception as exc:  # noqa: BLE001 - said as a note: the query side can still be explained
        raise _NoRegions(f"the hit's image could not be found ({exc}); pass hit_image= to mask the hit.") from None


def _try_image(collection: Any, hit: Any) -> Any:
    try:
        return collection.resolve_image(hit)
    except Exception:  # noqa: BLE001 - the hit image is only shown, never masked here
        return None


__all__ = ["ScoredSide", "ShapeExplanation", "ShapeSection", "SlotScore", "Split", "driving_slot", "explain_shape",
           "find_hit", "fresh_parity", "shape_scores", "slot_value_fn", "split_score"]
