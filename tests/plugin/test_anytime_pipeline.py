"""budget="auto" through explain_pair and the CLI: the stop reason in the result, the lines said, the errors."""

import numpy as np
import pytest

from qdrant_explain.pair import explain_pair


class Quadrants:
    """A toy encoder whose embedding is the mean of three image blocks: a clear game."""

    input_size = (32, 32)
    name = "quadrants"

    def encode(self, x):
        x = np.asarray(x, dtype=float)
        return np.stack([x[:, :16, :16].mean((1, 2, 3)), x[:, 16:, :].mean((1, 2, 3)),
                         x[:, :16, 16:].mean((1, 2, 3)) + 1], 1)


IMG = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)


def test_auto_is_the_default_and_records_why_it_stopped():
    said = []
    r = explain_pair(IMG, IMG[:, ::-1], Quadrants(), players="grid:4x4", budget="auto:1024", log=said.append)
    assert r.extra["stopped"] in ("settled", "exact")
    info = r.extra["anytime"]
    assert info["top_k"] == 3 and info["query"]["rounds"][0] == 72 and info["hit"]["passes"] > 0
    assert any("in rounds of 72, 144" in line and "--budget N" in line for line in said)
    assert any("stopped after" in line for line in said)
    assert r.encoder_passes < 2 * 1024


def test_fixed_budget_and_exact_keep_their_cost():
    r = explain_pair(IMG, IMG, Quadrants(), players="grid:4x4", budget=300)
    assert "stopped" not in r.extra and r.extra["query_passes"] >= 300
    r = explain_pair(IMG, IMG, Quadrants(), players="grid:2x2", method="exact")
    assert "stopped" not in r.extra


class Flat(Quadrants):
    """Every region counts the same: the top regions are tied and never identified."""

    def encode(self, x):
        m = np.asarray(x, dtype=float).mean((1, 2, 3))
        return np.stack([m + 1.0, np.zeros_like(m)], 1)  # cosine 1 for every mask: all values 0


def test_auto_enumerates_at_once_up_to_8_players_and_samples_in_rounds_above():
    """ANYTIME_EXACT_COST = 256: 8 players (256 passes) exact with no rounds; 9 players in rounds, below 2^9."""
    small = explain_pair(IMG, IMG[:, ::-1], Quadrants(), players="grid:2x4")
    assert small.method == "exact" and small.extra["stopped"] == "fixed"  # no rounds
    assert small.extra["query_passes"] == small.extra["hit_passes"] == 2**8
    big = explain_pair(IMG, IMG[:, ::-1], Quadrants(), players="grid:3x3")
    assert big.extra["anytime"]["query"]["rounds"][0] == big.extra["anytime"]["hit"]["rounds"][0] == 64
    fixed = explain_pair(IMG, IMG[:, ::-1], Quadrants(), players="grid:3x3", budget=None)  # fixed: exact to 12
    assert fixed.method == "exact" and fixed.extra["query_passes"] == 2**9


def test_time_cap_stops_after_the_first_round():
    r = explain_pair(IMG, IMG[::-1], Flat(), players="grid:5x5", budget="auto:1024", max_seconds=1e-6)
    assert r.extra["stopped"] == "time cap"
    assert r.extra["anytime"]["query"]["rounds"] == [108]


@pytest.mark.parametrize("kw, match", [({"top_k": 0}, "top_k must be"), ({"max_seconds": -1}, "max_seconds must"),
                                       ({"budget": "soon"}, "budget must be")])
def test_bad_anytime_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        explain_pair(IMG, IMG, Quadrants(), players="grid:2x2", **kw)


def test_cli_stopped_line():
    from qdrant_explain.cli.explain import stopped_line

    class R:
        extra = {"stopped": "settled", "anytime": {"top_k": 3, "query": {"passes": 72, "rounds": [72]}}}

    assert stopped_line(R()) == ("stopped: settled (the top regions are identified with 95 % confidence; top 3; "
                                 "query 72 passes in 1 rounds)")
