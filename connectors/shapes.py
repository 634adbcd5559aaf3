"""Every Qdrant query shape, run on any backend, and the score parity of each hit.

A *shape* describes one ``query_points`` call: :class:`Nearest` (one dense vector,
optionally a named vector, or a multivector for MaxSim collections), :class:`Recommend`
(positive / negative examples and a strategy), :class:`Discover` (a target and context
pairs), :class:`Context` (context pairs only) and :class:`Fusion` (RRF or DBSF over
prefetches). Examples, targets and pair ends are point ids of the collection (or raw
vectors).

:func:`resolve_shape` turns a shape into vectors (the stored vectors of its ids);
:func:`run_shape` runs it on the collection's backend (qdrant-client or Qdrant Edge,
from a table: :func:`register_shape_runner`) and returns Qdrant's hits;
:func:`exact_shape_score` recomputes a hit's score from stored vectors with
:mod:`qdrant_explain.explainers.query_scores`; :func:`shape_parity` puts the returned
score, the exact one, the hit's rank under an exact re-query and the collection's
quantization settings side by side.

Edge takes vectors, not ids: example ids are looked up first and excluded from the
results (as Qdrant does for ids), and ``average_vector`` runs as the nearest query of
the averaged vector (what Qdrant does internally). Edge supports every shape here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from qdrant_explain.explainers import query_scores as qs
from qdrant_explain.explainers.scores import check_score

from .collection import Hit, normalize_id

FUSIONS = ("rrf", "dbsf")
"""Fusion methods of :class:`Fusion` (Qdrant's ``Fusion.RRF`` and ``Fusion.DBSF``)."""

PARITY_TOL = 1e-4
"""Largest gap |returned - exact| / max(1, |exact|) counted as parity (unquantized collections)."""


# ----------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Nearest:
    """A nearest-neighbour query: a (d,) vector, or a (t, d) multivector on a MaxSim collection.

    Attributes:
        vector: the query vector (or multivector).
        using: the named vector searched (None: the collection's vector in use).
        limit: results of this query when it is a prefetch.
    """

    vector: Any
    using: str | None = None
    limit: int = 10

    kind = "nearest"


@dataclass(frozen=True)
class Recommend:
    """Recommend by examples (point ids or vectors) with one of Qdrant's strategies."""

    positive: tuple = ()
    negative: tuple = ()
    strategy: str = "average_vector"
    using: str | None = None

    kind = "recommend"

    def __post_init__(self) -> None:
        object.__setattr__(self, "positive", tuple(self.positive))
        object.__setattr__(self, "negative", tuple(self.negative))
        object.__setattr__(self, "strategy", qs.check_strategy(self.strategy))
        if not qs.recommend_defined(len(self.positive), len(self.negative), self.strategy):
            need = "a positive example" if self.strategy == "average_vector" else "an example"
            raise ValueError(f"recommend with strategy {self.strategy!r} needs at least {need}; got "
                             f"{len(self.positive)} positive and {len(self.negative)} negative. Add examples"
                             + (" or use strategy 'best_score' or 'sum_scores'." if self.strategy == "average_vector"
                                else "."))


@dataclass(frozen=True)
class Discover:
    """Discovery: a target and (positive, negative) context pairs (ids or vectors)."""

    target: Any
    pairs: tuple = ()
    using: str | None = None

    kind = "discover"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", _pairs(self.pairs, "discover"))


@dataclass(frozen=True)
class Context:
    """Context search: (positive, negative) pairs only (ids or vectors)."""

    pairs: tuple = ()
    using: str | None = None

    kind = "context"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", _pairs(self.pairs, "context"))


@dataclass(frozen=True)
class Fusion:
    """RRF or DBSF over prefetches (each a :class:`Nearest` with its own ``limit``)."""

    prefetches: tuple = ()
    method: str = "rrf"
    k: int | None = None
    weights: tuple | None = None

    kind = "fusion"

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefetches", tuple(self.prefetches))
        method = str(self.method).lower()
        if method not in FUSIONS:
            raise ValueError(f"fusion method must be one of {', '.join(FUSIONS)}; got {self.method!r}.")
        object.__setattr__(self, "method", method)
        if not self.prefetches or not all(isinstance(p, Nearest) for p in self.prefetches):
            raise ValueError("Fusion needs one or more Nearest prefetches; got "
                             f"{[type(p).__name__ for p in self.prefetches]}.")
        if self.weights is not None:
            if method != "rrf" or len(self.weights) != len(self.prefetches):
                raise ValueError("fusion weights are RRF's, one per prefetch; got "
                                 f"{len(self.weights)} for {len(self.prefetches)} prefetches with {method!r}.")
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))


