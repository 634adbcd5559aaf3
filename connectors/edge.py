"""Qdrant Edge (``qdrant-edge-py``, the embedded Rust engine) behind the :class:`Collection` protocol.

A collection is one Edge shard: the directory ``<path>/<name>``. Its vector
configuration is read from the shard's ``edge_config.json``; the encoder spec and
image root recorded at indexing time live in a sidecar ``qdrant_explain.json`` in
the same directory (Edge has no collection metadata). Filters are given as
:class:`qdrant_client.models.Filter` (the common conditions are translated:
``must``/``should``/``must_not``/``min_should``, ``FieldCondition`` with
``MatchValue``/``MatchAny``/``MatchExcept``/``MatchText``/``Range``,
``IsEmpty``/``IsNull``/``HasId``, nested filters) or directly as ``qdrant_edge.Filter``.
"""

from __future__ import annotations

import atexit
import json
from pathlib import Path
from typing import Any

import numpy as np

from .collection import (
    SCROLL_PAGE,
    METADATA_KEY,
    CollectionBase,
    CollectionInfo,
    CreateSpec,
    Hit,
    OpenRequest,
    check_distance,
    choose_vector,
    normalize_id,
    parse_metadata,
)
from .errors import CollectionNotFoundError, ConnectorError, CorruptStorageError, NotADatabaseError

SIDECAR_NAME = "qdrant_explain.json"
"""Edge sidecar file name, inside the shard directory."""

_SHARDS: dict[str, Any] = {}  # one open EdgeShard per directory and process


def _edge():
    try:
        import qdrant_edge
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("backend='edge' needs Qdrant Edge: pip install 'qdrant-explain[edge]' (qdrant-edge-py).") from None
    return qdrant_edge


_EDGE_DISTANCE_NAMES = {"cosine": "Cosine", "dot": "Dot", "euclid": "Euclid", "manhattan": "Manhattan"}


