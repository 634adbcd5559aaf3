"""Which errors of one query or hit an audit records and goes on from, and which stop it."""

from __future__ import annotations

RESOLVE_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, LookupError)
"""Errors of one item (an image that cannot be loaded or resolved, a missing point, a 1x1 image)
that ``errors="record"`` turns into a finding instead of stopping the run; see :func:`systemic`."""


def systemic(exc: BaseException) -> bool:
    """Errors that no other item would escape (server, credentials, wrong encoder): never recorded."""
    from qdrant_explain.connectors.errors import (
        DimensionMismatchError,
        EncoderMismatchError,
        QdrantAuthError,
        QdrantConnectionError,
    )

    return isinstance(exc, (TypeError, QdrantConnectionError, QdrantAuthError, DimensionMismatchError,
                            EncoderMismatchError, MemoryError))


__all__ = ["RESOLVE_ERRORS", "systemic"]
