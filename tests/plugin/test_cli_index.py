"""``qdrant-explain index``: bad files listed and skipped, --strict, and re-indexing that reconciles (--prune)."""

from __future__ import annotations

import builtins
import os
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plugin_helpers import TINY
from qdrant_explain.cli import main
from qdrant_explain.connectors import indexing, point_id_for_bytes

COUNTS = re.compile(r"^(\d+) added, (\d+) already indexed, (\d+) failed \((\d+) images\), (\d+) moved, (\d+) stale "
                    r"\((\d+) changed, (\d+) gone\), (\d+) pruned")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def counts(out) -> dict:
    m = COUNTS.match(out.stdout)
    assert m, out.stdout
    keys = ("added", "already", "failed", "images", "moved", "stale", "changed", "gone", "pruned")
    return dict(zip(keys, map(int, m.groups())))


def failures(out) -> dict:
    """{file: reason} from the 'failed: FILE: REASON' lines on stderr."""
    got = {}
    for line in out.stderr.splitlines():
        if line.startswith("failed: "):
            name, _, reason = line[len("failed: "):].partition(": ")
            got[name] = reason
    return got


def tiny_png(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).save(path)


class RaisingOpen:
    """``open`` that raises PermissionError for one file name (what chmod 000 does for a non-root user)."""

    def __init__(self, name):
        self.name = name

    def __call__(self, file, *args, **kwargs):
        if os.path.basename(os.fspath(file)) == self.name:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return builtins.open(file, *args, **kwargs)


def make_unreadable(path, monkeypatch):
    """chmod 000; when that does not stop reading (root), make opening it raise as it would."""
    path.chmod(0)
    try:
        with open(path, "rb"):
            readable = True
    except PermissionError:
        readable = False
    if readable:
        monkeypatch.setattr(indexing, "open", RaisingOpen(path.name), raising=False)


def collection_state(db, name):
    """{id: (payload, vector bytes)} of every point."""
    from qdrant_explain.connectors import open_collection

    col = open_collection(name, path=str(db))
    ids = [pid for pid, _ in col.scroll_payloads()]
    return {h.id: (h.payload, np.asarray(h.vector, dtype=np.float32).tobytes()) for h in col.retrieve(ids)}


def test_index_folder_with_bad_files_then_change_delete_rename_and_prune(tmp_path, monkeypatch):
    """Must show 2: 300 images + 3 bad + 1 unreadable; rerun adds 0; change/delete/rename; --prune."""
    photos, db = tmp_path / "photos", tmp_path / "db"
    photos.mkdir()
    for i in range(300):
        tiny_png(photos / f"img{i:03d}.png", seed=i)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(photos / "bad_one_pixel.png")
    (photos / "bad_text.jpg").write_text("hello, not a jpeg")
    good = (photos / "img000.png").read_bytes()
    (photos / "bad_truncated.png").write_bytes(good[: len(good) // 2])
    tiny_png(photos / "locked.png", seed=999)
    make_unreadable(photos / "locked.png", monkeypatch)

    first = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--quiet")
    assert first.exit_code == 0, first.output
    assert counts(first) == {"added": 300, "already": 0, "failed": 4, "images": 304, "moved": 0, "stale": 0,
                             "changed": 0, "gone": 0, "pruned": 0}
    reasons = failures(first)
    assert sorted(reasons) == ["bad_one_pixel.png", "bad_text.jpg", "bad_truncated.png", "locked.png"]
    assert "2x2" in reasons["bad_one_pixel.png"] and "not an image" in reasons["bad_text.jpg"]
    assert "Permission denied" in reasons["locked.png"]
    assert re.search("truncated|corrupt", reasons["bad_truncated.png"])

    strict = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--quiet", "--strict")
    assert strict.exit_code == 1 and "4 file(s) failed (--strict)" in strict.stderr
    assert counts(strict)["added"] == 0 and counts(strict)["already"] == 300

    # points another tool wrote into the same collection: they must come out byte for byte unchanged
    from qdrant_explain.connectors import create_collection

    col = create_collection("c", vector_size=128, path=str(db))
    rng = np.random.default_rng(1)
    col.upsert([10, "3f0e8c9a-1b2c-4d5e-8f70-112233445566"], rng.normal(size=(2, 128)),
               [{"path": "img005.png", "source": "other tool"}, {"path": "img010.png", "sha256": "f" * 64}])
    others = {10, "3f0e8c9a-1b2c-4d5e-8f70-112233445566"}
    before = collection_state(db, "c")

    changed_old = point_id_for_bytes((photos / "img001.png").read_bytes())
    tiny_png(photos / "img001.png", seed=5000)
    (photos / "img002.png").unlink()
    (photos / "img003.png").rename(photos / "renamed.png")
    report = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY)
    assert report.exit_code == 0, report.output
    assert counts(report) == {"added": 1, "already": 298, "failed": 4, "images": 303, "moved": 1, "stale": 2,
                              "changed": 1, "gone": 1, "pruned": 0}
    assert "moved: img003.png -> renamed.png" in report.stderr
    assert "stale (content changed): img001.png" in report.stderr and "stale (file gone): img002.png" in report.stderr
    assert "--prune" in report.stderr
    assert changed_old in collection_state(db, "c")

    pruned = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert counts(pruned)["pruned"] == 2 and counts(pruned)["added"] == 0
    after = collection_state(db, "c")
    ours = {pid: payload for pid, (payload, _) in after.items() if pid not in others}
    files = sorted(p.name for p in photos.iterdir() if not p.name.startswith(("bad_", "locked")))
    assert len(files) == 299
    assert sorted(p["path"] for p in ours.values()) == files  # exactly one point per file, current paths
    for pid, payload in ours.items():
        assert pid == point_id_for_bytes((photos / payload["path"]).read_bytes())
    for pid in others:
        assert after[pid] == before[pid]
    unchanged = set(before) - others - {changed_old}
    unchanged -= {pid for pid, (p, _) in before.items() if p.get("path") in ("img002.png", "img003.png")}
    for pid in unchanged:  # every untouched image point: same payload, same vector bytes
        assert after[pid] == before[pid]

    again = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--prune", "--quiet")
    assert counts(again) == {"added": 0, "already": 299, "failed": 4, "images": 303, "moved": 0, "stale": 0,
                             "changed": 0, "gone": 0, "pruned": 0}


def test_strict_exit_code_and_failures_shown_even_quiet(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    tiny_png(photos / "a.png", 1)
    (photos / "b.png").write_bytes(b"")
    out = run("index", photos, "--collection", "c", "--db", tmp_path / "db", "--encoder", TINY, "--quiet")
    assert out.exit_code == 0 and failures(out) == {"b.png": "b.png is empty (0 bytes)."}
    out = run("index", photos, "--collection", "c", "--db", tmp_path / "db", "--encoder", TINY, "--strict")
    assert out.exit_code == 1 and out.stderr.strip().endswith("Error: 1 file(s) failed (--strict).")
    (photos / "b.png").unlink()
    out = run("index", photos, "--collection", "c", "--db", tmp_path / "db", "--encoder", TINY, "--strict")
    assert out.exit_code == 0


@pytest.mark.parametrize("flag", ["--prune", "--strict"])
def test_index_help_documents_flags(flag):
    out = run("index", "--help")
    assert flag in out.stdout
