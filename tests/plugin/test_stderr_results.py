"""Standard errors through the product: PairExplanation / Comparison fields, JSON, CLI lines, HTML marks (issue 17)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plugin_helpers import TINY, synthetic_pair
from qdrant_explain._testing import TinyEncoder
from qdrant_explain.cli import main
from qdrant_explain.cli._intervals import interval_lines
from qdrant_explain.pair import explain_pair
from qdrant_explain.results import Comparison, Hit, PairExplanation, load_result


def _photo(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (h + w)], axis=2)
    return np.clip(base + rng.integers(-40, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sampled():
    return explain_pair(_photo(1), _photo(2), TinyEncoder(), players="grid:3x4", method="kernel-shap", budget=200)


def test_sampled_pair_carries_stderr_of_both_sides_and_their_dof(sampled):
    e = sampled
    assert e.estimated and e.query_values_stderr.shape == (12,) and e.hit_values_stderr.shape == (12,)
    assert np.all(e.query_values_stderr > 0) and np.all(e.hit_values_stderr > 0) and e.cross_stderr is None
    np.testing.assert_array_equal(e.query_values_stderr, e.query_explanation.stderr)
    assert e.stderr_dof["query"] == e.query_explanation.meta["stderr_dof"] > 0
    lo, hi = e.interval("query")
    assert np.all(lo < e.query_values) and np.all(e.query_values < hi)
    assert e.covers_zero("hit").dtype == bool
    with pytest.raises(ValueError, match="interval\\(which=...\\) must be one of"):
        e.interval("both")


def test_stderr_fields_round_trip_exactly_and_are_documented_json(sampled):
    text = sampled.to_json()
    data = json.loads(text)
    assert len(data["query_values_stderr"]) == 12 and data["cross_stderr"] is None
    assert set(data["stderr_dof"]) == {"query", "hit"}
    back = PairExplanation.from_json(text)
    assert back == sampled and back.stderr_dof == sampled.stderr_dof
    lean = PairExplanation.from_json(sampled.to_json(arrays=False))
    np.testing.assert_array_equal(lean.hit_values_stderr, sampled.hit_values_stderr)


def test_exact_pair_reports_zero_stderr_and_the_cli_says_exact(tmp_path):
    e = explain_pair(_photo(3), _photo(4), TinyEncoder(), players="grid:2x3", method="exact")
    assert not e.estimated and np.all(e.query_values_stderr == 0) and np.all(e.hit_values_stderr == 0)
    lines = interval_lines(e)
    assert len(lines) == 2 and all("exact values, no sampling error" in ln for ln in lines)
    joint = explain_pair(_photo(3), _photo(4), TinyEncoder(), order=2, players="grid:2x2", method="exact")
    assert joint.cross_stderr.shape == (4, 4) and not np.any(joint.cross_stderr)
    assert load_result(joint.to_json()) == joint


def test_cli_explain_prints_value_plus_minus_interval_for_top_regions(tmp_path):
    q, h = tmp_path / "q.png", tmp_path / "h.png"
    Image.fromarray(_photo(5)).save(q)
    Image.fromarray(_photo(6)).save(h)
    out = CliRunner().invoke(main, ["explain", str(q), "--image", str(h), "--encoder", TINY, "--players", "grid:3x4",
                                    "--method", "kernel-shap", "--budget", "120", "--quiet"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    query = next(ln for ln in lines if ln.strip().startswith("query regions, value and 95 % interval"))
    assert query.count("±") == 3 and "t with" in query and "intervals cover 0" in query
    assert " ± 0.0000" not in query  # the precision follows the interval
    assert any(ln.strip().startswith("hit regions, value and 95 % interval") for ln in lines)
    exact = CliRunner().invoke(main, ["explain", str(q), "--image", str(h), "--encoder", TINY, "--players", "grid:2x2",
                                      "--method", "exact", "--quiet"])
    assert exact.exit_code == 0 and "exact values, no sampling error" in exact.stdout and "±" not in exact.stdout


def _with_intervals() -> PairExplanation:
    e = synthetic_pair(1, seed=4)
    se = np.full(12, 1e-6)
    by_size = np.argsort(np.abs(e.query_values))
    se[np.r_[by_size[:2], by_size[-2:]]] = 1.0  # two smallest and two largest values: intervals cover 0
    return dataclasses.replace(e, query_values_stderr=se, hit_values_stderr=np.full(9, 1e-6),
                               stderr_dof={"query": 30.0, "hit": None}, query_heatmap=None, hit_heatmap=None)


def test_report_marks_values_whose_interval_covers_zero_and_hatches_them():
    e = _with_intervals()
    html_text = e.to_html()
    assert html_text.count('class="covers-zero"') == 2  # the table shows the 5 largest values: 2 of them cover 0
    assert 'data-which="query" data-covers-zero="4"' in html_text and 'data-covers-zero="0"' in html_text
    assert "hatched-legend" in html_text and "sign is not established" in html_text
    plain = dataclasses.replace(e, query_values_stderr=None, hit_values_stderr=None, stderr_dof={})
    assert 'class="covers-zero"' not in plain.to_html() and "hatched-legend" not in plain.to_html()


def test_comparison_carries_stderr_through_json():
    e = synthetic_pair(1, seed=2)
    c = Comparison(query_image=e.query_image, query_labels=e.query_labels, query_values=e.query_values,
                   query_values_stderr=np.full(12, 0.5), stderr_dof={"query": 12.0}, hit_a=Hit(id=1, score=0.9),
                   hit_b=Hit(id=2, score=0.8), base_value=0.0, full_value=0.1, method="permutation")
    back = Comparison.from_json(c.to_json())
    assert back == c and back.stderr_dof == {"query": 12.0} and back.covers_zero().all()
    assert "covers-zero" in c.to_html()
    with pytest.raises(ValueError, match="stderr_dof keys"):
        dataclasses.replace(c, stderr_dof={"side": 1.0})


def test_audit_top_regions_carry_their_interval_and_the_report_greys_those_covering_zero():
    from qdrant_explain.audit import summarise
    from qdrant_explain.results import AuditReport, SearchResults

    e = _with_intervals()
    s = SearchResults(query_image=e.query_image, hits=(Hit(id=7, score=0.8),), explanations=(e,), query_name="q.png")
    summary = summarise([s])
    tops = [t for t in summary["top_regions"] if t["side"] == "query"]
    assert tops and all(len(t["interval"]) == 2 and t["interval"][0] <= t["value"] <= t["interval"][1] for t in tops)
    html_text = AuditReport(searches=(s,), summary=summary).to_html()
    assert "95 % interval</th>" in html_text
