"""Explaining recommend / discover / context / fusion / nearest hits: the exact split adds up to the exact
score, Shapley over examples equals brute force with Qdrant's own score of every subset, regions go through
the pipeline of sides, results round-trip."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from plugin_helpers import TINY, _smooth_image

from qdrant_explain.connectors import PointNotFoundError, index_folder, open_collection
from qdrant_explain.connectors import shapes as S
from qdrant_explain.explainers.exact import shapley_values
from qdrant_explain.shapes import ShapeExplanation, explain_shape
from qdrant_explain.results import load_result


@pytest.fixture(scope="module")
def image_collection(tmp_path_factory):
    """10 smooth random images indexed with the tiny encoder into an embedded Qdrant on disk."""
    from PIL import Image

    root = tmp_path_factory.mktemp("shape_photos")
    rng = np.random.default_rng(3)
    for i in range(10):
        Image.fromarray(_smooth_image(rng)).save(root / f"p{i}.png")
    db = tmp_path_factory.mktemp("shape_db") / "q"
    index_folder(root, "shapes", encoder=TINY, path=str(db), progress=False)
    col = open_collection("shapes", path=str(db))
    ids = sorted((pid for pid, _ in col.scroll_payloads()), key=str)
    return col, ids, root


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
def test_recommend_shapley_equals_brute_force_with_qdrant_values(image_collection, strategy):
    col, ids, _ = image_collection
    shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2], ids[3]), strategy=strategy)
    why = explain_shape(col, shape, regions=False)
    n = 4
    table = np.zeros(2**n)
    for s in range(2**n):  # Qdrant's own score of the hit for every subset of the 4 examples
        mask = [(s >> i) & 1 == 1 for i in range(n)]
        v = S.score_for_subset(col, shape, why.hit.id, mask)
        table[s] = 0.0 if v is None else v
    brute = np.zeros(n)
    for i in range(n):  # the Shapley formula over subsets, written out
        others = [j for j in range(n) if j != i]
        for r in range(n):
            for sub in itertools.combinations(others, r):
                s = sum(1 << j for j in sub)
                w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                brute[i] += w * (table[s | (1 << i)] - table[s])
    np.testing.assert_allclose(why.values, brute, atol=2e-6)
    np.testing.assert_allclose(shapley_values(table), brute, atol=1e-9)
    assert abs(why.total - why.exact_score) <= 1e-5
    assert abs(why.exact_score - why.score) <= 1e-4 * max(1.0, abs(why.score))
    assert why.parity["keeps_rank"] is True and why.parity["quantization"] is None


def test_recommend_regions_of_the_driving_example(image_collection):
    col, ids, _ = image_collection
    shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy="best_score")
    why = explain_shape(col, shape, encoder=TINY, players="grid:2x3", method="exact")
    assert why.driver == int(np.argmax(np.abs(why.values)))
    (pe,) = why.regions
    assert pe.encoder_passes == 2**6 and pe.method == "exact"
    # the region game's full value is the recommend score with the driver's fresh encode; efficiency holds
    assert abs(pe.query_values.sum() + pe.base_value - pe.full_value) <= 1e-9
    assert abs(pe.full_value - why.exact_score) <= 1e-4
    back = load_result(why.to_json())
    assert isinstance(back, ShapeExplanation) and back == why
    assert "Contributions" in why.to_html()


def test_recommend_regions_cost_like_a_nearest_explanation(image_collection):
    col, ids, root = image_collection
    shape = S.Recommend(positive=(ids[0], ids[1]), negative=(ids[2],), strategy="sum_scores")
    why = explain_shape(col, shape, encoder=TINY, players="grid:3x3", budget=128, method="kernel-shap")
    example = col.retrieve([(shape.positive + shape.negative)[why.driver]])[0]
    nearest = explain_shape(col, S.Nearest(example.vector), hit=why.hit.id, encoder=TINY, players="grid:3x3",
                            budget=128, method="kernel-shap", query_image=col.resolve_image(example))
    assert why.encoder_passes <= 1.2 * nearest.encoder_passes


def test_discover_and_context_split_exactly(image_collection):
    col, ids, _ = image_collection
    for shape in (S.Discover(target=ids[4], pairs=((ids[0], ids[1]), (ids[2], ids[3]))),
                  S.Context(pairs=((ids[0], ids[1]), (ids[2], ids[3])))):
        why = explain_shape(col, shape, regions=False)
        assert abs(why.total - why.exact_score) <= 1e-5
        assert abs(why.score - why.exact_score) <= 1e-4
        assert len(why.values) == 2
    disc = explain_shape(col, S.Discover(target=ids[4], pairs=((ids[0], ids[1]),)), encoder=TINY, players="grid:2x2",
                         method="exact")
    assert disc.regions and 0 < disc.base_value < 1


def test_fusion_split_and_prefetch_regions(image_collection):
    col, ids, root = image_collection
    from PIL import Image

    from qdrant_explain.connectors import load_encoder

    enc = load_encoder(TINY)
    img = np.asarray(Image.open(root / "p5.png").convert("RGB"))
    qv = col.encode_image(enc, img)
    other = col.retrieve([ids[7]])[0].vector
    for method in ("rrf", "dbsf"):
        shape = S.Fusion(prefetches=(S.Nearest(qv, limit=6), S.Nearest(other, limit=6)), method=method)
        why = explain_shape(col, shape, encoder=enc, query_image=img, players="grid:2x2", method="exact")
        assert abs(why.total - why.score) <= 1e-4 and abs(why.total - why.exact_score) <= 1e-9
        (pe,) = why.regions
        assert pe.extra["prefetches"] == [1]


def test_bad_inputs_are_clear(image_collection):
    col, ids, _ = image_collection
    with pytest.raises(PointNotFoundError, match="no point with id 424242"):
        explain_shape(col, S.Recommend(positive=(424242,), strategy="best_score"), regions=False)
    with pytest.raises(ValueError, match="needs at least a positive example"):
        S.Recommend(negative=(ids[0],), strategy="average_vector")
    with pytest.raises(ValueError, match="strategy must be one of average_vector, best_score, sum_scores"):
        S.Recommend(positive=(ids[0],), strategy="max_score")
    with pytest.raises(ValueError, match="multivector query .* against the dense"):
        explain_shape(col, S.Nearest(np.ones((3, col.vector_size))), regions=False)


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    """A collection indexed by the CLI (so its image root is recorded on this machine)."""
    from click.testing import CliRunner
    from PIL import Image

    from qdrant_explain.cli import main

    root = tmp_path_factory.mktemp("rec_photos")
    rng = np.random.default_rng(5)
    for i in range(8):
        Image.fromarray(_smooth_image(rng)).save(root / f"r{i}.png")
    db = tmp_path_factory.mktemp("rec_db") / "q"
    out = CliRunner().invoke(main, ["index", str(root), "--collection", "rec", "--db", str(db), "--encoder", TINY, "--quiet"])
    assert out.exit_code == 0, out.output
    col = open_collection("rec", path=str(db))
    return db, sorted((pid for pid, _ in col.scroll_payloads()), key=str)


def test_cli_recommend_explain_json(cli_db, tmp_path):
    import json

    from click.testing import CliRunner

    from qdrant_explain.cli import main

    db, ids = cli_db
    base = ["recommend", "--collection", "rec", "--db", str(db), "--positive", str(ids[0]), "--positive", str(ids[1]),
            "--negative", str(ids[2]), "--strategy", "best_score"]
    out = CliRunner().invoke(main, base + ["-k", "3"])
    assert out.exit_code == 0, out.output
    assert len(out.output.strip().splitlines()) == 3
    out = CliRunner().invoke(main, base + ["--explain", "--players", "grid:2x2", "--method", "exact", "--quiet",
                                           "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    assert "total" in out.output and "<- regions" in out.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["result"] == "ShapeExplanation" and data["shape"] == "recommend" and data["detail"] == "best_score"
    assert abs(data["total"] - data["exact_score"]) <= 1e-5 and abs(data["score"] - data["exact_score"]) <= 1e-4
    assert data["regions"][0]["encoder_passes"] == 16


def test_cli_recommend_bad_input(cli_db):
    from click.testing import CliRunner

    from qdrant_explain.cli import main

    db, ids = cli_db
    base = ["recommend", "--collection", "rec", "--db", str(db)]
    out = CliRunner().invoke(main, base + ["--positive", "987654321", "--explain", "--no-regions"])
    assert out.exit_code == 1 and "no point with id 987654321" in out.output
    out = CliRunner().invoke(main, base + ["--negative", str(ids[0]), "--strategy", "average_vector"])
    assert out.exit_code == 2 and "needs at least a positive example" in out.output
    out = CliRunner().invoke(main, base + ["--positive", str(ids[0]), "--strategy", "max"])
    assert out.exit_code == 2 and "'max' is not one of" in out.output
    out = CliRunner().invoke(main, base)
    assert out.exit_code == 2 and "at least one --positive or --negative" in out.output


def test_cli_discover_context_and_fuse(cli_db, tmp_path):
    import json

    from click.testing import CliRunner

    from qdrant_explain.cli import main

    db, ids = cli_db
    col = ["--collection", "rec", "--db", str(db)]
    out = CliRunner().invoke(main, ["discover", *col, "--target", str(ids[0]), "--pair", str(ids[1]), str(ids[2]),
                                    "--explain", "--players", "grid:2x2", "--method", "exact", "--quiet",
                                    "--json", str(tmp_path / "d.json")])
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["shape"] == "discover" and len(data["values"]) == 1 and data["regions"][0]["encoder_passes"] == 16
    assert abs(data["total"] - data["exact_score"]) <= 1e-5 and abs(data["score"] - data["exact_score"]) <= 1e-4
    assert data["parity"]["fresh_ok"] is True
    out = CliRunner().invoke(main, ["discover", *col, "--pair", str(ids[1]), str(ids[2]), "-k", "2"])
    assert out.exit_code == 0 and len(out.output.strip().splitlines()) == 2, out.output
    from pathlib import Path

    root = open_collection("rec", path=str(db)).info.image_root
    imgs = sorted(str(p) for p in Path(root).glob("*.png"))[:2]
    out = CliRunner().invoke(main, ["fuse", *imgs, *col, "--fusion", "dbsf", "--prefetch-limit", "5", "--explain",
                                    "--players", "grid:2x2", "--method", "exact", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "prefetch 1" in out.output and "total" in out.output
    out = CliRunner().invoke(main, ["fuse", *imgs, *col, "--fusion", "dbsf", "--rrf-k", "10"])
    assert out.exit_code == 2 and "--rrf-k is RRF's constant" in out.output
    out = CliRunner().invoke(main, ["discover", *col, "--target", str(ids[0])])
    assert out.exit_code == 2 and "at least one --pair" in out.output
    out = CliRunner().invoke(main, ["discover", *col, "--target", "424242", "--pair", str(ids[1]), str(ids[2]),
                                    "--explain", "--no-regions"])
    assert out.exit_code == 1 and "no point with id 424242" in out.output
    out = CliRunner().invoke(main, ["recommend", *col, "--positive", str(ids[0]), "--negative", str(ids[1]),
                                    "--strategy", "best_score", "--explain", "--order", "2", "--players", "grid:2x2",
                                    "--method", "exact", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "<- regions" in out.output and "32 encoder passes" in out.output
