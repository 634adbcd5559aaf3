"""The qdrant-client backend: embedded in memory, embedded on disk, a server, or the user's client.

Registered as ``backend="client"`` (the default) in :mod:`.qdrant`. Which encoder
built a collection is recorded in Qdrant's collection *metadata*
(``{"qdrant_explain": {"encoder", "dim", "image_root"}}``, Qdrant >= 1.16); the
recorded image root is only a hint (see :mod:`.roots`).

Trust boundaries handled here:

* ``path=``: a folder that is not an embedded Qdrant database (no ``meta.json``,
  but other files, e.g. a photo folder) is refused before qdrant-client writes its
  ``.lock`` and ``meta.json`` into it; an empty or missing folder is accepted only
  when creating. Corrupt storage gives :class:`CorruptStorageError`.
* ``url=`` with ``api_key=`` over plain ``http://``: refused
  (:class:`InsecureConnectionError`) unless ``insecure=True``; allowed with an
  :class:`InsecureConnectionWarning` for this machine (localhost, 127.0.0.0/8, ::1),
  where the key does not cross a network.
* A server that answers but is not Qdrant is named as such.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import math
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
from .errors import (
    CollectionNotFoundError,
    ConnectorError,
    CorruptStorageError,
    InsecureConnectionError,
    InsecureConnectionWarning,
    NotADatabaseError,
    QdrantAuthError,
    QdrantConnectionError,
)

_SHARED_CLIENTS: dict[str, Any] = {}  # embedded storage allows one client per folder and process

LOCAL_HOSTS = ("localhost", "ip6-localhost")
"""Host names treated as this machine (plus 127.0.0.0/8 and ::1)."""


def close_shared_clients() -> None:
    """Close the embedded clients this process opened (also runs at exit)."""
    while _SHARED_CLIENTS:
        _, cl = _SHARED_CLIENTS.popitem()
        try:
            cl.close()
        except Exception:
            pass


atexit.register(close_shared_clients)


# ----------------------------------------------------------------------------- where the data is


def check_storage_folder(folder: str | Path, *, create: bool, collection: str | None = None) -> Path:
    """Refuse a ``path=`` folder that is not embedded Qdrant storage, before anything is written there.

    Args:
        folder: the storage folder.
        create: a missing or empty folder is acceptable (indexing creates the database).
        collection: the collection asked for, named in the "not found" messages.

    Returns:
        The resolved folder.

    Raises:
        NotADatabaseError: the folder holds other files and no ``meta.json`` (e.g. photos),
            or is a file.
        CollectionNotFoundError: missing or empty folder when not creating.
        CorruptStorageError: ``meta.json`` exists but is not Qdrant's.
    """
    path = Path(folder).expanduser().resolve()
    asked = f"Collection {collection!r} not found: t" if collection else "T"
    if not path.exists():
        if create:
            return path
        raise CollectionNotFoundError(
            f"{asked}here is no Qdrant database at {str(path)!r} (the folder does not exist). Create one with "
            "'qdrant-explain index FOLDER --collection NAME' (index_folder), or pass the right path=... (CLI: --db PATH)."
        )
    if not path.is_dir():
        raise NotADatabaseError(f"path={str(path)!r} is a file, not an embedded Qdrant folder (CLI: --db PATH).")
    meta = path / "meta.json"
    if meta.is_file():
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptStorageError(
                f"The embedded Qdrant database at {str(path)!r} is corrupt: meta.json cannot be read ({exc}). "
                "Restore it from a backup or re-index into a new folder."
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("collections", {}), dict):
            raise CorruptStorageError(
                f"The embedded Qdrant database at {str(path)!r} is corrupt: meta.json is not Qdrant's "
                "(expected an object with 'collections'). Restore it or re-index into a new folder."
            )
        return path
    others = sorted(p.name for p in path.iterdir() if p.name != ".lock")
    if not others:
        if create:
            return path
        raise CollectionNotFoundError(
            f"{asked}here is no Qdrant database at {str(path)!r} (the folder is empty). Create one with "
            "'qdrant-explain index FOLDER --collection NAME' (index_folder), or pass the right path=... (CLI: --db PATH)."
        )
    shown = ", ".join(repr(n) for n in others[:3]) + (" ..." if len(others) > 3 else "")
    raise NotADatabaseError(
        f"{str(path)!r} is not an embedded Qdrant database (no meta.json; it holds {len(others)} other entries: "
        f"{shown}); refusing to open it as storage, nothing was written there. Pass the folder that "
        "'qdrant-explain index' created (CLI: --db PATH), or a new or empty folder when indexing."
    )


def is_local_host(host: str | None) -> bool:
    """Whether ``host`` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if not host:
        return False
    h = host.strip("[]").lower()
    if h in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_transport(url: str, api_key: str | None, *, insecure: bool) -> None:
    """Refuse sending an API key over plain HTTP to another machine unless ``insecure``.

    A scheme-less URL with a key is HTTPS in qdrant-client, so only an explicit
    ``http://`` counts. For this machine, or with ``insecure=True``, an
    :class:`InsecureConnectionWarning` replaces qdrant-client's own warning.

    Raises:
        InsecureConnectionError: ``http://`` + key + remote host, without ``insecure``.
    """
    if not api_key:
        return
    parsed = urlparse(url if "://" in url else "")
    if parsed.scheme.lower() != "http":
        return
    host = parsed.hostname
    if is_local_host(host):
        warnings.warn(f"The API key is sent unencrypted to {url} (plain http, this machine only).",
                      InsecureConnectionWarning, stacklevel=4)
        return
    if not insecure:
        raise InsecureConnectionError(
            f"Refusing to send the API key over plain http to {url}: anyone on the network path could read it. "
            "Use an https:// URL, or pass insecure=True (CLI: --insecure) if the network is trusted."
        )
    warnings.warn(f"The API key is sent unencrypted to {url} (plain http, insecure=True).",
                  InsecureConnectionWarning, stacklevel=4)