SHAPES = (Nearest, Recommend, Discover, Context, Fusion)
"""The query shape classes."""


def _pairs(pairs: Any, caller: str) -> tuple:
    out = []
    for p in pairs:
        if isinstance(p, np.ndarray) and p.ndim == 2 and p.shape[0] == 2:
            out.append((p[0], p[1]))
            continue
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise ValueError(f"{caller} pairs are (positive, negative) tuples; got {p!r}.")
        out.append((p[0], p[1]))
    if not out:
        raise ValueError(f"{caller} needs at least one (positive, negative) context pair; got none.")
    return tuple(out)


# ----------------------------------------------------------------------------- resolved vectors


@dataclass(frozen=True)
class Resolved:
    """A shape with every id replaced by its stored vector.

    Attributes:
        shape: the shape as given.
        positive, negative: (p, d) and (n, d) example vectors (recommend).
        target: (d,) discovery target.
        pairs: (k, 2, d) context pairs.
        ids: the point ids the shape mentions (Qdrant excludes them from recommend/discover results).
        metric: the collection's distance.
        multivector: the searched vector is a MaxSim multivector.
        token_dim: on a multivector vector, the size of one token vector; the example vectors above are then
            flattened multivectors (rows of tokens x token_dim numbers).
    """

    shape: Any
    metric: str
    positive: np.ndarray | None = None
    negative: np.ndarray | None = None
    target: np.ndarray | None = None
    pairs: np.ndarray | None = None
    ids: tuple = ()
    multivector: bool = False
    token_dim: int | None = None

    @property
    def score(self) -> Any:
        """What Qdrant's formulas score with: the metric name, or a ``MaxSimScore`` on a multivector vector."""
        if self.token_dim is None:
            return self.metric
        from qdrant_explain.explainers.maxsim import MaxSimScore

        return MaxSimScore(self.metric, self.token_dim)

    def rows(self, vector: Any) -> np.ndarray:
        """A stored vector as the formulas take it: as is, or a (tokens, d) multivector flattened."""
        arr = np.asarray(vector, dtype=np.float32)
        return arr.reshape(-1) if self.token_dim is not None else arr

    def unflatten(self, row: Any) -> np.ndarray:
        """A flattened multivector back to (tokens, d) (dense vectors unchanged)."""
        arr = np.asarray(row, dtype=np.float32)
        return arr.reshape(-1, self.token_dim) if self.token_dim is not None else arr


def _is_id(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer, str)):
        return True
    return False


def _lookup(collection: Any, items: Sequence[Any], using: str | None) -> tuple[list[np.ndarray], list]:
    """Stored vectors of the ids among ``items`` (raw vectors pass); missing ids raise PointNotFoundError."""
    ids = [normalize_id(x) for x in items if _is_id(x)]
    stored = {}
    if ids:
        col = collection if using in (None, collection.info.vector_name) else _with_vector(collection, using)
        for h in col.retrieve(ids, with_vectors=True, with_payload=False):
            if h.vector is None:
                raise ValueError(f"point {h.id!r} has no vector {using or collection.info.vector_name or '(unnamed)'!r}.")
            stored[h.id] = np.asarray(h.vector, dtype=np.float32)
    out = [stored[normalize_id(x)] if _is_id(x) else np.asarray(x, dtype=np.float32) for x in items]
    return out, ids


