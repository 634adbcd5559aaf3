"""Qdrant collections behind one protocol and one backend table: qdrant-client, Qdrant Edge, or yours.

:func:`open_collection` is the one entry point for reading (explaining);
:func:`create_collection` makes or opens a writable one (indexing). Both look the
backend up in a table and return an object implementing :class:`Collection`:

* ``backend="client"`` (default, :mod:`.client`): a :class:`qdrant_client.QdrantClient`,
  embedded in memory (``path=":memory:"``, shared within the process), embedded on
  disk (``path="./qdrant_db"``), a server (``url=..., api_key=...``), or your own
  ``client=``.
* ``backend="edge"`` (:mod:`.edge`): Qdrant Edge (``qdrant-edge-py``), the embedded
  Rust engine; each collection is a shard directory ``<path>/<name>``.
* any name added with :func:`register_backend` (e.g. from your own package)::

      from qdrant_explain.connectors import CollectionBase, register_backend
      register_backend("faiss", open_faiss, creator=create_faiss)   # opener(OpenRequest) -> Collection
      open_collection("photos", backend="faiss", path="index.faiss")

Which encoder built a collection is recorded with it (metadata, or Edge's sidecar
file); it is loaded without ``encoder=`` only when it names a trusted built-in
family (see :func:`~qdrant_explain.connectors.encoders.check_trusted_spec`). The
folder payload paths are confined to comes from ``image_root=`` or from this
machine's record of indexing (:mod:`.roots`), never from the collection.

Collections opened by :func:`open_collection` are read-only by default: any write
raises :class:`ReadOnlyError`, so explaining can never modify a collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import ClientCollection, close_shared_clients, create_client_collection, open_client_collection
from .collection import (
    DISTANCES,
    METADATA_KEY,
    BackendCreator,
    BackendOpener,
    Collection,
    CollectionBase,
    CollectionInfo,
    CreateSpec,
    Hit,
    OpenRequest,
    PointId,
    check_distance,
    encoder_dim,
    normalize_id,
)
from .errors import DimensionMismatchError, EncoderMismatchError
from .resolve import Resolver
from .roots import record_image_root, recorded_image_root


@dataclass(frozen=True)
class Backend:
    """One entry of the backend table.

    Attributes:
        name: the ``backend=`` value.
        opener: ``opener(OpenRequest) -> Collection`` (opens an existing collection).
        creator: ``creator(OpenRequest, CreateSpec) -> Collection`` for
            :func:`create_collection`, or None when the backend cannot create.
        description: one line for :func:`list_backends` and error messages.
    """

    name: str
    opener: BackendOpener
    creator: BackendCreator | None = None
    description: str = ""


_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, opener: BackendOpener, *, creator: BackendCreator | None = None,
                     description: str = "", overwrite: bool = False) -> Backend:
    """Add a collection backend reachable as ``open_collection(..., backend=name)`` (and the CLI's ``--backend``).

    Args:
        name: the backend name (lower-case letters, digits, ``-`` and ``_``).
        opener: ``opener(request: OpenRequest) -> Collection``; subclass
            :class:`CollectionBase` to get encoder checks, the trusted-encoder rule and
            image resolution for free.
        creator: ``creator(request, spec: CreateSpec) -> Collection`` (writable), for indexing.
        description: one line shown by :func:`list_backends`.
        overwrite: replace an existing registration.

    Returns:
        The registered :class:`Backend`.

    Raises:
        ValueError: bad or taken name.
        TypeError: opener or creator not callable.
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name) or name != name.lower():
        raise ValueError(f"register_backend(name=...) must be lower-case letters, digits, '-' or '_'; got {name!r}.")
    if not callable(opener) or (creator is not None and not callable(creator)):
        raise TypeError("register_backend(opener=..., creator=...) must be callables.")
    if name in _BACKENDS and not overwrite and _BACKENDS[name].opener is not opener:
        raise ValueError(f"A backend named {name!r} is already registered; pass overwrite=True to replace it.")
    entry = Backend(name, opener, creator, description)
    _BACKENDS[name] = entry
    return entry


def list_backends() -> dict[str, str]:
    """Registered backend names and their one-line descriptions."""
    return {name: b.description for name, b in _BACKENDS.items()}