class EdgeCollection(CollectionBase):
    """One Qdrant Edge shard as a collection.

    Args:
        shard: the open ``qdrant_edge.EdgeShard``.
        directory: the shard directory ``<path>/<name>``.
        request: what was asked (name, vector name, read-only, image root, ...).
    """

    def __init__(self, shard: Any, directory: Path, request: OpenRequest) -> None:
        self.shard = shard
        self.directory = directory
        self.read_only = bool(request.read_only)
        self.info = self._read_info(request.name, request.vector_name)
        self._setup_resolver(request)

    # -- construction

    @classmethod
    def open(cls, request: OpenRequest) -> "EdgeCollection":
        """Open the shard ``<request.path>/<request.name>`` (backend opener of ``backend="edge"``)."""
        _check_embedded(request)
        name = request.name
        directory = _shard_dir(name, request.path)
        if not (directory / "edge_config.json").is_file():
            parent = directory.parent
            names = sorted(p.name for p in parent.iterdir() if (p / "edge_config.json").is_file()) if parent.is_dir() else []
            raise CollectionNotFoundError(
                f"Edge collection {name!r} not found: {str(directory)!r} is not a Qdrant Edge shard. "
                f"Shards in {str(parent)!r}: {names or 'none'}. Build it with index_folder(..., backend='edge')."
            )
        return cls(_load_shard(directory), directory, request)

    @classmethod
    def create(cls, request: OpenRequest, spec: CreateSpec) -> "EdgeCollection":
        """Create the shard unless it exists (backend creator of ``backend="edge"``)."""
        _check_embedded(request)
        q = _edge()
        name = request.name
        directory = _shard_dir(name, request.path)
        _check_shard_folder(directory.parent)
        if (directory / "edge_config.json").is_file():
            if not spec.exist_ok:
                raise ValueError(f"Edge collection {name!r} already exists at {str(directory)!r}; pass exist_ok=True.")
            return cls(_load_shard(directory), directory, request)
        multi = (q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim)
                 if getattr(spec, "multivector", False) else None)
        params = q.EdgeVectorParams(size=int(spec.vector_size), distance=getattr(q.Distance, _EDGE_DISTANCE_NAMES[spec.distance]),
                                    multivector_config=multi)
        config = q.EdgeConfig(vectors={spec.vector_name: params} if spec.vector_name else params)
        directory.parent.mkdir(parents=True, exist_ok=True)
        shard = q.EdgeShard.create(str(directory), config)
        _SHARDS[str(directory)] = shard
        return cls(shard, directory, request)  # create_collection records the encoder in the sidecar

    def _read_info(self, name: str, vector_name: str | None) -> CollectionInfo:
        try:
            config = json.loads((self.directory / "edge_config.json").read_text())
        except (OSError, ValueError) as exc:
            raise CorruptStorageError(
                f"Qdrant Edge shard {str(self.directory)!r} is damaged: edge_config.json cannot be read ({exc})."
            ) from None
        vectors = config.get("vectors") if isinstance(config, dict) else None
        table = {k: v for k, v in (vectors or {}).items() if isinstance(v, dict) and "size" in v}
        if not table:
            raise ConnectorError(f"Edge collection {name!r} has no dense vectors; qdrant-explain needs one.")
        chosen = choose_vector(name, table, vector_name)
        meta, problem = self._sidecar(name)
        return CollectionInfo(
            name=name, backend="edge", location=str(self.directory.parent), vector_size=int(table[chosen]["size"]),
            distance=check_distance(table[chosen]["distance"]), vector_name=chosen or None, vector_names=tuple(table),
            encoder=meta.get("encoder"), encoder_dim=meta.get("dim"), metadata_root=meta.get("image_root"),
            metadata_problem=problem,
        )

    def _sidecar(self, name: str) -> tuple[dict, str | None]:
        f = self.directory / SIDECAR_NAME
        if not f.is_file():
            return {}, None
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return {}, f"its metadata file {str(f)!r} is corrupt ({exc})"
        raw = data.get(METADATA_KEY) if isinstance(data, dict) else data
        return parse_metadata(raw, name=name, where=f"metadata file {str(f)!r}")

    def record_metadata(self, **entries: Any) -> None:
        """Write the encoder spec (and the image-root hint) to the sidecar file (refused when read-only)."""
        import dataclasses

        self._check_writable("recording metadata")
        meta, _ = self._sidecar(self.name)
        meta.update({k: v for k, v in entries.items() if v is not None})
        tmp = self.directory / (SIDECAR_NAME + ".tmp")
        tmp.write_text(json.dumps({METADATA_KEY: meta}, indent=2))
        tmp.replace(self.directory / SIDECAR_NAME)
        fresh = self._read_info(self.name, self.info.vector_name)
        self.info = dataclasses.replace(fresh, image_root=self.info.image_root)

    # -- reads

    def count(self) -> int:
        """Number of points."""
        return int(self.shard.info().points_count)

    def _search(self, vector, *, limit, query_filter, with_vectors, with_payload, score_threshold):
        q = _edge()
        query = q.Query.Nearest(vector, using=self.info.vector_name)
        req = q.QueryRequest(limit=limit, query=query, filter=to_edge_filter(query_filter),
                             with_vector=bool(with_vectors), with_payload=bool(with_payload), score_threshold=score_threshold)
        try:
            points = self.shard.query(req)
        except Exception as exc:
            raise ConnectorError(f"Qdrant Edge search in {self.name!r} failed: {exc}") from None
        return [Hit(normalize_id(p.id), float(p.score), dict(p.payload or {}), self._pick(p.vector)) for p in points]

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        """Points by id, in the order asked (missing ids raise PointNotFoundError)."""
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return []
        recs = self.shard.retrieve(asked, with_payload=bool(with_payload), with_vector=bool(with_vectors))
        by_id = {normalize_id(r.id): r for r in recs}
        self._missing(asked, by_id)
        return [Hit(i, float("nan"), dict(by_id[i].payload or {}), self._pick(by_id[i].vector)) for i in asked]

    def existing_ids(self, ids):
        """The subset of ``ids`` present in the shard."""
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return set()
        return {normalize_id(r.id) for r in self.shard.retrieve(asked, with_payload=False, with_vector=False)}

    # -- writes

    def upsert(self, ids, vectors, payloads):
        """Insert or replace points and flush (refused when read-only)."""
        q = _edge()
        self._check_writable("upsert")
        vecs = np.asarray(vectors, dtype=np.float32)
        pts = []
        for i, v, p in zip(ids, vecs, payloads, strict=True):
            vec = {self.info.vector_name: v.tolist()} if self.info.vector_name else v.tolist()
            pts.append(q.Point(normalize_id(i), vec, dict(p)))
        self.shard.update(q.UpdateOperation.upsert_points(pts))
        self.shard.flush()

    def scroll_payloads(self):
        """Every point as ``(id, payload)``, page by page."""
        q = _edge()
        offset = None
        while True:
            records, offset = self.shard.scroll(q.ScrollRequest(offset=offset, limit=SCROLL_PAGE, with_payload=True,
                                                                with_vector=False))
            for r in records:
                yield normalize_id(r.id), dict(r.payload or {})
            if offset is None:
                return

    def set_paths(self, paths: dict) -> None:
        """Set the ``path`` payload field of these points (``{id: path}``; refused when read-only)."""
        q = _edge()
        self._check_writable("updating moved paths")
        for pid, rel in paths.items():
            self.shard.update(q.UpdateOperation.set_payload([pid], {"path": rel}))
        self.shard.flush()

    def delete_points(self, ids) -> None:
        """Delete these points and flush (refused when read-only)."""
        q = _edge()
        self._check_writable("pruning")
        self.shard.update(q.UpdateOperation.delete_points(list(ids)))
        self.shard.flush()

    def close(self) -> None:
        """Flush a writable shard (the shard stays open for the process)."""
        if not self.read_only:
            self.shard.flush()

    def _pick(self, vector: Any):
        if isinstance(vector, dict) and not self.info.vector_name and "" not in vector and len(vector) == 1:
            vector = next(iter(vector.values()))
        return super()._pick(vector)


def _check_embedded(request: OpenRequest) -> None:
    if request.url is not None or request.client is not None or request.api_key is not None:
        raise ValueError("backend='edge' is embedded: pass path=... (the folder of shards), not url/client/api_key.")