def connect(request: OpenRequest, *, create: bool = False) -> tuple[Any, str]:
    """The qdrant-client client for a request and its location string (shared for embedded storage).

    Raises:
        ValueError: more than one of path=, url=, client=.
        InsecureConnectionError, NotADatabaseError, CorruptStorageError: see the module docstring.
    """
    from qdrant_client import QdrantClient

    path, url, client = request.path, request.url, request.client
    given = [n for n, v in (("path", path), ("url", url), ("client", client)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"Pass only one of path=, url= or client=; got {', '.join(given)}.")
    if client is not None:
        return client, client_location(client)
    if url is not None:
        check_transport(url, request.api_key, insecure=request.insecure)
        t = max(1, int(math.ceil(request.timeout)))
        with warnings.catch_warnings():  # replaced by ours in check_transport
            warnings.filterwarnings("ignore", message="Api key is used with an insecure connection")
            cl = QdrantClient(url=url, api_key=request.api_key, timeout=t, check_compatibility=False)
        return cl, url
    if path in (None, ":memory:"):
        key = ":memory:"
    else:
        key = str(check_storage_folder(path, create=create, collection=request.name or None))
    if key not in _SHARED_CLIENTS:
        _SHARED_CLIENTS[key] = _embedded_client(key)
    return _SHARED_CLIENTS[key], key


def _embedded_client(key: str):
    from qdrant_client import QdrantClient

    if key == ":memory:":
        return QdrantClient(":memory:")
    try:
        return QdrantClient(path=key)
    except RuntimeError:
        raise
    except Exception as exc:  # sqlite3.DatabaseError, pickle/json errors of a damaged store
        raise CorruptStorageError(
            f"The embedded Qdrant database at {key!r} cannot be opened: {type(exc).__name__}: {exc}. "
            "Its storage is damaged; restore it from a backup or re-index into a new folder."
        ) from None


def client_location(client: Any) -> str:
    """Where a user's client points (its URL or embedded location)."""
    inner = getattr(client, "_client", None)
    loc = getattr(inner, "location", None) or getattr(inner, "rest_uri", None)
    return str(loc or type(client).__name__)


# ----------------------------------------------------------------------------- errors


def translate_client_error(exc: Exception, *, location: str, name: str) -> Exception:
    """Map qdrant-client/httpx exceptions to our errors (returns the exception to raise)."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        code = exc.status_code
        if code in (401, 403):
            return QdrantAuthError(
                f"Qdrant at {location} refused the request for collection {name!r} (HTTP {code}): wrong or missing "
                "API key. Pass api_key=... (CLI: --api-key KEY or QDRANT_API_KEY) with a key valid for this server."
            )
        not_qdrant = _not_qdrant(location)
        if not_qdrant:
            return QdrantConnectionError(not_qdrant)
        if code == 404:
            return CollectionNotFoundError(f"Collection {name!r} not found at {location} (HTTP 404).")
        return QdrantConnectionError(f"Qdrant at {location} answered HTTP {code} for collection {name!r}: {_short(exc)}")
    if isinstance(exc, ResponseHandlingException) or _is_network_error(exc):
        not_qdrant = _not_qdrant(location) if isinstance(exc, ResponseHandlingException) else None
        if not_qdrant:
            return QdrantConnectionError(not_qdrant)
        return QdrantConnectionError(
            f"Cannot reach Qdrant at {location} ({_root_cause(exc)}). Check the URL and port, that the server "
            "is running and reachable, or use path=... (CLI: --db PATH) for an embedded collection."
        )
    if _is_storage_error(exc):
        return CorruptStorageError(
            f"The embedded Qdrant storage of collection {name!r} at {location} is damaged "
            f"({type(exc).__name__}: {_short(exc)}). Restore it from a backup or re-index into a new folder."
        )
    return exc


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_qdrant(location: str) -> str | None:
    """A message when the server at ``location`` answers but is not Qdrant, else None."""
    if not location.lower().startswith(("http://", "https://")):
        return None
    import httpx

    try:
        resp = httpx.get(location.rstrip("/") + "/", timeout=3.0)
    except Exception:
        return None
    if resp.status_code in (401, 403):
        return None
    try:
        title = str(resp.json().get("title", ""))
    except Exception:
        title = ""
    if "qdrant" in title.lower():
        return None
    kind = resp.headers.get("content-type", "?").split(";")[0]
    return (f"The server at {location} is not Qdrant (GET / answered HTTP {resp.status_code}, {kind}, without "
            "Qdrant's title). Check the URL and port: Qdrant's REST API listens on 6333 by default.")


def _is_network_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def _is_storage_error(exc: BaseException) -> bool:
    import pickle
    import sqlite3

    return isinstance(exc, (sqlite3.DatabaseError, pickle.UnpicklingError, EOFError))


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or getattr(exc, "source", None) is not None:
        nxt = exc.__cause__ or getattr(exc, "source", None)
        if not isinstance(nxt, BaseException) or nxt is exc:
            break
        exc = nxt
    return f"{type(exc).__name__}: {_short(exc)}"


# ----------------------------------------------------------------------------- the collection


class ClientCollection(CollectionBase):
    """A collection behind a :class:`qdrant_client.QdrantClient` (memory, path or server).

    Args:
        client: the client.
        request: what was asked (name, vector name, read-only, image root, ...).
        location: where the client points (resolved folder, URL or ``":memory:"``).
    """

    def __init__(self, client: Any, request: OpenRequest, *, location: str) -> None:
        self.client = client
        self.read_only = bool(request.read_only)
        self._location = location
        self.info = self._read_info(request.name, request.vector_name)
        self._setup_resolver(request)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            name = self.info.name if getattr(self, "info", None) else "?"
            err = translate_client_error(exc, location=self._location, name=name)
            if err is exc:
                raise
            raise err from None

    def _read_info(self, name: str, vector_name: str | None) -> CollectionInfo:
        from qdrant_client import models

        def call(fn, *args):
            try:
                return fn(*args)
            except Exception as exc:
                err = translate_client_error(exc, location=self._location, name=name)
                if err is exc:
                    raise
                raise err from None

        if not call(self.client.collection_exists, name):
            try:
                names = sorted(c.name for c in self.client.get_collections().collections)
            except Exception:
                names = []
            raise CollectionNotFoundError(
                f"Collection {name!r} not found at {self._location}. Existing collections: {names or 'none'}. "
                "Build it with `qdrant-explain index` (connectors.index_folder) or check the name/location."
            )
        desc = call(self.client.get_collection, name)
        vectors = desc.config.params.vectors
        if isinstance(vectors, models.VectorParams):
            table = {"": vectors}
        elif isinstance(vectors, dict) and vectors:
            table = dict(vectors)
        else:
            raise ConnectorError(f"Collection {name!r} has no dense vectors; qdrant-explain needs one.")
        chosen = choose_vector(name, table, vector_name)
        params = table[chosen]
        raw_meta = getattr(desc.config, "metadata", None)
        raw = raw_meta.get(METADATA_KEY) if isinstance(raw_meta, dict) else None
        meta, problem = parse_metadata(raw, name=name, where="collection metadata")
        return CollectionInfo(
            name=name, backend="client", location=self._location, vector_size=int(params.size),
            distance=check_distance(params.distance), vector_name=chosen or None, vector_names=tuple(table),
            encoder=meta.get("encoder"), encoder_dim=meta.get("dim"), metadata_root=meta.get("image_root"),
            metadata_problem=problem,
        )

    def count(self) -> int:
        """Number of points (exact)."""
        return int(self._call(self.client.count, self.name, exact=True).count)

    def _using(self, with_vectors: bool):
        return [self.info.vector_name] if (with_vectors and self.info.vector_name) else bool(with_vectors)

    def _search(self, vector, *, limit, query_filter, with_vectors, with_payload, score_threshold):
        res = self._call(
            self.client.query_points, self.name, query=vector, using=self.info.vector_name, limit=limit,
            query_filter=as_client_filter(query_filter), with_payload=with_payload,
            with_vectors=self._using(with_vectors), score_threshold=score_threshold,
        )
        return [Hit(normalize_id(p.id), float(p.score), dict(p.payload or {}), self._pick(p.vector)) for p in res.points]

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        """Points by id, in the order asked (ids normalised; missing ids raise PointNotFoundError)."""
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return []
        recs = self._call(self.client.retrieve, self.name, ids=asked, with_payload=with_payload,
                          with_vectors=self._using(with_vectors))
        by_id = {normalize_id(r.id): r for r in recs}
        self._missing(asked, by_id)
        return [Hit(i, float("nan"), dict(by_id[i].payload or {}), self._pick(by_id[i].vector)) for i in asked]

    def existing_ids(self, ids):
        """The subset of ``ids`` present in the collection."""
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return set()
        recs = self._call(self.client.retrieve, self.name, ids=asked, with_payload=False, with_vectors=False)
        return {normalize_id(r.id) for r in recs}

    def upsert(self, ids, vectors, payloads):
        """Insert or replace points (refused when read-only)."""
        from qdrant_client import models

        self._check_writable("upsert")
        vecs = np.asarray(vectors, dtype=np.float32)
        pts = []
        for i, v, p in zip(ids, vecs, payloads, strict=True):
            vec = {self.info.vector_name: v.tolist()} if self.info.vector_name else v.tolist()
            pts.append(models.PointStruct(id=normalize_id(i), vector=vec, payload=p))
        self._call(self.client.upsert, self.name, points=pts, wait=True)

    def scroll_payloads(self):
        """Every point as ``(id, payload)`` (payload fields ``path`` and ``sha256``), page by page."""
        offset = None
        while True:
            records, offset = self._call(self.client.scroll, self.name, limit=SCROLL_PAGE, offset=offset,
                                         with_payload=["path", "sha256"], with_vectors=False)
            for r in records:
                yield normalize_id(r.id), dict(r.payload or {})
            if offset is None:
                return

    def scroll_ids(self, query_filter=None):
        """Every point id matching ``query_filter`` (a Filter or its dict form; None: all), page by page."""
        offset = None
        flt = as_client_filter(query_filter)
        while True:
            records, offset = self._call(self.client.scroll, self.name, scroll_filter=flt, limit=SCROLL_PAGE,
                                         offset=offset, with_payload=False, with_vectors=False)
            for r in records:
                yield normalize_id(r.id)
            if offset is None:
                return

    def set_paths(self, paths: dict) -> None:
        """Set the ``path`` payload field of these points (``{id: path}``; refused when read-only)."""
        from qdrant_client import models

        self._check_writable("updating moved paths")
        ops = [models.SetPayloadOperation(set_payload=models.SetPayload(payload={"path": rel}, points=[pid]))
               for pid, rel in paths.items()]
        self._call(self.client.batch_update_points, self.name, update_operations=ops, wait=True)

    def delete_points(self, ids) -> None:
        """Delete these points (refused when read-only)."""
        from qdrant_client import models

        self._check_writable("pruning")
        self._call(self.client.delete, self.name, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def record_metadata(self, **entries: Any) -> None:
        """Store the encoder spec (and the image-root hint) in collection metadata (refused when read-only)."""
        self._check_writable("recording metadata")
        meta = {k: v for k, v in {"encoder": self.info.encoder, "dim": self.info.encoder_dim,
                                  "image_root": self.info.metadata_root}.items() if v is not None}
        meta.update({k: v for k, v in entries.items() if v is not None})
        self._call(self.client.update_collection, self.name, metadata={METADATA_KEY: meta})
        fresh = self._read_info(self.name, self.info.vector_name)
        import dataclasses

        self.info = dataclasses.replace(fresh, image_root=self.info.image_root)

    def close(self) -> None:
        """Nothing to release: embedded clients are shared per process; a user's client belongs to the user."""


def as_client_filter(query_filter: Any):
    """A :class:`qdrant_client.models.Filter` from a Filter or its dict form (None passes)."""
    if query_filter is None:
        return None
    from qdrant_client import models

    if isinstance(query_filter, models.Filter):
        return query_filter
    if isinstance(query_filter, dict):
        return models.Filter(**query_filter)
    raise TypeError(f"query_filter must be a qdrant_client.models.Filter (or its dict form); got {type(query_filter).__name__}.")


def _client_distance(distance: str):
    from qdrant_client import models

    return {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT,
            "euclid": models.Distance.EUCLID, "manhattan": models.Distance.MANHATTAN}[distance]


# ----------------------------------------------------------------------------- opener and creator


def open_client_collection(request: OpenRequest) -> ClientCollection:
    """Backend opener of ``backend="client"``."""
    cl, location = connect(request)
    return ClientCollection(cl, request, location=location)


def create_client_collection(request: OpenRequest, spec: CreateSpec) -> ClientCollection:
    """Backend creator of ``backend="client"``: create the collection unless it exists (``exist_ok``)."""
    from qdrant_client import models

    cl, location = connect(request, create=True)
    name = request.name
    try:
        exists = cl.collection_exists(name)
    except Exception as exc:
        err = translate_client_error(exc, location=location, name=name)
        if err is exc:
            raise
        raise err from None
    if exists and not spec.exist_ok:
        raise ValueError(f"Collection {name!r} already exists at {location}; pass exist_ok=True to add to it.")
    if not exists:
        multi = (models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
                 if getattr(spec, "multivector", False) else None)
        params = models.VectorParams(size=int(spec.vector_size), distance=_client_distance(spec.distance),
                                     multivector_config=multi)
        meta = {k: v for k, v in {"encoder": spec.encoder, "dim": int(spec.vector_size),
                                  "image_root": spec.image_root}.items() if v}
        cl.create_collection(name, vectors_config={spec.vector_name: params} if spec.vector_name else params,
                             metadata={METADATA_KEY: meta} if spec.encoder or spec.image_root else None)
    return ClientCollection(cl, request, location=location)


__all__ = [
    "LOCAL_HOSTS",
    "ClientCollection",
    "as_client_filter",
    "check_storage_folder",
    "check_transport",
    "client_location",
    "close_shared_clients",
    "connect",
    "create_client_collection",
    "is_local_host",
    "open_client_collection",
    "translate_client_error",
]
