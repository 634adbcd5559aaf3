"""The result family: frozen, one Hit type, exact JSON round trips, one set of field names."""

from __future__ import annotations

import dataclasses
import json
import pickle
import uuid

import numpy as np
import pytest

from plugin_helpers import synthetic_pair, synthetic_text
from qdrant_explain._testing import TinyEncoder
from qdrant_explain.connectors.qdrant import Hit as ConnectorHit
from qdrant_explain.pair import ImagePairExplanation, explain_hits, explain_pair
from qdrant_explain.results import (
    RESULT_TYPES,
    AuditReport,
    Comparison,
    FrozenDict,
    Hit,
    PairExplanation,
    Result,
    SearchResults,
    load_result,
    same,
)

UUID = str(uuid.UUID(int=12345))


def _image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def real_pair(order: int) -> PairExplanation:
    """explain_pair on the tiny encoder: players, side explanations (order 1) or the joint (order 2), NaN crops."""
    enc = TinyEncoder()
    q, h = _image(48, 80, 0), _image(60, 50, 1)
    return explain_pair(q, h, enc, order=order, players="grid:2x3", budget=None if order == 2 else 40,
                        method="auto" if order == 2 else "kernel-shap")


def comparison() -> Comparison:
    p = synthetic_pair(1, seed=4)
    a = Hit(id=3, score=0.9, payload={"path": "a.png"}, vector=np.arange(4.0), image=_image(20, 30, 2))
    b = Hit(id=UUID, score=0.7, payload={"path": "b.png", "tags": ["x", "y"]}, vector=np.ones(4))
    return Comparison(query_image=p.query_image, query_labels=p.query_labels, query_values=p.query_values,
                      hit_a=a, hit_b=b, base_value=0.01, full_value=0.2, metric="dot", method="exact",
                      encoder="tiny", seed=3, encoder_passes=4096, seconds=0.5, query_name="q.png")


def search_results() -> SearchResults:
    e1, e2 = synthetic_pair(2, seed=1), real_pair(1)
    hits = (Hit(id=7, score=0.8, payload={"path": "a.png"}, vector=np.linspace(0, 1, 8)),
            Hit(id=UUID, score=0.7, payload={}, image=_image(10, 12, 3)),
            Hit(id=9, score=0.6, payload={"nested": {"k": [1, 2.5, None]}}))
    return SearchResults(query_image=e1.query_image, hits=hits, explanations=(e1, e2, None), query_name="q.png",
                         encoder="tiny-random", collection="photos", encoder_passes=123, seconds=2.5,
                         method="exact", seed=0, query_vector=np.arange(5.0), heading="Top hits")


def audit() -> AuditReport:
    s = search_results()
    return AuditReport(searches=(s, dataclasses.replace(s, query_name="q2.png")),
                       summary={"queries": 2, "border_share": 0.25, "top_regions": [{"query": "q.png", "value": 0.1}]},
                       collection="photos", method="kernel-shap", budget=64, encoder="tiny", seed=0, seconds=3.0)


def shape_explanation():
    from qdrant_explain.shapes import ShapeExplanation

    parity = {"returned": 0.6, "exact": 0.6, "gap": 0.0, "rel_gap": 0.0, "ok": True, "rank": 0, "exact_rank": 0,
              "keeps_rank": True, "quantization": None, "rescore": None, "message": "equal"}
    return ShapeExplanation(shape="recommend", detail="best_score", query={"positive": [1], "negative": [2]},
                            hit=Hit(id=3, score=0.6, payload={"path": "h.png"}, vector=np.arange(4.0)), score=0.6,
                            exact_score=0.6, parity=parity, players=("+ point 1", "- point 2"),
                            values=np.array([0.5, 0.1]), split="shapley over examples", driver=0,
                            regions=(synthetic_pair(1),), method="exact", encoder="tiny", seed=0, encoder_passes=300)


def every_result() -> dict[str, Result]:
    return {
        "hit-int": Hit(id=np.int64(5), score=float("nan"), payload={"path": "x.png"}, vector=np.arange(3.0),
                       image=_image(9, 7, 5)),
        "hit-uuid": Hit(id=UUID, score=0.25),
        "pair-synthetic-1": synthetic_pair(1),
        "pair-synthetic-2": synthetic_pair(2),
        "pair-real-1": real_pair(1),
        "pair-real-2": real_pair(2),
        "search": search_results(),
        "search-plain": SearchResults(query_image=_image(16, 16, 9), hits=(Hit(id=1, score=0.5),)),
        "comparison": comparison(),
        "audit": audit(),
        "shape": shape_explanation(),
        "text-1": synthetic_text(1),
        "text-2": synthetic_text(2),
        "search-text": SearchResults(query_image=None, hits=(Hit(id=4, score=0.3),), explanations=(synthetic_text(2),),
                                     query_name="a red bicycle"),
    }


