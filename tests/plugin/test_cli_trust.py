"""Trust boundaries end to end through the CLI: what a collection, a payload, a folder or a server may not do.

Each crafted collection is built in-process with the connectors (the embedded client is
shared per folder and process, as the CLI uses it), then attacked through ``CliRunner``.
"""

from __future__ import annotations

import base64
import http.server
import io
import re
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from plugin_helpers import TINY
from PIL import Image

from qdrant_explain.cli import main
from qdrant_explain.connectors import create_collection


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def one_line_error(out, *fragments):
    """The output is exit 1 with exactly one 'Error:' line and no traceback; returns that line."""
    assert out.exit_code == 1, out.output
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("Error: ") and sum(ln.startswith("Error") for ln in lines) == 1, out.stderr
    assert "Traceback" not in out.output
    for f in fragments:
        assert f.lower() in lines[-1].lower(), lines[-1]
    return lines[-1]


def _png(color, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(sum(color))
    arr = np.clip(np.array(color)[None, None] + rng.integers(-20, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _tiny_vector(png: bytes) -> np.ndarray:
    from qdrant_explain._testing import TinyEncoder
    from qdrant_explain.connectors import load_image

    enc = TinyEncoder()
    return enc.encode(enc.prepare(load_image(png)).pixels[None])[0]


def crafted(db, name, *, metadata, payloads, vectors=None):
    """A collection at ``db`` whose metadata and payloads are whatever an attacker wrote."""
    col = create_collection(name, vector_size=128, path=str(db))
    col.client.update_collection(name, metadata={"qdrant_explain": metadata})
    vecs = np.asarray(vectors if vectors is not None else np.random.default_rng(0).random((len(payloads), 128)))
    col.upsert(list(range(1, len(payloads) + 1)), vecs, payloads)
    return col


@pytest.fixture()
def query(tmp_path):
    q = tmp_path / "q.png"
    q.write_bytes(_png((200, 40, 40)))
    return q


# ----------------------------------------------------------------------------- 16.1 no code from metadata


def test_module_encoder_recorded_in_a_collection_is_never_imported(tmp_path, query, monkeypatch):
    mods = tmp_path / "mods"
    mods.mkdir()
    marker = tmp_path / "pwned.txt"
    (mods / "qe_evil_encoder.py").write_text(
        f"import pathlib, sys\npathlib.Path({str(marker)!r}).write_text('ran')\nsys.exit(3)\n"
        "def make(images):\n    return images.reshape(len(images), -1)[:, :128]\n"
    )
    monkeypatch.syspath_prepend(str(mods))
    db = tmp_path / "db"
    crafted(db, "evil", metadata={"encoder": "qe_evil_encoder:make", "dim": 128}, payloads=[{"path": "a.png"}])
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "q.png").write_bytes(query.read_bytes())
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(_png((10, 200, 10)))
    commands = [
        ("search", query, "--collection", "evil", "--db", db),
        ("explain", query, "--point-id", 1, "--collection", "evil", "--db", db),
        ("compare", query, 1, 1, "--collection", "evil", "--db", db),
        ("audit", tmp_path / "queries", "--collection", "evil", "--db", db, "--out", tmp_path / "audit"),
        ("index", tmp_path / "photos", "--collection", "evil", "--db", db, "--quiet"),
    ]
    for args in commands:
        out = run(*args)
        line = one_line_error(out, "qe_evil_encoder:make", "--encoder SPEC")
        assert "not loaded" in line, line
        assert "qe_evil_encoder" not in sys.modules and not marker.exists(), args


def test_trusted_recorded_encoder_still_needs_no_flag(indexed):
    out = run("search", indexed["query"], "--collection", "photos", "--db", indexed["db"], "-k", 2, "--quiet")
    assert out.exit_code == 0, out.output
    assert len(out.stdout.strip().splitlines()) == 2


# ----------------------------------------------------------------------------- 16.2 no file outside the root


@pytest.fixture()
def leaky(tmp_path):
    """A collection claiming image_root='/' whose payloads point outside any folder the user gave."""
    secret = tmp_path / "private" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(_png((1, 2, 250)))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ok.png").write_bytes(_png((30, 160, 30)))
    (photos / "link.png").symlink_to(secret)
    db = tmp_path / "db"
    payloads = [{"path": str(secret)}, {"path": "../private/secret.png"}, {"path": "link.png"},
                {"path": "/etc/passwd"}, {"path": "ok.png"}]
    vec = _tiny_vector(secret.read_bytes())
    crafted(db, "leak", metadata={"encoder": TINY, "dim": 128, "image_root": "/"}, payloads=payloads,
            vectors=np.stack([vec] * len(payloads)))
    return {"db": db, "secret": secret, "photos": photos}


def _embeds(html_path, data: bytes) -> bool:
    if not html_path.exists():
        return False
    text = html_path.read_text(encoding="utf-8", errors="replace")
    return base64.b64encode(data)[:60].decode() in text


def test_metadata_image_root_is_ignored_explain_html_embeds_nothing(leaky, query, tmp_path):
    html = tmp_path / "why.html"
    out = run("explain", query, "--point-id", 1, "--collection", "leak", "--db", leaky["db"], "--players", "grid:2x2",
              "--html", html)
    one_line_error(out, "no image root is configured", "--image-root DIR", "metadata is not trusted")
    assert not _embeds(html, leaky["secret"].read_bytes())


@pytest.mark.parametrize("point", [1, 2, 3, 4])
def test_payload_paths_leaving_the_user_root_are_refused(leaky, query, tmp_path, point):
    html = tmp_path / "why.html"
    out = run("explain", query, "--point-id", point, "--collection", "leak", "--db", leaky["db"],
              "--image-root", leaky["photos"], "--players", "grid:2x2", "--html", html)
    one_line_error(out, "outside the image root")
    assert not _embeds(html, leaky["secret"].read_bytes())


def test_a_payload_inside_the_user_root_is_explained(leaky, query, tmp_path):
    html = tmp_path / "why.html"
    out = run("explain", query, "--point-id", 5, "--collection", "leak", "--db", leaky["db"],
              "--image-root", leaky["photos"], "--players", "grid:2x2", "--html", html, "--quiet")
    assert out.exit_code == 0, out.output
    assert html.exists() and not _embeds(html, leaky["secret"].read_bytes())


def test_index_records_the_root_on_this_machine_not_in_trust_of_the_collection(photo_dirs, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("QDRANT_EXPLAIN_HOME", str(home))
    photos, queries = photo_dirs
    db = tmp_path / "db"
    assert run("index", photos, "--collection", "p", "--db", db, "--encoder", TINY, "--quiet").exit_code == 0
    assert str(photos.resolve()) in (home / "image_roots.json").read_text()
    # the collection's metadata now claims another root: it changes nothing
    from qdrant_explain.connectors import open_collection

    col = open_collection("p", path=str(db))
    col.client.update_collection("p", metadata={"qdrant_explain": {"encoder": TINY, "dim": 128, "image_root": "/"}})
    out = run("explain", queries / "q0.png", "--point-id", _first_id(queries / "q0.png", db, "p"), "--collection", "p",
              "--db", db, "--players", "grid:2x2", "--quiet")
    assert out.exit_code == 0, out.output
    assert open_collection("p", path=str(db)).info.image_root == str(photos.resolve())


def _first_id(query, db, name):
    import json

    out = run("search", query, "--collection", name, "--db", db, "-k", 1, "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["hits"][0]["id"]


def test_payload_urls_are_refused_unless_allow_urls(tmp_path, query):
    db = tmp_path / "db"
    crafted(db, "urls", metadata={"encoder": TINY, "dim": 128}, payloads=[{"url": "http://127.0.0.1:9/x.png"}])
    out = run("explain", query, "--point-id", 1, "--collection", "urls", "--db", db, "--players", "grid:2x2")
    one_line_error(out, "fetching URLs is disabled", "--allow-urls")
    out = run("explain", query, "--point-id", 1, "--collection", "urls", "--db", db, "--players", "grid:2x2",
              "--allow-urls")
    one_line_error(out, "could not fetch")  # it tried: the flag reached the resolver


# ----------------------------------------------------------------------------- 16.16 a folder that is not a database


def test_db_pointing_at_a_photo_folder_writes_nothing(photo_dirs, tmp_path):
    import shutil

    photos = tmp_path / "photos"
    shutil.copytree(photo_dirs[0], photos)
    before = sorted(p.name for p in photos.iterdir())
    for args in (("search", photo_dirs[1] / "q0.png", "--collection", "x", "--db", photos),
                 ("index", photo_dirs[0], "--collection", "x", "--db", photos, "--encoder", TINY, "--quiet")):
        out = run(*args)
        one_line_error(out, "not an embedded Qdrant database", "--db PATH")
        assert sorted(p.name for p in photos.iterdir()) == before, args


def test_empty_db_folder_is_for_index_only(photo_dirs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run("search", photo_dirs[1] / "q0.png", "--collection", "x", "--db", empty)
    one_line_error(out, "not found", "empty")
    assert list(empty.iterdir()) == []
    out = run("index", photo_dirs[0], "--collection", "x", "--db", empty, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output and (empty / "meta.json").is_file()


# ----------------------------------------------------------------------------- 16.7 API key over http


def test_api_key_over_plain_http_is_refused_without_insecure(query):
    out = run("search", query, "--collection", "c", "--url", "http://192.0.2.1:6333", "--api-key", "s3cret")
    line = one_line_error(out, "plain http", "--insecure")
    assert "s3cret" not in out.output and "s3cret" not in line


# ----------------------------------------------------------------------------- 16.17 clear messages


class _NotQdrant(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"<html><body>It works!</body></html>"
        self.send_response(404 if self.path != "/" else 200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_qdrant_is_named(query):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotQdrant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = run("search", query, "--collection", "photos", "--url", url)
        one_line_error(out, "is not Qdrant", url)
    finally:
        server.shutdown()


def test_corrupt_collection_metadata_says_so_and_encoder_flag_works(tmp_path, query):
    db = tmp_path / "db"
    crafted(db, "bad", metadata="not an object", payloads=[{"path": "a.png"}])
    out = run("search", query, "--collection", "bad", "--db", db)
    one_line_error(out, "corrupt", "--encoder SPEC")
    out = run("search", query, "--collection", "bad", "--db", db, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output


def test_corrupt_embedded_storage_says_so(photo_dirs, tmp_path, query):
    db = tmp_path / "db"
    assert run("index", photo_dirs[0], "--collection", "c", "--db", db, "--encoder", TINY, "--quiet").exit_code == 0
    from qdrant_explain.connectors.client import close_shared_clients

    close_shared_clients()
    for f in (db / "collection" / "c").glob("*.sqlite"):
        f.write_bytes(b"\x00garbage" * 64)
    out = run("search", query, "--collection", "c", "--db", db)
    one_line_error(out, "damaged", str(db.resolve()))
    close_shared_clients()
    (db / "meta.json").write_text("{not json")
    out = run("search", query, "--collection", "c", "--db", db)
    one_line_error(out, "corrupt", "meta.json")


def test_empty_collection_is_named(tmp_path, query):
    db = tmp_path / "db"
    col = create_collection("none", vector_size=128, path=str(db), encoder=TINY)
    assert col.count() == 0
    out = run("search", query, "--collection", "none", "--db", db)
    one_line_error(out, "is empty", "index")


def test_dashless_upper_case_uuid_point_id_is_normalised(indexed):
    pid = _first_id(indexed["query"], indexed["db"], "photos")
    odd = pid.replace("-", "").upper()
    out = run("explain", indexed["query"], "--point-id", odd, "--collection", "photos", "--db", indexed["db"],
              "--players", "grid:2x2", "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output


def test_slic_warning_is_one_line_without_paths_and_silent_with_quiet(tmp_path):
    noise = tmp_path / "noise.png"  # SLIC merges pure noise into one segment and warns
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise)
    args = ("explain", noise, "--image", noise, "--encoder", TINY, "--players", "slic:50", "--method", "occlusion")
    loud = run(*args)
    assert loud.exit_code == 0, loud.output
    warned = [ln for ln in loud.stderr.splitlines() if "SLIC" in ln]
    assert warned and all(ln.startswith("warning: ") for ln in warned), loud.stderr
    assert not re.search(r"\.py:\d+", loud.stderr), loud.stderr
    quiet = run(*args, "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr.strip() == "", quiet.stderr


# ----------------------------------------------------------------------------- 16.13 options named in messages exist


def _all_option_names() -> set[str]:
    import click

    names: set[str] = set()
    for cmd in [main, *main.commands.values()]:
        for p in cmd.params:
            if isinstance(p, click.Option):
                names.update(o for o in p.opts + p.secondary_opts if o.startswith("--"))
        names.update(o for o in cmd.get_help_option_names(click.Context(cmd)) if o.startswith("--"))
    return names


def _message_options() -> dict[str, set[str]]:
    """``--option`` tokens inside string literals (f-strings included) of connectors/ and plugin/cli/."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    found: dict[str, set[str]] = {}
    for folder in (root / "connectors", root / "plugin" / "cli"):
        for src in folder.rglob("*.py"):
            tree = ast.parse(src.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    for opt in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", node.value):
                        found.setdefault(opt, set()).add(src.relative_to(root).as_posix())
    return found


def test_every_option_named_in_a_message_exists():
    options = _all_option_names()
    named = _message_options()
    assert {"--vector-name", "--image-root", "--allow-urls", "--backend", "--insecure"} <= options
    missing = {opt: sorted(files) for opt, files in named.items() if opt not in options}
    assert not missing, f"messages recommend options no command has: {missing}"
    assert {"--image-root", "--allow-urls", "--vector-name", "--encoder"} <= set(named)


def test_vector_name_and_backend_options_reach_the_collection(tmp_path, query):
    from qdrant_client import models

    from qdrant_explain.connectors.client import connect
    from qdrant_explain.connectors.collection import OpenRequest

    db = tmp_path / "db"
    client, _ = connect(OpenRequest(name="multi", path=str(db)), create=True)  # the CLI's shared client
    client.create_collection("multi", vectors_config={"img": models.VectorParams(size=128, distance="Cosine"),
                                                      "txt": models.VectorParams(size=4, distance="Cosine")},
                             metadata={"qdrant_explain": {"encoder": TINY, "dim": 128}})
    client.upsert("multi", points=[models.PointStruct(id=1, vector={"img": [0.1] * 128, "txt": [1, 0, 0, 0]},
                                                      payload={"path": "a.png"})])
    out = run("search", query, "--collection", "multi", "--db", db)
    one_line_error(out, "several named vectors", "--vector-name NAME")
    out = run("search", query, "--collection", "multi", "--db", db, "--vector-name", "img", "--quiet")
    assert out.exit_code == 0, out.output
    assert out.stdout.split()[2] == "1", out.stdout
    out = run("search", query, "--collection", "multi", "--db", db, "--backend", "edge")
    one_line_error(out, "not a Qdrant Edge shard")
    out = run("search", query, "--collection", "multi", "--db", db, "--backend", "faiss")
    assert out.exit_code == 2 and "--backend" in out.output
