"""Qdrant collections behind one small protocol: qdrant-client (memory, path, server) and Qdrant Edge.

:func:`open_collection` is the one entry point for reading (explaining);
:func:`create_collection` makes or opens a writable one (indexing). Both return an
object implementing :class:`Collection`, whichever backend holds the data:

* ``backend="client"`` (default): a :class:`qdrant_client.QdrantClient`, embedded in
  memory (``path=":memory:"``, shared within the process), embedded on disk
  (``path="./qdrant_db"``), a server (``url=..., api_key=...``), or your own
  ``client=``. The same code runs against all of them.
* ``backend="edge"``: Qdrant Edge (``qdrant-edge-py``), the embedded Rust engine;
  each collection is a shard directory ``<path>/<name>``.

Which encoder built a collection is recorded with it, so explaining needs no
``--encoder`` and refuses a mismatched one. Client collections keep it in
Qdrant's collection *metadata* (``{"qdrant_explain": {"encoder", "dim", "image_root"}}``,
Qdrant >= 1.16; nothing is added to any point). Edge shards have no metadata, so
it lives in a sidecar file ``<path>/<name>/qdrant_explain.json`` inside the shard
directory (Edge ignores unknown files there).

Collections opened by :func:`open_collection` are read-only by default: any write
raises :class:`ReadOnlyError`, so explaining can never modify a collection.
"""

from __future__ import annotations

import atexit
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    EncoderMismatchError,
    PointNotFoundError,
    QdrantAuthError,
    QdrantConnectionError,
    ReadOnlyError,
)
from .resolve import ImageResolver, Resolver

DISTANCES = ("cosine", "dot", "euclid", "manhattan")
"""Distance names (Qdrant's ``Distance`` values, lower-cased)."""

METADATA_KEY = "qdrant_explain"
"""Key of our entry in Qdrant collection metadata (and of the Edge sidecar's content)."""

SIDECAR_NAME = "qdrant_explain.json"
"""Edge sidecar file name, inside the shard directory."""

PointId = int | str
"""Unsigned integer or UUID string."""


