"""qdrant_explain._io: output targets checked first, atomic writes, terminal-safe names, UTF-8 JSON."""

from __future__ import annotations

import errno
import json
import os

import pytest

from qdrant_explain import _io
from qdrant_explain._io import (
    OutputPathError,
    check_output_dir,
    check_output_path,
    escape_surrogates,
    safe_text,
    to_json_text,
    write_atomic,
)

NON_UTF8 = os.fsdecode(b"caf\xff.png")


# ----------------------------------------------------------------------------- safe_text


@pytest.mark.parametrize(("raw", "shown"), [
    ("clear\x1b[2Jscreen.png", "clear\\x1b[2Jscreen.png"),
    ("title\x1b]0;pwned\x07.png", "title\\x1b]0;pwned\\x07.png"),
    ("two\nlines\r.png", "two\\nlines\\r.png"),
    ("csi\x9b31m.png", "csi\\x9b31m.png"),
    ("rtl\u202egnp.exe", "rtl\\u202egnp.exe"),
    (NON_UTF8, "caf\\xff.png"),
    ("café 日本 photo.png", "café 日本 photo.png"),
])
def test_safe_text_escapes_what_could_drive_a_terminal(raw, shown):
    assert safe_text(raw) == shown
    assert safe_text(raw).isprintable()


def test_safe_text_of_bytes_and_objects():
    assert safe_text(b"caf\xff\x1b.png") == "caf\\xff\\x1b.png"
    assert safe_text(42) == "42"


# ----------------------------------------------------------------------------- JSON


def test_to_json_text_is_valid_utf8_with_surrogates():
    obj = {"query_name": NON_UTF8, "payload": {NON_UTF8: ["é", NON_UTF8]}, "n": 1}
    text = to_json_text(obj)
    back = json.loads(text.encode("utf-8").decode("utf-8"))  # encodes strictly, decodes strictly
    assert back == {"query_name": "caf\\xff.png", "payload": {"caf\\xff.png": ["é", "caf\\xff.png"]}, "n": 1}
    assert "é" in text  # non-ASCII stays readable
    assert to_json_text({"a": "b"}, indent=None) == '{"a": "b"}'


def test_escape_surrogates_keeps_newlines():
    assert escape_surrogates(f"<p>{NON_UTF8}</p>\n") == "<p>caf\\xff.png</p>\n"


# ----------------------------------------------------------------------------- check_output_path


def test_check_output_path_accepts_new_and_existing_files(tmp_path):
    assert check_output_path(None, option="--json", allow_stdout=True) is None
    assert check_output_path("-", option="--json", allow_stdout=True) == "-"
    assert check_output_path(tmp_path / "out.json", option="--json", allow_stdout=True) == tmp_path / "out.json"
    (tmp_path / "old.png").write_bytes(b"x")
    assert check_output_path(str(tmp_path / "old.png"), option="--png", allow_stdout=False) == tmp_path / "old.png"
    assert check_output_path(tmp_path / NON_UTF8, option="--html", allow_stdout=False).name == NON_UTF8


@pytest.mark.parametrize(("target", "fragment"), [
    ("-", "cannot write to standard output"),
    ("", "needs a file name"),
    ("{tmp}", "is a folder"),
    ("{tmp}/missing/out.png", "does not exist"),
    ("{tmp}/file.txt/out.png", "is not a folder"),
])
def test_check_output_path_refuses_names_the_option(tmp_path, target, fragment):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputPathError, match=fragment) as info:
        check_output_path(target.format(tmp=tmp_path), option="--png", allow_stdout=False)
    assert info.value.option == "--png" and str(info.value).startswith("--png")
    assert isinstance(info.value, ValueError)


def test_check_output_path_refuses_unwritable_folder_and_read_only_file(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "ro.json").write_text("{}")
    denied = {str(locked), str(tmp_path / "ro.json")}
    real_access = os.access
    monkeypatch.setattr(_io.os, "access", lambda p, mode: str(p) not in denied and real_access(p, mode))
    with pytest.raises(OutputPathError, match="is not writable"):
        check_output_path(locked / "out.json", option="--json", allow_stdout=True)
    with pytest.raises(OutputPathError, match="read-only"):
        check_output_path(tmp_path / "ro.json", option="--json", allow_stdout=True)


def test_check_output_path_unwritable_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a 0555 folder stays writable (the monkeypatched test covers it)")
        with pytest.raises(OutputPathError, match="is not writable"):
            check_output_path(locked / "out.json", option="--json", allow_stdout=True)
    finally:
        locked.chmod(0o755)


def test_check_output_dir(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper", option="--out") == tmp_path / "new" / "deeper"
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        check_output_dir(tmp_path / "f", option="--out")
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output_dir(tmp_path / "f" / "sub", option="--out")


# ----------------------------------------------------------------------------- write_atomic


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_atomic_writes_and_keeps_mode(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "é\n")
    assert target.read_bytes() == "é\n".encode("utf-8")
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    target.chmod(0o640)
    write_atomic(target, b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG" and target.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == ["out.json"]


class HalfWriter:
    """A file object that writes half of what it is given, then fails as a full disk does."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_failing_write_midway_leaves_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text('{"valid": true}\n')
    real_fdopen = os.fdopen
    monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, json.dumps({"valid": False, "big": "x" * 10000}))
    assert json.loads(target.read_text()) == {"valid": True}
    assert leftovers(tmp_path) == ["result.json"]


def test_failing_fsync_leaves_no_new_file(tmp_path, monkeypatch):
    def boom(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_io.os, "fsync", boom)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "new.png", b"data")
    assert leftovers(tmp_path) == []


def test_write_atomic_refuses_unencodable_text_before_touching_anything(tmp_path):
    target = tmp_path / "out.html"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, f"<p>{NON_UTF8}</p>")
    assert target.read_text() == "old" and leftovers(tmp_path) == ["out.html"]
    with pytest.raises(TypeError, match="takes bytes or str"):
        write_atomic(target, 42)


def test_result_writers_are_atomic(pair1, tmp_path, monkeypatch):
    json_path, png_path, html_path = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "r.html"
    for p in (json_path, png_path, html_path):
        p.write_text("previous")
    real_fdopen = os.fdopen
    monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    for write, p in ((pair1.to_json, json_path), (pair1.save_png, png_path), (pair1.to_html, html_path)):
        with pytest.raises(OSError):
            write(p)
        assert p.read_text() == "previous"
    assert leftovers(tmp_path) == ["r.html", "r.json", "r.png"]


def strings(obj):
    """Every string in a parsed JSON document (keys and values)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def test_result_json_and_html_with_non_utf8_names(search_results, tmp_path):
    import dataclasses

    hits = [dataclasses.replace(search_results.hits[0], payload={"path": NON_UTF8}), *search_results.hits[1:]]
    results = dataclasses.replace(search_results, query_name=NON_UTF8, hits=type(search_results.hits)(hits))
    results.to_json(tmp_path / "r.json")
    results.to_html(tmp_path / "r.html")
    data = json.loads((tmp_path / "r.json").read_bytes().decode("utf-8"))
    assert "caf\\xff.png" in set(strings(data))  # the payload path, escaped, wherever the layout puts it
    html = (tmp_path / "r.html").read_bytes().decode("utf-8")
    assert "caf\\xff.png" in html


def test_write_atomic_follows_symlinks_and_writes_fifos_in_place(tmp_path):
    import threading

    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    def read():
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read)
    reader.start()
    write_atomic(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"] and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "pipe", "real.json"]
