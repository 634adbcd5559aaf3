"""Shared set-up of the examples: a small photo collection built offline from bundled photos."""

from __future__ import annotations

import pathlib

from qdrant_explain.connectors import index_folder
from qdrant_explain.demo import write_demo_photos

TINY = "qdrant_explain._testing:TinyEncoder"
"""A tiny random encoder (instant; meaningless neighbours). Use "efficientnet-lite0" for real ones."""


def build_collection(workdir: str | pathlib.Path, encoder: str, name: str = "photos"):
    """Write the demo photos under ``workdir`` and index them; returns (db path, photos, query file)."""
    workdir = pathlib.Path(workdir)
    photos = write_demo_photos(workdir / "photos", workdir / "queries")
    db = workdir / "db"
    report = index_folder(photos.folder, name, encoder=encoder, path=str(db), progress=False)
    print(f"indexed {report.added} new photos ({report.skipped} already there) into {db}")
    return db, photos
