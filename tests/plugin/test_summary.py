"""Plain-language summaries: position words, shares, the baseline warning, and where they appear."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

from qdrant_explain.summary import (
    baseline_warning,
    position_word,
    region_centroids,
    regions,
    shares,
    summary_sentence,
)


def _labels() -> np.ndarray:
    lab = np.zeros((30, 30), dtype=int)
    lab[:10, :10] = 1  # top left
    lab[20:, 20:] = 2  # bottom right
    lab[:, :] = np.where(lab == 0, 0, lab)
    return lab


@pytest.mark.parametrize(("y", "x", "word"), [(0.1, 0.1, "top left"), (0.5, 0.5, "centre"), (0.9, 0.5, "bottom"),
                                              (0.5, 0.95, "right"), (0.0, 1.0, "top right"), (1.0, 0.0, "bottom left")])
def test_position_words(y, x, word):
    assert position_word(y, x) == word


def test_centroids_follow_label_order_and_skip_cropped_pixels():
    lab = _labels()
    lab[:, 0] = -1  # cropped column
    c = region_centroids(lab)
    assert c.shape == (3, 2)
    assert c[1, 0] == pytest.approx(5 / 30) and c[1, 1] == pytest.approx(5.5 / 30)
    assert [r.where for r in regions(lab, 3, "hit")] == ["centre", "top left", "bottom right"]


def test_regions_need_matching_counts_and_a_region():
    with pytest.raises(ValueError, match="has 3 regions but 4 values"):
        regions(_labels(), 4, "query")
    with pytest.raises(ValueError, match="no region"):
        region_centroids(-np.ones((4, 4), dtype=int))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        region_centroids(np.zeros(4, dtype=int))


def test_shares_add_up_and_refuse_a_non_positive_total():
    v = np.array([0.2, 0.1, 0.15])
    assert shares(v, 0.4, 0.85).sum() == pytest.approx(1.0)
    assert shares(v, 0.9, 0.85) is None
    assert shares(v, float("nan"), 0.85) is None


def test_baseline_warning_only_when_the_baseline_scores_as_high():
    assert baseline_warning(0.4, 0.85, higher_is_better=True) is None
    msg = baseline_warning(0.9752, 0.7897, higher_is_better=True, baseline="blur")
    assert "0.9752" in msg and "0.7897" in msg and "--baseline gray" in msg and "'blur'" in msg
    assert baseline_warning(0.5, 0.5, higher_is_better=True) is not None  # equal counts too
    # distances: lower is better, a baseline *closer* than the pair is the bad case
    assert baseline_warning(3.0, 1.0, higher_is_better=False) is None
    assert baseline_warning(0.5, 1.0, higher_is_better=False, baseline="gray") is not None
    joint = baseline_warning(0.98, 0.95, higher_is_better=True, baseline="gray", joint=True)
    assert "background:DIR" in joint and "--baseline blur" not in joint


def test_sentences_name_regions_positions_and_shares():
    lab = _labels()
    one = summary_sentence(query_values=np.array([0.1, 0.3, 0.05]), hit_values=np.array([0.1, 0.05, 0.3]),
                           cross=None, base_value=0.4, full_value=0.85, query_labels=lab, hit_labels=lab,
                           hit_base_value=0.25)
    assert one == ("The hit matched mostly on query region 1 (top left, 67 % of the score) and "
                   "hit region 2 (bottom right, 50 % of the score).")
    cross = np.zeros((3, 3))
    cross[1, 2] = 0.2
    two = summary_sentence(query_values=None, hit_values=None, cross=cross, base_value=0.4, full_value=0.85,
                           query_labels=lab, hit_labels=lab)
    assert two == "The hit matched mostly on query region 1 (top left) <-> hit region 2 (bottom right) (44 % of the score)."
    far = summary_sentence(query_values=np.array([0.5, -1.0]), hit_values=None, cross=None, base_value=3.0,
                           full_value=1.0, higher_is_better=False)
    assert far.startswith("The hit is close mostly on query region 1") and "%" not in far.split("(")[0]


def test_sentence_starts_with_the_warning_and_can_leave_it_out():
    kw = dict(query_values=np.array([0.1, -0.3]), hit_values=None, cross=None, base_value=0.97, full_value=0.79,
              baseline="blur")
    warned = summary_sentence(**kw)
    assert warned.startswith("Warning: the baseline 'blur' scores at least as well")
    assert "% of the score" not in warned  # shares of a negative total mean nothing
    assert summary_sentence(**kw, warn=False) == "The hit matched mostly on query region 0."


def test_explanations_carry_the_summary_in_json_and_report():
    from plugin_helpers import synthetic_pair

    for order in (1, 2):
        result = synthetic_pair(order=order)
        data = json.loads(result.to_json(arrays=False))
        assert data["summary"] == result.summary
        assert "region" in result.summary and result.summary.endswith(".")
        assert f"<p class=\"summary\">{html.escape(result.summary, quote=True)}</p>" in result.to_html()


def test_a_baseline_as_good_as_the_pair_warns_in_the_result_and_the_cli(tmp_path):
    """A baseline that changes nothing (the image itself) makes v(empty) = v(N): the user is told."""
    from click.testing import CliRunner
    from PIL import Image
    from plugin_helpers import TINY

    from qdrant_explain.cli import main
    from qdrant_explain.pair import explain_pair

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    res = explain_pair(img, img, TINY, order=1, players="grid:2x2", baseline=lambda p: p, method="exact",
                       progress=False)
    assert res.base_value == pytest.approx(res.full_value)
    assert any("scores at least as well as the full pair" in w for w in res.extra["warnings"])
    assert res.summary.startswith("Warning: the baseline")
    path = tmp_path / "q.png"
    Image.fromarray(img).save(path)
    out = CliRunner().invoke(main, ["explain", str(path), "--image", str(path), "--encoder", TINY,
                                    "--players", "grid:2x2", "--method", "exact", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "The hit matched mostly on query region" in out.output


def test_a_text_query_is_summarised_by_its_words():
    words = ["a", "red", "bicycle"]
    one = summary_sentence(query_values=np.array([0.08, 0.06, 0.5]), hit_values=None, cross=None, base_value=-0.41,
                           full_value=0.238, query_words=words)
    assert one == "The hit matched mostly on the word 'bicycle' (77 % of the score)."
    cross = np.zeros((3, 4))
    cross[2, 1] = 0.3
    two = summary_sentence(query_values=None, hit_values=None, cross=cross, base_value=-0.41, full_value=0.238,
                           query_words=words)
    assert two.startswith("The hit matched mostly on the word 'bicycle' <-> hit region 1")
    with pytest.raises(ValueError, match="has 3 words but 2 values"):
        regions(None, 2, "query", words)
