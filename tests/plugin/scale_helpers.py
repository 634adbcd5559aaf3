"""Helpers of the scale-audit tests (a module with a unique name, importable from both test files)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from click.testing import CliRunner

from qdrant_explain.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def photo_collection(root, n: int, seed: int, prefix: str) -> dict:
    """``n`` smooth photos ``{prefix}00.png``... in ``root/photos``, indexed as collection "c" in ``root/db`` with
    the tiny encoder (path-based embedded Qdrant)."""
    from PIL import Image

    from plugin_helpers import TINY, _smooth_image

    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(_smooth_image(rng)).save(photos / f"{prefix}{i:02d}.png")
    db = root / "db"
    out = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output
    return {"db": db, "photos": photos, "root": root}


def collection_fingerprint(db, name="c"):
    """Every point (id, vector, payload) and every storage file's bytes: what "unchanged" means."""
    from qdrant_client import QdrantClient

    from qdrant_explain.connectors.client import close_shared_clients

    close_shared_clients()  # the embedded store allows one client per folder
    cl = QdrantClient(path=str(db))
    try:
        points, offset = [], None
        while True:
            recs, offset = cl.scroll(name, limit=256, offset=offset, with_payload=True, with_vectors=True)
            points += [(str(r.id), json.dumps(r.payload, sort_keys=True), np.asarray(r.vector).tobytes()) for r in recs]
            if offset is None:
                break
    finally:
        cl.close()
    files = {str(p.relative_to(db)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(db.rglob("*"))
             if p.is_file()}
    return sorted(points), files
