"""The CLI writes frozen results: every --json file reads back with from_json, and nothing mutates a result."""

from __future__ import annotations

import json

from click.testing import CliRunner

from qdrant_explain.cli import main
from qdrant_explain.results import Comparison, PairExplanation, SearchResults, load_result


def run(*args):
    out = CliRunner().invoke(main, [str(a) for a in args])
    assert out.exit_code == 0, out.output
    return out


def db_args(indexed):
    return ["--collection", "photos", "--db", indexed["db"]]


def test_plain_search_html_resolves_hit_images(indexed, tmp_path):
    """search --html without --explain shows each hit's thumbnail (a copy of the frozen hit with its image)."""
    html = tmp_path / "hits.html"
    json_path = tmp_path / "hits.json"
    run("search", indexed["query"], *db_args(indexed), "-k", 3, "--html", html, "--json", json_path, "--quiet")
    text = html.read_text()
    assert text.count('class="card"') == 3 and text.count('alt="hit"') == 3
    back = SearchResults.from_json(json_path)
    assert len(back) == 3 and back.query_image is not None and back.hits[0].vector is not None
    assert back.hits[0].score == json.loads(json_path.read_text())["hits"][0]["score"]


def test_explain_and_compare_json_read_back(indexed, tmp_path):
    hits = json.loads(run("search", indexed["query"], *db_args(indexed), "-k", 3, "--json", "-").stdout)["hits"]
    why = tmp_path / "why.json"
    run("explain", indexed["query"], "--point-id", hits[0]["id"], *db_args(indexed), "--order", 2,
        "--players", "grid:2x2", "--json", why, "--quiet")
    e = PairExplanation.from_json(why)
    assert e.score == hits[0]["score"] and e.hit_id == hits[0]["id"] and e.cross.shape == (4, 4)
    assert e.hit_heatmap_for(0).shape == e.hit_image.shape[:2] and e.query_players is not None
    assert load_result(why) == e
    cmp = tmp_path / "cmp.json"
    run("compare", indexed["query"], hits[0]["id"], hits[2]["id"], *db_args(indexed), "--players", "grid:2x2",
        "--json", cmp, "--quiet")
    c = Comparison.from_json(cmp)
    assert c.hit_a.score == hits[0]["score"] and c.hit_b.id == hits[2]["id"] and c.metric == "cosine"


def test_explain_two_images_names_the_query(indexed, tmp_path):
    why = tmp_path / "pair.json"
    run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--players", "grid:2x2",
        "--encoder", "qdrant_explain._testing:TinyEncoder", "--json", why, "--quiet")
    e = PairExplanation.from_json(why)
    assert e.query_name == indexed["query"].name and e.hit_payload == {"image": "img1.png"} and e.score is None


def test_audit_json_reads_back(indexed, tmp_path):
    out_dir = tmp_path / "audit"
    run("audit", indexed["queries"], *db_args(indexed), "-k", 2, "--out", out_dir, "--quiet")
    report = load_result(out_dir / "audit.json")
    assert len(report.searches) == 2 and all(len(s.hits) == 2 for s in report.searches)
    assert report.summary["queries"] == 2 and report.encoder is not None
