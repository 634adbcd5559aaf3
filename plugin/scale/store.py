"""The audit's own state under ``--out``: a commit log of one row per query, resumable after a crash.

Files (nothing is ever written to the user's collection):

- ``manifest.json``: the audit's settings and source; a rerun with other settings is refused
  (so that the rows of one folder all mean the same thing).
- ``queries.jsonl``: the commit log, one JSON row per explained (or failed) query. A row is
  committed by one ``write`` of the whole line followed by ``flush`` and ``fsync``; only the
  driver writes, and it writes a key only when the key is not already in the log. After a
  ``kill -9`` the log ends with complete rows, or with one partial line, which
  :meth:`AuditStore.open` cuts off (that query is redone). So a rerun finishes with every query
  exactly once.
- ``queries.parquet`` (when pyarrow is installed): the statistics columns of every row,
  written by :meth:`AuditStore.export_parquet` at the end of a run (atomically).
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any, Iterator, Mapping

from qdrant_explain._io import to_json_text, write_atomic

MANIFEST = "manifest.json"
LOG = "queries.jsonl"
PARQUET = "queries.parquet"
STORE_FORMAT = 1


class AuditStateError(ValueError):
    """The folder holds an audit made with other settings or of another source (or is not an audit folder)."""


class AuditStore:
    """The rows of one audit, in ``folder``.

    Args:
        folder: the audit's folder (``--out``); created when missing.
        manifest: ``{"settings": ..., "source": ..., ...}`` of this run.
        restart: drop what the folder holds and start again.

    Attributes:
        done: ``{key: row}`` of the committed rows, without their ``search`` blob (kept on disk).
    """

    def __init__(self, folder: str | os.PathLike, manifest: Mapping, *, restart: bool = False) -> None:
        self.folder = pathlib.Path(folder)
        self.manifest = {"format": STORE_FORMAT, **dict(manifest)}
        self.done: dict[str, dict] = {}
        self.cut_bytes = 0
        self.duplicates = 0
        self._file = None
        self._open(restart)

    @property
    def log_path(self) -> pathlib.Path:
        """``queries.jsonl``."""
        return self.folder / LOG

    def _open(self, restart: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        mpath = self.folder / MANIFEST
        if restart:
            for name in (LOG, PARQUET, MANIFEST):
                (self.folder / name).unlink(missing_ok=True)
        if mpath.exists():
            try:
                old = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise AuditStateError(f"{mpath} cannot be read ({exc}); use another --out folder, or --restart to "
                                      "start this one again.") from None
            diff = sorted(k for k in set(old) | set(self.manifest)
                          if k in ("format", "settings", "source", "encoder", "collection")
                          and old.get(k) != self.manifest.get(k))
            if diff:
                details = "; ".join(f"{k}: was {json.dumps(old.get(k), default=str)[:120]}, now "
                                    f"{json.dumps(self.manifest.get(k), default=str)[:120]}" for k in diff)
                raise AuditStateError(
                    f"{self.folder} holds an audit with other {', '.join(diff)} ({details}). Its rows would mix two "
                    "audits: use another --out folder, rerun with the same settings to resume, or --restart.")
        elif self.log_path.exists() and self.log_path.stat().st_size:
            raise AuditStateError(f"{self.folder} holds {LOG} but no {MANIFEST}: not an audit folder of this "
                                  "version; use another --out folder or --restart.")
        write_atomic(mpath, to_json_text(self.manifest, indent=2, default=str) + "\n")
        self._load_log()
        self._file = open(self.log_path, "ab")

    def _load_log(self) -> None:
        path = self.log_path
        if not path.exists():
            return
        data = path.read_bytes()
        good = data.rfind(b"\n") + 1  # rows end with a newline; anything after the last one is a torn write
        lines = data[:good].split(b"\n")[:-1] if good else []
        keep = good
        offset = 0
        for line in lines:
            try:
                row = json.loads(line)
                key = row["key"]
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                keep = offset  # a damaged row (a torn write ended by a later newline): cut from here
                break
            offset += len(line) + 1
            if key in self.done:
                self.duplicates += 1
                continue
            row.pop("search", None)
            self.done[key] = row
        if keep < len(data):
            self.cut_bytes = len(data) - keep
            with open(path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
            if keep != good:  # rows after a damaged one are dropped too: reload what is left
                self.done.clear()
                self._load_log()
        if self.duplicates:
            warnings.warn(f"{path} holds {self.duplicates} repeated row(s); the first of each key counts.",
                          stacklevel=2)

    def commit(self, row: Mapping) -> bool:
        """Append one row durably (one write, flush, fsync). A key already committed is skipped.

        Returns:
            True when written, False when the key was already done.
        """
        key = row["key"]
        if key in self.done:
            return False
        line = (to_json_text(dict(row), indent=None, allow_nan=False) + "\n").encode("utf-8")
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())
        lean = dict(row)
        lean.pop("search", None)
        self.done[key] = lean
        return True

    def rows(self, *, with_search: bool = True) -> Iterator[dict]:
        """Every committed row, in commit order, read back from the log (first row of each key)."""
        seen: set[str] = set()
        with open(self.log_path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                row = json.loads(line)
                if row["key"] in seen:
                    continue
                seen.add(row["key"])
                if not with_search:
                    row.pop("search", None)
                yield row

    def export_parquet(self) -> pathlib.Path | None:
        """Write ``queries.parquet`` (one row per query: its numbers; no maps), when pyarrow is installed.

        Returns:
            The file, or None without pyarrow.
        """
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return None
        records = []
        for row in self.done.values():
            s = row.get("stats") or {}
            st = row.get("stability") or {}
            records.append({
                "key": row["key"], "index": row.get("index"), "name": row.get("name"), "status": row.get("status"),
                "error": row.get("error"), "passes": row.get("passes"), "search_passes": row.get("search_passes"),
                "stability_passes": row.get("stability_passes"), "seconds": row.get("seconds"),
                "worker": row.get("worker"), "explained": s.get("explained"), "total": s.get("total"),
                "border": s.get("border"), "object": s.get("object"), "object_total": s.get("object_total"),
                "checked": s.get("checked"), "stale": s.get("stale"), "stability_sum": st.get("sum"),
                "stability_count": st.get("count"), "hit_ids": json.dumps(s.get("hit_ids", []), default=str),
                "findings": len(row.get("findings") or []),
            })
        table = pa.Table.from_pylist(records)
        target = self.folder / PARQUET
        tmp = self.folder / f".{PARQUET}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return target

    def close(self) -> None:
        """Close the log."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "AuditStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["AuditStateError", "AuditStore", "LOG", "MANIFEST", "PARQUET"]
