"""Build a collection from a folder of images.

Point ids are deterministic: ``uuid5(NAMESPACE, sha256(file bytes))``, so the
same content always gets the same id. Re-running over the same folder adds
nothing, an interrupted run resumes where it stopped (each batch is upserted as
soon as it is encoded), and duplicate files are stored once. Each payload holds
the path relative to the folder (``path``, POSIX separators), the original
``width`` and ``height`` and the ``sha256``; the encoder spec and the folder are
recorded with the collection so that explaining finds both without flags.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .encoders import load_encoder
from .errors import ImageLoadError
from .images import IMAGE_EXTENSIONS, iter_image_files, load_image
from .qdrant import Collection, create_collection, encoder_dim

NAMESPACE = uuid.UUID("6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10")
"""UUID5 namespace of qdrant-explain point ids."""


def point_id_for_bytes(data: bytes) -> str:
    """Deterministic point id of an image file: UUID5 of the SHA-256 of its bytes."""
    return str(uuid.uuid5(NAMESPACE, hashlib.sha256(data).hexdigest()))


@dataclass
class IndexReport:
    """What :func:`index_folder` did.

    Attributes:
        added: points written in this run.
        skipped: files already in the collection (or duplicates of another file).
        failed: (relative path, reason) of files that could not be read.
        total: image files found.
        collection: the (writable) collection.
    """

    added: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    collection: Any = None


def index_folder(folder: str | os.PathLike, collection: str, *, encoder: Any = "efficientnet-lite0",
                 distance: str = "cosine", vector_name: str | None = None, path: str | None = None, url: str | None = None,
                 api_key: str | None = None, client: Any = None, backend: str = "client", batch_size: int = 32,
                 upsert_batch_size: int = 256, recursive: bool = True, extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
                 progress: bool = True, max_pixels: int | None = None, timeout: float = 10.0,
                 **encoder_options: Any) -> IndexReport:
    """Encode every image under ``folder`` and upsert it into ``collection`` (created if missing).

    Args:
        folder: directory of images (searched recursively by default).
        collection: collection name.
        encoder: spec string or Encoder (default ``"efficientnet-lite0"``).
        distance: ``"cosine"``, ``"dot"``, ``"euclid"`` or ``"manhattan"`` for a new collection.
        vector_name: store a named vector.
        path, url, api_key, client, backend, timeout: where the collection lives
            (see :func:`~qdrant_explain.connectors.qdrant.open_collection`).
        batch_size: images per encoder call.
        upsert_batch_size: maximum points per upsert request.
        recursive, extensions: which files to pick up.
        progress: show a tqdm progress bar.
        max_pixels: decompression-bomb limit per image (default PIL's).
        **encoder_options: passed to :func:`load_encoder` (``dtype``, ``threads``, ...).

    Returns:
        :class:`IndexReport` with counts ``added`` and ``skipped`` (and failures).

    Raises:
        ImageLoadError: ``folder`` is not a directory.
        DimensionMismatchError / EncoderMismatchError: the existing collection
            was built with another encoder.
    """
    root = Path(folder).resolve()
    files = iter_image_files(root, recursive=recursive, extensions=extensions)
    enc = load_encoder(encoder, **encoder_options) if isinstance(encoder, str) else encoder
    dim = encoder_dim(enc)
    col: Collection = create_collection(collection, vector_size=dim, distance=distance, vector_name=vector_name,
                                        encoder=enc.name, image_root=str(root), path=path, url=url, api_key=api_key,
                                        client=client, backend=backend, timeout=timeout)
    report = IndexReport(total=len(files), collection=col)
    bar = _progress(len(files), progress, f"indexing {collection}")
    seen: set[str] = set()
    step = max(1, min(int(batch_size), int(upsert_batch_size)))
    try:
        for start in range(0, len(files), step):
            chunk = files[start : start + step]
            blobs = []
            for f in chunk:
                data = f.read_bytes()
                blobs.append((f, data, point_id_for_bytes(data)))
            existing = col.existing_ids([pid for _, _, pid in blobs])
            todo = []
            for f, data, pid in blobs:
                if pid in existing or pid in seen:
                    report.skipped += 1
                    continue
                seen.add(pid)
                rel = f.relative_to(root).as_posix()
                try:
                    img = load_image(data, max_pixels=max_pixels, name=rel)
                except ImageLoadError as exc:
                    report.failed.append((rel, str(exc)))
                    continue
                payload = {"path": rel, "width": img.width, "height": img.height,
                           "sha256": hashlib.sha256(data).hexdigest()}
                todo.append((pid, enc.prepare(img).pixels, payload))
            if todo:
                vectors = np.asarray(enc.encode(np.stack([t[1] for t in todo])), dtype=np.float32)
                col.upsert([t[0] for t in todo], vectors, [t[2] for t in todo])
                report.added += len(todo)
            bar.update(len(chunk))
    finally:
        bar.close()
    return report


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="img")


__all__ = ["NAMESPACE", "IndexReport", "index_folder", "point_id_for_bytes"]
