"""A third-party collection backend: ``jsondir``, each collection one JSON file in ``path``.

One call of ``register_backend`` makes ``open_collection(..., backend="jsondir", path=DIR)``,
``SearchExplainer.open(..., backend="jsondir")`` and the CLI's ``--backend jsondir`` (index,
search, explain, compare, audit) work. Subclassing ``CollectionBase`` brings the encoder checks,
the trusted-encoder rule and image resolution confined to the user's image root.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from qdrant_explain.connectors import CollectionInfo, Hit, register_backend
from qdrant_explain.connectors.collection import CollectionBase, CreateSpec, OpenRequest, normalize_id
from qdrant_explain.connectors.errors import CollectionNotFoundError


def _allowed_ids(query_filter: Any) -> set | None:
    """The ids a ``{"must": [{"has_id": [...]}]}`` filter allows (None: no filter); other filters are refused."""
    if query_filter is None:
        return None
    f = query_filter if isinstance(query_filter, dict) else query_filter.model_dump(exclude_none=True)
    must = f.get("must") or []
    if set(f) - {"must"} or len(must) != 1 or set(must[0]) != {"has_id"}:
        raise ValueError(f"backend 'jsondir' supports only has_id filters; got {query_filter!r}.")
    return {normalize_id(i) for i in must[0]["has_id"]}


def _file(request: OpenRequest) -> pathlib.Path:
    if not request.path or request.path == ":memory:":
        raise ValueError("backend='jsondir' needs path=DIR (CLI: --db DIR), the folder holding NAME.json files.")
    return pathlib.Path(request.path).expanduser().resolve() / f"{request.name}.json"


class JsonDirCollection(CollectionBase):
    """Points (id -> vector, payload) in one JSON file; exact cosine or dot search with numpy."""

    def __init__(self, request: OpenRequest, data: dict) -> None:
        self.file = _file(request)
        self.read_only = request.read_only
        self.data = data
        meta = data["meta"]
        self.info = CollectionInfo(name=request.name, backend="jsondir", location=str(self.file.parent),
                                   vector_size=int(meta["size"]), distance=meta["distance"], vector_name=None,
                                   vector_names=("",), encoder=meta.get("encoder"))
        self._setup_resolver(request)

    def _points(self) -> tuple[list, np.ndarray]:
        ids = [normalize_id(i) for i in self.data["points"]]
        vecs = np.array([p["vector"] for p in self.data["points"].values()]).reshape(len(ids), self.info.vector_size)
        return ids, vecs

    def count(self) -> int:
        return len(self.data["points"])

    def _search(self, vector, *, limit, query_filter, with_vectors, with_payload, score_threshold):
        ids, vecs = self._points()
        keep = _allowed_ids(query_filter)
        if keep is not None:
            rows = [k for k, pid in enumerate(ids) if pid in keep]
            ids, vecs = [ids[k] for k in rows], vecs[rows]
        q = np.asarray(vector, dtype=np.float64)
        if self.info.distance == "cosine":
            q = q / np.linalg.norm(q)
        scores = vecs @ q
        order = np.argsort(-scores, kind="stable")[:limit]
        return [self._hit(ids[i], float(scores[i]), with_vectors, with_payload) for i in order]

    def _hit(self, pid, score, with_vectors=True, with_payload=True) -> Hit:
        p = self.data["points"][str(pid)]
        return Hit(pid, score, dict(p["payload"]) if with_payload else {},
                   np.asarray(p["vector"], dtype=np.float64) if with_vectors else None)

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        asked = [normalize_id(i) for i in ids]
        self._missing(asked, [normalize_id(i) for i in self.data["points"]])
        return [self._hit(i, float("nan"), with_vectors, with_payload) for i in asked]

    def existing_ids(self, ids):
        have = {normalize_id(i) for i in self.data["points"]}
        return {normalize_id(i) for i in ids} & have

    def upsert(self, ids, vectors, payloads):
        self._check_writable("upsert")
        for pid, vec, payload in zip(ids, np.asarray(vectors, dtype=np.float64), payloads):
            if self.info.distance == "cosine":
                vec = vec / np.linalg.norm(vec)
            self.data["points"][str(normalize_id(pid))] = {"vector": vec.tolist(), "payload": dict(payload)}
        self._save()

    def scroll_payloads(self):
        for pid, p in self.data["points"].items():
            yield normalize_id(pid), dict(p["payload"])

    def set_paths(self, paths: dict) -> None:
        self._check_writable("updating moved paths")
        for pid, rel in paths.items():
            self.data["points"][str(pid)]["payload"]["path"] = rel
        self._save()

    def delete_points(self, ids) -> None:
        self._check_writable("pruning")
        for pid in ids:
            self.data["points"].pop(str(pid), None)
        self._save()

    def _save(self) -> None:
        tmp = self.file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.file)

    def close(self) -> None:
        pass


def open_jsondir(request: OpenRequest) -> JsonDirCollection:
    """Opener: the collection's JSON file must exist."""
    f = _file(request)
    if not f.is_file():
        raise CollectionNotFoundError(f"Collection {request.name!r} not found: no file {f} (backend 'jsondir').")
    return JsonDirCollection(request, json.loads(f.read_text()))


def create_jsondir(request: OpenRequest, spec: CreateSpec) -> JsonDirCollection:
    """Creator: a new JSON file, or the existing one when ``spec.exist_ok``."""
    f = _file(request)
    if f.is_file():
        if not spec.exist_ok:
            raise ValueError(f"Collection {request.name!r} already exists in {f.parent} (backend 'jsondir').")
        return open_jsondir(request)
    f.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"meta": {"size": spec.vector_size, "distance": spec.distance, "encoder": spec.encoder},
                            "points": {}}
    col = JsonDirCollection(request, data)
    col._save()
    return col


register_backend("jsondir", open_jsondir, creator=create_jsondir, description="one JSON file per collection (example)",
                 overwrite=True)