RESULTS = every_result()


def test_every_type_is_covered():
    assert {type(r).__name__ for r in RESULTS.values()} == set(RESULT_TYPES)


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_json_round_trip_is_exact(name):
    r = RESULTS[name]
    text = r.to_json()
    back = type(r).from_json(text)
    assert type(back) is type(r)
    assert back == r
    assert load_result(text) == r
    assert back.to_json() == text  # and it is stable


def test_round_trip_keeps_nan_heatmaps_ids_and_nested_explanations():
    r = RESULTS["pair-real-2"]
    assert np.isnan(r.query_heatmap).any() or np.isnan(r.hit_heatmap).any()
    back = PairExplanation.from_json(r.to_json())
    assert np.array_equal(np.isnan(back.query_heatmap), np.isnan(r.query_heatmap))
    assert back.query_image.dtype == np.uint8 and np.array_equal(back.query_image, r.query_image)
    assert back.joint is not None and np.array_equal(back.joint.cross, r.joint.cross)
    assert back.query_players.spec == "grid:2x3" and np.array_equal(back.query_players.labels, r.query_players.labels)
    one = PairExplanation.from_json(RESULTS["pair-real-1"].to_json())
    assert one.query_explanation is not None and same(one.query_explanation, RESULTS["pair-real-1"].query_explanation)
    s = SearchResults.from_json(RESULTS["search"].to_json())
    assert [h.id for h in s.hits] == [7, UUID, 9] and isinstance(s.hits[0].id, int)
    assert s.explanations[2] is None and s.hits[1].image.shape == (10, 12, 3)


def test_round_trip_through_a_file(tmp_path):
    r = RESULTS["comparison"]
    r.to_json(tmp_path / "c.json")
    assert Comparison.from_json(tmp_path / "c.json") == r


def test_equality_sees_a_changed_value():
    r = RESULTS["pair-synthetic-2"]
    cross = r.cross.copy()
    cross[0, 0] += 1e-12
    assert dataclasses.replace(r, cross=cross) != r
    assert dataclasses.replace(r, query_name="other") != r
    assert dataclasses.replace(r, hit_labels=r.hit_labels.astype(np.int32)) != r  # dtype counts