def _with_vector(collection: Any, using: str) -> Any:
    from dataclasses import replace as dc_replace

    if using not in collection.info.vector_names:
        raise ValueError(f"Collection {collection.name!r} has no vector named {using!r}; available: "
                         f"{sorted(n or '(unnamed)' for n in collection.info.vector_names)}.")
    clone = object.__new__(type(collection))
    clone.__dict__.update(collection.__dict__)
    clone.info = dc_replace(collection.info, vector_name=using or None)
    return clone


def resolve_shape(collection: Any, shape: Any) -> Resolved:
    """Look up every id of ``shape`` in ``collection`` and check the vectors fit it.

    Raises:
        PointNotFoundError: an example, target or pair id that does not exist (named).
        ValueError: a multivector query against a dense collection (or the reverse), a dimension that does
            not fit, or a shape that is not one of :data:`SHAPES`.
    """
    if not isinstance(shape, SHAPES):
        raise TypeError(f"shape must be one of {', '.join(c.__name__ for c in SHAPES)}; got {type(shape).__name__}.")
    metric = check_score(collection.info.distance)
    if isinstance(shape, Fusion):
        for p in shape.prefetches:
            _check_query_vector(collection, p.vector, p.using)
        return Resolved(shape=shape, metric=metric, multivector=is_multivector(collection, None))
    using = getattr(shape, "using", None)
    multi = is_multivector(collection, using)
    if isinstance(shape, Nearest):
        _check_query_vector(collection, shape.vector, using)
        return Resolved(shape=shape, metric=metric, multivector=multi)
    token_dim = _dim(collection, using) if multi else None
    if isinstance(shape, Recommend):
        pos, ids_p = _lookup(collection, shape.positive, using)
        neg, ids_n = _lookup(collection, shape.negative, using)
        d = _dim(collection, using)
        if multi:
            (pos, neg), d = _flatten_multi((pos, neg), d, collection)
        out = Resolved(shape=shape, metric=metric, positive=_stack(pos, d, "positive example"),
                       negative=_stack(neg, d, "negative example"), ids=tuple(ids_p + ids_n), multivector=multi,
                       token_dim=token_dim)
        if multi and shape.strategy == "average_vector":
            raise ValueError(f"recommend strategy 'average_vector' on the multivector (MaxSim) vector of collection "
                             f"{collection.name!r} is not explained: Qdrant averages multivectors in a way "
                             "qdrant-explain does not reproduce; use strategy 'best_score' or 'sum_scores'.")
        return out
    flat = [x for pair in shape.pairs for x in pair]
    target = []
    if isinstance(shape, Discover):
        flat = [shape.target] + flat
    vecs, ids = _lookup(collection, flat, using)
    d = _dim(collection, using)
    if multi:
        (vecs,), d = _flatten_multi((vecs,), d, collection)
    if isinstance(shape, Discover):
        target, vecs = vecs[0], vecs[1:]
        target = _stack([target], d, "target")[0]
    pairs = _stack(vecs, d, "context pair vector").reshape(-1, 2, d)
    return Resolved(shape=shape, metric=metric, target=target if isinstance(shape, Discover) else None,
                    pairs=pairs, ids=tuple(ids), multivector=multi, token_dim=token_dim)


def _flatten_multi(groups: tuple, d: int, collection: Any) -> tuple[tuple, int]:
    """Flatten every (tokens, d) multivector of ``groups``; they must share one token count."""
    shapes = {np.shape(v) for g in groups for v in g}
    for s in shapes:
        if len(s) != 2 or s[1] != d:
            raise ValueError(f"an example of a multivector query must be a (tokens, {d}) multivector of collection "
                             f"{collection.name!r} (or a point id); got shape {s}.")
    counts = {s[0] for s in shapes}
    if len(counts) > 1:
        raise ValueError(f"the examples' multivectors have different token counts {sorted(counts)}; qdrant-explain "
                         "explains recommend, discover and context on multivectors of one token count (one encoder).")
    t = counts.pop() if counts else 1
    return tuple([np.asarray(v, np.float32).reshape(-1) for v in g] for g in groups), t * d


