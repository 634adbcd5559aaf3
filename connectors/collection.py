"""What every collection backend shares: the protocol, the data types and one public base class.

A backend (qdrant-client in :mod:`.client`, Qdrant Edge in :mod:`.edge`, or your own
registered with :func:`~qdrant_explain.connectors.qdrant.register_backend`) returns
objects implementing :class:`Collection`. Subclassing :class:`CollectionBase` gives
a backend the encoder checks, the trusted-encoder rule, image resolution (with the
image root taken only from the user or this machine's records), id checks and the
empty-collection message; it then writes ``_read_info``-style setup, ``count``,
``_search``, ``retrieve``, ``existing_ids``, ``upsert`` and ``close``.

Nothing here imports a backend, and no backend imports another's private names.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import (
    DimensionMismatchError,
    EmptyCollectionError,
    EncoderMismatchError,
    PointNotFoundError,
    ReadOnlyError,
)
from .resolve import ImageResolver, Resolver

SCROLL_PAGE = 256
"""Points per page when a backend scrolls a whole collection (re-indexing reads every point once)."""

DISTANCES = ("cosine", "dot", "euclid", "manhattan")
"""Distance names (Qdrant's ``Distance`` values, lower-cased)."""

METADATA_KEY = "qdrant_explain"
"""Key of our entry in Qdrant collection metadata (and of the Edge sidecar's content)."""

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
        backend: the backend's name (``"client"``, ``"edge"``, ...); ``location`` says where.
        location: resolved storage folder, server URL or ``":memory:"``.
        vector_size: dimension of the vectors searched.
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"``.
        vector_name: the named vector in use, or None for the unnamed default vector.
        vector_names: all dense vector names ("" for the unnamed one).
        encoder: encoder spec recorded in the collection's metadata at indexing time,
            or None. Untrusted: :meth:`CollectionBase.load_encoder` loads it only when
            it names a trusted built-in family.
        encoder_dim: vector size recorded with the encoder.
        image_root: the folder payload paths are confined to *in this session*: the
            user's ``image_root=`` or this machine's record written by indexing; never
            the collection's metadata. None: payload paths are refused.
        metadata_root: the folder the collection's metadata claims it was indexed
            from. Untrusted, shown in messages only; never used to read files.
        metadata_problem: why the collection's metadata could not be used (corrupt), or None.
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
    metadata_root: str | None = None
    metadata_problem: str | None = None


@dataclass(frozen=True)
class OpenRequest:
    """Everything a backend opener gets from :func:`open_collection` / :func:`create_collection`.

    Attributes:
        name: collection name.
        path: embedded storage folder (``":memory:"`` for the in-memory store), or None.
        url: server URL, or None.
        api_key: server API key, or None.
        client: a user's ready client object, or None.
        vector_name: the named vector to use (None: the only one).
        read_only: refuse writes.
        timeout: server request timeout in seconds.
        insecure: allow an API key over plain HTTP to another machine.
        image_root: the user's image root (None: this machine's record, if any).
        allow_urls: let hits' ``url`` payloads be fetched.
        resolver: the user's ``resolver(payload)``, or None.
        options: backend-specific extra keywords, as given.
    """

    name: str
    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    client: Any = None
    vector_name: str | None = None
    read_only: bool = True
    timeout: float = 10.0
    insecure: bool = False
    image_root: str | None = None
    allow_urls: bool = False
    resolver: Resolver | None = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CreateSpec:
    """What :func:`create_collection` asks a backend to create.

    Attributes:
        vector_size: dimension of the vectors.
        distance: one of :data:`DISTANCES`.
        vector_name: store a named vector (None: the unnamed default).
        encoder: encoder spec to record in the collection's metadata (or None).
        image_root: folder to mention in the metadata as a hint (never trusted back).
        exist_ok: open an existing collection instead of failing.
        multivector: a MaxSim multivector (each point holds (tokens, vector_size) token vectors).
    """

    vector_size: int
    distance: str
    vector_name: str | None = None
    encoder: str | None = None
    image_root: str | None = None
    exist_ok: bool = True
    multivector: bool = False


@runtime_checkable
class Collection(Protocol):
    """A Qdrant collection as the explainers see it (every backend implements it)."""

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

    def scroll_payloads(self) -> Iterable[tuple[PointId, dict]]:
        """Every point as ``(id, payload)`` (re-indexing reconciles against it)."""
        ...

    def set_paths(self, paths: dict) -> None:
        """Set the ``path`` payload field of the points ``{id: path}`` (a moved file)."""
        ...

    def delete_points(self, ids: Sequence[PointId]) -> None:
        """Delete these points (``index --prune``)."""
        ...

    def close(self) -> None:
        """Release resources (shared embedded clients stay open for the process)."""
        ...

    def check_encoder(self, encoder: Any, *, strict_name: bool = True) -> None:
        """Raise DimensionMismatchError / EncoderMismatchError if ``encoder`` does not fit."""
        ...

    def load_encoder(self, **options: Any) -> Any:
        """The encoder recorded with the collection, built with ``options`` (trusted families only)."""
        ...

    def search_image(self, encoder: Any, image: Any, *, limit: int = 10, query_filter: Any = None,
                     with_vectors: bool = True, with_payload: bool = True,
                     score_threshold: float | None = None) -> tuple[np.ndarray, list[Hit]]:
        """Encode ``image`` and search; returns (query vector, hits)."""
        ...

    def resolve_image(self, hit: Hit | dict) -> Any:
        """The hit's image (RGB PIL) from its payload."""
        ...


# ----------------------------------------------------------------------------- helpers


def encoder_dim(encoder: Any) -> int:
    """An encoder's output dimension (of one token vector for a multivector encoder): its ``dim``
    attribute, else one encode of a grey image."""
    dim = getattr(encoder, "dim", None)
    if dim:
        return int(dim)
    h, w = encoder.input_size
    return int(np.asarray(encoder.encode(np.full((1, h, w, 3), 128, np.uint8))).shape[-1])


def normalize_id(point_id: Any) -> PointId:
    """Canonical point id: int for integers (also digit strings), lower-case dashed UUID otherwise.

    Upper-case, dash-less (``32 hex digits``), braced and ``urn:uuid:`` UUIDs are
    accepted and normalised, so an id copied from another tool finds its point.

    Raises:
        ValueError: neither an unsigned integer nor a UUID (the message says which forms work).
    """
    if isinstance(point_id, (bool, np.bool_)):
        raise ValueError(_bad_id(point_id))
    if isinstance(point_id, (int, np.integer)):
        if point_id < 0:
            raise ValueError(_bad_id(point_id))
        return int(point_id)
    if isinstance(point_id, uuid.UUID):
        return str(point_id)
    if isinstance(point_id, str):
        s = point_id.strip()
        if s.isdigit() and s.isascii():
            return int(s)
        try:
            return str(uuid.UUID(s))
        except ValueError:
            pass
    raise ValueError(_bad_id(point_id))


def _bad_id(point_id: Any) -> str:
    return (f"Point ids are unsigned integers or UUIDs (e.g. 42, 6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10, "
            f"also without dashes or in upper case); got {point_id!r}.")


def check_distance(distance: Any) -> str:
    """Normalise a distance name (or Qdrant Distance enum) to one of :data:`DISTANCES`."""
    from qdrant_explain.explainers.scores import check_score

    return check_score(distance)


def choose_vector(name: str, table: dict, vector_name: str | None) -> str:
    """Pick the dense vector to use from ``table`` (name -> params); "" is the unnamed one.

    Raises:
        ValueError: several vectors and none chosen, or an unknown name (lists the names).
    """
    shown = sorted(k or "(unnamed)" for k in table)
    if vector_name is None:
        if len(table) == 1:
            return next(iter(table))
        raise ValueError(
            f"Collection {name!r} has several named vectors {shown}; choose one with vector_name=... "
            "(CLI: --vector-name NAME)."
        )
    if vector_name not in table:
        raise ValueError(
            f"Collection {name!r} has no vector named {vector_name!r}; available: {shown}. "
            "Pass one of them as vector_name=... (CLI: --vector-name NAME)."
        )
    return vector_name


def parse_metadata(raw: Any, *, name: str, where: str) -> tuple[dict, str | None]:
    """Validate our metadata entry; returns (entries, problem) where problem says what is corrupt.

    Args:
        raw: the value stored under :data:`METADATA_KEY` (or None).
        name: collection name, for messages.
        where: where the metadata was read (for messages), e.g. "collection metadata".

    Returns:
        ``({"encoder": str|None, "dim": int|None, "image_root": str|None}, None)``, or
        ``({}, "why it cannot be used")`` when the entry is malformed.
    """
    if raw is None:
        return {}, None
    if not isinstance(raw, dict):
        return {}, (f"the {where} of collection {name!r} is corrupt: {METADATA_KEY!r} should be an object, "
                    f"got {type(raw).__name__}")
    out: dict = {}
    for key, kind in (("encoder", str), ("image_root", str), ("dim", int)):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 1):
            return {}, (f"the {where} of collection {name!r} is corrupt: {key!r} should be "
                        f"{'a positive integer' if kind is int else 'a string'}, got {value!r}")
        out[key] = value
    return out, None


