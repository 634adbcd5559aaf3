"""Build a collection from a folder of images, and keep it in step with the folder.

Point ids are deterministic: ``uuid5(NAMESPACE, sha256(file bytes))``, so the
same content always gets the same id. Re-running over the same folder adds
nothing, an interrupted run resumes where it stopped (each batch is upserted as
soon as it is encoded), and duplicate files are stored once. Each payload holds
the path relative to the folder (``path``, POSIX separators), the original
``width`` and ``height`` and the ``sha256``; the encoder spec and the folder are
recorded with the collection so that explaining finds both without flags.

One bad file never stops a run: a file that cannot be opened, is not an image
(checked on its first bytes, before anything else is read), is corrupt, too
large or too small is listed in :attr:`IndexReport.failed` with its reason, and
the rest is indexed. Files are hashed in 1 MiB chunks and decoded one at a time;
a batch holds only model-space pixels, so memory per batch is bounded whatever
the files' sizes.

Re-indexing reconciles the collection with the folder, using the stored
``sha256``: a renamed or moved file keeps its point and gets its new ``path``; a
file whose content changed gets a new point, and its old point is reported as
*changed*; a point whose file is gone is reported as *gone*. ``prune=True``
deletes changed and gone points. Only points qdrant-explain wrote (id derived
from the stored sha256, a relative ``path`` inside the scanned scope) are ever
updated or deleted; every other point of the collection is left as it is.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import numpy as np

from .encoders import load_encoder
from .errors import ImageLoadError
from .images import IMAGE_EXTENSIONS, check_image_header, decode_image_stream, iter_image_files, sha256_stream
from .qdrant import Collection, create_collection, encoder_dim, normalize_id

NAMESPACE = uuid.UUID("6f1c1d2e-8a57-5b0e-9a43-2f7e4a6b9c10")
"""UUID5 namespace of qdrant-explain point ids."""

"""Points per page when reading the collection's existing points."""


def point_id_for_sha256(hexdigest: str) -> str:
    """Deterministic point id of an image file from the SHA-256 hex digest of its bytes."""
    return str(uuid.uuid5(NAMESPACE, hexdigest))


