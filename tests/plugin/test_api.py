"""The Python API at the package root: SearchExplainer and the result family."""

from __future__ import annotations

import json

import numpy as np
import pytest

import qdrant_explain
from plugin_helpers import TINY, synthetic_pair
from qdrant_explain import Comparison, PairExplanation, SearchExplainer, SearchResults


@pytest.fixture(scope="module")
def ex(indexed):
    return SearchExplainer.open("photos", path=str(indexed["db"]))


def test_public_names_are_lazy_exports():
    for name in ("SearchExplainer", "PairExplanation", "SearchResults", "Comparison", "AuditReport", "Hit",
                 "render_report", "run_demo", "explain_pair"):
        assert name in qdrant_explain.__all__ and getattr(qdrant_explain, name) is not None


def test_search_then_explain_reproduces_qdrant_score(ex, indexed):
    hits = ex.search(indexed["query"], limit=3)
    assert isinstance(hits, SearchResults) and len(hits) == 3 and ex.encoder_name == TINY
    e = ex.explain(indexed["query"], hits[0], players="grid:3x3", side="query")
    assert isinstance(e, PairExplanation) and e.hit_values is None and e.side == "query"
    assert e.score == hits[0].score
    assert abs(e.full_value - hits[0].score) <= 1e-4 * abs(hits[0].score)
    # by point id: Qdrant's own score is looked up
    by_id = ex.explain(indexed["query"], hits[1].id, players="grid:3x3", side="hit")
    assert by_id.score == pytest.approx(hits[1].score, rel=1e-6) and by_id.query_values is None


def test_explain_hits_shares_query_encodes(ex, indexed):
    res = ex.explain_hits(indexed["query"], None, limit=4, players="slic:20", budget=64, side="query")
    passes = [e.encoder_passes for e in res.explanations]
    assert passes[0] >= 64 and max(passes[1:]) <= 1
    assert res.encoder_passes == sum(passes)
    data = json.loads(res.to_json())
    assert [h["id"] for h in data["hits"]] == [h.id for h in res.hits]


def test_explainer_segments_each_image_once(ex, indexed, monkeypatch):
    """A query explained against hit after hit, then again, is segmented once per (spec, image)."""
    import qdrant_explain.explainers.players as players_module

    monkeypatch.setattr(ex, "segments", players_module.SegmentCache())  # the module's explainer, fresh cache
    made = []
    real = players_module.make_players
    monkeypatch.setattr(players_module, "make_players", lambda *a, **k: made.append(a[0]) or real(*a, **k))
    hits = ex.search(indexed["query"], limit=2)
    first = ex.explain(indexed["query"], hits[0], players="slic:20", budget=64)
    assert len(made) == 2  # the query and the first hit
    again = ex.explain(indexed["query"], hits[0], players="slic:20", budget=64)
    ex.explain(indexed["query"], hits[1], players="slic:20", budget=64)
    assert len(made) == 3 and ex.segments.hits >= 3  # only the second hit was new
    np.testing.assert_array_equal(first.query_values, again.query_values)
    ex.explain(indexed["query"], hits[0], players="grid:3x3", budget=64)  # another spec: segmented anew
    assert len(made) == 5


def test_joint_explanation_and_region_lookup(ex, indexed):
    hit = ex.search(indexed["query"], limit=1)[0]
    e = ex.explain(indexed["query"], hit, order=2, players="grid:2x2", method="exact")
    assert e.cross.shape == (4, 4) and e.encoder_passes <= 32
    hm = e.hit_heatmap_for_query_region(0)
    assert hm.shape == e.hit_image.shape[:2]
    vals = np.unique(hm[np.isfinite(hm)])
    assert set(np.round(vals, 12)) <= set(np.round(e.cross[0], 12))


def test_compare_is_the_score_difference(ex, indexed):
    hits = ex.search(indexed["query"], limit=3)
    c = ex.compare(indexed["query"], hits[0], hits[2], players="grid:2x3")
    assert isinstance(c, Comparison)
    assert c.full_value == pytest.approx(hits[0].score - hits[2].score, abs=1e-4)


def test_raw_image_pair_through_explainer(ex, indexed):
    from PIL import Image

    img = np.asarray(Image.open(indexed["photos"] / "img2.png"))
    e = ex.explain(indexed["query"], img, players="grid:2x2")
    assert e.score is None and e.hit_id is None and e.hit_values is not None


def test_bad_side_and_bad_hit(ex, indexed):
    with pytest.raises(ValueError, match="side must be one of"):
        ex.explain(indexed["query"], 1, side="left")
    with pytest.raises(TypeError, match="hit must be"):
        ex.explain(indexed["query"], 3.5)


def test_results_outputs(tmp_path, pair1, pair2, search_results):
    for i, r in enumerate((pair1, pair2, search_results)):
        assert r.save_png(tmp_path / f"r{i}.png").read_bytes()[:4] == b"\x89PNG"
        html = r.to_html(tmp_path / f"r{i}.html")
        assert html.count("<html") == 1 and "http://" not in html.replace("http://www.w3.org", "")
        json.loads(r.to_json())


def test_payload_markup_is_escaped():
    e = synthetic_pair(2, payload={"title": "<script>alert(1)</script>", "<b>key</b>": "a & b"})
    html = e.to_html()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;key&lt;/b&gt;" in html and "a &amp; b" in html


def test_script_data_cannot_close_the_tag():
    from qdrant_explain.report import _json_for_script

    assert "</script>" not in _json_for_script({"x": "</script><script>alert(1)</script>"})


@pytest.mark.slow
def test_efficientnet_full_value_matches_qdrant_score(photo_dirs, tmp_path):
    """The one test with the real pretrained EfficientNet-Lite0: explain --json full_value == Qdrant's score."""
    from click.testing import CliRunner

    from qdrant_explain.cli import main

    photos, queries = photo_dirs
    small = tmp_path / "small"
    small.mkdir()
    for name in ("img0.png", "img1.png", "img2.png"):
        (small / name).write_bytes((photos / name).read_bytes())
    db = tmp_path / "db"
    runner = CliRunner()
    assert runner.invoke(main, ["index", str(small), "--collection", "e", "--db", str(db), "--quiet"]).exit_code == 0
    found = json.loads(runner.invoke(main, ["search", str(queries / "q0.png"), "--collection", "e", "--db", str(db), "-k", "2",
                                            "--json", "-"]).stdout)["hits"]
    out = runner.invoke(main, ["explain", str(queries / "q0.png"), "--point-id", found[0]["id"], "--collection", "e", "--db",
                               str(db), "--players", "grid:2x2", "--json", "-", "--quiet"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["encoder"] == "efficientnet-lite0"
    assert abs(res["full_value"] - found[0]["score"]) <= 1e-4 * abs(found[0]["score"])
