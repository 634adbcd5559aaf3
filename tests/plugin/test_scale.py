"""Collection-scale audits without Ray: intervals, the stopping rule, the resumable store, sources, the CLI."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from plugin_helpers import synthetic_pair
from scale_helpers import collection_fingerprint, photo_collection, run
from qdrant_explain import SearchExplainer
from qdrant_explain.scale import (
    AuditStateError,
    AuditStatistics,
    AuditStore,
    CollectionSource,
    FolderSource,
    QueryFileSource,
    as_source,
    heatmap_correlation,
    largest_object_mask,
    query_stats,
    rate_interval,
    ratio_interval,
)
from qdrant_explain.results import Hit, SearchResults

FAST = dict(limit=2, players="grid:2x3", budget=24, stability=0.5)


@pytest.fixture(scope="module")
def col(tmp_path_factory):
    """12 smooth photos indexed with the tiny encoder (path-based embedded Qdrant)."""
    return photo_collection(tmp_path_factory.mktemp("scale"), 12, seed=3, prefix="p")


# ------------------------------------------------------------------------------------------ intervals


def test_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(300):
        b = rng.uniform(0.5, 1.5, size=60)
        a = 0.3 * b + rng.normal(0, 0.1, size=60)  # true ratio 0.3
        iv = ratio_interval(a, b)
        covered += iv.low <= 0.3 <= iv.high
    assert 0.91 <= covered / 300 <= 0.99


def test_bootstrap_interval_agrees_with_the_clt_one_on_many_queries():
    rng = np.random.default_rng(1)
    b = rng.uniform(0.5, 1.5, size=400)
    a = 0.4 * b + rng.normal(0, 0.1, size=400)
    clt, boot = ratio_interval(a, b), ratio_interval(a, b, method="bootstrap", seed=0)
    assert clt.estimate == boot.estimate
    assert boot.width == pytest.approx(clt.width, rel=0.2) and boot.method == "bootstrap"


def test_rate_interval_of_no_events_is_not_zero_wide():
    iv = rate_interval(np.zeros(20), np.full(20, 5.0))
    assert iv.estimate == 0.0 and iv.low == 0.0 and 0.01 < iv.high < 0.1 and iv.method == "wilson"


def test_rate_interval_widens_when_events_cluster_in_queries():
    spread = rate_interval(np.r_[np.ones(10), np.zeros(40)], np.full(50, 1.0))  # 10 of 50, one trial per query
    clustered = rate_interval(np.r_[np.full(2, 5.0), np.zeros(8)], np.full(10, 5.0))  # 10 of 50, all in 2 queries
    assert spread.estimate == clustered.estimate == 0.2
    assert clustered.width > 1.5 * spread.width


def test_intervals_need_two_queries_and_refuse_a_bad_method():
    assert math.isinf(ratio_interval([1.0], [2.0]).width) and ratio_interval([1.0], [2.0]).estimate == 0.5
    assert ratio_interval([], []).estimate is None
    with pytest.raises(ValueError, match="interval method must be one of"):
        ratio_interval([1.0, 2.0], [1.0, 2.0], method="exact")
    with pytest.raises(ValueError, match="interval must be one of"):
        AuditStatistics(interval="t")


def _row(border, total, stale=0, checked=2, key="k"):
    stats = {"explained": 2, "pairs": 1, "total": total, "border": border, "border_area": 1.0, "object": 0.5 * total,
             "object_total": total, "object_sides": 2, "object_area": 0.6, "checked": checked, "stale": stale,
             "cells": {"query:middle-centre": 1, "hit:top-left": 1}, "top_regions": [], "stale_hits": [],
             "hit_ids": [1], "score_sum": total}
    return {"key": key, "status": "ok", "stats": stats, "stability": None}


def test_stopping_rule_waits_for_min_queries_and_every_width():
    st = AuditStatistics()
    rng = np.random.default_rng(2)
    for i in range(9):
        st.add(_row(0.4 + rng.normal(0, 0.001), 1.0, stale=0, checked=200, key=str(i)))
    assert not st.should_stop(0.5, min_queries=10)
    st.add(_row(0.4, 1.0, checked=200, key="9"))
    assert st.should_stop(0.5, min_queries=10)
    assert not st.should_stop(0.0001, min_queries=10)  # the stale-rate interval is still wider
    assert not st.should_stop(None)
    assert {c["cell"] for c in st.cells()} == {"middle-centre", "top-left"}


# ------------------------------------------------------------------------------------------ one query


def test_largest_object_mask_finds_a_disc_and_nothing_in_a_flat_image():
    yy, xx = np.mgrid[0:90, 0:120]
    disc = (yy - 45) ** 2 + (xx - 60) ** 2 < 25**2
    img = np.full((90, 120, 3), 200, np.uint8)
    img[disc] = (30, 60, 140)
    mask = largest_object_mask(img)
    assert (mask & disc).sum() / (mask | disc).sum() > 0.9
    assert largest_object_mask(np.full((40, 40, 3), 7, np.uint8)) is None
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        largest_object_mask(np.zeros((4, 4)))


def test_heatmap_correlation_is_one_for_the_same_map_and_minus_one_for_its_negation():
    lab = np.arange(12).reshape(3, 4).repeat(5, 0).repeat(5, 1)
    v = np.random.default_rng(0).normal(size=12)
    assert heatmap_correlation(lab, v, lab, v) == pytest.approx(1.0)
    assert heatmap_correlation(lab, v, lab, -v) == pytest.approx(-1.0)
    assert heatmap_correlation(lab, np.ones(12), lab, v) is None


def test_query_stats_splits_the_attribution_mass_by_band_and_object():
    from qdrant_explain.audit import border_mask, region_border_fractions

    e = synthetic_pair(order=1)
    s = SearchResults(query_image=e.query_image, hits=[Hit(id=7, score=0.8)], explanations=[e])
    got = query_stats(s)
    mass_q, mass_h = np.abs(e.query_values), np.abs(e.hit_values)
    want = (mass_q @ region_border_fractions(e.query_labels, 12, border_mask(e.query_labels))
            + mass_h @ region_border_fractions(e.hit_labels, 9, border_mask(e.hit_labels)))
    assert got["border"] == pytest.approx(want) and got["total"] == pytest.approx(mass_q.sum() + mass_h.sum())
    assert got["pairs"] == 1 and got["explained"] == 2 and 0 <= got["object"] <= got["object_total"]
    assert sum(got["cells"].values()) == 2 and len(got["top_regions"]) == 6
    assert [t["value"] for t in got["top_regions"]] == sorted((t["value"] for t in got["top_regions"]), reverse=True)


# ------------------------------------------------------------------------------------------ store


def test_store_resumes_cuts_a_torn_row_and_skips_a_committed_key(tmp_path):
    with AuditStore(tmp_path, {"settings": {"a": 1}, "source": {"kind": "x"}}) as st:
        assert st.commit({"key": "q1", "status": "ok", "search": {"big": 1}})
        assert st.commit({"key": "q2", "status": "ok"})
        assert not st.commit({"key": "q1", "status": "ok"})
    with open(tmp_path / "queries.jsonl", "ab") as f:
        f.write(b'{"key": "q3", "status": "o')  # a kill -9 in the middle of a write
    st = AuditStore(tmp_path, {"settings": {"a": 1}, "source": {"kind": "x"}})
    assert set(st.done) == {"q1", "q2"} and st.cut_bytes > 0 and "search" not in st.done["q1"]
    assert st.commit({"key": "q3", "status": "ok"})
    st.close()
    keys = [json.loads(line)["key"] for line in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert keys == ["q1", "q2", "q3"]
    assert next(AuditStore(tmp_path, {"settings": {"a": 1}, "source": {"kind": "x"}}).rows())["search"] == {"big": 1}


def test_store_refuses_other_settings_and_restart_clears(tmp_path):
    AuditStore(tmp_path, {"settings": {"budget": 128}, "source": {"kind": "x"}}).commit({"key": "q", "status": "ok"})
    with pytest.raises(AuditStateError, match=r"other settings.*budget.*--restart"):
        AuditStore(tmp_path, {"settings": {"budget": 64}, "source": {"kind": "x"}})
    st = AuditStore(tmp_path, {"settings": {"budget": 64}, "source": {"kind": "x"}}, restart=True)
    assert st.done == {}


# ------------------------------------------------------------------------------------------ sources


def test_query_file_reads_paths_and_points_and_names_a_bad_line(tmp_path, col):
    f = tmp_path / "q.txt"
    f.write_text(f"# queries\n{col['photos'] / 'p00.png'}\n\npoint:5\npoint:5\n../x.png\n")
    items = QueryFileSource(str(f)).items()
    assert [i.key.split(":")[0] for i in items] == ["file", "point", "file"] and items[1].point_id == 5
    assert items[2].path == str((tmp_path.parent / "x.png").resolve())
    f.write_text("point:cat\n")
    with pytest.raises(ValueError, match=r"line 1: 'point:cat' is not a point id"):
        QueryFileSource(str(f)).items()
    f.write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no query"):
        QueryFileSource(str(f)).items()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images found"):
        FolderSource(str(tmp_path / "empty")).items()


def test_as_source_takes_folders_and_lists_and_refuses_a_single_image(col):
    assert isinstance(as_source(col["photos"]), FolderSource)
    with pytest.raises(TypeError, match="Wrap a single query in a list"):
        as_source(str(col["photos"] / "p00.png"))


# ------------------------------------------------------------------------------------------ the local engine


def test_collection_audit_filters_samples_and_never_writes(col, tmp_path):
    before = collection_fingerprint(col["db"])
    ex = SearchExplainer.open("c", path=str(col["db"]))
    flt = {"must": [{"key": "path", "match": {"any": [f"p{i:02d}.png" for i in range(8)]}}]}
    bar = io.StringIO()
    rep = ex.audit(CollectionSource(filter=flt), out=tmp_path / "a", max_queries=6, progress=bar, **FAST)
    s = rep.summary
    assert s["queries"] == 6 and s["planned_queries"] == 6 and s["source_queries"] == 8
    names = {r["name"].split("(")[1].rstrip(")") for r in s["drilldown"]}
    assert names <= {f"p{i:02d}.png" for i in range(8)}
    rows = [json.loads(x) for x in (tmp_path / "a" / "queries.jsonl").read_text().splitlines()]
    for r in rows:  # a point is never its own hit
        pid = r["key"].split(":", 1)[1]
        assert pid not in {str(h) for h in r["stats"]["hit_ids"]} and len(r["stats"]["hit_ids"]) == 2
    assert s["search_passes"] == 0 and s["passes_per_query"] > 0 and s["stability_queries"] >= 1
    iv = s["intervals"]["border_share"]
    assert iv["low"] <= iv["estimate"] <= iv["high"] and 0 <= iv["estimate"] <= 1
    text = bar.getvalue()
    assert "6/6" in text and "border ±" in text and "stale ±" in text
    assert (tmp_path / "a" / "queries.parquet").exists() and (tmp_path / "a" / "report.html").exists()
    html = (tmp_path / "a" / "report.html").read_text()
    assert "Audit statistics (95 % intervals over queries)" in html and "<svg" in html and "All queries" in html
    assert "data:image/png" in html  # the maps are drawn over images read again (rows hold no images)
    assert max(len(x) for x in (tmp_path / "a" / "queries.jsonl").read_bytes().splitlines()) < 60_000
    again = ex.audit(CollectionSource(filter=flt), out=tmp_path / "a", max_queries=6, progress=False, **FAST)
    assert again.summary["queries_this_run"] == 0 and again.summary["resumed"] == 6
    assert again.summary["intervals"] == s["intervals"]
    assert collection_fingerprint(col["db"]) == before


def test_ci_width_stops_before_the_source_runs_out(col, tmp_path):
    ex = SearchExplainer.open("c", path=str(col["db"]))
    rep = ex.audit(CollectionSource(), out=tmp_path / "w", ci_width=1.2, min_queries=4, **dict(FAST, stability=0.0))
    s = rep.summary
    assert s["stopped_early"] and s["queries"] == 4 < s["source_queries"]
    assert all(iv["width"] <= 1.2 for k, iv in s["intervals"].items() if k in ("border_share", "object_share",
                                                                                "stale_rate"))
    with pytest.raises(ValueError, match=r"ci_width=\.\.\.\) is the widest interval"):
        ex.audit(CollectionSource(), ci_width=3)
    with pytest.raises(ValueError, match="options of engine='ray'"):
        ex.audit(CollectionSource(), workers=2)


# ------------------------------------------------------------------------------------------ CLI


def test_cli_audit_of_a_query_file_and_its_usage_errors(col, tmp_path):
    qf = tmp_path / "q.txt"
    qf.write_text("photos/p01.png\npoint:999999\n")
    (tmp_path / "photos").symlink_to(col["photos"])
    out = run("audit", qf, "--collection", "c", "--db", col["db"], "-k", 2, "--players", "grid:2x2", "--budget", 16,
              "--out", tmp_path / "a", "--stability", 0)
    assert out.exit_code == 0, out.output
    assert "1 queries, 2 hits" in out.stdout and "1 item(s) could not be explained" in out.stdout
    assert "warning: query point 999999" in out.stderr and "Traceback" not in out.output
    for args, fragment in (
        (("--from-collection", qf), "not both"),
        (("--filter", '{"must": []}'), "--from-collection"),
        (("--from-collection", "--filter", '{"must": 1}'), "not a Qdrant filter"),
        (("--from-collection", "--filter", "{oops"), "not JSON"),
        (("--from-collection", "--address", "auto"), "--engine ray"),
        ((), "or --from-collection"),
    ):
        bad = run("audit", *args, "--collection", "c", "--db", col["db"], "--out", tmp_path / "b")
        assert bad.exit_code == 2 and fragment in bad.output and "Traceback" not in bad.output, bad.output
    other = run("audit", qf, "--collection", "c", "--db", col["db"], "--budget", 8, "--out", tmp_path / "a")
    assert other.exit_code == 1 and "other settings" in other.stderr and "--restart" in other.stderr