# ----------------------------------------------------------------------------- base class


class CollectionBase:
    """Shared logic of collection backends (public: third-party backends may subclass it).

    Subclasses set ``info``, ``read_only`` and ``resolver`` (use :meth:`_setup_resolver`)
    and implement ``count``, ``_search``, ``retrieve``, ``existing_ids``, ``upsert``
    and ``close``.
    """

    info: CollectionInfo
    read_only: bool
    resolver: ImageResolver

    @property
    def name(self) -> str:
        """Collection name."""
        return self.info.name

    @property
    def distance(self) -> str:
        """The collection's distance."""
        return self.info.distance

    @property
    def vector_size(self) -> int:
        """Dimension of the vectors searched."""
        return self.info.vector_size

    @property
    def encoder_spec(self) -> str | None:
        """The encoder recorded when the collection was built (None if unknown; untrusted)."""
        return self.info.encoder

    def _setup_resolver(self, request: OpenRequest) -> None:
        """Set ``resolver`` and ``info.image_root``: the user's root, else this machine's record."""
        from .roots import recorded_image_root

        root = request.image_root
        if root is None:
            root = recorded_image_root(self.info.backend, self.info.location, self.info.name)
        self.info = dataclasses.replace(self.info, image_root=str(root) if root is not None else None)
        self.resolver = ImageResolver(root, allow_urls=request.allow_urls, resolver=request.resolver,
                                      indexed_hint=self.info.metadata_root)

    def scroll_payloads(self) -> Iterable[tuple[PointId, dict]]:
        """Every point as ``(id, payload)``; a backend that indexes implements it."""
        raise NotImplementedError(self._cannot("list its points (re-indexing reconciles against them)"))

    def scroll_ids(self, query_filter: Any = None) -> Iterable[PointId]:
        """Every point id (those matching ``query_filter``), page by page; never writes.

        The default lists :meth:`scroll_payloads` and takes no filter; a backend that can filter
        a scroll overrides it (the client backend does).

        Raises:
            NotImplementedError: a filter on a backend that cannot filter a scroll.
        """
        if query_filter is not None:
            raise NotImplementedError(self._cannot("scroll with a filter (audit --filter)"))
        for pid, _payload in self.scroll_payloads():
            yield pid

    def set_paths(self, paths: dict) -> None:
        """Set the ``path`` payload of points; a backend that indexes implements it."""
        raise NotImplementedError(self._cannot("update the paths of moved files"))

    def delete_points(self, ids: Sequence[PointId]) -> None:
        """Delete points; a backend that supports ``index --prune`` implements it."""
        raise NotImplementedError(self._cannot("delete points (index --prune)"))

    def _cannot(self, what: str) -> str:
        return (f"Backend {self.info.backend!r} (collection {self.name!r}) cannot {what}: its collection class "
                f"{type(self).__name__} does not implement it. Implement scroll_payloads, set_paths and "
                "delete_points (see docs/extending.md), or index with another backend.")

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
                + (" or pick another vector_name (CLI: --vector-name NAME)." if len(self.info.vector_names) > 1 else ".")
            )
        if strict_name and self.info.encoder and enc_name != self.info.encoder:
            raise EncoderMismatchError(
                f"Collection {self.name!r} was built with encoder {self.info.encoder!r} but encoder {enc_name!r} "
                f"was given; scores would not be comparable. Omit the encoder to use the recorded one, "
                f"or pass {self.info.encoder!r}."
            )

    def load_encoder(self, **options: Any):
        """Build the encoder recorded with this collection, if its family is trusted.

        Args:
            **options: passed to :func:`~qdrant_explain.connectors.encoders.load_encoder`.

        Raises:
            EncoderMismatchError: the collection records no (usable) encoder.
            UntrustedEncoderError: the recorded spec is not a trusted built-in family
                (e.g. ``module:function``): pass the encoder explicitly.
        """
        from .encoders import check_trusted_spec, load_encoder

        if self.info.metadata_problem:
            raise EncoderMismatchError(
                f"Cannot use the encoder recorded with collection {self.name!r}: {self.info.metadata_problem}. "
                "Pass the encoder explicitly (encoder=..., CLI: --encoder SPEC), or re-index the collection."
            )
        if not self.info.encoder:
            raise EncoderMismatchError(
                f"Collection {self.name!r} records no encoder (it was not built by qdrant-explain); "
                "pass one explicitly (encoder=..., CLI: --encoder SPEC), e.g. 'efficientnet-lite0'."
            )
        check_trusted_spec(self.info.encoder, source=f"collection {self.name!r}")
        return load_encoder(self.info.encoder, **options)

    def encode_image(self, encoder: Any, image: Any) -> np.ndarray:
        """(d,) vector of one image through ``encoder.prepare`` + ``encoder.encode``."""
        prepared = encoder.prepare(image)
        return np.asarray(encoder.encode(prepared.pixels[None]), dtype=np.float64)[0]

    def search(self, vector: Any, *, limit: int = 10, query_filter: Any = None, with_vectors: bool = True,
               with_payload: bool = True, score_threshold: float | None = None) -> list[Hit]:
        """Nearest points to ``vector``.

        Raises:
            EmptyCollectionError: nothing came back because the collection has no points.
            DimensionMismatchError: the vector does not fit the collection.
        """
        hits = self._search(self._check_vector(vector), limit=self._check_limit(limit), query_filter=query_filter,
                            with_vectors=with_vectors, with_payload=with_payload, score_threshold=score_threshold)
        if not hits and query_filter is None and score_threshold is None and self.count() == 0:
            raise EmptyCollectionError(
                f"Collection {self.name!r} at {self.info.location} is empty (0 points): nothing to search. "
                "Index images into it first (qdrant-explain index FOLDER --collection NAME)."
            )
        return hits

    def _search(self, vector: list[float], *, limit: int, query_filter: Any, with_vectors: bool, with_payload: bool,
                score_threshold: float | None) -> list[Hit]:
        raise NotImplementedError

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
        found = set(found)
        missing = [i for i in asked if i not in found]
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


BackendOpener = Callable[[OpenRequest], Collection]
"""``opener(request) -> Collection``: opens an existing collection (read-only when asked)."""

BackendCreator = Callable[[OpenRequest, CreateSpec], Collection]
"""``creator(request, spec) -> Collection``: creates (or opens, with ``exist_ok``) a writable collection."""


__all__ = [
    "DISTANCES",
    "METADATA_KEY",
    "BackendCreator",
    "BackendOpener",
    "Collection",
    "CollectionBase",
    "CollectionInfo",
    "CreateSpec",
    "Hit",
    "OpenRequest",
    "PointId",
    "check_distance",
    "choose_vector",
    "encoder_dim",
    "normalize_id",
    "parse_metadata",
]
