"""The per-query unit of work of an audit: the same two functions on every engine.

1. :func:`prepare_query` runs where the collection is open (the driver): it reads the query
   (an image file, an in-memory image, or a point of the collection with its stored vector),
   searches its top-k hits and resolves their images. It is all the collection access an
   audit makes: searches, retrieves and scrolls, never a write.
2. :func:`explain_query` runs wherever the encoder is (the driver on the local engine, a Ray
   actor on the Ray engine): it explains the hits through ``SearchExplainer._explain_hits``
   (the pipeline of sides: one masked-query plan shared by the k hits, batched encodes),
   checks every stored vector against a fresh encode, re-explains a seeded share of the
   queries with another seed for the stability statistic, and returns the query's row.

Because both engines call these same functions with the same settings, the same seed gives the
same explanations locally and on Ray.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdrant_explain._errors import RESOLVE_ERRORS, systemic
from qdrant_explain.audit import BORDER_BAND
from qdrant_explain.connectors.collection import CollectionBase, CollectionInfo
from qdrant_explain.connectors.errors import ReadOnlyError

from .sources import QueryItem
from .stats import query_stats, stability_stats

ROW_FORMAT = 1
"""Version of a row of ``queries.jsonl``."""


@dataclass(frozen=True)
class AuditSettings:
    """How every query of an audit is explained (recorded with the audit's state; a rerun must match).

    Attributes:
        limit: hits per query.
        players, baseline, method, budget: explanation settings (order 1, both sides).
        seed: seed of every sampler (and of the query order).
        stability: share of the queries re-explained with ``seed + 1`` (0: none).
        band: border band width.
        keep_maps: store each query's explanations (label maps, values, images) in its row,
            for the report's maps; False keeps only the statistics.
        batch_size: masked images per encoder call.
    """

    limit: int = 5
    players: Any = "slic:24"
    baseline: Any = "blur"
    method: str = "auto"
    budget: int | None = 128
    seed: int = 0
    stability: float = 0.1
    band: float = BORDER_BAND
    keep_maps: bool = True
    batch_size: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, (int, np.integer)) or self.limit < 1:
            raise ValueError(f"audit(limit=...) must be an integer >= 1 (hits per query); got {self.limit!r}.")
        if not (isinstance(self.stability, (int, float)) and 0.0 <= float(self.stability) <= 1.0):
            raise ValueError(f"audit(stability=...) is the share of queries re-explained with another seed, "
                             f"in [0, 1]; got {self.stability!r}.")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"audit(seed=...) must be an integer >= 0; got {self.seed!r}.")

    def to_dict(self) -> dict:
        """JSON-safe form of what changes the explanations (what a rerun is compared against; the batch
        size and ``keep_maps`` do not change them and may differ between runs)."""
        d = dataclasses.asdict(self)
        d.pop("batch_size")
        d.pop("keep_maps")
        for k in ("players", "baseline"):
            if not isinstance(d[k], (str, int, float, type(None))):
                d[k] = repr(d[k])
        return d


@dataclass(frozen=True)
class QueryWork:
    """What :func:`prepare_query` hands to :func:`explain_query` (picklable, no collection inside).

    Attributes:
        item: the query.
        index: its position in the audit order.
        image: (H, W, 3) uint8 query image, or None when it could not be read.
        name: display name.
        hits: the top-k :class:`~qdrant_explain.results.Hit` (stored vectors, payloads, images).
        failures: ``{hit id: why its image could not be resolved}``.
        search_passes: encoder passes the search made (1 for an image query, 0 for a point).
        error: why the query itself could not be prepared, or None.
        seconds: time spent preparing.
    """

    item: QueryItem
    index: int
    image: np.ndarray | None = None
    name: str | None = None
    hits: tuple = ()
    failures: dict = field(default_factory=dict)
    search_passes: int = 0
    error: str | None = None
    seconds: float = 0.0


class QuerySnapshot(CollectionBase):
    """A read-only view of what the driver fetched for one query: the explainer's collection in a worker.

    It answers ``info`` (name, distance, vector size, recorded encoder) and, for a hit whose
    image the driver could not resolve, raises the driver's message (a ``LookupError``, which
    the explainer records as a finding). It cannot search, retrieve or write.
    """

    def __init__(self, info: CollectionInfo, failures: dict | None = None) -> None:
        self.info = info
        self.read_only = True
        self.failures = dict(failures or {})

    def _gone(self, what: str) -> RuntimeError:
        return RuntimeError(f"an audit worker cannot {what}: the driver searches and resolves every query's hits "
                            "(qdrant_explain.scale.prepare_query).")

    def count(self) -> int:
        """Refused (not needed by a worker)."""
        raise self._gone("count points")

    def _search(self, vector, *, limit, query_filter, with_vectors, with_payload, score_threshold):
        raise self._gone("search")

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        """Refused (hits come with their vectors)."""
        raise self._gone("retrieve points")

    def existing_ids(self, ids):
        """Refused."""
        raise self._gone("list points")

    def upsert(self, ids, vectors, payloads):
        """Refused: an audit never writes to the collection."""
        raise ReadOnlyError("an audit never writes to the collection.")

    def resolve_image(self, hit: Any):
        """The driver's reason why this hit has no image (a LookupError)."""
        pid = getattr(hit, "id", None)
        raise LookupError(self.failures.get(pid, f"the image of hit {pid!r} was not resolved by the driver"))

    def close(self) -> None:
        """Nothing to release."""


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def prepare_query(explainer: Any, item: QueryItem, index: int, settings: AuditSettings) -> QueryWork:
    """Read one query, search its hits and resolve their images (the only collection access).

    A query that cannot be read (or a point that is gone) gives a :class:`QueryWork` with
    ``error`` set; a hit whose image cannot be resolved is listed in ``failures``.
    Errors no other query would escape (server down, wrong encoder) are raised.
    """
    from qdrant_explain.explainers.encoder import to_rgb_array
    from qdrant_explain.results import Hit
    from qdrant_explain.sides import load_side_image

    t0 = time.perf_counter()
    col = explainer.collection
    try:
        if item.point_id is not None:
            point = col.retrieve([item.point_id], with_vectors=True, with_payload=True)[0]
            image = to_rgb_array(col.resolve_image(point), name=item.name)
            label = (point.payload or {}).get("path") or (point.payload or {}).get("name")
            name = f"{item.name} ({os.path.basename(str(label))})" if label else item.name
            found = col.search(point.vector, limit=settings.limit + 1, with_vectors=True, with_payload=True)
            hits = [Hit.from_connector(h) for h in found if h.id != point.id][: settings.limit]
            passes = 0
        else:
            source = item.image if item.image is not None else item.path
            image = to_rgb_array(load_side_image(source, "query"), name=item.name)
            name = item.name
            hits = list(explainer.search(image, limit=settings.limit).hits)
            passes = 1
    except RESOLVE_ERRORS as exc:
        if systemic(exc):
            raise
        return QueryWork(item=item, index=index, name=item.name, error=_short(exc), seconds=time.perf_counter() - t0)
    resolved, findings = explainer.resolve_images(hits)
    failures = {f["hit"]: f["error"] for f in findings}
    return QueryWork(item=item, index=index, image=image, name=name, hits=tuple(resolved), failures=failures,
                     search_passes=passes, seconds=time.perf_counter() - t0)