def get_backend(name: str) -> Backend:
    """The table entry of ``name``.

    Raises:
        ValueError: unknown backend (the message lists the registered ones).
    """
    if name not in _BACKENDS:
        known = ", ".join(f"{n!r} ({d})" if d else repr(n) for n, d in list_backends().items())
        raise ValueError(f"backend must be {known}, or a name added with register_backend(name, opener); got {name!r}.")
    return _BACKENDS[name]


def _edge_open(request: OpenRequest):
    from .edge import EdgeCollection

    return EdgeCollection.open(request)


def _edge_create(request: OpenRequest, spec: CreateSpec):
    from .edge import EdgeCollection

    return EdgeCollection.create(request, spec)


register_backend("client", open_client_collection, creator=create_client_collection,
                 description="qdrant-client: path= (embedded), path=':memory:', url= (server) or client=")
register_backend("edge", _edge_open, creator=_edge_create, description="Qdrant Edge: path= holds one shard per collection")


# ----------------------------------------------------------------------------- facades


def open_collection(name: str, *, path: str | None = None, url: str | None = None, api_key: str | None = None,
                    client: Any = None, backend: str = "client", vector_name: str | None = None, timeout: float = 10.0,
                    read_only: bool = True, image_root: str | None = None, allow_urls: bool = False,
                    resolver: Resolver | None = None, insecure: bool = False, **options: Any) -> Collection:
    """Open an existing collection for reading (the same object whatever holds it).

    Args:
        name: collection name.
        path: embedded storage folder (``":memory:"`` for the process-wide in-memory
            store); for ``backend="edge"``, the folder holding shard directories. A
            folder that is not a Qdrant database is refused before anything is written.
        url: Qdrant server URL, e.g. ``"https://qdrant.example:6333"``; with ``api_key``.
        api_key: server API key. Over plain ``http://`` it is refused unless the host is
            this machine (then a warning) or ``insecure=True``.
        client: an existing :class:`qdrant_client.QdrantClient` (any mode).
        backend: a name from :func:`list_backends` (``"client"``, ``"edge"``, or registered).
        vector_name: which named vector to use (required when there are several).
        timeout: server request timeout in seconds (connection failures fail fast).
        read_only: refuse writes (default; explaining never writes).
        image_root: folder payload paths are confined to. Default: the folder recorded
            on this machine when ``index`` built the collection; never the collection's
            own metadata. Without either, payload paths are refused.
        allow_urls: let hits' ``url`` payloads be fetched (off: a collection cannot make
            this process fetch URLs).
        resolver: ``resolver(payload)`` returning an image, bytes, a path or None.
        insecure: allow an API key over plain http to another machine.
        **options: backend-specific keywords (passed in ``OpenRequest.options``).

    Returns:
        A :class:`Collection` (:class:`ClientCollection`, ``EdgeCollection``, or a registered backend's).

    Raises:
        CollectionNotFoundError: no such collection (lists the existing ones).
        NotADatabaseError: ``path`` is a folder of something else.
        CorruptStorageError: the storage or its metadata cannot be read.
        QdrantConnectionError: the server cannot be reached, or is not Qdrant.
        QdrantAuthError: the server refused the API key.
        InsecureConnectionError: an API key over plain http without ``insecure``.
        ValueError: conflicting arguments, unknown backend or vector name.

    Example:
        >>> col = open_collection("photos", path="./qdrant_db")              # doctest: +SKIP
        >>> enc = col.load_encoder()                                          # doctest: +SKIP
        >>> query_vec, hits = col.search_image(enc, load_image("q.jpg"), limit=5)  # doctest: +SKIP
    """
    entry = get_backend(backend)
    request = OpenRequest(name=name, path=path, url=url, api_key=api_key, client=client, vector_name=vector_name,
                          read_only=read_only, timeout=timeout, insecure=insecure,
                          image_root=str(image_root) if image_root is not None else None,
                          allow_urls=allow_urls, resolver=resolver, options=dict(options))
    return entry.opener(request)


