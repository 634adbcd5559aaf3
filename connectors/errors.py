"""Error types raised by :mod:`qdrant_explain.connectors`.

All of them subclass :class:`ConnectorError`, itself a :class:`ValueError`, so a
CLI that turns ``ValueError`` into a one-line message catches every one of them.
Each message names what was asked for, what was found and how to fix it.
"""

from __future__ import annotations


class ConnectorError(ValueError):
    """Base class of every error raised by the connectors."""


class ImageLoadError(ConnectorError):
    """An image could not be read: missing, corrupt, truncated, too large or unsupported."""


class ImageResolveError(ConnectorError):
    """A hit's payload does not lead to an image we are allowed to load."""


class WeightsUnavailableError(ConnectorError):
    """Model weights are neither cached locally nor downloadable."""


class EncoderSpecError(ConnectorError):
    """An encoder spec string is not one of the valid forms."""


class CollectionNotFoundError(ConnectorError):
    """The named collection does not exist at the given location."""


class PointNotFoundError(ConnectorError):
    """One or more point ids are not in the collection."""


class DimensionMismatchError(ConnectorError):
    """The encoder's output dimension differs from the collection's vector size."""


class EncoderMismatchError(ConnectorError):
    """The encoder differs from the one recorded when the collection was built."""


class QdrantConnectionError(ConnectorError):
    """The Qdrant server could not be reached (wrong URL, server down, timeout)."""


class QdrantAuthError(ConnectorError):
    """The Qdrant server refused the API key (HTTP 401 or 403)."""


class ReadOnlyError(ConnectorError):
    """A write was attempted on a collection opened read-only (as explaining does)."""


class UntrustedEncoderError(EncoderSpecError):
    """A collection records an encoder spec that may not be loaded without the user's say-so.

    Collection metadata is written by whoever can write to the collection; only
    trusted built-in families are loaded from it. Pass the encoder explicitly
    (``encoder=...``, CLI ``--encoder SPEC``) to use any other spec.
    """


class InsecureConnectionError(ConnectorError):
    """An API key would be sent over plain HTTP to a host that is not this machine."""


class NotADatabaseError(ConnectorError):
    """A folder given as embedded Qdrant storage is not one (e.g. a folder of photos)."""


class CorruptStorageError(ConnectorError):
    """Embedded storage or collection metadata exists but cannot be read."""


class EmptyCollectionError(ConnectorError):
    """A search ran against a collection with no points."""


class InsecureConnectionWarning(UserWarning):
    """An API key is sent over plain HTTP (allowed for localhost, or with ``insecure=True``)."""


__all__ = [
    "CollectionNotFoundError",
    "ConnectorError",
    "CorruptStorageError",
    "EmptyCollectionError",
    "InsecureConnectionError",
    "InsecureConnectionWarning",
    "NotADatabaseError",
    "UntrustedEncoderError",
    "DimensionMismatchError",
    "EncoderMismatchError",
    "EncoderSpecError",
    "ImageLoadError",
    "ImageResolveError",
    "PointNotFoundError",
    "QdrantAuthError",
    "QdrantConnectionError",
    "ReadOnlyError",
    "WeightsUnavailableError",
]
