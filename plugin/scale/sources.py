"""Where an audit's queries come from: a whole collection, a folder, a file of queries, or a list.

Every source lists :class:`QueryItem` objects, each with a stable ``key`` (``file:/abs/path``,
``point:17``, ``item:3:<digest>``) by which the audit store knows what is done, so a rerun
skips finished queries. The audit then visits the items in a seeded random order
(:func:`audit_order`): any prefix is a random sample, which the ``ci_width`` stopping rule needs.
Nothing here writes to the collection.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class QueryItem:
    """One query of an audit.

    Attributes:
        key: stable identity (what the store records as done).
        name: display name (a file name, ``point 17``).
        path: an image file, or None.
        point_id: a point of the collection (its image and stored vector are the query), or None.
        image: an in-memory image (list sources), or None.
    """

    key: str
    name: str
    path: str | None = None
    point_id: Any = None
    image: Any = field(default=None, compare=False, repr=False)


def _file_item(path: pathlib.Path) -> QueryItem:
    p = path.expanduser().resolve()
    return QueryItem(key=f"file:{p}", name=p.name, path=str(p))


def _point_item(point_id: Any) -> QueryItem:
    from qdrant_explain.connectors.qdrant import normalize_id

    pid = normalize_id(point_id)
    return QueryItem(key=f"point:{pid}", name=f"point {pid}", point_id=pid)


@dataclass(frozen=True)
class FolderSource:
    """Every image file under ``folder`` (recursively, sorted), as in ``qdrant-explain index``."""

    folder: str

    def describe(self) -> dict:
        """JSON-safe description (recorded with the audit's state)."""
        return {"kind": "folder", "folder": str(pathlib.Path(self.folder).expanduser().resolve())}

    def items(self, collection: Any = None) -> list[QueryItem]:
        """The queries.

        Raises:
            ValueError: the folder holds no image.
        """
        from qdrant_explain.connectors import iter_image_files

        files = iter_image_files(pathlib.Path(self.folder).expanduser())
        if not files:
            raise ValueError(f"No images found in {str(self.folder)!r} (audit's query folder); give a folder "
                             "of images, a file of queries or the whole collection.")
        return [_file_item(f) for f in files]


@dataclass(frozen=True)
class QueryFileSource:
    """A text file of queries, one per line: an image path (relative to the file's folder) or ``point:ID``.

    Blank lines and lines starting with ``#`` are skipped; a repeated query counts once.
    """

    path: str

    def describe(self) -> dict:
        """JSON-safe description."""
        return {"kind": "file", "path": str(pathlib.Path(self.path).expanduser().resolve())}

    def items(self, collection: Any = None) -> list[QueryItem]:
        """The queries.

        Raises:
            ValueError: the file is missing, empty, or a ``point:`` line has a bad id.
        """
        p = pathlib.Path(self.path).expanduser()
        if not p.is_file():
            raise ValueError(f"The query file {str(self.path)!r} does not exist; give a text file with one image "
                             "path or point:ID per line.")
        out, seen = [], set()
        for n, raw in enumerate(p.read_text(encoding="utf-8", errors="surrogateescape").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.lower().startswith("point:"):
                try:
                    item = _point_item(line.split(":", 1)[1].strip())
                except ValueError:
                    raise ValueError(f"{p.name}, line {n}: {line!r} is not a point id (point:INT or point:UUID).") from None
            else:
                q = pathlib.Path(line).expanduser()
                item = _file_item(q if q.is_absolute() else p.parent / q)
            if item.key not in seen:
                seen.add(item.key)
                out.append(item)
        if not out:
            raise ValueError(f"The query file {str(self.path)!r} lists no query (one image path or point:ID per line).")
        return out


@dataclass(frozen=True)
class CollectionSource:
    """Every point of the collection (those matching ``filter``): each point's image is a query.

    Args:
        filter: a ``qdrant_client.models.Filter`` or its dict form; None: all points.
    """

    filter: Any = None

    def describe(self) -> dict:
        """JSON-safe description."""
        flt = self.filter
        if flt is not None and hasattr(flt, "model_dump"):
            flt = flt.model_dump(exclude_none=True, mode="json")
        return {"kind": "collection", "filter": flt}

    def items(self, collection: Any = None) -> list[QueryItem]:
        """The points, scrolled (ids only; nothing written).

        Raises:
            ValueError: no collection, or no point matches.
        """
        if collection is None:
            raise ValueError("CollectionSource needs the collection to scroll.")
        items = [_point_item(pid) for pid in collection.scroll_ids(self.filter)]
        if not items:
            raise ValueError(f"Collection {collection.info.name!r} has no point"
                             + (" matching the filter" if self.filter is not None else "") + " to audit.")
        return items


@dataclass(frozen=True)
class ListSource:
    """Queries given in a list: image paths, point ids (``int``) or in-memory images."""

    queries: Sequence[Any]

    def describe(self) -> dict:
        """JSON-safe description (the items' keys)."""
        return {"kind": "list", "keys": [q.key for q in self.items()]}

    def items(self, collection: Any = None) -> list[QueryItem]:
        """The queries (a repeated one counts once)."""
        out, seen = [], set()
        for i, q in enumerate(self.queries):
            if isinstance(q, (str, os.PathLike)):
                item = _file_item(pathlib.Path(q))
            elif isinstance(q, (int, np.integer)) and not isinstance(q, (bool, np.bool_)):
                item = _point_item(int(q))
            else:
                from qdrant_explain.explainers.encoder import to_rgb_array

                from qdrant_explain.sides import load_side_image

                try:
                    arr = to_rgb_array(load_side_image(q, f"query {i}"), name=f"query {i}")
                    digest = hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=8).hexdigest()
                except (ValueError, TypeError, OSError):
                    arr, digest = q, "unreadable"
                item = QueryItem(key=f"item:{i}:{digest}", name=f"query {i}", image=arr)
            if item.key not in seen:
                seen.add(item.key)
                out.append(item)
        return out


def as_source(queries: Any) -> Any:
    """A source from what ``SearchExplainer.audit`` was given.

    A source object passes; a folder path becomes a :class:`FolderSource`; a list or tuple a
    :class:`ListSource`.

    Raises:
        TypeError: None, a single image path or string, or something not iterable.
    """
    if isinstance(queries, (FolderSource, QueryFileSource, CollectionSource, ListSource)):
        return queries
    if isinstance(queries, (str, os.PathLike)) and pathlib.Path(queries).expanduser().is_dir():
        return FolderSource(str(queries))
    if queries is None or isinstance(queries, (str, bytes, os.PathLike)) or not hasattr(queries, "__iter__"):
        raise TypeError(
            "SearchExplainer.audit(queries=...) takes a list of query images (paths, PIL images or arrays), a "
            "folder, FolderSource(...), QueryFileSource(path) or CollectionSource(filter=...); "
            f"got {type(queries).__name__}. Wrap a single query in a list: audit([query]).")
    return ListSource(list(queries))


def audit_order(items: Sequence[QueryItem], seed: int) -> list[QueryItem]:
    """The items in the audit's seeded random order (every prefix is a uniform random sample)."""
    rng = np.random.default_rng([int(seed), 0x5CA1E])
    return [items[i] for i in rng.permutation(len(items))]


__all__ = ["CollectionSource", "FolderSource", "ListSource", "QueryFileSource", "QueryItem", "as_source",
           "audit_order"]
