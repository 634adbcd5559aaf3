"""CLI outputs: targets checked before any computation, atomic writes, UTF-8 JSON, escaped names."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plugin_helpers import TINY
from qdrant_explain.cli import main

NON_UTF8 = os.fsdecode(b"q\xff.png")
ESCAPES = ("\x1b", "\x07", "\x9b")


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def no_raw_escapes(text: str) -> bool:
    return not any(c in text for c in ESCAPES)


def save(path, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    Image.fromarray(small).resize((32, 32), Image.BICUBIC).save(path)
    return path


FAST = ("--players", "grid:2x2", "--method", "exact", "--encoder", TINY, "--quiet")


# ----------------------------------------------------------------------------- validated first


def targets(tmp_path):
    (tmp_path / "a_folder").mkdir(exist_ok=True)
    return {"missing folder": (tmp_path / "missing" / "out.x", "does not exist"),
            "a folder": (tmp_path / "a_folder", "is a folder")}


@pytest.mark.parametrize("option", ["--json", "--png", "--html"])
@pytest.mark.parametrize("kind", ["missing folder", "a folder"])
def test_explain_output_targets_are_checked_before_anything_runs(tmp_path, option, kind):
    target, fragment = targets(tmp_path)[kind]
    # the images do not exist: if the command ran before checking outputs it would fail on them (exit 1)
    out = run("explain", tmp_path / "nope_q.png", "--image", tmp_path / "nope_h.png", *FAST, option, target)
    assert out.exit_code == 2, out.output
    assert f"'{option}'" in out.stderr and fragment in out.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("option", ["--png", "--html"])
def test_png_and_html_to_stdout_are_refused(tmp_path, option, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run("explain", "nope_q.png", "--image", "nope_h.png", *FAST, option, "-")
    assert out.exit_code == 2 and "standard output" in out.stderr and f"'{option}'" in out.stderr
    assert not (tmp_path / "-").exists()


def test_search_and_compare_and_audit_check_outputs_first(tmp_path):
    missing = tmp_path / "missing" / "out"
    for args in (("search", "nope.png", "--collection", "c", "--db", tmp_path / "db", "--json", missing),
                 ("search", "nope.png", "--collection", "c", "--db", tmp_path / "db", "--html", "-"),
                 ("compare", "nope.png", "1", "2", "--collection", "c", "--db", tmp_path / "db", "--png", missing)):
        out = run(*args)
        assert out.exit_code == 2, (args, out.output)
    (tmp_path / "queries").mkdir()
    (tmp_path / "file").write_text("x")
    out = run("audit", tmp_path / "queries", "--collection", "c", "--db", tmp_path / "db", "--out", tmp_path / "file")
    assert out.exit_code == 2 and "'--out'" in out.stderr and "is a file" in out.stderr


def test_unwritable_folder_is_refused(tmp_path, monkeypatch):
    from qdrant_explain import _io

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(_io.os, "access", lambda p, mode: str(p) != str(locked) and real_access(p, mode))
    out = run("explain", "nope_q.png", "--image", "nope_h.png", *FAST, "--json", locked / "r.json")
    assert out.exit_code == 2 and "not writable" in out.stderr


# ----------------------------------------------------------------------------- non-UTF-8 names, atomic


def test_non_utf8_query_name_json_html_and_stdout(tmp_path):
    query = save(tmp_path / NON_UTF8, 1)
    hit = save(tmp_path / "hit.png", 2)
    js, html = tmp_path / "r.json", tmp_path / "r.html"
    out = run("explain", query, "--image", hit, *FAST, "--json", js, "--html", html)
    assert out.exit_code == 0, out.output
    assert js.stat().st_size > 0 and html.stat().st_size > 0
    json.loads(js.read_bytes().decode("utf-8"))
    assert "q\\xff.png" in html.read_bytes().decode("utf-8")
    piped = run("explain", query, "--image", hit, *FAST, "--json", "-")
    assert piped.exit_code == 0, piped.output
    res = json.loads(piped.stdout_bytes.decode("utf-8"))  # strict UTF-8
    assert res["order"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([NON_UTF8, "hit.png", "r.json", "r.html"])


def test_failed_write_leaves_previous_outputs(tmp_path, monkeypatch):
    from qdrant_explain import _io

    query, hit = save(tmp_path / "q.png", 1), save(tmp_path / "h.png", 2)
    js = tmp_path / "r.json"
    js.write_text('{"previous": true}\n')

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full_disk)
    out = run("explain", query, "--image", hit, *FAST, "--json", js)
    assert out.exit_code == 1 and "No space left" in out.stderr
    assert json.loads(js.read_text()) == {"previous": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png", "q.png", "r.json"]


# ----------------------------------------------------------------------------- escape sequences


def test_escape_sequences_in_names_are_printed_escaped(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    evil = "clear\x1b[2J\x1b]0;pwned\x07.png"
    save(photos / evil, 3)
    save(photos / "ok.png", 4)
    (photos / "bad\x1b[31m.png").write_text("not an image")
    db = tmp_path / "db"
    out = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output
    assert no_raw_escapes(out.stdout + out.stderr) and "failed: bad\\x1b[31m.png: " in out.stderr
    (photos / evil).rename(photos / ("moved\x1b[1m.png"))
    out = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY)
    assert no_raw_escapes(out.stdout + out.stderr) and "moved: clear\\x1b[2J\\x1b]0;pwned\\x07.png -> moved\\x1b[1m.png" in out.stderr
    out = run("search", photos / "ok.png", "--collection", "c", "--db", db, "--encoder", TINY, "-k", 2, "--quiet")
    assert out.exit_code == 0, out.output
    assert no_raw_escapes(out.stdout) and "moved\\x1b[1m.png" in out.stdout
    out = run("explain", tmp_path / "missing\x1b[2J.png", "--image", photos / "ok.png", *FAST)
    assert out.exit_code == 1 and no_raw_escapes(out.stderr) and "\\x1b[2J" in out.stderr