def _stack(vectors: list[np.ndarray], d: int, what: str) -> np.ndarray:
    for v in vectors:
        if v.ndim != 1 or v.shape[0] != d:
            raise ValueError(f"a {what} must be a {d}-d vector of the collection (or a point id); got shape {v.shape}.")
        if not np.isfinite(v).all():
            raise ValueError(f"a {what} contains NaN or inf.")
    return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, d), np.float32)


def _dim(collection: Any, using: str | None) -> int:
    name = collection.info.vector_name if using is None else using
    return int(vector_params(collection).get(name or "", {}).get("size", collection.info.vector_size))


def _check_query_vector(collection: Any, vector: Any, using: str | None) -> None:
    arr = np.asarray(vector, dtype=np.float64)
    multi = is_multivector(collection, using)
    d = _dim(collection, using)
    name = using if using is not None else collection.info.vector_name
    shown = f"vector {name!r} of collection {collection.name!r}" if name else f"collection {collection.name!r}"
    if arr.ndim == 2 and not multi:
        raise ValueError(f"a multivector query ({arr.shape[0]} x {arr.shape[1]}) against the dense {shown}: MaxSim needs "
                         "a collection created with multivector_config (comparator max_sim). Pass one (d,) vector, or "
                         "search a multivector collection.")
    if arr.ndim == 1 and multi:
        raise ValueError(f"a single vector against the multivector (MaxSim) {shown}: pass a (tokens, {d}) matrix.")
    if arr.ndim not in (1, 2) or arr.shape[-1] != d:
        raise ValueError(f"the query must have dimension {d} for {shown}; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError("the query vector contains NaN or inf.")


# ----------------------------------------------------------------------------- collection configuration


def vector_params(collection: Any) -> dict:
    """``{vector name ("" unnamed): {"size", "distance", "multivector", "quantization"}}`` of the collection."""
    reader = _CONFIG_READERS.get(collection.info.backend)
    if reader is None:
        return {(collection.info.vector_name or ""): {"size": collection.info.vector_size,
                                                      "distance": collection.info.distance,
                                                      "multivector": False, "quantization": None}}
    return reader(collection)


def is_multivector(collection: Any, using: str | None) -> bool:
    """Whether the vector ``using`` (None: the one in use) is a MaxSim multivector."""
    name = collection.info.vector_name if using is None else using
    return bool(vector_params(collection).get(name or "", {}).get("multivector"))


def quantization_settings(collection: Any, using: str | None = None) -> dict | None:
    """The quantization config of the vector in use (its own, else the collection's), as a dict; None when off."""
    name = collection.info.vector_name if using is None else using
    return vector_params(collection).get(name or "", {}).get("quantization")


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return json.loads(obj.model_dump_json(exclude_none=True))
    return obj


def _client_config(collection: Any) -> dict:
    from qdrant_client import models

    desc = collection._call(collection.client.get_collection, collection.name)
    vectors = desc.config.params.vectors
    table = {"": vectors} if isinstance(vectors, models.VectorParams) else dict(vectors or {})
    default_q = _plain(getattr(desc.config, "quantization_config", None))
    out = {}
    for name, p in table.items():
        out[name] = {"size": int(p.size), "distance": check_score(p.distance),
                     "multivector": p.multivector_config is not None,
                     "quantization": _plain(p.quantization_config) or default_q}
    return out


def _edge_config(collection: Any) -> dict:
    config = json.loads((collection.directory / "edge_config.json").read_text())
    default_q = config.get("quantization_config")
    out = {}
    for name, p in (config.get("vectors") or {}).items():
        if not isinstance(p, dict) or "size" not in p:
            continue
        out[name] = {"size": int(p["size"]), "distance": check_score(p["distance"]),
                     "multivector": p.get("multivector_config") is not None,
                     "quantization": p.get("quantization_config") or default_q}
    return out


_CONFIG_READERS: dict[str, Callable[[Any], dict]] = {"client": _client_config, "edge": _edge_config}


# ----------------------------------------------------------------------------- running a shape


ShapeRunner = Callable[..., list]
"""``runner(collection, resolved, *, limit, query_filter, exact, with_vectors) -> list[Hit]``."""

_RUNNERS: dict[str, ShapeRunner] = {}


def register_shape_runner(backend: str, runner: ShapeRunner, *, config_reader: Callable[[Any], dict] | None = None) -> None:
    """Let :func:`run_shape` run shapes on ``backend`` (and :func:`vector_params` read its configuration)."""
    _RUNNERS[backend] = runner
    if config_reader is not None:
        _CONFIG_READERS[backend] = config_reader


def run_shape(collection: Any, shape: Any, *, limit: int = 10, query_filter: Any = None, exact: bool = False,
              with_vectors: bool = True, resolved: Resolved | None = None) -> list[Hit]:
    """Run ``shape`` on the collection's backend and return Qdrant's hits (best first).

    Args:
        exact: search exactly (no HNSW, quantization ignored): the exact re-query of score parity.

    Raises:
        ValueError: a backend with no shape runner, or a bad shape (see :func:`resolve_shape`).
    """
    runner = _RUNNERS.get(collection.info.backend)
    if runner is None:
        raise ValueError(f"backend {collection.info.backend!r} cannot run query shapes; backends that can: "
                         f"{sorted(_RUNNERS)} (register one with register_shape_runner).")
    res = resolved if resolved is not None else resolve_shape(collection, shape)
    if int(limit) < 1:
        raise ValueError(f"limit must be >= 1; got {limit}.")
    return runner(collection, res, limit=int(limit), query_filter=query_filter, exact=exact, with_vectors=with_vectors)


def _client_run(collection: Any, res: Resolved, *, limit: int, query_filter: Any, exact: bool, with_vectors: bool) -> list:
    from qdrant_client import models

    from .client import as_client_filter

    shape = res.shape
    params = models.SearchParams(exact=True, quantization=models.QuantizationSearchParams(ignore=True)) if exact else None

    def vec(x: Any) -> Any:
        return normalize_id(x) if _is_id(x) else np.asarray(x, dtype=np.float32).tolist()

    prefetch = None
    using = getattr(shape, "using", None)
    if isinstance(shape, Nearest):
        query = vec(shape.vector)
    elif isinstance(shape, Recommend):
        query = models.RecommendQuery(recommend=models.RecommendInput(
            positive=[vec(x) for x in shape.positive], negative=[vec(x) for x in shape.negative],
            strategy=models.RecommendStrategy(shape.strategy)))
    elif isinstance(shape, Discover):
        query = models.DiscoverQuery(discover=models.DiscoverInput(
            target=vec(shape.target), context=[models.ContextPair(positive=vec(a), negative=vec(b)) for a, b in shape.pairs]))
    elif isinstance(shape, Context):
        query = models.ContextQuery(context=[models.ContextPair(positive=vec(a), negative=vec(b)) for a, b in shape.pairs])
    else:
        prefetch = [models.Prefetch(query=vec(p.vector), using=p.using or collection.info.vector_name, limit=p.limit,
                                    filter=as_client_filter(query_filter), params=params) for p in shape.prefetches]
        if shape.method == "rrf" and (shape.k is not None or shape.weights is not None):
            query = models.RrfQuery(rrf=models.Rrf(k=shape.k, weights=list(shape.weights) if shape.weights else None))
        else:
            query = models.FusionQuery(fusion=models.Fusion.RRF if shape.method == "rrf" else models.Fusion.DBSF)
        using = None
    if using is None and prefetch is None:
        using = collection.info.vector_name
    with_vec = ([collection.info.vector_name] if collection.info.vector_name else True) if with_vectors else False
    import warnings

    with warnings.catch_warnings():  # the embedded engine is always exact and says so for search_params
        warnings.filterwarnings("ignore", message="Local mode performs exact")
        resp = collection._call(collection.client.query_points, collection.name, query=query, using=using, prefetch=prefetch,
                                query_filter=as_client_filter(query_filter), limit=limit, with_payload=True,
                                with_vectors=with_vec, search_params=params)
    return [Hit(normalize_id(p.id), float(p.score), dict(p.payload or {}), collection._pick(p.vector)) for p in resp.points]


def _edge_run(collection: Any, res: Resolved, *, limit: int, query_filter: Any, exact: bool, with_vectors: bool) -> list:
    from .edge import _edge, to_edge_filter

    q = _edge()
    shape = res.shape
    params = q.SearchParams(exact=True, quantization=q.QuantizationSearchParams(ignore=True)) if exact else None
    flt = query_filter
    if res.ids:  # Qdrant leaves the examples named by id out of recommend / discover / context results
        from qdrant_client import models

        base = flt if flt is None or isinstance(flt, models.Filter) else models.Filter(**flt)
        exclude = models.Filter(must_not=[models.HasIdCondition(has_id=list(res.ids))])
        flt = exclude if base is None else models.Filter(must=[base, exclude])
    using = getattr(shape, "using", None) or collection.info.vector_name

    def lst(x: np.ndarray) -> list:  # multivector examples travel as (tokens, d) lists
        return res.unflatten(x).tolist()

    prefetches = None
    if isinstance(shape, Nearest):
        query = q.Query.Nearest(lst(shape.vector), using=using)
    elif isinstance(shape, Recommend):
        if shape.strategy == "average_vector":
            query = q.Query.Nearest(lst(qs.average_vector(res.positive, res.negative)), using=using)
        else:
            ctor = q.Query.RecommendBestScore if shape.strategy == "best_score" else q.Query.RecommendSumScores
            query = ctor(q.RecommendQuery([lst(v) for v in res.positive], [lst(v) for v in res.negative]), using=using)
    elif isinstance(shape, Discover):
        query = q.Query.Discover(q.DiscoverQuery(lst(res.target), [q.ContextPair(lst(a), lst(b)) for a, b in res.pairs]),
                                 using=using)
    elif isinstance(shape, Context):
        query = q.Query.Context(q.ContextQuery([q.ContextPair(lst(a), lst(b)) for a, b in res.pairs]), using=using)
    else:
        prefetches = [q.Prefetch(limit=p.limit, query=q.Query.Nearest(lst(p.vector), using=p.using or collection.info.vector_name),
                                 filter=to_edge_filter(flt), params=params) for p in shape.prefetches]
        if shape.method == "rrf":
            query = q.Fusion.Rrf(k=qs.DEFAULT_RRF_K if shape.k is None else int(shape.k),
                                 weights=list(shape.weights) if shape.weights else None)
        else:
            query = q.Fusion.Dbsf()
    req = q.QueryRequest(limit=limit, query=query, prefetches=prefetches, filter=to_edge_filter(flt),
                         with_vector=bool(with_vectors), with_payload=True, params=params)
    try:
        points = collection.shard.query(req)
    except Exception as exc:
        from .errors import ConnectorError

        raise ConnectorError(f"Qdrant Edge query in {collection.name!r} failed: {exc}") from None
    return [Hit(normalize_id(p.id), float(p.score), dict(p.payload or {}), collection._pick(p.vector)) for p in points]


register_shape_runner("client", _client_run)
register_shape_runner("edge", _edge_run)


# ----------------------------------------------------------------------------- exact scores


def prefetch_results(collection: Any, shape: Fusion, *, query_filter: Any = None, exact: bool = False) -> list[list[Hit]]:
    """Each prefetch's own results (its ``limit``), as the fusion saw them."""
    return [run_shape(collection, p, limit=p.limit, query_filter=query_filter, exact=exact, with_vectors=False)
            for p in shape.prefetches]


def exact_shape_score(collection: Any, res: Resolved, hit_vector: Any, *, hit_id: Any = None,
                      prefetches: list[list[Hit]] | None = None) -> float:
    """The hit's score recomputed from stored vectors with Qdrant's formulas (float32, as Qdrant).

    Fusion needs the prefetch results (``prefetches``) and the hit's id: RRF and DBSF read ranks and
    the scores of each prefetch's list.
    """
    shape, metric = res.shape, res.metric
    if isinstance(shape, Fusion):
        if prefetches is None or hit_id is None:
            raise ValueError("a fusion score needs the prefetch results and the hit id.")
        return float(fusion_terms(shape, prefetches, hit_id).sum())
    h = np.asarray(hit_vector, dtype=np.float32)
    if isinstance(shape, Nearest):
        if res.multivector:
            return qs.maxsim_terms(shape.vector, h, metric=metric).score
        return float(qs.nearest_scores(shape.vector, h, metric)[0])
    h, metric = res.rows(h), res.score  # multivectors: flattened rows scored with MaxSim's core similarity
    if isinstance(shape, Recommend):
        return float(qs.recommend_scores(res.positive, res.negative, h, strategy=shape.strategy, metric=metric)[0])
    if isinstance(shape, Discover):
        return float(qs.discovery_scores(res.target, res.pairs, h, metric=metric)[0])
    return float(qs.context_scores(res.pairs, h, metric=metric)[0])


def fusion_terms(shape: Fusion, prefetches: list[list[Hit]], hit_id: Any) -> np.ndarray:
    """(prefetches,) per-prefetch terms of the fused score of ``hit_id`` (RRF rank terms or DBSF normalised scores)."""
    pid = normalize_id(hit_id)
    positions = [next((i for i, h in enumerate(lst) if h.id == pid), None) for lst in prefetches]
    if shape.method == "rrf":
        return qs.rrf_terms(positions, k=shape.k, weights=shape.weights)
    return qs.dbsf_terms([[h.score for h in lst] for lst in prefetches], positions)


@dataclass(frozen=True)
class ShapeParity:
    """The score Qdrant returned against the exact one, and the hit's rank under exact scoring.

    Attributes:
        returned: the score Qdrant returned.
        exact: the score recomputed from stored vectors (Qdrant's formula, float32).
        gap: ``returned - exact``.
        rel_gap: ``|gap| / max(1, |exact|)``.
        ok: ``rel_gap <= tol``.
        rank: the hit's 0-based rank in the results it came from.
        exact_rank: its rank under an exact re-query (no HNSW, quantization ignored); None when it
            fell out of the re-queried results.
        keeps_rank: ``rank == exact_rank``.
        quantization: the collection's quantization settings of the vector (None: not quantized).
        rescore: whether the search rescored with the original vectors (None: not quantized).
        message: one line for the user.
    """

    returned: float
    exact: float
    gap: float
    rel_gap: float
    ok: bool
    rank: int | None
    exact_rank: int | None
    keeps_rank: bool | None
    quantization: dict | None = None
    rescore: bool | None = None
    message: str = ""

    def to_dict(self) -> dict:
        """JSON-safe dict (every field)."""
        return {k: getattr(self, k) for k in ("returned", "exact", "gap", "rel_gap", "ok", "rank", "exact_rank",
                                             "keeps_rank", "quantization", "rescore", "message")}

    @classmethod
    def from_dict(cls, data: dict) -> "ShapeParity":
        """Rebuild from :meth:`to_dict`."""
        return cls(**{k: data.get(k) for k in ("returned", "exact", "gap", "rel_gap", "ok", "rank", "exact_rank",
                                             "keeps_rank", "quantization", "rescore")}, message=data.get("message", ""))


def shape_parity(collection: Any, shape: Any, hit: Hit, *, rank: int | None = None, query_filter: Any = None,
                 resolved: Resolved | None = None, prefetches: list[list[Hit]] | None = None, rescore: bool | None = None,
                 tol: float = PARITY_TOL, requery_limit: int | None = None) -> ShapeParity:
    """Compare the hit's returned score with the exact one and re-query exactly for its rank.

    Args:
        hit: a hit of ``run_shape(collection, shape)`` (with its stored vector).
        rank: its rank in those results (None: unknown).
        rescore: whether the search rescored quantized candidates (shown; None: Qdrant's default).
        requery_limit: results of the exact re-query (default: enough to hold the rank, at least 10).
    """
    res = resolved if resolved is not None else resolve_shape(collection, shape)
    vec = hit.vector
    if vec is None and not isinstance(res.shape, Fusion):
        vec = collection.retrieve([hit.id], with_vectors=True, with_payload=False)[0].vector
    if isinstance(res.shape, Fusion) and prefetches is None:
        prefetches = prefetch_results(collection, res.shape, query_filter=query_filter)
    exact = exact_shape_score(collection, res, vec, hit_id=hit.id, prefetches=prefetches)
    gap = float(hit.score) - exact
    rel = abs(gap) / max(1.0, abs(exact))
    limit = max(10, (rank or 0) + 5) if requery_limit is None else int(requery_limit)
    exact_hits = run_shape(collection, res.shape, limit=limit, query_filter=query_filter, exact=True,
                           with_vectors=False, resolved=res)
    exact_rank = next((i for i, h in enumerate(exact_hits) if h.id == normalize_id(hit.id)), None)
    if rank is not None and exact_rank is not None and exact_rank != rank and rank < len(exact_hits):
        tied = abs(exact_hits[rank].score - exact_hits[exact_rank].score) <= tol * max(1.0, abs(exact))
        exact_rank = rank if tied else exact_rank  # a tie: Qdrant may order equal scores either way
    quant = quantization_settings(collection, getattr(res.shape, "using", None))
    ok = rel <= tol
    keeps = None if rank is None else exact_rank == rank
    if ok:
        msg = f"Qdrant's score {hit.score:.6g} equals the exact score (gap {gap:.1e})"
    else:
        why = (" (the collection is quantized" + (" and rescoring was off)" if rescore is False else ")")) if quant else ""
        msg = (f"Qdrant returned {hit.score:.6g} but the exact score is {exact:.6g} (gap {gap:+.3g}){why}; the "
               "explanation attributes the exact score")
    if keeps is False:
        msg += (f"; under exact scoring the hit ranks {exact_rank + 1}" if exact_rank is not None else
                f"; under exact scoring the hit falls out of the top {limit}") + f", not {rank + 1}"
    return ShapeParity(returned=float(hit.score), exact=exact, gap=gap, rel_gap=rel, ok=ok, rank=rank,
                       exact_rank=exact_rank, keeps_rank=keeps, quantization=quant,
                       rescore=rescore if quant else None, message=msg)


def score_for_subset(collection: Any, shape: Recommend, hit_id: Any, mask: Sequence[bool]) -> float | None:
    """Qdrant's own score of ``hit_id`` for the recommend query of the examples in ``mask`` (None: refused).

    Re-queries Qdrant with a filter on the hit's id (``mask`` over positives then negatives).
    """
    from qdrant_client import models

    n_p = len(shape.positive)
    pos = tuple(x for x, m in zip(shape.positive, mask[:n_p]) if m)
    neg = tuple(x for x, m in zip(shape.negative, mask[n_p:]) if m)
    if not qs.recommend_defined(len(pos), len(neg), shape.strategy):
        return None
    sub = replace(shape, positive=pos, negative=neg)
    flt = models.Filter(must=[models.HasIdCondition(has_id=[normalize_id(hit_id)])])
    hits = run_shape(collection, sub, limit=1, query_filter=flt, with_vectors=False, exact=True)
    return float(hits[0].score) if hits else None


__all__ = [
    "Context",
    "Discover",
    "FUSIONS",
    "Fusion",
    "Nearest",
    "PARITY_TOL",
    "Recommend",
    "Resolved",
    "SHAPES",
    "ShapeParity",
    "ShapeRunner",
    "exact_shape_score",
    "fusion_terms",
    "is_multivector",
    "prefetch_results",
    "quantization_settings",
    "register_shape_runner",
    "resolve_shape",
    "run_shape",
    "score_for_subset",
    "shape_parity",
    "vector_params",
]