def test_same_treats_nan_as_equal_and_dtype_as_data():
    assert same(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not same(np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64))
    assert same(float("nan"), float("nan")) and not same(1.0, 2.0)
    assert same({"a": [1, 2]}, {"a": (1, 2)})


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_results_are_frozen(name):
    r = RESULTS[name]
    first = dataclasses.fields(r)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(r, first, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seconds = 1.0
    with pytest.raises(AttributeError):
        r.brand_new_attribute = 1
    for f in dataclasses.fields(r):
        value = getattr(r, f.name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, f.name
            with pytest.raises(ValueError):
                value.flat[0] = 0
        if isinstance(value, dict):
            assert isinstance(value, FrozenDict), f.name
            with pytest.raises(TypeError, match="read-only"):
                value["x"] = 1
        if f.name in ("hits", "explanations", "searches"):
            assert isinstance(value, tuple)
        if f.name in ("query_players", "hit_players", "joint", "query_explanation", "hit_explanation") and value is not None:
            for g in dataclasses.fields(value):
                inner = getattr(value, g.name)
                assert not isinstance(inner, np.ndarray) or not inner.flags.writeable, (f.name, g.name)


def test_freezing_leaves_the_callers_arrays_writable():
    labels = np.zeros((4, 4), dtype=np.int64)
    values = np.array([0.5])
    e = PairExplanation(query_image=np.zeros((4, 4, 3), np.uint8), query_labels=labels, query_values=values,
                        base_value=0.0, full_value=0.5)
    labels[0, 0] = 0  # still writable
    assert not e.query_labels.flags.writeable


def test_replace_derives_a_copy():
    r = RESULTS["pair-synthetic-1"]
    named = dataclasses.replace(r, query_name="new.png", score=0.5)
    assert named.query_name == "new.png" and r.query_name == "query.png"
    assert named.score == 0.5 and np.array_equal(named.query_heatmap, r.query_heatmap, equal_nan=True)


def test_results_pickle():
    for r in RESULTS.values():
        assert pickle.loads(pickle.dumps(r)) == r


def test_one_hit_type():
    h = RESULTS["hit-int"]
    assert isinstance(h, ConnectorHit)  # a results Hit is a connectors Hit
    assert h.score is None and h.id == 5 and type(h.id) is int  # NaN (retrieved point) means "no score"
    c = ConnectorHit(UUID, 0.3, {"p": 1}, np.ones(2))
    lifted = Hit.from_connector(c)
    assert type(lifted) is Hit and lifted.id == UUID and lifted.score == 0.3 and lifted.payload == {"p": 1}
    assert Hit.from_connector(lifted) is lifted
    assert Hit(UUID, 0.3, {"p": 1}, np.ones(2)) == lifted  # built like a connectors Hit
    s = SearchResults(query_image=_image(8, 8, 0), hits=[c])
    assert type(s.hits[0]) is Hit


def test_score_is_qdrants_and_metric_is_the_metric():
    e = RESULTS["pair-real-1"]
    assert e.score is None and e.metric == "cosine" and e.higher_is_better  # a raw image pair has no Qdrant score
    data = json.loads(e.to_json())
    assert data["score"] is None and data["metric"] == "cosine" and data["full_value"] == e.full_value
    for name, r in RESULTS.items():
        for p in Result.PROVENANCE:
            assert hasattr(r, p), (name, p)
    assert ImagePairExplanation is PairExplanation


def test_provenance_in_every_json():
    for name, r in RESULTS.items():
        data = json.loads(r.to_json())
        if isinstance(r, Hit):
            continue  # a plain hit writes provenance only when set
        for p in Result.PROVENANCE:
            assert p in data, (name, p)


def test_lean_json_has_the_numbers_without_pictures(tmp_path):
    r = RESULTS["pair-real-2"]
    lean = r.to_json(arrays=False)
    assert len(lean) < len(r.to_json()) / 2 and "zlib" not in lean and "png" not in lean
    back = PairExplanation.from_json(lean)
    assert back.query_image is None and np.array_equal(back.cross, r.cross) and back.full_value == r.full_value
    with pytest.raises(ValueError, match="no image to draw"):
        back.save_png(tmp_path / "x.png")


def test_from_json_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="got the JSON of a Comparison"):
        PairExplanation.from_json(RESULTS["comparison"].to_json())
    with pytest.raises(ValueError, match="does not parse"):
        Hit.from_json("not json")
    with pytest.raises(ValueError, match="'result' field must be one of"):
        load_result('{"result": "Nope"}')
    with pytest.raises(TypeError, match="JSON text, a pathlib.Path"):
        Hit.from_json(3)


def test_search_results_need_one_explanation_per_hit():
    with pytest.raises(ValueError, match="one explanation \\(or None\\) per hit"):
        SearchResults(query_image=None, hits=(Hit(id=1),), explanations=(None, None))


def test_lookups_live_on_every_pair_result():
    e = synthetic_pair(2)  # built directly: no Players, only label maps
    hm = e.hit_heatmap_for((60, 80))
    region = int(e.query_labels[60, 80])
    np.testing.assert_allclose(hm[np.isfinite(hm)], np.asarray(e.cross[region])[e.hit_labels[np.isfinite(hm)]])
    assert e.query_heatmap_for(0).shape == e.query_image.shape[:2]
    with pytest.raises(ValueError, match="crop"):
        e.hit_heatmap_for((60, 2))
    with pytest.raises(ValueError, match="order-2"):
        synthetic_pair(1).hit_heatmap_for(0)


def test_multi_hit_results_are_frozen_and_round_trip():
    enc = TinyEncoder()
    stored = np.random.default_rng(0).normal(size=(2, 128))
    res = explain_hits(_image(40, 40, 0), [None, None], enc, players="grid:2x2", hit_embeddings=stored, side="query")
    for r in res:
        assert PairExplanation.from_json(r.to_json()) == r
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.score = 1.0


def test_every_type_writes_png_and_html(tmp_path):
    for name, r in RESULTS.items():
        if isinstance(r, Hit) and r.image is None:
            with pytest.raises(ValueError, match="no resolved image"):
                r.save_png(tmp_path / f"{name}.png")
        else:
            assert r.save_png(tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        html = r.to_html(tmp_path / f"{name}.html")
        assert html.count("<html") == 1 and (tmp_path / f"{name}.html").read_text(encoding="utf-8") == html


def test_a_new_result_type_brings_its_own_report_layout():
    """The renderer draws sections; a result type it has never seen renders without editing it."""
    from qdrant_explain.report import render_report, render_result
    from qdrant_explain.report.sections import CardsSection, HitCard, Layout

    @dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
    class Shortlist(Result):
        hits: tuple = ()

        def report_sections(self):
            return (CardsSection(heading="Shortlist", cards=tuple(HitCard(hit=h, rank=i + 1) for i, h in enumerate(self.hits))),)

        def report_layout(self):
            return Layout(title="my shortlist", sections=self.report_sections())

    s = Shortlist(hits=(Hit(id=1, score=0.5, payload={"path": "<one>.png"}), Hit(id=2, score=0.25)))
    html = render_result(s)
    assert "<title>my shortlist</title>" in html and "Shortlist" in html and "&lt;one&gt;.png" in html
    assert "Shortlist" in render_report(title="t", results=[s])
    with pytest.raises(TypeError, match="report_layout"):
        render_result(object())
    with pytest.raises(TypeError, match="report_sections"):
        render_report(title="t", explanations=[object()])


def test_report_does_not_import_the_results():
    """No report <-> results import circle: the renderer works on sections only."""
    import subprocess
    import sys

    code = ("import sys, qdrant_explain.report, qdrant_explain.report.sections; "
            "print('qdrant_explain.results' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_render_report_shows_a_query_once_and_groups_cards():
    from qdrant_explain.report import render_report

    a, b = synthetic_pair(2, seed=1), synthetic_pair(1, seed=2)
    html = render_report(title="t", query_image=a.query_image, query_name="q.png", explanations=[a, b])
    assert html.count("<h2>Query") == 1 and html.count("<h2>Explanations") == 1
    assert html.count('class="card"') == 2 and html.count('class="joint"') == 1


def test_raw_pair_card_does_not_call_the_metric_a_score():
    e = dataclasses.replace(synthetic_pair(1), score=None, hit_id=None)
    html = e.to_html()
    assert "score " not in html.split("<main>")[1].split("</main>")[0] and "cosine 0.8000" in html


def test_figures_of_a_lean_result_say_what_is_missing(tmp_path):
    from qdrant_explain.viz import save_correspondence, save_overlays

    lean = PairExplanation.from_json(RESULTS["pair-synthetic-2"].to_json(arrays=False))
    with pytest.raises(ValueError, match="arrays=False"):
        save_overlays(lean, tmp_path / "o.png")
    with pytest.raises(ValueError, match="arrays=False"):
        save_correspondence(lean, tmp_path / "c.png")
    full = PairExplanation.from_json(RESULTS["pair-synthetic-2"].to_json())
    fig = save_overlays(full, tmp_path / "o.png")
    assert "Qdrant score 0.8000" in fig.texts[0].get_text() and "cosine 0.8000" in fig.texts[0].get_text()


def test_shared_arrays_are_stored_once():
    s = RESULTS["search"]  # the query image is in the search and in both explanations
    data = json.loads(s.to_json())
    assert data["query_image"] == data["hits"][0]["explanation"]["query_image"] == {"array": data["query_image"]["array"]}
    pooled = [k for k, v in data["arrays"].items() if "png" in v]
    assert len(pooled) == len({json.dumps(v, sort_keys=True) for v in data["arrays"].values() if "png" in v})
    unpooled = json.loads(json.dumps(__import__("qdrant_explain.results", fromlist=["x"]).unpool_arrays(data)))
    assert "arrays" not in unpooled and "png" in unpooled["query_image"]
    assert len(s.to_json()) < len(json.dumps(unpooled, indent=2))


def test_a_dangling_array_reference_is_refused():
    data = json.loads(RESULTS["hit-int"].to_json())
    data["arrays"] = {"other": {}}
    with pytest.raises(ValueError, match="vector: expected an encoded array"):
        Hit.from_json(json.dumps(data))


def test_payloads_that_look_like_references_survive():
    h = Hit(id=1, score=0.5, payload={"array": "abc", "x": {"array": [1, 2]}}, vector=np.ones(3))
    assert Hit.from_json(h.to_json()) == h


def test_from_json_decodes_a_shared_array_once():
    back = SearchResults.from_json(RESULTS["search"].to_json())
    a = back.explanations[0].query_image  # the same picture as the search's query
    assert np.array_equal(a, back.query_image) and np.shares_memory(a, back.query_image)
    assert not np.shares_memory(back.explanations[1].query_image, back.query_image)  # another picture


def test_json_of_the_previous_layout_reads_as_a_lean_result():
    old_search = '[{"id": 7, "score": 0.8, "payload": {"path": "a.png"}}, {"id": "%s", "score": 0.7, "payload": {}}]' % UUID
    s = SearchResults.from_json(old_search)
    assert [h.id for h in s.hits] == [7, UUID] and s.query_image is None and s.explanations == ()
    old_pair = {k: v for k, v in json.loads(RESULTS["pair-synthetic-2"].to_json(arrays=False)).items()
                if k in {"method", "order", "encoder", "seed", "players", "query_values", "hit_values", "cross",
                         "base_value", "full_value", "score", "encoder_passes", "seconds"}}
    e = PairExplanation.from_json(json.dumps(old_pair))
    assert np.array_equal(e.cross, RESULTS["pair-synthetic-2"].cross) and e.query_image is None and e.score == 0.8
