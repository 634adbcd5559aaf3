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


__all__ = [
    "CollectionNotFoundError",
    "ConnectorError",
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
