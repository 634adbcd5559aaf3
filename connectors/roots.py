"""Where a collection's images live, recorded on this machine (never read from the collection).

A payload path is only ever read from inside an *image root*, and that root must
come from someone the reader trusts: the user (``image_root=``, CLI
``--image-root``) or a record that indexing wrote on this machine. Collection
metadata is writable by anyone who can write the collection, so a root stored
there (``image_root="/"``) would let a collection make ``explain --html`` embed
any readable file; it is ignored.

Records live in ``<home>/image_roots.json`` (home: ``$QDRANT_EXPLAIN_HOME``, else
``~/.qdrant-explain``), keyed by backend, location (resolved folder or server URL)
and collection name. In-memory collections (``":memory:"``) exist only inside one
process, so their records stay in that process too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

HOME_ENV = "QDRANT_EXPLAIN_HOME"
"""Environment variable that moves the user directory (default ``~/.qdrant-explain``)."""

RECORDS_NAME = "image_roots.json"
"""File name of the image-root records inside the home directory."""

_MEMORY_RECORDS: dict[str, str] = {}  # records of in-memory collections: they die with the process


def home_dir() -> Path:
    """The user directory: ``$QDRANT_EXPLAIN_HOME`` or ``~/.qdrant-explain``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path("~/.qdrant-explain").expanduser()


def record_key(backend: str, location: str, name: str) -> str:
    """The key of one collection's record: ``backend|location|name``."""
    return f"{backend}|{location}|{name}"


def _is_memory(location: str) -> bool:
    return location in (":memory:", "") or location.startswith(":memory:")


def _records_file() -> Path:
    return home_dir() / RECORDS_NAME


def _read_records() -> dict[str, str]:
    f = _records_file()
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def recorded_image_root(backend: str, location: str, name: str) -> str | None:
    """The image root that indexing recorded on this machine for a collection, or None.

    Args:
        backend: backend name (``"client"``, ``"edge"``, ...).
        location: the collection's location (``CollectionInfo.location``).
        name: collection name.

    Returns:
        An absolute folder path, or None when nothing was recorded.
    """
    key = record_key(backend, location, name)
    if _is_memory(location):
        return _MEMORY_RECORDS.get(key)
    return _read_records().get(key)


def record_image_root(backend: str, location: str, name: str, root: str | os.PathLike) -> str:
    """Record ``root`` as the image folder of a collection (written atomically).

    Args:
        backend, location, name: as in :func:`recorded_image_root`.
        root: the folder the collection's payload paths are relative to.

    Returns:
        The resolved absolute root that was recorded.

    Raises:
        OSError: the home directory cannot be written (the message names it).
    """
    resolved = str(Path(root).expanduser().resolve())
    key = record_key(backend, location, name)
    if _is_memory(location):
        _MEMORY_RECORDS[key] = resolved
        return resolved
    records = _read_records()
    if records.get(key) == resolved:
        return resolved
    records[key] = resolved
    folder = home_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=RECORDS_NAME, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(records, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, _records_file())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return resolved


__all__ = ["HOME_ENV", "RECORDS_NAME", "home_dir", "record_image_root", "record_key", "recorded_image_root"]