def selected_for_stability(key: str, seed: int, share: float) -> bool:
    """Whether a query is re-explained with another seed: a hash of (key, seed) below ``share``."""
    if share <= 0:
        return False
    h = hashlib.blake2b(f"{seed}:{key}".encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < share


def _named(search: Any, name: str | None) -> Any:
    expl = tuple(None if e is None else dataclasses.replace(e, query_name=name) for e in search.explanations)
    return dataclasses.replace(search, query_name=name, explanations=expl)


IMAGE_FIELDS = ("query_image", "hit_image", "image", "query_heatmap", "hit_heatmap")
"""Fields a row's ``search`` leaves out: the images (read again for the few queries a report shows:
:func:`with_images`) and the heatmaps (painted again from the label maps and values)."""


def lean_search(result: Any) -> dict:
    """The JSON of an explained search without images and heatmaps, each distinct array stored once."""
    from qdrant_explain.results import pool_arrays

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: (None if k in IMAGE_FIELDS else strip(v)) for k, v in x.items()}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return pool_arrays(strip(result.to_dict(arrays=True)))


def with_images(explainer: Any, search: Any, item: QueryItem) -> Any:
    """A search read back from a row, with its query and hit images read again (for a report).

    Images that cannot be read any more are left out (the maps are still drawn where an image is).
    """
    from qdrant_explain.explainers.encoder import to_rgb_array
    from qdrant_explain.sides import load_side_image

    try:
        if item.point_id is not None:
            col = explainer.collection
            query = to_rgb_array(col.resolve_image(col.retrieve([item.point_id], with_vectors=False)[0]),
                                 name=item.name)
        else:
            query = to_rgb_array(load_side_image(item.image if item.image is not None else item.path, "query"),
                                 name=item.name)
    except RESOLVE_ERRORS:
        query = None
    hits, _ = explainer.resolve_images(search.hits)
    images = {h.id: h.image for h in hits}

    def fits(img: Any, labels: Any) -> Any:
        return img if img is not None and labels is not None and img.shape[:2] == np.shape(labels) else None

    expl = tuple(None if e is None else dataclasses.replace(
        e, query_image=fits(query, e.query_labels), hit_image=fits(images.get(e.hit_id), e.hit_labels))
        for e in search.explanations)
    return dataclasses.replace(search, query_image=query, hits=tuple(dataclasses.replace(h, image=images.get(h.id))
                                                                     for h in search.hits), explanations=expl)


