"""CliRunner tests of every ``qdrant-explain`` command: outputs, JSON fields, exit codes, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from plugin_helpers import OTHER, TINY
from qdrant_explain.cli import main

EXPLAIN_FIELDS = {"method", "order", "encoder", "seed", "players", "query_values", "hit_values", "cross",
                  "base_value", "full_value", "score", "encoder_passes", "seconds"}


def run(*args, env=None):
    runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], env=env)


def db_args(indexed):
    return ["--collection", "photos", "--db", indexed["db"]]


def search_json(indexed, k=3):
    out = run("search", indexed["query"], *db_args(indexed), "-k", k, "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["hits"]


def assert_one_line_error(out, *fragments):
    assert out.exit_code == 1, out.output
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    err = lines[-1]
    assert err.startswith("Error: ") and sum(ln.startswith("Error") for ln in lines) == 1, out.stderr
    assert "Traceback" not in out.output
    for f in fragments:
        assert f.lower() in err.lower(), err


# ------------------------------------------------------------------------------------------ index


def test_index_twice_adds_nothing_the_second_time(photo_dirs, tmp_path):
    photos, _ = photo_dirs
    db = tmp_path / "db"
    first = run("index", photos, "--collection", "c", "--db", db, "--encoder", TINY, "--quiet")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("8 added, 0 already indexed, 0 failed (8 images)")
    second = run("index", photos, "--collection", "c", "--db", db, "--quiet")  # encoder: the recorded one
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("0 added, 8 already indexed")


def test_index_default_db_under_home_env(photo_dirs, tmp_path):
    photos, queries = photo_dirs
    env = {"QDRANT_EXPLAIN_HOME": str(tmp_path / "home")}
    out = run("index", photos, "--collection", "h", "--encoder", TINY, "--quiet", env=env)
    assert out.exit_code == 0, out.output
    assert str(tmp_path / "home" / "db") in out.stdout
    hits = run("search", queries / "q0.png", "--collection", "h", "--json", "-", env=env)
    assert hits.exit_code == 0 and len(json.loads(hits.stdout)["hits"]) == 8


def test_index_wrong_encoder_for_collection(indexed):
    out = run("index", indexed["photos"], *db_args(indexed), "--encoder", OTHER, "--quiet")
    assert_one_line_error(out, "built with encoder")


def test_index_missing_folder_is_usage_error(tmp_path):
    out = run("index", tmp_path / "nope", "--collection", "c", "--db", tmp_path / "db")
    assert out.exit_code == 2


# ------------------------------------------------------------------------------------------ search


def test_search_json_fields_and_table(indexed):
    hits = search_json(indexed, k=4)
    assert len(hits) == 4
    assert all({"id", "score", "payload"} <= set(h) and "explanation" not in h for h in hits)
    assert hits[0]["payload"]["path"] == "img0.png"
    assert hits[0]["score"] >= hits[1]["score"] >= hits[3]["score"]
    table = run("search", indexed["query"], *db_args(indexed), "-k", 2)
    assert table.exit_code == 0
    assert len(table.stdout.strip().splitlines()) == 2 and "img0.png" in table.stdout


def test_search_explain_html_and_json(indexed, tmp_path):
    html_path, json_path = tmp_path / "hits.html", tmp_path / "hits.json"
    out = run("search", indexed["query"], *db_args(indexed), "-k", 3, "--explain", "kernel-shap",
              "--html", html_path, "--json", json_path, "--quiet")
    assert out.exit_code == 0, out.output
    assert out.stderr == ""  # --quiet: no progress bars, no messages
    hits = json.loads(json_path.read_text())["hits"]
    assert all({"id", "score", "payload", "explanation"} <= set(h) for h in hits)
    assert all(EXPLAIN_FIELDS <= set(h["explanation"]) for h in hits)
    # the masked-query encodes are shared: later hits cost (almost) nothing on the query side
    passes = [h["explanation"]["encoder_passes"] for h in hits]
    assert passes[1] <= 2 and passes[2] <= 2 < passes[0]
    text = html_path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text and "img0.png" in text


def test_search_wrong_explain_method_is_usage_error(indexed):
    out = run("search", indexed["query"], *db_args(indexed), "--explain", "nope")
    assert out.exit_code == 2


# ------------------------------------------------------------------------------------------ explain


def test_explain_point_json_full_value_equals_qdrant_score(indexed):
    hits = search_json(indexed, k=2)
    for hit in hits:
        out = run("explain", indexed["query"], "--point-id", hit["id"], *db_args(indexed), "--players", "grid:2x4",
                  "--json", "-", "--quiet")
        assert out.exit_code == 0, out.output
        res = json.loads(out.stdout)
        assert EXPLAIN_FIELDS <= set(res)
        # 8 players: the default budget "auto" enumerates them at once (exact)
        assert res["order"] == 1 and res["method"] == "exact" and res["cross"] is None
        assert res["players"] == {"query": 8, "hit": 8}
        assert res["encoder"] == TINY and res["seed"] == 0
        assert res["score"] == pytest.approx(hit["score"], rel=1e-9)
        assert abs(res["full_value"] - hit["score"]) <= 1e-4 * abs(hit["score"])
        # exact Shapley values add up to full - base
        assert sum(res["query_values"]) == pytest.approx(res["full_value"] - res["base_value"], abs=1e-6)


def test_explain_order2_outputs(indexed, tmp_path):
    hit = search_json(indexed, k=1)[0]
    png, html = tmp_path / "why.png", tmp_path / "why.html"
    out = run("explain", indexed["query"], "--point-id", hit["id"], *db_args(indexed), "--order", 2,
              "--players", "grid:2x3", "--method", "exact", "--json", tmp_path / "why.json", "--png", png,
              "--html", html, "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads((tmp_path / "why.json").read_text())
    assert EXPLAIN_FIELDS <= set(res) and res["order"] == 2
    cross = np.asarray(res["cross"])
    assert cross.shape == (6, 6)
    assert res["encoder_passes"] <= 2**6 + 2**6
    assert abs(res["full_value"] - hit["score"]) <= 1e-4 * abs(hit["score"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'class="joint"' in html.read_text()
    assert "full value" in out.stdout


def test_explain_image_pair_without_collection(indexed, tmp_path):
    out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
              "--players", "grid:2x2", "--baseline", "gray", "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["score"] is None and res["players"] == {"query": 4, "hit": 4}


@pytest.mark.parametrize("args", [
    [],                                                    # neither --point-id nor --image
    ["--point-id", "1"],                                   # --point-id without --collection
    ["--image", "x.png", "--point-id", "1", "--collection", "photos"],
    ["--image", "x.png", "--players", "hexagons:5"],
    ["--image", "x.png", "--order", "3"],
    ["--image", "x.png", "--order", "2", "--method", "kernel-shap"],
    ["--image", "x.png", "--budget", "0"],
])
def test_explain_usage_errors_exit_2(indexed, args):
    out = run("explain", indexed["query"], *args)
    assert out.exit_code == 2, out.output


def test_explain_unknown_point_id(indexed):
    out = run("explain", indexed["query"], "--point-id", "123456", *db_args(indexed))
    assert_one_line_error(out, "no point with id")


def test_explain_unknown_collection(indexed):
    out = run("explain", indexed["query"], "--point-id", "1", "--collection", "nope", "--db", indexed["db"])
    assert_one_line_error(out, "nope")


def test_unknown_collection_in_missing_db(indexed, tmp_path):
    out = run("search", indexed["query"], "--collection", "photos", "--db", tmp_path / "empty")
    assert_one_line_error(out, "not found")


def test_explain_unreadable_query_image(indexed, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    hit = search_json(indexed, k=1)[0]
    out = run("explain", bad, "--point-id", hit["id"], *db_args(indexed))
    assert_one_line_error(out, "broken.png")
    missing = run("search", tmp_path / "missing.png", *db_args(indexed))
    assert_one_line_error(missing, "missing.png")


def test_explain_wrong_encoder_for_collection(indexed):
    hit = search_json(indexed, k=1)[0]
    out = run("explain", indexed["query"], "--point-id", hit["id"], *db_args(indexed), "--encoder", OTHER)
    assert_one_line_error(out, "built with encoder", OTHER)


def test_debug_shows_the_traceback(indexed):
    out = run("explain", indexed["query"], "--point-id", "123456", *db_args(indexed), "--debug")
    assert out.exit_code == 1
    assert out.exception is not None and "no point with id" in str(out.exception)


def test_unreachable_server_is_one_line(indexed):
    out = run("search", indexed["query"], "--collection", "photos", "--url", "http://127.0.0.1:9",
              env={"QDRANT_API_KEY": "secret"})
    assert_one_line_error(out)
    both = run("search", indexed["query"], "--collection", "photos", "--url", "http://127.0.0.1:9", "--db", "x")
    assert both.exit_code == 2


def test_api_key_from_environment(indexed, monkeypatch):
    import qdrant_explain.explainer as explainer

    seen = {}

    def fake_open(name, **kwargs):
        seen.update(kwargs, name=name)
        raise ValueError("stop here")

    monkeypatch.setattr(explainer.SearchExplainer, "open", staticmethod(fake_open))
    out = run("search", indexed["query"], "--collection", "photos", "--url", "http://qdrant.example:6333",
              env={"QDRANT_API_KEY": "from-env"})
    assert_one_line_error(out, "stop here")
    assert seen["url"] == "http://qdrant.example:6333" and seen["api_key"] == "from-env" and seen["name"] == "photos"
    out = run("search", indexed["query"], "--collection", "photos", "--url", "http://q:6333", "--api-key", "flag",
              env={"QDRANT_API_KEY": "from-env"})
    assert seen["api_key"] == "flag"


# ------------------------------------------------------------------------------------------ compare


def test_compare_json(indexed, tmp_path):
    hits = search_json(indexed, k=3)
    a, b = hits[0], hits[2]
    out = run("compare", indexed["query"], a["id"], b["id"], *db_args(indexed), "--players", "grid:3x3",
              "--json", "-", "--html", tmp_path / "cmp.html", "--png", tmp_path / "cmp.png", "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert {"method", "encoder", "seed", "players", "a", "b", "query_values", "base_value", "full_value",
            "encoder_passes", "seconds"} <= set(res)
    assert res["a"]["id"] == a["id"] and res["b"]["id"] == b["id"]
    assert res["full_value"] == pytest.approx(a["score"] - b["score"], abs=1e-4)
    assert sum(res["query_values"]) == pytest.approx(res["full_value"] - res["base_value"], abs=1e-6)
    assert (tmp_path / "cmp.html").exists() and (tmp_path / "cmp.png").exists()


def test_compare_unknown_point(indexed):
    hit = search_json(indexed, k=1)[0]
    out = run("compare", indexed["query"], hit["id"], "999999", *db_args(indexed))
    assert_one_line_error(out, "999999")


# ------------------------------------------------------------------------------------------ audit


def test_audit_writes_report_and_summary(indexed, tmp_path):
    out_dir = tmp_path / "audit"
    out = run("audit", indexed["queries"], *db_args(indexed), "-k", 2, "--out", out_dir, "--quiet")
    assert out.exit_code == 0, out.output
    assert "report:" in out.stdout and (out_dir / "report.html").exists()
    data = json.loads((out_dir / "audit.json").read_text())
    s = data["summary"]
    assert s["queries"] == 2 and s["hits"] == 4 and s["vectors_checked"] == 4
    assert s["vector_mismatch_count"] == 0
    assert s["border_share"] + s["centre_share"] == pytest.approx(1.0)
    assert 0 < s["border_area"] < 1 and len(s["top_regions"]) > 0
    assert "Audit summary" in (out_dir / "report.html").read_text()


def test_audit_flags_vectors_that_disagree_with_a_fresh_encode(indexed, tmp_path):
    """Overwrite one image after indexing: its stored vector no longer matches a fresh encode."""
    import shutil

    from PIL import Image

    photos = tmp_path / "photos"
    shutil.copytree(indexed["photos"], photos)
    db = tmp_path / "db"
    assert run("index", photos, "--collection", "p", "--db", db, "--encoder", TINY, "--quiet").exit_code == 0
    img = np.asarray(Image.open(photos / "img0.png"))
    Image.fromarray(255 - img).save(photos / "img0.png")
    out = run("audit", indexed["queries"], "--collection", "p", "--db", db, "-k", 1, "--out", tmp_path / "a", "--quiet")
    assert out.exit_code == 0, out.output
    s = json.loads((tmp_path / "a" / "audit.json").read_text())["summary"]
    assert s["vector_mismatch_count"] >= 1


def test_audit_empty_folder(indexed, tmp_path):
    out = run("audit", tmp_path, *db_args(indexed))
    assert_one_line_error(out, "no images")


# ------------------------------------------------------------------------------------------ demo


def test_demo_writes_report(tmp_path, monkeypatch):
    import qdrant_explain.demo as demo

    monkeypatch.setattr(demo, "DEFAULT_ENCODER", TINY)  # the real demo uses EfficientNet-Lite0 (see test_demo_real)
    out = run("demo", "--out", tmp_path / "demo", "--quiet")
    assert out.exit_code == 0, out.output
    report = tmp_path / "demo" / "report.html"
    assert f"report: {report.resolve()}" in out.stdout
    text = report.read_text()
    assert 'class="joint"' in text and "chelsea.png" in text


def test_version_and_help_list_commands():
    out = run("--help")
    assert out.exit_code == 0
    for name in ("index", "search", "explain", "compare", "audit", "demo"):
        assert name in out.output
