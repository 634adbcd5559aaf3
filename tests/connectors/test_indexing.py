"""index_folder: one bad file never stops a run, headers are checked before reading, re-indexing reconciles."""

from __future__ import annotations

import builtins
import os
import shutil
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from qdrant_explain._testing import TinyEncoder
from qdrant_explain.connectors import images as images_module
from qdrant_explain.connectors import index_folder, indexing, open_collection, point_id_for_bytes

BACKENDS = ("client", "edge")


def loc(backend, tmp_path):
    return {"path": str(tmp_path / f"db-{backend}"), "backend": backend}


def tiny_png(path, seed, size=16):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(path)


def make_folder(root, n=6, start=0):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        tiny_png(root / f"img{i:03d}.png", seed=i)
    return root


def points(col):
    """{id: payload} of every point (scrolled through the same adapter the indexer uses)."""
    return dict(col.scroll_payloads())


def all_points(col):
    """{id: (payload, vector bytes)} of every point, full payloads."""
    ids = list(points(col))
    return {h.id: (h.payload, np.asarray(h.vector, dtype=np.float32).tobytes()) for h in col.retrieve(ids)}


class RaisingOpen:
    """``open`` that raises PermissionError for one file (root can read a chmod 000 file)."""

    def __init__(self, name):
        self.name = name

    def __call__(self, file, *args, **kwargs):
        if os.fspath(file).endswith(self.name):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return builtins.open(file, *args, **kwargs)


def test_bad_files_are_listed_with_reasons_and_the_rest_is_indexed(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "imgs", n=5)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "one_pixel.png")
    (folder / "notes.jpg").write_text("this is not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    good = (folder / "img000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    tiny_png(folder / "locked.png", seed=99)
    monkeypatch.setattr(indexing, "open", RaisingOpen("locked.png"), raising=False)
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"))
    reasons = dict(report.failed)
    assert report.added == 5 and report.total == 10
    assert sorted(reasons) == ["empty.png", "locked.png", "notes.jpg", "one_pixel.png", "truncated.png"]
    assert "2x2" in reasons["one_pixel.png"]
    assert "not an image" in reasons["notes.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert reasons["locked.png"] == "cannot read the file: Permission denied"
    assert open_collection("c", path=str(tmp_path / "db")).count() == 5


def test_unreadable_file_chmod_000(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=2)
    locked = folder / "locked.png"
    tiny_png(locked, seed=7)
    locked.chmod(0)
    try:
        with open(locked, "rb"):
            pytest.skip("running as root: chmod 000 does not stop reading (the RaisingOpen test covers it)")
    except PermissionError:
        pass
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"))
    assert report.added == 2 and dict(report.failed) == {"locked.png": "cannot read the file: Permission denied"}


class CountingReader:
    """Wraps a binary file and records how many bytes were read from it."""

    log: dict[str, int] = {}

    def __init__(self, fh, name):
        self._fh, self._name = fh, name
        CountingReader.log.setdefault(name, 0)

    def read(self, n=-1):
        data = self._fh.read(n)
        CountingReader.log[self._name] += len(data)
        return data

    def readinto(self, b):
        n = self._fh.readinto(b)
        CountingReader.log[self._name] += n or 0
        return n

    def __getattr__(self, item):
        return getattr(self._fh, item)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def test_large_non_images_are_refused_on_their_header(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "imgs", n=3)
    big = 1536 * 1024 * 1024
    for name in ("huge.png", "huge.jpg"):
        with open(folder / name, "wb") as fh:  # sparse: 1.5 GB of zeros, no disk used
            fh.truncate(big)
    CountingReader.log = {}
    monkeypatch.setattr(indexing, "open", lambda f, mode="r": CountingReader(builtins.open(f, mode), os.path.basename(f)),
                        raising=False)
    tracemalloc.start()
    try:
        report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.added == 3 and sorted(dict(report.failed)) == ["huge.jpg", "huge.png"]
    assert all("not an image" in r for _, r in report.failed)
    assert CountingReader.log["huge.png"] <= images_module.HEADER_BYTES
    assert CountingReader.log["huge.jpg"] <= images_module.HEADER_BYTES
    assert peak < 64 * 1024 * 1024, f"peak traced memory {peak / 2**20:.0f} MiB"


def test_hash_is_streamed_and_matches_the_point_id(tmp_path):
    import io

    data = os.urandom(3 * images_module.HASH_CHUNK + 17)
    stream = io.BytesIO(data)
    reads = []
    orig = stream.read
    stream.read = lambda n=-1: reads.append(n) or orig(n)
    digest = images_module.sha256_stream(stream)
    assert indexing.point_id_for_sha256(digest) == point_id_for_bytes(data)
    assert reads and all(0 < n <= images_module.HASH_CHUNK for n in reads)
    assert stream.tell() == 0


def test_encoder_failure_on_one_image_is_isolated(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=5)
    bad = np.asarray(Image.open(folder / "img002.png").convert("RGB"))

    class Picky(TinyEncoder):
        def encode(self, pixels):
            target = self.prepare(bad).pixels
            if any(np.array_equal(p, target) for p in np.asarray(pixels).reshape(-1, *target.shape)):
                raise RuntimeError("CUDA error: device-side assert")
            return super().encode(pixels)

    report = index_folder(folder, "c", encoder=Picky(), progress=False, path=str(tmp_path / "db"), batch_size=4)
    assert report.added == 4
    assert [f for f, _ in report.failed] == ["img002.png"] and "CUDA error" in report.failed[0][1]


def test_an_encoder_that_always_fails_raises(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=3)

    class Broken(TinyEncoder):
        def encode(self, pixels):
            raise RuntimeError("model weights missing")

    with pytest.raises(RuntimeError, match="model weights missing"):
        index_folder(folder, "c", encoder=Broken(), progress=False, path=str(tmp_path / "db"))


def test_symlink_leaving_the_folder_is_refused(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=2)
    secret = tmp_path / "private.png"
    tiny_png(secret, seed=42)
    (folder / "link.png").symlink_to(secret)
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"))
    assert report.added == 2 and [f for f, _ in report.failed] == ["link.png"]
    assert "outside the indexed folder" in report.failed[0][1]


def test_non_utf8_file_name_is_listed_not_stored(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=2)
    name = os.fsdecode(b"caf\xff.png")
    tiny_png(folder / name, seed=5)
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"))
    assert report.added == 2 and [f for f, _ in report.failed] == [name]
    assert "UTF-8" in report.failed[0][1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_reindex_reconciles_moved_changed_gone_and_prunes(tmp_path, backend):
    folder = make_folder(tmp_path / "imgs", n=6)
    where = loc(backend, tmp_path)
    first = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    assert (first.added, first.unchanged) == (6, 0)
    col = first.collection
    foreign_ids = [1, 2, "8c5e0f4e-0c2f-4e63-a3c6-3b1e7a8b5d10"]
    rng = np.random.default_rng(0)
    foreign_payloads = [{"path": "img001.png", "note": "from another tool"}, {"caption": "x"},
                        {"path": "elsewhere/img003.png", "sha256": "0" * 64}]
    col.upsert(foreign_ids, rng.normal(size=(3, 128)), foreign_payloads)
    before = all_points(col)

    again = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    assert (again.added, again.unchanged, again.moved, again.stale) == (0, 6, (), ())

    old_changed = point_id_for_bytes((folder / "img000.png").read_bytes())
    tiny_png(folder / "img000.png", seed=1000)  # changed content, same name
    (folder / "img001.png").unlink()  # gone
    (folder / "sub").mkdir()
    (folder / "img002.png").rename(folder / "sub" / "renamed.png")  # moved
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    assert report.added == 1 and report.unchanged == 3
    assert report.moved == (("img002.png", "sub/renamed.png"),)
    assert report.changed == ("img000.png",) and report.gone == ("img001.png",) and report.pruned == 0
    now = points(col)
    moved_id = point_id_for_bytes((folder / "sub" / "renamed.png").read_bytes())
    assert now[moved_id]["path"] == "sub/renamed.png"
    assert old_changed in now  # stale, kept without prune

    pruned = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, prune=True, **where)
    assert pruned.pruned == 2 and pruned.added == 0 and pruned.moved == ()
    final = all_points(col)
    ours = {pid: p for pid, (p, _) in final.items() if pid not in foreign_ids}
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert sorted(p["path"] for p in ours.values()) == files
    for pid, payload in ours.items():
        assert pid == point_id_for_bytes((folder / payload["path"]).read_bytes())
    for pid in foreign_ids:  # nothing else in the collection changed, byte for byte
        assert final[pid] == before[pid]
    again = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, prune=True, **where)
    assert (again.added, again.pruned, again.stale, again.moved) == (0, 0, (), ())


def test_points_outside_the_scan_scope_are_not_judged(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=2)
    make_folder(folder / "sub", n=2, start=10)
    where = {"path": str(tmp_path / "db")}
    assert index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where).added == 4
    flat = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, recursive=False, prune=True, **where)
    assert (flat.total, flat.unchanged, flat.gone, flat.pruned) == (2, 2, (), 0)
    assert flat.collection.count() == 4