def point_id_for_bytes(data: bytes) -> str:
    """Deterministic point id of an image file: UUID5 of the SHA-256 of its bytes."""
    return point_id_for_sha256(hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class IndexReport:
    """What :func:`index_folder` did.

    Attributes:
        added: points written in this run (new content).
        unchanged: files whose point was already there under the same path.
        moved: (old path, new path) of files renamed or moved since they were indexed;
            their points now carry the new path.
        duplicates: (file, indexed file with the same content) of files stored once.
        changed: stored paths whose file now holds other content: their old points are stale
            (the new content got a new point). Deleted when ``pruned`` counts them.
        gone: stored paths whose file no longer exists (stale points).
        pruned: stale points deleted in this run (``prune=True``), else 0.
        failed: (relative path, reason) of files that could not be indexed.
        total: image files found.
        collection: the (writable) collection.
    """

    added: int = 0
    unchanged: int = 0
    moved: tuple[tuple[str, str], ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()
    changed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    pruned: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    total: int = 0
    collection: Any = field(default=None, compare=False, repr=False)

    @property
    def skipped(self) -> int:
        """Files that needed no new point: unchanged, moved or duplicates."""
        return self.unchanged + len(self.moved) + len(self.duplicates)

    @property
    def stale(self) -> tuple[str, ...]:
        """Stored paths whose point no longer matches a file (changed or gone)."""
        return self.changed + self.gone


def index_folder(folder: str | os.PathLike, collection: str, *, encoder: Any = "efficientnet-lite0",
                 distance: str = "cosine", vector_name: str | None = None, path: str | None = None, url: str | None = None,
                 api_key: str | None = None, client: Any = None, backend: str = "client", batch_size: int = 32,
                 upsert_batch_size: int = 256, recursive: bool = True, extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
                 progress: bool = True, max_pixels: int | None = None, timeout: float = 10.0, prune: bool = False,
                 **encoder_options: Any) -> IndexReport:
    """Encode every image under ``folder`` into ``collection`` (created if missing) and reconcile it.

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
        recursive, extensions: which files to pick up (points outside this scope are
            never reported as gone, nor pruned).
        progress: show a tqdm progress bar.
        max_pixels: decompression-bomb limit per image (default PIL's).
        prune: delete the points reported as changed or gone.
        **encoder_options: passed to :func:`load_encoder` (``dtype``, ``threads``, ...).

    Returns:
        :class:`IndexReport`: counts added / unchanged, moved paths, duplicates, changed and
        gone (stale) paths, pruned points and the failed files with their reasons.

    Raises:
        ImageLoadError: ``folder`` is not a directory.
        DimensionMismatchError / EncoderMismatchError: the existing collection
            was built with another encoder.
        ValueError: ``batch_size`` or ``upsert_batch_size`` below 1.
    """
    step = _check_batch(batch_size, "batch_size")
    step = min(step, _check_batch(upsert_batch_size, "upsert_batch_size"))
    root = Path(folder).resolve()
    files = iter_image_files(root, recursive=recursive, extensions=extensions)
    enc = load_encoder(encoder, **encoder_options) if isinstance(encoder, str) else encoder
    dim = encoder_dim(enc)
    multi = bool(getattr(enc, "multivector", False))  # (m, t, d) token vectors: a MaxSim collection
    col: Collection = create_collection(collection, vector_size=dim, distance=distance, vector_name=vector_name,
                                        encoder=enc.name, image_root=str(root), path=path, url=url, api_key=api_key,
                                        client=client, backend=backend, timeout=timeout, multivector=multi)
    known = dict(col.scroll_payloads())  # id -> payload, before this run wrote anything
    owned = {pid: p for pid, p in known.items() if _is_ours(pid, p)}
    scan = _Scan()
    batch = _Batch(col, enc, step)
    bar = _progress(len(files), progress, f"indexing {collection}")
    try:
        for f in files:
            rel = f.relative_to(root).as_posix()
            try:
                item = _read_file(f, rel, root, max_pixels)
            except OSError as exc:  # cannot open or read it: whether it changed is unknown
                scan.fail(rel, _reason(exc), readable=False)
                bar.update(1)
                continue
            except Exception as exc:  # read, but it is not an image we can index (any error: one file only)
                scan.fail(rel, _reason(exc))
                scan.found[rel] = None
                bar.update(1)
                continue
            sha, fh = item
            with fh:
                scan.found[rel] = sha
                pid = point_id_for_sha256(sha)
                if pid in owned or pid in scan.new:
                    if pid in scan.new:
                        scan.duplicates.append((rel, scan.new[pid]))
                elif pid in known:
                    scan.fail(rel, f"point id {pid} is taken by a point qdrant-explain did not write; left as it is")
                else:
                    try:
                        img = decode_image_stream(fh, label=rel, max_pixels=max_pixels)
                        payload = {"path": rel, "width": img.width, "height": img.height, "sha256": sha}
                        pixels = np.asarray(enc.prepare(img).pixels)
                        del img
                    except Exception as exc:  # corrupt, truncated, too small for the encoder, ...
                        scan.fail(rel, _reason(exc))
                    else:
                        scan.new[pid] = rel
                        batch.add(pid, pixels, payload, scan)
            bar.update(1)
        batch.flush(scan)
    finally:
        bar.close()
    return _reconcile(col, owned, scan, total=len(files), added=batch.added, recursive=recursive,
                      extensions=extensions, prune=prune, collection=col)


def _check_batch(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"index_folder({name}=...) must be an integer >= 1; got {value!r}.")
    return int(value)


def _read_file(f: Path, rel: str, root: Path, max_pixels: int | None):
    """Open one file, check it is an image inside the root from its header, hash it; (sha256, open file)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise ImageLoadError("file name is not valid UTF-8 (shown escaped); rename it to index it") from None
    real = f.resolve()
    if real != root and root not in real.parents:
        raise ImageLoadError(f"symbolic link to {str(real)!r}, outside the indexed folder; not followed")
    fh = open(f, "rb")  # noqa: SIM115 - closed by the caller (or below on failure)
    try:
        check_image_header(fh, label=rel, max_pixels=max_pixels)
        sha = sha256_stream(fh)
    except BaseException:
        fh.close()
        raise
    return sha, fh


def _reason(exc: BaseException) -> str:
    """One line saying why a file failed (OS errors by their strerror, not their repr)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read the file: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass
class _Scan:
    """What one pass over the folder found (mutable while scanning, frozen into IndexReport at the end)."""

    found: dict[str, str | None] = field(default_factory=dict)  # rel -> sha256 (None: read, not an image)
    unread: set[str] = field(default_factory=set)  # rel of files that could not be opened or read
    new: dict[str, str] = field(default_factory=dict)  # point id -> rel, points added by this run
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, rel: str, reason: str, *, readable: bool = True) -> None:
        self.failed.append((rel, reason))
        if not readable:
            self.unread.add(rel)


class _Batch:
    """Model-space pixels waiting to be encoded and upserted (at most ``size`` at a time)."""

    def __init__(self, col: Collection, enc: Any, size: int) -> None:
        self.col, self.enc, self.size = col, enc, size
        self.items: list[tuple[str, np.ndarray, dict]] = []
        self.added = 0
        self.encoded_any = False

    def add(self, pid: str, pixels: np.ndarray, payload: dict, scan: _Scan) -> None:
        self.items.append((pid, pixels, payload))
        if len(self.items) >= self.size:
            self.flush(scan)

    def flush(self, scan: _Scan) -> None:
        items, self.items = self.items, []
        if not items:
            return
        try:
            vectors = self._encode([t[1] for t in items])
            kept = items
        except Exception as exc:  # isolate the image the encoder refuses; an encoder that refuses all is broken
            kept, rows = [], []
            for item in items:
                try:
                    rows.append(self._encode([item[1]])[0])
                    kept.append(item)
                except Exception as one:
                    scan.fail(item[2]["path"], f"the encoder failed on it: {_reason(one)}")
                    scan.new.pop(item[0], None)
            if not kept and not self.encoded_any:
                raise exc
            vectors = np.asarray(rows, dtype=np.float32)
        if kept:
            self.col.upsert([t[0] for t in kept], vectors, [t[2] for t in kept])
            self.added += len(kept)

    def _encode(self, pixels: list[np.ndarray]) -> np.ndarray:
        out = np.asarray(self.enc.encode(np.stack(pixels)), dtype=np.float32)
        ndim = 3 if getattr(self.enc, "multivector", False) else 2
        if out.ndim != ndim or out.shape[0] != len(pixels) or not np.isfinite(out).all():
            raise ValueError(f"the encoder returned {out.shape} vectors (non-finite or wrong shape) for "
                             f"{len(pixels)} images")
        self.encoded_any = True
        return out


def _is_ours(pid: Any, payload: dict) -> bool:
    """A point qdrant-explain wrote: a relative POSIX ``path`` and an id derived from its ``sha256``."""
    sha, rel = payload.get("sha256"), payload.get("path")
    if not isinstance(sha, str) or not isinstance(rel, str) or not rel:
        return False
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        return False
    return str(pid) == point_id_for_sha256(sha)


def _in_scope(rel: str, *, recursive: bool, extensions: tuple[str, ...]) -> bool:
    """Whether this run's scan would have listed a file at ``rel`` (else its point is not ours to judge)."""
    p = PurePosixPath(rel)
    return p.suffix.lower() in {e.lower() for e in extensions} and (recursive or len(p.parts) == 1)


def _reconcile(col: Any, owned: dict, scan: _Scan, *, total: int, added: int, recursive: bool,
               extensions: tuple[str, ...], prune: bool, collection: Any) -> IndexReport:
    """Compare the points written before this run with the files found; update moved paths, prune stale points."""
    by_sha: dict[str, list[str]] = {}
    for rel, sha in sorted(scan.found.items()):
        if sha is not None:
            by_sha.setdefault(sha, []).append(rel)
    unchanged, moved, duplicates, changed, gone = 0, {}, list(scan.duplicates), [], []
    for pid, payload in owned.items():
        rel, sha = payload["path"], payload["sha256"]
        if not _in_scope(rel, recursive=recursive, extensions=extensions):
            continue
        if sha in by_sha:
            rels = by_sha[sha]
            keep = rel if rel in rels else rels[0]
            if keep == rel:
                unchanged += 1
            else:
                moved[pid] = (rel, keep)
            duplicates.extend((other, keep) for other in rels if other != keep)
        elif rel in scan.unread:
            continue  # the file is there but unreadable now: we cannot tell, so the point stays
        elif rel in scan.found:
            changed.append((pid, rel))
        else:
            gone.append((pid, rel))
    if moved:
        col.set_paths({pid: new for pid, (_, new) in moved.items()})
    stale_ids = [pid for pid, _ in changed + gone]
    if prune and stale_ids:
        col.delete_points(stale_ids)
    return IndexReport(
        added=added, unchanged=unchanged, moved=tuple(sorted(moved.values())), duplicates=tuple(sorted(duplicates)),
        changed=tuple(sorted(r for _, r in changed)), gone=tuple(sorted(r for _, r in gone)),
        pruned=len(stale_ids) if prune else 0, failed=tuple(scan.failed), total=total, collection=collection,
    )


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="img")


__all__ = ["NAMESPACE", "IndexReport", "index_folder", "point_id_for_bytes", "point_id_for_sha256"]