def create_collection(name: str, *, vector_size: int, distance: str = "cosine", vector_name: str | None = None,
                      encoder: str | None = None, image_root: str | None = None, path: str | None = None,
                      url: str | None = None, api_key: str | None = None, client: Any = None, backend: str = "client",
                      timeout: float = 10.0, exist_ok: bool = True, insecure: bool = False, multivector: bool = False,
                      **options: Any) -> Collection:
    """Create a collection (or open an existing one that fits) for writing.

    Args:
        name: collection name.
        vector_size: dimension of the vectors.
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        vector_name: store a named vector instead of the unnamed default.
        encoder: encoder spec to record with the collection.
        image_root: the folder the images come from: recorded on this machine (see
            :mod:`.roots`) so that later reads resolve payload paths under it, and
            mentioned in the collection's metadata as an (untrusted) hint.
        path, url, api_key, client, backend, timeout, insecure: as in :func:`open_collection`.
        exist_ok: open an existing collection instead of failing (its size must fit
            and a recorded encoder must match).
        multivector: create a MaxSim multivector (``multivector_config`` with the ``max_sim``
            comparator): each point holds (tokens, vector_size) token vectors. An existing
            collection must agree.
        **options: backend-specific keywords.

    Returns:
        A writable :class:`Collection`.

    Raises:
        ValueError: the backend cannot create collections, or the collection holds
            images of another folder.
        DimensionMismatchError / EncoderMismatchError: the existing collection does not fit.
    """
    entry = get_backend(backend)
    if entry.creator is None:
        raise ValueError(f"backend={backend!r} cannot create collections (it registered no creator).")
    dist = check_distance(distance)
    if int(vector_size) < 1:
        raise ValueError(f"vector_size must be >= 1; got {vector_size}.")
    root = str(image_root) if image_root else None
    request = OpenRequest(name=name, path=path, url=url, api_key=api_key, client=client, vector_name=vector_name,
                          read_only=False, timeout=timeout, insecure=insecure, image_root=root, options=dict(options))
    spec = CreateSpec(vector_size=int(vector_size), distance=dist, vector_name=vector_name, encoder=encoder,
                      image_root=root, exist_ok=exist_ok, multivector=bool(multivector))
    col = entry.creator(request, spec)
    _check_existing_fits(col, int(vector_size), dist, encoder)
    _check_existing_kind(col, bool(multivector))
    if root:
        _record_root(col, root)
    updates = {}
    if encoder and not col.info.encoder:
        updates.update(encoder=encoder, dim=int(vector_size))
    if root and col.info.metadata_root != root and hasattr(col, "record_metadata"):
        updates["image_root"] = root
    if updates and hasattr(col, "record_metadata"):
        col.record_metadata(**updates)
    return col


def _record_root(col: Any, root: str) -> None:
    """Record ``root`` on this machine, refusing to mix two folders' images in one collection."""
    from pathlib import Path

    resolved = str(Path(root).expanduser().resolve())
    info = col.info
    previous = recorded_image_root(info.backend, info.location, info.name) or info.metadata_root
    if previous and str(Path(previous).expanduser().resolve()) != resolved and col.count() > 0:
        raise ValueError(
            f"Collection {info.name!r} holds images indexed from {previous!r}; adding images from "
            f"{root!r} would mix payload paths of two folders. Index into another collection, or into "
            "this one from the original folder."
        )
    record_image_root(info.backend, info.location, info.name, resolved)


def _check_existing_kind(col: Any, multivector: bool) -> None:
    from .shapes import is_multivector

    try:
        stored = is_multivector(col, None)
    except Exception:  # noqa: BLE001 - a backend without a readable configuration: nothing to compare
        return
    if stored != multivector:
        have, want = ("a MaxSim multivector", "dense") if stored else ("dense", "multivector")
        raise ValueError(f"Collection {col.name!r} holds {have} vectors but {want} vectors were to be added "
                         f"(multivector={multivector}). Use another collection name, or an encoder of the "
                         "collection's kind.")


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


__all__ = [
    "DISTANCES",
    "METADATA_KEY",
    "Backend",
    "ClientCollection",
    "Collection",
    "CollectionBase",
    "CollectionInfo",
    "CreateSpec",
    "Hit",
    "OpenRequest",
    "PointId",
    "check_distance",
    "close_shared_clients",
    "create_collection",
    "encoder_dim",
    "get_backend",
    "list_backends",
    "normalize_id",
    "open_collection",
    "register_backend",
]