@dataclass(frozen=True)
class Hit:
    """A point returned by search or retrieve.

    Attributes:
        id: unsigned int or UUID string.
        score: Qdrant's score (NaN for retrieved points): similarity for cosine/dot,
            distance for euclid/manhattan.
        payload: the point's payload ({} when not requested).
        vector: (d,) float64 stored vector of the collection's vector name, or None.
            For cosine collections this is the unit-normalised vector Qdrant stored.
    """

    id: PointId
    score: float
    payload: dict = field(default_factory=dict)
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds.

    Attributes:
        name: collection name.
        backend: ``"client"`` or ``"edge"``; ``location`` says where.
        vector_size: dimension of the vectors searched.
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        vector_name: the named vector in use, or None for the unnamed default vector.
        vector_names: all dense vector names ("" for the unnamed one).
        encoder: spec of the encoder recorded at indexing time, or None.
        image_root: folder recorded at indexing time, or None.
    """

    name: str
    backend: str
    location: str
    vector_size: int
    distance: str
    vector_name: str | None
    vector_names: tuple[str, ...]
    encoder: str | None = None
    encoder_dim: int | None = None
    image_root: str | None = None


@runtime_checkable
class Collection(Protocol):
    """A Qdrant collection as the explainers see it (both backends implement it)."""

    info: CollectionInfo
    read_only: bool
    resolver: ImageResolver

    def count(self) -> int:
        """Number of points."""
        ...

    def search(self, vector: np.ndarray, *, limit: int = 10, query_filter: Any = None, with_vectors: bool = True,
               with_payload: bool = True, score_threshold: float | None = None) -> list[Hit]:
        """Nearest points to ``vector`` (Qdrant's ``query_points``)."""
        ...

    def retrieve(self, ids: Sequence[PointId], *, with_vectors: bool = True, with_payload: bool = True) -> list[Hit]:
        """Points by id, in the order asked; raises PointNotFoundError for missing ids."""
        ...

    def existing_ids(self, ids: Sequence[PointId]) -> set:
        """The subset of ``ids`` present in the collection."""
        ...

    def upsert(self, ids: Sequence[PointId], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        """Insert or replace points (raises ReadOnlyError when read-only)."""
        ...

    def close(self) -> None:
        """Release resources (shared embedded clients stay open for the process)."""
        ...

    def check_encoder(self, encoder: Any, *, strict_name: bool = True) -> None:
        """Raise DimensionMismatchError / EncoderMismatchError if ``encoder`` does not fit."""
        ...

    def load_encoder(self, **options: Any) -> Any:
        """The encoder recorded with the collection, built with ``options``."""
        ...

    def search_image(self, encoder: Any, image: Any, *, limit: int = 10, query_filter: Any = None,
                     with_vectors: bool = True, with_payload: bool = True,
                     score_threshold: float | None = None) -> tuple[np.ndarray, list[Hit]]:
        """Encode ``image`` and search; returns (query vector, hits)."""
        ...

    def resolve_image(self, hit: Hit | dict) -> Any:
        """The hit's image (RGB PIL) from its payload."""
        ...


# ----------------------------------------------------------------------------- shared logic


class _CollectionBase:
    info: CollectionInfo
    read_only: bool
    resolver: ImageResolver

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def distance(self) -> str:
        return self.info.distance

    @property
    def vector_size(self) -> int:
        return self.info.vector_size

    @property
    def encoder_spec(self) -> str | None:
        """The encoder recorded when the collection was built (None if unknown)."""
        return self.info.encoder

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"Collection {self.name!r} is open read-only (explaining never writes); {what} refused. "
                "Use create_collection(...) or open_collection(..., read_only=False) to write."
            )

    def check_encoder(self, encoder: Any, *, strict_name: bool = True) -> None:
        """Refuse an encoder whose dimension or recorded spec does not fit this collection.

        Raises:
            DimensionMismatchError: encoder output size != collection vector size.
            EncoderMismatchError: the collection records another encoder (``strict_name``).
        """
        dim = encoder_dim(encoder)
        enc_name = getattr(encoder, "name", type(encoder).__name__)
        vec = f" (vector {self.info.vector_name!r})" if self.info.vector_name else ""
        if dim != self.info.vector_size:
            raise DimensionMismatchError(
                f"Encoder {enc_name!r} produces {dim}-d vectors but collection {self.name!r}{vec} holds "
                f"{self.info.vector_size}-d vectors. Use the encoder the collection was built with"
                + (f" ({self.info.encoder!r})" if self.info.encoder else "")
                + " or pick another vector_name."
            )
        if strict_name and self.info.encoder and enc_name != self.info.encoder:
            raise EncoderMismatchError(
                f"Collection {self.name!r} was built with encoder {self.info.encoder!r} but encoder {enc_name!r} "
                f"was given; scores would not be comparable. Omit the encoder to use the recorded one, "
                f"or pass {self.info.encoder!r}."
            )

    def load_encoder(self, **options: Any):
        """Build the encoder recorded with this collection (see :func:`load_encoder`)."""
        from .encoders import load_encoder

        if not self.info.encoder:
            raise EncoderMismatchError(
                f"Collection {self.name!r} records no encoder (it was not built by qdrant-explain); "
                "pass one explicitly, e.g. encoder='efficientnet-lite0'."
            )
        return load_encoder(self.info.encoder, **options)

    def encode_image(self, encoder: Any, image: Any) -> np.ndarray:
        """(d,) vector of one image through ``encoder.prepare`` + ``encoder.encode``."""
        prepared = encoder.prepare(image)
        return np.asarray(encoder.encode(prepared.pixels[None]), dtype=np.float64)[0]

    def search_image(self, encoder: Any, image: Any, *, limit: int = 10, query_filter: Any = None,
                     with_vectors: bool = True, with_payload: bool = True,
                     score_threshold: float | None = None) -> tuple[np.ndarray, list[Hit]]:
        """Encode ``image`` (PIL or array) and search; returns (query vector, hits)."""
        self.check_encoder(encoder)
        vector = self.encode_image(encoder, image)
        return vector, self.search(vector, limit=limit, query_filter=query_filter, with_vectors=with_vectors,
                                   with_payload=with_payload, score_threshold=score_threshold)

    def resolve_image(self, hit: Hit | dict):
        """The hit's image as an RGB PIL image (see :class:`ImageResolver`)."""
        if isinstance(hit, Hit):
            return self.resolver(hit.payload, point_id=hit.id)
        return self.resolver(hit)

    def _check_vector(self, vector: Any) -> list[float]:
        arr = np.asarray(vector, dtype=np.float64).reshape(-1)
        if arr.shape[0] != self.info.vector_size:
            raise DimensionMismatchError(
                f"Query vector has {arr.shape[0]} dimensions but collection {self.name!r} holds "
                f"{self.info.vector_size}-d vectors."
            )
        if not np.isfinite(arr).all():
            raise ValueError("Query vector contains NaN or inf.")
        return arr.astype(np.float32).tolist()

    def _check_limit(self, limit: int) -> int:
        if int(limit) < 1:
            raise ValueError(f"limit must be >= 1; got {limit}.")
        return int(limit)

    def _pick(self, vector: Any) -> np.ndarray | None:
        if vector is None:
            return None
        if isinstance(vector, dict):
            key = self.info.vector_name or ""
            if key not in vector:
                return None
            vector = vector[key]
        return np.asarray(vector, dtype=np.float64)

    def _missing(self, asked: list, found: Iterable) -> None:
        missing = [i for i in asked if i not in set(found)]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise PointNotFoundError(
                f"Collection {self.name!r} has no point with id {shown} ({len(missing)} of {len(asked)} ids missing). "
                "Point ids are unsigned integers or UUIDs; check them with a search first."
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        return (f"{type(self).__name__}(name={i.name!r}, backend={i.backend!r}, location={i.location!r}, "
                f"size={i.vector_size}, distance={i.distance!r}, encoder={i.encoder!r}, read_only={self.read_only})")


def encoder_dim(encoder: Any) -> int:
    """An encoder's output dimension: its ``dim`` attribute, else one encode of a grey image."""
    dim = getattr(encoder, "dim", None)
    if dim:
        return int(dim)
    h, w = encoder.input_size
    return int(np.asarray(encoder.encode(np.full((1, h, w, 3), 128, np.uint8))).shape[1])


def normalize_id(point_id: Any) -> PointId:
    """Canonical point id: int for integers (also digit strings), lower-case UUID string otherwise."""
    if isinstance(point_id, (bool, np.bool_)):
        raise ValueError(f"Point ids are unsigned integers or UUIDs; got {point_id!r}.")
    if isinstance(point_id, (int, np.integer)):
        if point_id < 0:
            raise ValueError(f"Point ids are unsigned integers or UUIDs; got {point_id!r}.")
        return int(point_id)
    if isinstance(point_id, uuid.UUID):
        return str(point_id)
    if isinstance(point_id, str):
        s = point_id.strip()
        if s.isdigit():
            return int(s)
        try:
            return str(uuid.UUID(s))
        except ValueError:
            pass
    raise ValueError(f"Point ids are unsigned integers or UUIDs; got {point_id!r}.")


def check_distance(distance: Any) -> str:
    """Normalise a distance name (or Qdrant Distance enum) to one of :data:`DISTANCES`."""
    from qdrant_explain.explainers.scores import check_score

    return check_score(distance)


# ----------------------------------------------------------------------------- qdrant-client backend

_SHARED_CLIENTS: dict[str, Any] = {}


def close_shared_clients() -> None:
    """Close the embedded clients this process opened (also runs at exit)."""
    while _SHARED_CLIENTS:
        _, cl = _SHARED_CLIENTS.popitem()
        try:
            cl.close()
        except Exception:
            pass


atexit.register(close_shared_clients)


def _client_for(path: str | None, url: str | None, api_key: str | None, client: Any, timeout: float):
    from qdrant_client import QdrantClient

    given = [n for n, v in (("path", path), ("url", url), ("client", client)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"Pass only one of path=, url= or client=; got {', '.join(given)}.")
    if client is not None:
        return client, _client_location(client)
    if url is not None:
        t = max(1, int(math.ceil(timeout)))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
            return QdrantClient(url=url, api_key=api_key, timeout=t, check_compatibility=False), url
    key = ":memory:" if path in (None, ":memory:") else str(Path(path).expanduser().resolve())
    if key not in _SHARED_CLIENTS:  # embedded storage allows one client per folder and process
        _SHARED_CLIENTS[key] = QdrantClient(":memory:") if key == ":memory:" else QdrantClient(path=key)
    return _SHARED_CLIENTS[key], key


def _client_location(client: Any) -> str:
    inner = getattr(client, "_client", None)
    loc = getattr(inner, "location", None) or getattr(inner, "rest_uri", None)
    return str(loc or type(client).__name__)


def _translate_client_errors(exc: Exception, *, location: str, name: str) -> Exception:
    """Map qdrant-client/httpx exceptions to our errors (returns the exception to raise)."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        code = exc.status_code
        if code in (401, 403):
            return QdrantAuthError(
                f"Qdrant at {location} refused the request for collection {name!r} (HTTP {code}): wrong or missing "
                "API key. Pass api_key=... (CLI: --api-key or QDRANT_API_KEY) with a key valid for this server."
            )
        if code == 404:
            return CollectionNotFoundError(f"Collection {name!r} not found at {location} (HTTP 404).")
        return QdrantConnectionError(f"Qdrant at {location} answered HTTP {code} for collection {name!r}: {exc}")
    if isinstance(exc, ResponseHandlingException) or _is_network_error(exc):
        return QdrantConnectionError(
            f"Cannot reach Qdrant at {location} ({_root_cause(exc)}). Check the URL and port, that the server "
            "is running and reachable, or use path=... for an embedded collection."
        )
    return exc


def _is_network_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or getattr(exc, "source", None) is not None:
        nxt = exc.__cause__ or getattr(exc, "source", None)
        if not isinstance(nxt, BaseException) or nxt is exc:
            break
        exc = nxt
    return f"{type(exc).__name__}: {exc}"


class ClientCollection(_CollectionBase):
    """A collection behind a :class:`qdrant_client.QdrantClient` (memory, path or server)."""

    def __init__(self, client: Any, name: str, *, location: str, vector_name: str | None = None, read_only: bool = True,
                 resolver: ImageResolver | None = None, image_root: str | None = None, allow_urls: bool = False,
                 user_resolver: Resolver | None = None) -> None:
        self.client = client
        self.read_only = bool(read_only)
        self._location = location
        self.info = self._read_info(name, vector_name)
        root = image_root if image_root is not None else self.info.image_root
        self.resolver = resolver or ImageResolver(root, allow_urls=allow_urls, resolver=user_resolver)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            err = _translate_client_errors(exc, location=self._location, name=getattr(self, "info", None) and self.info.name or "?")
            if err is exc:
                raise
            raise err from None

    def _read_info(self, name: str, vector_name: str | None) -> CollectionInfo:
        from qdrant_client import models

        def fail(exc: Exception) -> Exception:
            return _translate_client_errors(exc, location=self._location, name=name)

        try:
            exists = self.client.collection_exists(name)
        except Exception as exc:
            err = fail(exc)
            if err is exc:
                raise
            raise err from None
        if not exists:
            try:
                names = sorted(c.name for c in self.client.get_collections().collections)
            except Exception:
                names = []
            raise CollectionNotFoundError(
                f"Collection {name!r} not found at {self._location}. Existing collections: {names or 'none'}. "
                "Build it with `qdrant-explain index` (connectors.index_folder) or check the name/location."
            )
        try:
            desc = self.client.get_collection(name)
        except Exception as exc:
            err = fail(exc)
            if err is exc:
                raise
            raise err from None
        vectors = desc.config.params.vectors
        if isinstance(vectors, models.VectorParams):
            table = {"": vectors}
        elif isinstance(vectors, dict) and vectors:
            table = dict(vectors)
        else:
            raise ValueError(f"Collection {name!r} has no dense vectors; qdrant-explain needs one.")
        chosen = _choose_vector(name, table, vector_name)
        params = table[chosen]
        meta = (getattr(desc.config, "metadata", None) or {}).get(METADATA_KEY) or {}
        return CollectionInfo(
            name=name, backend="client", location=self._location, vector_size=int(params.size),
            distance=check_distance(params.distance), vector_name=chosen or None, vector_names=tuple(table),
            encoder=meta.get("encoder"), encoder_dim=meta.get("dim"), image_root=meta.get("image_root"),
        )

    def count(self) -> int:
        return int(self._call(self.client.count, self.name, exact=True).count)

    def search(self, vector, *, limit=10, query_filter=None, with_vectors=True, with_payload=True, score_threshold=None):
        q = self._check_vector(vector)
        res = self._call(
            self.client.query_points, self.name, query=q, using=self.info.vector_name, limit=self._check_limit(limit),
            query_filter=_as_client_filter(query_filter), with_payload=with_payload,
            with_vectors=[self.info.vector_name] if (with_vectors and self.info.vector_name) else bool(with_vectors),
            score_threshold=score_threshold,
        )
        return [Hit(normalize_id(p.id), float(p.score), dict(p.payload or {}), self._pick(p.vector)) for p in res.points]

    def retrieve(self, ids, *, with_vectors=True, with_payload=True):
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return []
        recs = self._call(self.client.retrieve, self.name, ids=asked, with_payload=with_payload,
                          with_vectors=[self.info.vector_name] if (with_vectors and self.info.vector_name) else bool(with_vectors))
        by_id = {normalize_id(r.id): r for r in recs}
        self._missing(asked, by_id)
        return [Hit(i, float("nan"), dict(by_id[i].payload or {}), self._pick(by_id[i].vector)) for i in asked]

    def existing_ids(self, ids):
        asked = [normalize_id(i) for i in ids]
        if not asked:
            return set()
        recs = self._call(self.client.retrieve, self.name, ids=asked, with_payload=False, with_vectors=False)
        return {normalize_id(r.id) for r in recs}

    def upsert(self, ids, vectors, payloads):
        from qdrant_client import models

        self._check_writable("upsert")
        vecs = np.asarray(vectors, dtype=np.float32)
        pts = []
        for i, v, p in zip(ids, vecs, payloads, strict=True):
            vec = {self.info.vector_name: v.tolist()} if self.info.vector_name else v.tolist()
            pts.append(models.PointStruct(id=normalize_id(i), vector=vec, payload=p))
        self._call(self.client.upsert, self.name, points=pts, wait=True)

    def record_metadata(self, **entries: Any) -> None:
        """Store encoder / image root in collection metadata (refused when read-only)."""
        self._check_writable("recording metadata")
        meta = {k: v for k, v in {"encoder": self.info.encoder, "dim": self.info.encoder_dim,
                                  "image_root": self.info.image_root}.items() if v is not None}
        meta.update({k: v for k, v in entries.items() if v is not None})
        self._call(self.client.update_collection, self.name, metadata={METADATA_KEY: meta})
        self.info = self._read_info(self.name, self.info.vector_name)

    def close(self) -> None:
        pass  # embedded clients are shared per process; a user's client belongs to the user


def _choose_vector(name: str, table: dict, vector_name: str | None) -> str:
    if vector_name is None:
        if len(table) == 1:
            return next(iter(table))
        raise ValueError(
            f"Collection {name!r} has several named vectors {sorted(table)}; choose one with vector_name=... "
            "(CLI: --vector-name)."
        )
    if vector_name not in table:
        raise ValueError(
            f"Collection {name!r} has no vector named {vector_name!r}; available: "
            f"{sorted(k or '(unnamed)' for k in table)}."
        )
    return vector_name


def _as_client_filter(query_filter: Any):
    if query_filter is None:
        return None
    from qdrant_client import models

    if isinstance(query_filter, models.Filter):
        return query_filter
    if isinstance(query_filter, dict):
        return models.Filter(**query_filter)
    raise TypeError(f"query_filter must be a qdrant_client.models.Filter (or its dict form); got {type(query_filter).__name__}.")


# ----------------------------------------------------------------------------- facades


def open_collection(name: str, *, path: str | None = None, url: str | None = None, api_key: str | None = None,
                    client: Any = None, backend: str = "client", vector_name: str | None = None, timeout: float = 10.0,
                    read_only: bool = True, image_root: str | None = None, allow_urls: bool = False,
                    resolver: Resolver | None = None) -> Collection:
    """Open an existing collection for reading (the same object whatever holds it).

    Args:
        name: collection name.
        path: embedded storage folder (``":memory:"`` for the process-wide in-memory
            store); for ``backend="edge"``, the folder holding shard directories.
        url: Qdrant server URL, e.g. ``"http://localhost:6333"``; with ``api_key``.
        api_key: server API key.
        client: an existing :class:`qdrant_client.QdrantClient` (any mode).
        backend: ``"client"`` (qdrant-client) or ``"edge"`` (Qdrant Edge; needs ``path``).
        vector_name: which named vector to use (required when there are several).
        timeout: server request timeout in seconds (connection failures fail fast).
        read_only: refuse writes (default; explaining never writes).
        image_root: folder payload paths are confined to (default: the folder
            recorded at indexing time).
        allow_urls: let hits' ``url`` payloads be fetched.
        resolver: ``resolver(payload)`` returning an image, bytes, a path or None.

    Returns:
        A :class:`Collection` (:class:`ClientCollection` or ``EdgeCollection``).

    Raises:
        CollectionNotFoundError: no such collection (lists the existing ones).
        QdrantConnectionError: the server cannot be reached.
        QdrantAuthError: the server refused the API key.
        ValueError: conflicting arguments, unknown backend or vector name.

    Example:
        >>> col = open_collection("photos", path="./qdrant_db")              # doctest: +SKIP
        >>> enc = col.load_encoder()                                          # doctest: +SKIP
        >>> query_vec, hits = col.search_image(enc, load_image("q.jpg"), limit=5)  # doctest: +SKIP
    """
    backend = _check_backend(backend)
    if backend == "edge":
        if url is not None or client is not None or api_key is not None:
            raise ValueError("backend='edge' is embedded: pass path=... (the folder of shards), not url/client/api_key.")
        from .edge import EdgeCollection

        return EdgeCollection.open(name, path=path, vector_name=vector_name, read_only=read_only,
                                   image_root=image_root, allow_urls=allow_urls, user_resolver=resolver)
    cl, location = _client_for(path, url, api_key, client, timeout)
    return ClientCollection(cl, name, location=location, vector_name=vector_name, read_only=read_only,
                            image_root=image_root, allow_urls=allow_urls, user_resolver=resolver)


def create_collection(name: str, *, vector_size: int, distance: str = "cosine", vector_name: str | None = None,
                      encoder: str | None = None, image_root: str | None = None, path: str | None = None,
                      url: str | None = None, api_key: str | None = None, client: Any = None, backend: str = "client",
                      timeout: float = 10.0, exist_ok: bool = True) -> Collection:
    """Create a collection (or open an existing one that fits) for writing.

    Args:
        name: collection name.
        vector_size: dimension of the vectors.
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        vector_name: store a named vector instead of the unnamed default.
        encoder: encoder spec to record with the collection.
        image_root: folder to record for resolving payload paths later.
        path, url, api_key, client, backend, timeout: as in :func:`open_collection`.
        exist_ok: open an existing collection instead of failing (its size must fit
            and a recorded encoder must match).

    Returns:
        A writable :class:`Collection`.
    """
    backend = _check_backend(backend)
    dist = check_distance(distance)
    if int(vector_size) < 1:
        raise ValueError(f"vector_size must be >= 1; got {vector_size}.")
    if backend == "edge":
        from .edge import EdgeCollection

        col = EdgeCollection.create(name, path=path, vector_size=int(vector_size), distance=dist,
                                    vector_name=vector_name, exist_ok=exist_ok)
    else:
        from qdrant_client import models

        cl, location = _client_for(path, url, api_key, client, timeout)
        try:
            exists = cl.collection_exists(name)
        except Exception as exc:
            err = _translate_client_errors(exc, location=location, name=name)
            if err is exc:
                raise
            raise err from None
        if exists and not exist_ok:
            raise ValueError(f"Collection {name!r} already exists at {location}; pass exist_ok=True to add to it.")
        if not exists:
            params = models.VectorParams(size=int(vector_size), distance=_CLIENT_DISTANCE[dist])
            meta = {k: v for k, v in {"encoder": encoder, "dim": int(vector_size), "image_root": image_root}.items() if v}
            cl.create_collection(name, vectors_config={vector_name: params} if vector_name else params,
                                 metadata={METADATA_KEY: meta} if encoder or image_root else None)
        col = ClientCollection(cl, name, location=location, vector_name=vector_name, read_only=False)
    _check_existing_fits(col, int(vector_size), dist, encoder)
    if image_root and col.info.image_root and col.info.image_root != image_root and col.count() > 0:
        raise ValueError(
            f"Collection {name!r} holds images indexed from {col.info.image_root!r}; adding images from "
            f"{image_root!r} would mix payload paths of two folders. Index into another collection, or into "
            "this one from the original folder."
        )
    updates = {}
    if encoder and not col.info.encoder:
        updates.update(encoder=encoder, dim=int(vector_size))
    if image_root and col.info.image_root != image_root:
        updates["image_root"] = image_root
    if updates:
        col.record_metadata(**updates)
        col.resolver = ImageResolver(col.info.image_root)
    return col


_CLIENT_DISTANCE: dict = {}


def _init_client_distances() -> None:
    from qdrant_client import models

    _CLIENT_DISTANCE.update({"cosine": models.Distance.COSINE, "dot": models.Distance.DOT,
                             "euclid": models.Distance.EUCLID, "manhattan": models.Distance.MANHATTAN})


_init_client_distances()


def _check_existing_fits(col: Any, vector_size: int, distance: str, encoder: str | None) -> None:
    if col.info.vector_size != vector_size:
        raise DimensionMismatchError(
            f"Collection {col.name!r} holds {col.info.vector_size}-d vectors but {vector_size}-d vectors were to be "
            f"added (encoder {encoder!r}). Use another collection name or the original encoder."
        )
    if col.info.distance != distance:
        raise ValueError(f"Collection {col.name!r} uses distance {col.info.distance!r}, not {distance!r}.")
    if encoder and col.info.encoder and col.info.encoder != encoder:
        raise EncoderMismatchError(
            f"Collection {col.name!r} was built with encoder {col.info.encoder!r}; refusing to add vectors from "
            f"{encoder!r}. Use another collection name or the original encoder."
        )


def _check_backend(backend: str) -> str:
    if backend not in ("client", "edge"):
        raise ValueError(f"backend must be 'client' (qdrant-client: memory, path or url) or 'edge' (Qdrant Edge); got {backend!r}.")
    return backend


__all__ = [
    "DISTANCES",
    "ClientCollection",
    "Collection",
    "CollectionInfo",
    "Hit",
    "check_distance",
    "create_collection",
    "encoder_dim",
    "normalize_id",
    "open_collection",
]
