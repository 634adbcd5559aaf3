"""Text queries at the command line: index with a clip: encoder, search --text, explain --text (orders 1 and 2,
--json/--png/--html), full_value == Qdrant's score, and one clear error for each bad text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plugin_helpers import TINY, _smooth_image
from qdrant_explain._testing import register_tiny_clip
from qdrant_explain.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def clip_db(tmp_path_factory):
    """Photos indexed with a tiny random CLIP saved as a local checkpoint (random weights must not change)."""
    import open_clip
    import torch

    root = tmp_path_factory.mktemp("textcli")
    spec = register_tiny_clip(root)
    torch.manual_seed(0)
    model = open_clip.create_model(spec.split(":", 1)[1].split("@")[0])
    torch.save(model.state_dict(), root / "tiny.pt")
    encoder = spec.replace("@none", f"@{root / 'tiny.pt'}")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(_smooth_image(rng)).save(photos / f"img{i}.png")
    db = root / "db"
    out = run("index", photos, "--collection", "clip", "--db", db, "--encoder", encoder, "--quiet")
    assert out.exit_code == 0, out.output
    out = run("index", photos, "--collection", "tiny", "--db", db, "--encoder", TINY, "--quiet")
    assert out.exit_code == 0, out.output
    return {"db": db, "encoder": encoder, "photos": photos, "root": root}


def _search(clip_db, text, k=3):
    out = run("search", "--text", text, "--collection", "clip", "--db", clip_db["db"], "--encoder", clip_db["encoder"],
              "-k", k, "--json", "-")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_search_text_lists_hits_with_qdrant_scores(clip_db):
    found = _search(clip_db, "a red bicycle")
    assert found["query"] == "a red bicycle" and len(found["hits"]) == 3
    scores = [h["score"] for h in found["hits"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("order", ["1", "2"])
def test_explain_text_full_value_equals_qdrants_score(clip_db, tmp_path, order):
    top = _search(clip_db, "a red bicycle", k=1)["hits"][0]
    paths = {k: tmp_path / f"why{order}.{k}" for k in ("json", "png", "html")}
    out = run("explain", "--text", "a red bicycle", "--point-id", top["id"], "--collection", "clip",
              "--db", clip_db["db"], "--encoder", clip_db["encoder"], "--order", order, "--players", "grid:2x2",
              "--json", paths["json"], "--png", paths["png"], "--html", paths["html"])
    assert out.exit_code == 0, out.output
    got = json.loads(paths["json"].read_text())
    assert got["result"] == "TextExplanation" and got["words"] == ["a", "red", "bicycle"]
    assert abs(got["full_value"] - top["score"]) < 1e-4 and abs(got["score"] - top["score"]) < 1e-6
    assert got["text_passes"] == 8 and got["image_passes"] == 16
    assert (got["cross"] is not None) == (order == "2")
    assert paths["png"].stat().st_size > 0 and "span class=\"word\"" in paths["html"].read_text()
    assert "8 text + 16 image encodes" in out.stdout


def test_explain_text_against_an_image_file(clip_db, tmp_path):
    out = run("explain", "--text", "two cats", "--image", clip_db["photos"] / "img0.png", "--encoder",
              clip_db["encoder"], "--order", "2", "--players", "grid:2x2", "--json", tmp_path / "w.json")
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "w.json").read_text())["score"] is None


@pytest.mark.parametrize("text, message", [
    ("", "the text is empty"),
    ("  ...?!  ", "has no words"),
    (" ".join(["cat"] * 25), "would be truncated after the word 'cat'"),
])
def test_bad_texts_are_one_clear_error(clip_db, text, message):
    for args in (["search", "--text", text, "--collection", "clip"],
                 ["explain", "--text", text, "--point-id", "1", "--collection", "clip"]):
        out = run(*args, "--db", clip_db["db"], "--encoder", clip_db["encoder"])
        assert out.exit_code == 1, out.output
        assert message in out.stderr and "Traceback" not in out.output
        assert len([line for line in out.stderr.splitlines() if line.startswith("Error")]) == 1


def test_compare_with_a_text_query_explains_words_of_the_score_difference(clip_db, tmp_path):
    hits = _search(clip_db, "a red bicycle", k=2)["hits"]
    out = run("compare", "--text", "a red bicycle", hits[0]["id"], hits[1]["id"], "--collection", "clip",
              "--db", clip_db["db"], "--encoder", clip_db["encoder"], "--json", tmp_path / "c.json",
              "--html", tmp_path / "c.html")
    assert out.exit_code == 0, out.output
    got = json.loads((tmp_path / "c.json").read_text())
    difference = hits[0]["score"] - hits[1]["score"]
    assert got["result"] == "TextExplanation" and got["words"] == ["a", "red", "bicycle"]
    assert abs(got["full_value"] - difference) < 1e-4 and abs(sum(got["word_values"]) + got["base_value"]
                                                           - got["full_value"]) < 1e-9
    assert got["extra"]["comparison"]["hit_a"] == hits[0]["id"] and got["text_passes"] == 8
    assert got["image_passes"] == 0 and "span class=\"word\"" in (tmp_path / "c.html").read_text()
    assert "score(A) - score(B)" in out.stdout and "words for A:" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--text", "a cat", "1"], "compare takes ID_A ID_B (with --text TEXT); got 1 argument(s)"),
    (["q.png", "1"], "compare takes QUERY_IMAGE ID_A ID_B (or --text TEXT ID_A ID_B); got 2"),
    (["--text", "a cat", "1", "two"], "'two' is not a point id"),
])
def test_compare_arguments_are_checked(clip_db, args, message):
    out = run("compare", *args, "--collection", "clip", "--db", clip_db["db"])
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_compare_with_a_text_query_on_an_image_only_collection_is_refused(clip_db):
    out = run("compare", "--text", "a cat", "1", "2", "--collection", "tiny", "--db", clip_db["db"])
    assert out.exit_code == 1 and "is image-only" in out.stderr and "Traceback" not in out.output


def test_text_query_against_an_image_only_collection_is_refused(clip_db):
    out = run("search", "--text", "a cat", "--collection", "tiny", "--db", clip_db["db"])
    assert out.exit_code == 1 and "is image-only" in out.stderr and "Traceback" not in out.output


def test_query_image_and_text_together_is_a_usage_error(clip_db):
    out = run("search", clip_db["photos"] / "img0.png", "--text", "a cat", "--collection", "clip", "--db", clip_db["db"])
    assert out.exit_code == 2 and "exactly one query" in out.output


def test_audit_over_a_file_of_text_queries(clip_db, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("a red bicycle\n\n?!\ntwo cats on a mat\n", encoding="utf-8")
    out = run("audit", "--texts", queries, "--collection", "clip", "--db", clip_db["db"], "--encoder",
              clip_db["encoder"], "-k", 2, "--out", tmp_path / "audit", "--quiet")
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("2 text queries, 4 hits:")
    data = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert data["summary"]["finding_count"] == 1 and "has no words" in data["summary"]["findings"][0]["error"]
    assert data["queries"][0]["hits"][0]["explanation"]["result"] == "TextExplanation"
    from qdrant_explain.results import load_result

    report = load_result(tmp_path / "audit" / "audit.json")
    assert report.searches[0].explanations[0].words.words == ("a", "red", "bicycle")
    assert 'class="word"' in (tmp_path / "audit" / "report.html").read_text()


def test_a_query_file_that_is_not_utf8_is_refused(clip_db, tmp_path):
    queries = tmp_path / "latin1.txt"
    queries.write_bytes("a red bicycle\ncaf\xe9 au lait\n".encode("latin-1"))
    out = run("audit", "--texts", queries, "--collection", "clip", "--db", clip_db["db"], "--encoder",
              clip_db["encoder"], "--out", tmp_path / "audit")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "is not UTF-8 text: byte 0xe9 at offset 17 (line 2)" in out.stderr
