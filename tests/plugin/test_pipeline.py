"""One pipeline of sides (issue 12): every entry point explains through explain_sides and they agree.

Regression tests for the drifts between the copies (EXIF orientation, the ``auto`` rule, baseline
names, the stale-vector threshold) and for the relative game going through the same function.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plugin_helpers import TINY
from qdrant_explain import SearchExplainer, explain_pair
from qdrant_explain.cli import main
from qdrant_explain.connectors import compare_vectors, load_encoder, load_image
from qdrant_explain.explainers import explain_game
from qdrant_explain.explainers.vocabulary import resolve_method
from qdrant_explain.sides import DifferenceSide, ImageSide, VectorSide, explain_sides, resolve_plan


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def enc():
    return load_encoder(TINY)


def _photo(h: int = 48, w: int = 80, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).copy()
    img[: h // 4, : w // 4] = (250, 20, 20)  # a corner that tells the orientations apart
    return img


@pytest.fixture(scope="module")
def rotated_jpeg(tmp_path_factory):
    """A phone-style JPEG: stored 48 x 80 (sideways) with EXIF orientation 6 (display rotated 90 degrees)."""
    folder = tmp_path_factory.mktemp("exif")
    path = folder / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_photo()).save(path, exif=exif.tobytes(), quality=95)
    upright = np.asarray(load_image(path))
    assert upright.shape == (80, 48, 3)  # load_image (what index uses) turns it upright
    return path, upright


# ------------------------------------------------------------------------------------ EXIF orientation


def test_exif_rotated_jpeg_explain_pair_maps_are_upright(rotated_jpeg, enc):
    path, upright = rotated_jpeg
    res = explain_pair(path, path, enc, players="grid:2x2")
    assert res.query_image.shape == upright.shape and res.query_heatmap.shape == upright.shape[:2]
    np.testing.assert_array_equal(res.query_image, upright)
    assert res.hit_heatmap.shape == upright.shape[:2]


def test_exif_rotated_jpeg_pil_input_is_turned_upright(rotated_jpeg, enc):
    path, upright = rotated_jpeg
    with Image.open(path) as im:
        res = explain_pair(im, upright, enc, players="grid:2x2")
    np.testing.assert_array_equal(res.query_image, upright)
    assert res.full_value == pytest.approx(1.0, abs=1e-9)  # the same upright image on both ends


@pytest.fixture(scope="module")
def exif_collection(rotated_jpeg, tmp_path_factory):
    path, _ = rotated_jpeg
    db = tmp_path_factory.mktemp("exif-db") / "db"
    out = run("index", path.parent, "--collection", "phone", "--db", db, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output
    return db


def test_exif_rotated_jpeg_search_explainer_and_cli_match_the_indexed_image(rotated_jpeg, exif_collection):
    path, upright = rotated_jpeg
    ex = SearchExplainer.open("phone", path=str(exif_collection))
    hit = ex.search(path, limit=1)[0]
    e = ex.explain(path, hit, players="grid:2x2")
    assert e.query_heatmap.shape == upright.shape[:2] and e.hit_heatmap.shape == upright.shape[:2]
    assert e.full_value == pytest.approx(hit.score, abs=1e-5) and hit.score == pytest.approx(1.0, abs=1e-5)
    out = run("explain", path, "--point-id", hit.id, "--collection", "phone", "--db", exif_collection,
              "--players", "grid:2x2", "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    # the query read by the CLI is the image the collection holds: identical vectors, no stale warning
    assert res["full_value"] == pytest.approx(1.0, abs=1e-5) and "warning" not in out.stderr


# ------------------------------------------------------------------------------------ one auto rule


@pytest.mark.parametrize("budget, expected", [(None, "exact"), (3000, "exact"), (1000, "kernel-shap")])
def test_auto_resolves_identically_everywhere(indexed, enc, budget, expected):
    """11 players: explain_game, explain_pair, SearchExplainer.explain and the CLI pick the same method."""
    game = explain_game(lambda Z: Z.sum(axis=1) ** 1.5, 11, method="auto", budget=budget)
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    pair = explain_pair(indexed["query"], img, enc, players="grid:1x11", method="auto", budget=budget)
    ex = SearchExplainer.open("photos", path=str(indexed["db"]))
    hit = ex.search(indexed["query"], limit=1)[0]
    api = ex.explain(indexed["query"], hit, players="grid:1x11", method="auto", budget=budget)
    args = ["--budget", budget] if budget else []
    out = run("explain", indexed["query"], "--point-id", hit.id, "--collection", "photos", "--db", indexed["db"],
              "--players", "grid:1x11", *args, "--json", "-", "--quiet")
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)
    vocab = resolve_method("auto", order=1, kind="side", n_players=11, budget=budget)[0]
    assert game.method == pair.method == vocab == expected
    if budget is None:  # SearchExplainer's and the CLI's default budget is "auto": 11 players are sampled in rounds
        assert api.extra["anytime"]["query"]["rounds"][0] == 64
        assert api.method == cli["method"] and api.extra["stopped"] == cli["extra"]["stopped"]
    else:
        assert api.method == cli["method"] == expected and "stopped" not in cli["extra"]


# ------------------------------------------------------------------------------------ one meaning per baseline


def test_gray_is_mid_grey_in_explain_pair_search_explainer_and_cli(indexed, enc):
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    kw = dict(players="grid:2x2")
    gray = explain_pair(indexed["query"], img, enc, baseline="gray", **kw)
    grey = explain_pair(indexed["query"], img, enc, baseline="grey", **kw)
    mid = explain_pair(indexed["query"], img, enc, baseline="constant:128,128,128", **kw)
    clip = explain_pair(indexed["query"], img, enc, baseline="constant", **kw)
    np.testing.assert_allclose(gray.query_values, mid.query_values, atol=1e-12)
    np.testing.assert_allclose(grey.query_values, mid.query_values, atol=1e-12)
    assert not np.allclose(clip.query_values, mid.query_values)  # "constant" is CLIP's mean, another colour
    ex = SearchExplainer.open("photos", path=str(indexed["db"]))
    e_gray = ex.explain(indexed["query"], img, baseline="gray", **kw)
    np.testing.assert_allclose(e_gray.query_values, mid.query_values, atol=1e-12)
    values = {}
    for name in ("gray", "constant:128,128,128"):
        out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
                  "--players", "grid:2x2", "--baseline", name, "--json", "-", "--quiet")
        assert out.exit_code == 0, out.output
        values[name] = json.loads(out.stdout)["query_values"]
    np.testing.assert_allclose(values["gray"], values["constant:128,128,128"], atol=1e-12)
    np.testing.assert_allclose(values["gray"], mid.query_values, atol=1e-9)


# ------------------------------------------------------------------------------------ one stale-vector threshold


def test_one_stale_vector_threshold(indexed, enc):
    """A stored vector with cosine > 0.99 but 10 % away: pair.py called it fresh, parity.py stale; now stale."""
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    fresh = enc.encode(enc.prepare(img).pixels[None])[0]
    fresh = fresh / np.linalg.norm(fresh)  # what a cosine collection stores
    rng = np.random.default_rng(0)
    noise = rng.normal(size=fresh.shape)
    stored = fresh + 0.1 * np.linalg.norm(fresh) * noise / np.linalg.norm(noise)
    cos = stored @ fresh / np.linalg.norm(stored) / np.linalg.norm(fresh)
    assert cos > 0.99  # what the old 0.99 rule in pair.py called "agrees"
    verdict = compare_vectors(stored, fresh, "cosine")
    assert not verdict.agrees
    res = explain_pair(indexed["query"], img, enc, hit_embedding=stored, players="grid:2x2")
    assert res.vector_check["disagrees"] is True and res.vector_check["rel_diff"] == pytest.approx(verdict.rel_diff)
    assert any("differs" in w for w in res.extra["warnings"])
    same = explain_pair(indexed["query"], img, enc, hit_embedding=fresh, players="grid:2x2")
    assert same.vector_check["disagrees"] is False
    assert not any("differs" in w for w in same.extra.get("warnings", ()))


# ------------------------------------------------------------------------------------ the relative game


def test_relative_game_is_the_difference_of_two_query_games(indexed):
    """compare goes through explain_sides (a DifferenceSide): exact values are linear in the hit."""
    ex = SearchExplainer.open("photos", path=str(indexed["db"]))
    hits = ex.search(indexed["query"], limit=3)
    c = ex.compare(indexed["query"], hits[0], hits[2], players="grid:2x3", method="exact")
    a = ex.explain(indexed["query"], hits[0], players="grid:2x3", method="exact", side="query")
    b = ex.explain(indexed["query"], hits[2], players="grid:2x3", method="exact", side="query")
    np.testing.assert_allclose(c.query_values, a.query_values - b.query_values, atol=1e-12)
    assert c.full_value == pytest.approx(hits[0].score - hits[2].score, abs=1e-5)
    assert c.encoder_passes == 2**6


def test_explain_sides_shares_one_query_plan_across_plain_and_difference_hits(indexed, enc):
    q = ImageSide(indexed["query"], enc, players="grid:2x2")
    rng = np.random.default_rng(1)
    va, vb = rng.normal(size=(2, 128))
    out = explain_sides(q, [VectorSide(va), VectorSide(vb), DifferenceSide(VectorSide(va), VectorSide(vb))],
                        method="exact", side="query")
    assert [o.passes for o in out] == [16, 0, 0]  # one set of masked-query encodes for the three games
    np.testing.assert_allclose(out[2].query_explanation.values,
                               out[0].query_explanation.values - out[1].query_explanation.values, atol=1e-12)


# ------------------------------------------------------------------------------------ budgets (issue 16: 9, 15)


def test_budget_above_the_exact_cost_is_capped_and_said():
    plan = resolve_plan("kernel-shap", order=1, kind="side", n_players=9, budget=1_000_000_000)
    assert plan.budget == plan.passes == 512 and "capped at the exact cost 512" in plan.note
    auto = resolve_plan("auto", order=1, kind="side", n_players=9, budget=1_000_000_000)
    assert auto.method == "exact" and auto.passes == 512
    joint = resolve_plan("stratified", order=2, kind="joint", n_players=(3, 3), budget=10**9)
    assert joint.passes == 16 and joint.note


def test_cli_huge_budget_is_capped_with_an_estimate_up_front(indexed):
    out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
              "--players", "grid:3x3", "--method", "kernel-shap", "--budget", 1_000_000_000, "--json", "-")
    assert out.exit_code == 0, out.output
    assert "capped at the exact cost 512" in out.stderr
    assert "512 encoder passes at most" in out.stderr and "images/s measured" in out.stderr
    assert json.loads(out.stdout)["encoder_passes"] <= 2 * 512


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_plan_that_cannot_fit_in_memory_is_refused_before_encoding(indexed, monkeypatch, how):
    import qdrant_explain.sides as sides

    calls = []
    monkeypatch.setattr(sides, "_solve", lambda *a, **k: calls.append(1))
    args = ["explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
            "--players", "grid:5x10", "--method", "kernel-shap", "--budget", 1_000_000_000]
    if how == "option":
        args += ["--memory-cap", "8GiB"]
    else:
        monkeypatch.setenv("QDRANT_EXPLAIN_MEMORY_CAP", "8GiB")
    out = run(*args)
    assert out.exit_code == 1 and not calls, out.output
    assert "the cap is 8.0 GiB" in out.stderr and "Lower the budget to at most" in out.stderr
    assert "Traceback" not in out.output


def test_cli_memory_cap_that_is_not_a_size_is_a_usage_error(indexed):
    out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
              "--memory-cap", "lots")
    assert out.exit_code == 2 and "--memory-cap must be a number of bytes or a size" in out.stderr


def test_budget_counts_encoder_passes_per_side_and_is_honoured(indexed, enc):
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    res = explain_pair(indexed["query"], img, enc, players="grid:3x3", method="kernel-shap", budget=10)
    assert res.extra["query_passes"] <= 10 and res.extra["hit_passes"] <= 10
    assert res.encoder_passes == res.extra["query_passes"] + res.extra["hit_passes"]
    joint = explain_pair(indexed["query"], img, enc, order=2, players="grid:3x3", method="stratified", budget=100)
    assert joint.encoder_passes <= 100  # order 2: query and hit together
    out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY,
              "--players", "grid:3x3", "--method", "kernel-shap", "--budget", 10)
    assert out.exit_code == 0, out.output
    assert out.stderr.count("10 encoder passes at most") == 2 and "the budget counts per side" in out.stdout
    help_text = run("explain", "--help").output
    assert "per explained side at order 1" in " ".join(help_text.split())


@pytest.mark.parametrize("args, option", [
    (["--players", "grid:0x0"], "--players"),
    (["--players", "slic:0"], "--players"),
    (["--budget", "1"], "--budget"),
    (["--seed", "-1"], "--seed"),
    (["--baseline", "blur:-1"], "--baseline"),
    (["--baseline", "purple"], "--baseline"),
])
def test_statically_invalid_values_are_usage_errors(indexed, args, option):
    out = run("explain", indexed["query"], "--image", indexed["photos"] / "img1.png", "--encoder", TINY, *args)
    assert out.exit_code == 2, out.output
    assert option in out.stderr and "Traceback" not in out.output


# ------------------------------------------------------------------------------------ point ids (issue 16: 14)


@pytest.mark.parametrize("pid", ["-1", "/some/file.png", "img0.png"])
def test_point_id_is_always_an_id(indexed, pid):
    out = run("explain", indexed["query"], "--point-id", pid, "--collection", "photos", "--db", indexed["db"])
    assert out.exit_code == 2 and "not a point id" in out.stderr, out.output
    cmp = run("compare", indexed["query"], "--collection", "photos", "--db", indexed["db"], "--", pid, "1")
    assert cmp.exit_code == 2 and "not a point id" in cmp.stderr, cmp.output


# ------------------------------------------------------------------------------------ stale point (issue 16: 5)


@pytest.fixture(scope="module")
def stale_collection(indexed, tmp_path_factory):
    """A collection whose img0.png was overwritten after indexing (its stored vector is stale)."""
    import shutil

    root = tmp_path_factory.mktemp("stale")
    photos = root / "photos"
    shutil.copytree(indexed["photos"], photos)
    db = root / "db"
    assert run("index", photos, "--collection", "p", "--db", db, "--encoder", TINY, "--quiet").exit_code == 0
    img = np.asarray(Image.open(photos / "img0.png"))
    Image.fromarray(255 - img).save(photos / "img0.png")
    ex = SearchExplainer.open("p", path=str(db))
    hit = next(h for h in ex.search(indexed["query"], limit=8) if h.payload["path"] == "img0.png")
    return {"db": db, "photos": photos, "id": hit.id}


def test_explain_of_a_stale_point_warns(indexed, stale_collection):
    out = run("explain", indexed["query"], "--point-id", stale_collection["id"], "--collection", "p", "--db",
              stale_collection["db"], "--players", "grid:2x2", "--json", "-")
    assert out.exit_code == 0, out.output
    assert "warning: stored vector differs from a fresh encode" in out.stderr
    res = json.loads(out.stdout)
    assert res["vector_check"]["disagrees"] is True and res["score"] is not None


def test_explain_of_a_fresh_point_does_not_warn(indexed):
    """The stale warning must not fire on a point whose vector is current (a cosine collection may store the raw
    vector or the unit one: both agree with a fresh encode)."""
    found = run("search", indexed["query"], "--collection", "photos", "--db", indexed["db"], "-k", 1, "--json", "-",
                "--quiet")
    assert found.exit_code == 0, found.output
    point = json.loads(found.stdout)["hits"][0]["id"]
    out = run("explain", indexed["query"], "--point-id", point, "--collection", "photos", "--db", indexed["db"],
              "--players", "grid:2x2", "--json", "-")
    assert out.exit_code == 0, out.output
    assert "warning" not in out.stderr
    res = json.loads(out.stdout)
    assert res["vector_check"]["disagrees"] is False and res["full_value"] == pytest.approx(res["score"], abs=1e-5)


# ------------------------------------------------------------------------------------ one bad item (issue 16: 6)


def test_audit_records_a_bad_query_and_a_missing_hit_image_and_goes_on(indexed, stale_collection, tmp_path):
    import shutil

    queries = tmp_path / "queries"
    shutil.copytree(indexed["queries"], queries)
    (queries / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (stale_collection["photos"] / "img0_flipped.png").rename(tmp_path / "gone.png")
    try:
        out = run("audit", queries, "--collection", "p", "--db", stale_collection["db"], "-k", 3,
                  "--out", tmp_path / "a")
    finally:
        (tmp_path / "gone.png").rename(stale_collection["photos"] / "img0_flipped.png")
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "a" / "audit.json").read_text())["summary"]
    assert summary["queries"] == 2 and summary["queries_failed"] == 1
    errors = [f for f in summary["findings"]]
    assert any(f["query"] == "broken.png" and f["hit"] is None for f in errors)
    assert any(f["hit"] is not None for f in errors)  # the hit whose file is gone
    assert "broken.png" in out.stderr and "could not be explained" in out.stdout
    report = (tmp_path / "a" / "report.html").read_text()
    assert "Could not be explained" in report and "broken.png" in report


def test_search_explain_goes_on_without_a_hit_image(indexed, stale_collection, tmp_path):
    (stale_collection["photos"] / "img3.png").rename(tmp_path / "gone.png")
    try:
        out = run("search", indexed["query"], "--collection", "p", "--db", stale_collection["db"], "-k", 8,
                  "--explain", "kernel-shap", "--json", tmp_path / "hits.json", "--html", tmp_path / "hits.html")
    finally:
        (tmp_path / "gone.png").rename(stale_collection["photos"] / "img3.png")
    assert out.exit_code == 0, out.output
    hits = json.loads((tmp_path / "hits.json").read_text())["hits"]
    assert len(hits) == 8 and all("explanation" in h for h in hits)  # the query side needs no hit image
    assert "warning: hit" in out.stderr and (tmp_path / "hits.html").exists()


# ------------------------------------------------------------------------------------ Python API (issue 16: 18)


def test_audit_of_none_names_the_argument(indexed):
    ex = SearchExplainer.open("photos", path=str(indexed["db"]))
    with pytest.raises(TypeError, match=r"audit\(queries=\.\.\.\)"):
        ex.audit(None)
    with pytest.raises(TypeError, match="Wrap a single query in a list"):
        ex.audit(str(indexed["query"]))


def test_encoder_spec_string_is_loaded_like_search_explainer(indexed, enc):
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    by_spec = explain_pair(indexed["query"], img, TINY, players="grid:2x2")
    by_object = explain_pair(indexed["query"], img, enc, players="grid:2x2")
    assert by_spec.encoder == TINY
    np.testing.assert_allclose(by_spec.query_values, by_object.query_values)
    with pytest.raises(TypeError, match=r"load_encoder\(spec\)"):
        explain_pair(indexed["query"], img, 42)


def test_encoded_image_bytes_go_through_the_one_loader(rotated_jpeg, enc):
    """PNG/JPEG bytes are read by load_image (orientation applied), not mistaken for a path."""
    path, upright = rotated_jpeg
    res = explain_pair(path.read_bytes(), upright, enc, players="grid:2x2")
    np.testing.assert_array_equal(res.query_image, upright)


def test_exact_beyond_its_limit_keeps_the_estimators_message(indexed, enc):
    img = np.asarray(Image.open(indexed["photos"] / "img1.png"))
    with pytest.raises(ValueError, match="20"):
        explain_pair(indexed["query"], img, enc, players="grid:5x5", method="exact", side="query")


def test_memory_check_refuses_only_what_cannot_fit():
    from qdrant_explain.sides import check_fits

    huge = resolve_plan("kernel-shap", order=1, kind="side", n_players=50, budget=10**9, memory_cap="1PiB")
    with pytest.raises(MemoryError, match=r"1000000000 encoder passes .* TiB of memory, above the memory cap of 51.2 GiB; lower the budget"):
        check_fits(huge, 512, 1, available=64 * 2**30)
    with pytest.raises(ValueError, match=r"does not fit the memory cap: kernel-shap at budget 1000000000 needs"):
        resolve_plan("kernel-shap", order=1, kind="side", n_players=50, budget=10**9, dim=512, memory_cap="64GiB")
    check_fits(resolve_plan("auto", order=1, kind="side", n_players=9, budget=10**9), 512, 10, available=2**30)


@pytest.mark.parametrize("method", ["kernel-shap", "permutation"])
def test_hit_sides_of_equal_size_share_one_solve_and_equal_separate_ones(indexed, enc, method):
    from qdrant_explain import explain_hits

    imgs = [np.asarray(Image.open(indexed["photos"] / f"img{i}.png")) for i in (1, 2, 4)]
    together = explain_hits(indexed["query"], imgs, enc, players="grid:3x3", method=method, budget=100)
    for img, res in zip(imgs, together):
        alone = explain_pair(indexed["query"], img, enc, players="grid:3x3", method=method, budget=100)
        np.testing.assert_allclose(res.hit_values, alone.hit_values, atol=1e-10)
        np.testing.assert_allclose(res.query_values, alone.query_values, atol=1e-10)
        assert res.extra["hit_passes"] == alone.extra["hit_passes"] <= 100