def explain_query(explainer_class: type, encoder: Any, info: CollectionInfo, work: QueryWork,
                  settings: AuditSettings, *, worker: str | None = None) -> dict:
    """Explain one prepared query: the row the audit store commits.

    Args:
        explainer_class: :class:`~qdrant_explain.SearchExplainer` (or a subclass), built here on
            a :class:`QuerySnapshot` of the query.
        encoder: the encoder (loaded once per worker).
        info: the collection's :class:`~qdrant_explain.connectors.CollectionInfo`.
        work: from :func:`prepare_query`.
        settings: the audit's settings.
        worker: who ran it (for the row; default: host and process id).

    Returns:
        A JSON-safe dict: ``format``, ``key``, ``index``, ``name``, ``status`` (``"ok"`` or
        ``"failed"``), ``error``, ``findings``, ``stats`` (:func:`~qdrant_explain.scale.stats.query_stats`),
        ``stability``, ``passes`` (explanation encoder passes), ``search_passes``,
        ``stability_passes``, ``seconds`` (preparing included), ``prepare_seconds`` (on the driver),
        ``encoder_seconds`` (inside the encoder), ``worker`` and ``search`` (the explained
        :class:`~qdrant_explain.results.SearchResults` as a dict without images: :func:`lean_search`,
        when ``keep_maps``).
    """
    who = worker or f"{socket.gethostname()}:{os.getpid()}"
    row = {"format": ROW_FORMAT, "key": work.item.key, "index": work.index, "name": work.name or work.item.name,
           "status": "failed", "error": work.error, "findings": [], "stats": None, "stability": None, "passes": 0,
           "search_passes": work.search_passes, "stability_passes": 0, "seconds": work.seconds,
           "prepare_seconds": work.seconds, "encoder_seconds": 0.0, "worker": who, "search": None}
    if work.error is not None:
        row["findings"] = [{"query": row["name"], "hit": None, "error": work.error}]
        return row
    t0 = time.perf_counter()
    ex = explainer_class(QuerySnapshot(info, work.failures), encoder, players=settings.players,
                         baseline=settings.baseline, method=settings.method, budget=settings.budget,
                         seed=settings.seed, batch_size=settings.batch_size, progress=False)
    common = dict(limit=settings.limit, order=1, method=settings.method, players=settings.players,
                  baseline=settings.baseline, budget=settings.budget, side="both", errors="record", log=None)
    try:
        if not work.hits:
            raise LookupError("the search returned no hit")
        result, findings = ex._explain_hits(work.image, list(work.hits), seed=settings.seed, check_vectors=True,
                                            **common)
    except RESOLVE_ERRORS as exc:
        if systemic(exc):
            raise
        row.update(error=_short(exc), findings=[{"query": row["name"], "hit": None, "error": _short(exc)}],
                   seconds=work.seconds + time.perf_counter() - t0)
        return row
    result = _named(result, row["name"])
    findings = [dict(f, query=row["name"]) for f in findings]
    row.update(status="ok" if any(e is not None for e in result.explanations) else "failed",
               findings=findings, passes=int(result.encoder_passes),
               encoder_seconds=float(sum(e.encoder_seconds for e in result.explanations if e is not None)),
               stats=query_stats(result, band=settings.band))
    if row["status"] == "failed":
        row["error"] = "no hit could be explained"
    elif selected_for_stability(work.item.key, settings.seed, float(settings.stability)):
        again, _ = ex._explain_hits(work.image, list(result.hits), seed=settings.seed + 1, check_vectors=False,
                                    **common)
        row["stability"] = {k: v for k, v in stability_stats(result, again).items()}
        row["stability_passes"] = int(again.encoder_passes)
        row["encoder_seconds"] += float(sum(e.encoder_seconds for e in again.explanations if e is not None))
    if settings.keep_maps:
        row["search"] = lean_search(result)
    row["seconds"] = work.seconds + time.perf_counter() - t0
    return row


__all__ = ["AuditSettings", "IMAGE_FIELDS", "QuerySnapshot", "QueryWork", "ROW_FORMAT", "explain_query", "lean_search",
           "prepare_query", "selected_for_stability", "with_images"]