def test_an_unreadable_file_keeps_its_point(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "imgs", n=3)
    where = {"path": str(tmp_path / "db")}
    index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    monkeypatch.setattr(indexing, "open", RaisingOpen("img001.png"), raising=False)
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, prune=True, **where)
    assert [f for f, _ in report.failed] == ["img001.png"]
    assert (report.gone, report.changed, report.pruned) == ((), (), 0)
    assert report.collection.count() == 3


def test_a_file_replaced_by_a_non_image_makes_its_point_stale(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=3)
    where = {"path": str(tmp_path / "db")}
    index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    (folder / "img001.png").write_text("oops")
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, prune=True, **where)
    assert report.changed == ("img001.png",) and report.pruned == 1 and report.collection.count() == 2


def test_duplicates_and_renames_of_copies(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=2)
    shutil.copy(folder / "img000.png", folder / "copy.png")
    where = {"path": str(tmp_path / "db")}
    first = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    assert first.added == 2 and first.duplicates == (("img000.png", "copy.png"),)
    (folder / "copy.png").unlink()  # the copy whose path the point carries goes; the original remains
    report = index_folder(folder, "c", encoder=TinyEncoder(), progress=False, **where)
    assert report.moved == (("copy.png", "img000.png"),) and report.gone == ()


def test_batch_size_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"batch_size=\.\.\.\) must be an integer >= 1; got 0"):
        index_folder(tmp_path, "c", encoder=TinyEncoder(), progress=False, path=str(tmp_path / "db"), batch_size=0)