def _check_shard_folder(folder: Path) -> None:
    """Refuse to create a shard inside a folder that holds anything but Edge shards (e.g. photos)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise NotADatabaseError(f"path={str(folder)!r} is a file, not a folder of Qdrant Edge shards (CLI: --db PATH).")
    others = sorted(p.name for p in folder.iterdir() if not (p / "edge_config.json").is_file())
    if others:
        shown = ", ".join(repr(n) for n in others[:3]) + (" ..." if len(others) > 3 else "")
        raise NotADatabaseError(
            f"{str(folder)!r} is not a folder of Qdrant Edge shards (it holds {len(others)} other entries: {shown}); "
            "refusing to create a shard there, nothing was written. Pass a new or empty folder, or the one that "
            "holds your shards (CLI: --db PATH)."
        )


def _shard_dir(name: str, path: str | None) -> Path:
    if path is None:
        raise ValueError("backend='edge' needs path=... : the folder that holds the Edge shard directories.")
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"Edge collection names are plain directory names; got {name!r}.")
    return (Path(path).expanduser() / name).resolve()


def _load_shard(directory: Path):
    key = str(directory)
    if key not in _SHARDS:
        try:
            _SHARDS[key] = _edge().EdgeShard.load(key)
        except Exception as exc:
            raise ConnectorError(f"Cannot load Qdrant Edge shard {key!r}: {exc}") from None
    return _SHARDS[key]


def close_shards() -> None:
    """Flush and close every Edge shard this process opened (e.g. before deleting their folders)."""
    while _SHARDS:
        _, shard = _SHARDS.popitem()
        try:
            shard.flush()
            shard.close()
        except Exception:
            pass


atexit.register(close_shards)


# ----------------------------------------------------------------------------- filters


def to_edge_filter(flt: Any):
    """Translate a :class:`qdrant_client.models.Filter` (or dict) to ``qdrant_edge.Filter``; None passes."""
    if flt is None:
        return None
    q = _edge()
    if isinstance(flt, q.Filter):
        return flt
    from qdrant_client import models

    if isinstance(flt, dict):
        flt = models.Filter(**flt)
    if not isinstance(flt, models.Filter):
        raise TypeError(f"query_filter must be a qdrant_client.models.Filter or qdrant_edge.Filter; got {type(flt).__name__}.")

    def conds(items):
        if items is None:
            return None
        if not isinstance(items, list):
            items = [items]
        return [_edge_condition(c) for c in items]

    min_should = None
    if flt.min_should is not None:
        min_should = q.MinShould(conds(flt.min_should.conditions), int(flt.min_should.min_count))
    return q.Filter(must=conds(flt.must), should=conds(flt.should), must_not=conds(flt.must_not), min_should=min_should)


def _edge_condition(c: Any):
    q = _edge()
    from qdrant_client import models

    if isinstance(c, models.Filter):
        return to_edge_filter(c)
    if isinstance(c, models.HasIdCondition):
        return q.HasIdCondition({normalize_id(i) for i in c.has_id})
    if isinstance(c, models.IsEmptyCondition):
        return q.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, models.IsNullCondition):
        return q.IsNullCondition(c.is_null.key)
    if isinstance(c, models.NestedCondition):
        return q.NestedCondition(c.nested.key, to_edge_filter(c.nested.filter))
    if isinstance(c, models.FieldCondition):
        kwargs: dict[str, Any] = {}
        m = c.match
        if isinstance(m, models.MatchValue):
            kwargs["match"] = q.MatchValue(m.value)
        elif isinstance(m, models.MatchAny):
            kwargs["match"] = q.MatchAny(list(m.any))
        elif isinstance(m, models.MatchExcept):
            kwargs["match"] = q.MatchExcept(list(m.except_))
        elif isinstance(m, models.MatchText):
            kwargs["match"] = q.MatchText(m.text)
        elif m is not None:
            raise ValueError(f"Filter match {type(m).__name__} is not supported with backend='edge'; pass a qdrant_edge.Filter.")
        r = c.range
        if r is not None:
            if isinstance(r, models.Range):
                kwargs["range"] = q.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt)
            else:
                kwargs["range"] = q.RangeDateTime(gte=_iso(r.gte), gt=_iso(r.gt), lte=_iso(r.lte), lt=_iso(r.lt))
        for attr in ("geo_bounding_box", "geo_radius", "geo_polygon", "values_count"):
            if getattr(c, attr, None) is not None:
                raise ValueError(f"Filter condition {attr} is not supported with backend='edge'; pass a qdrant_edge.Filter.")
        if c.is_empty is not None:
            kwargs["is_empty"] = c.is_empty
        if c.is_null is not None:
            kwargs["is_null"] = c.is_null
        return q.FieldCondition(c.key, **kwargs)
    raise ValueError(f"Filter condition {type(c).__name__} is not supported with backend='edge'; pass a qdrant_edge.Filter.")


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


__all__ = ["SIDECAR_NAME", "EdgeCollection", "close_shards", "to_edge_filter"]
