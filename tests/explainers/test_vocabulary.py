"""The one vocabulary: the auto rule at its boundaries, method lists from the registry, baselines, defaults."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_explain.explainers import explain_game, explain_joint, make_baseline
from qdrant_explain.explainers.estimators.base import registered_estimators
from qdrant_explain.explainers.vocabulary import (
    AUTO_EXACT_COST,
    BASELINES,
    BUDGET_MEANING,
    DEFAULT_PLAYERS,
    default_budget,
    list_methods,
    resolve_method,
)

SAMPLER = {("game", 1): "kernel-shap", ("game", 2): "kernel-shapley-taylor", ("side", 1): "kernel-shap"}


# ----------------------------------------------------------------------------- the auto rule


@pytest.mark.parametrize("kind,order", [("game", 1), ("game", 2), ("side", 1)])
@pytest.mark.parametrize("n,expected", [(11, "exact"), (12, "exact"), (13, "sampler")])
def test_auto_without_budget_is_exact_up_to_12_players(kind, order, n, expected):
    method, budget = resolve_method("auto", order=order, kind=kind, n_players=n, budget=None)
    if expected == "exact":
        assert (method, budget) == ("exact", None)
    else:
        assert method == SAMPLER[(kind, order)]
        assert budget == default_budget(order, kind, n) and budget < 2**n


@pytest.mark.parametrize("kind,order", [("game", 1), ("game", 2), ("side", 1)])
@pytest.mark.parametrize("n", [5, 11, 13, 16])
def test_auto_with_budget_is_exact_at_exactly_2_to_the_n(kind, order, n):
    assert resolve_method("auto", order=order, kind=kind, n_players=n, budget=2**n) == ("exact", None)
    below = resolve_method("auto", order=order, kind=kind, n_players=n, budget=2**n - 1)
    assert below == (SAMPLER[(kind, order)], 2**n - 1)


def test_auto_never_exact_beyond_the_exact_limit():
    # 2^21 fits this budget, but exact enumerates at most 20 players
    assert resolve_method("auto", order=1, kind="game", n_players=21, budget=2**22)[0] == "kernel-shap"


@pytest.mark.parametrize("nq,nh", [(3, 4), (8, 8), (11, 11), (11, 12), (12, 12)])
def test_joint_auto_is_exact_at_exactly_2nq_plus_2nh(nq, nh):
    cost = 2**nq + 2**nh
    assert resolve_method("auto", order=2, kind="joint", n_players=(nq, nh), budget=cost) == ("exact", None)
    assert resolve_method("auto", order=2, kind="joint", n_players=(nq, nh), budget=cost - 1) == (
        "stratified", cost - 1)
    # without a budget the cap is AUTO_EXACT_COST (4096): 11 + 11 players cost exactly 4096
    expected = "exact" if cost <= AUTO_EXACT_COST else "stratified"
    assert resolve_method("auto", order=2, kind="joint", n_players=(nq, nh), budget=None)[0] == expected


def test_joint_auto_respects_the_score_table_limit():
    # euclid scores the 2^nq x 2^nh table: exact only up to nq + nh = 24
    big = 2**13 + 2**12
    assert resolve_method("auto", order=2, kind="joint", n_players=(13, 12), budget=big, score="euclid")[0] == (
        "stratified")
    assert resolve_method("auto", order=2, kind="joint", n_players=(13, 12), budget=big, score="cosine")[0] == (
        "exact")


def test_explain_game_follows_the_vocabulary_at_11_to_13_players():
    game = lambda z: z.sum(axis=1) ** 2.0  # noqa: E731
    for n in (11, 12, 13):
        want, _ = resolve_method("auto", order=1, kind="game", n_players=n, budget=None)
        res = explain_game(game, n, method="auto", budget=None if n < 13 else 300)
        assert res.method == (want if n < 13 else "kernel-shap")


def test_explain_joint_auto_follows_the_vocabulary():
    rng = np.random.default_rng(0)
    wq, wh = rng.normal(size=(2, 11, 6))
    fq, fh = (lambda m: np.asarray(m, float) @ wq), (lambda m: np.asarray(m, float) @ wh)
    res = explain_joint(fq, fh, 11, 11, score="dot")  # 2^11 + 2^11 = 4096: exact without a budget
    assert res.method == "exact" and res.encoder_passes == 4096
    res = explain_joint(fq, fh, 11, 11, score="dot", budget=4095)
    assert res.method == "stratified" and res.encoder_passes <= 4095


def test_explicit_methods_pass_through_with_their_budget():
    assert resolve_method("exact", order=1, kind="game", n_players=6, budget=None) == ("exact", None)
    assert resolve_method("exact", order=1, kind="game", n_players=6, budget=10) == ("exact", 10)
    assert resolve_method("lime", order=1, kind="side", n_players=50, budget=None) == ("lime", 1024)
    assert resolve_method("stratified", order=2, kind="joint", n_players=(16, 16), budget=None) == (
        "stratified", 2048)


# ----------------------------------------------------------------------------- errors


def test_unknown_method_lists_the_methods():
    with pytest.raises(ValueError, match=r"Unknown method='shap'.*'auto', 'exact', 'kernel-shap'"):
        resolve_method("shap", order=1, kind="side", n_players=5, budget=None)
    with pytest.raises(ValueError, match=r"Unknown method='kernel-shap' for kind='joint'.*stratified"):
        resolve_method("kernel-shap", order=2, kind="joint", n_players=(3, 3), budget=None)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(order=1, kind="image", n_players=5), r"kind in \('game', 'side', 'joint'\); got kind='image'"),
        (dict(order=2, kind="side", n_players=5), r"got order=2. kind='side' has order 1; Use kind='joint'"),
        (dict(order=1, kind="joint", n_players=(3, 3)), r"got order=1. kind='joint' has order 2;"),
        (dict(order=3, kind="game", n_players=5), r"got order=3. kind='game' has order 1 and 2;"),
        (dict(order=2, kind="joint", n_players=6), r"n_players=\(n_query, n_hit\)"),
        (dict(order=1, kind="game", n_players=0), r"n_players must be an integer >= 1; got 0"),
    ],
)
def test_bad_arguments_say_what_is_allowed(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        resolve_method("auto", budget=None, **kwargs)


def test_budget_must_be_an_integer():
    with pytest.raises(ValueError, match=r"budget must be an integer"):
        resolve_method("auto", order=1, kind="game", n_players=5, budget=10.5)


# ----------------------------------------------------------------------------- method lists and defaults


@pytest.mark.parametrize("kind,order", [("game", 1), ("game", 2), ("side", 1), ("joint", 2)])
def test_list_methods_is_the_registry(kind, order):
    methods = list_methods(order, kind)
    registered = sorted(n for n, c in registered_estimators(kind).items() if order in c.orders)
    assert methods == ("auto", *registered) and "exact" in methods


def test_side_methods_are_order1_game_methods():
    from qdrant_explain.explainers import is_grey_box

    black_box = {m for m in list_methods(1, "side") if not is_grey_box(m, "side")}
    assert black_box <= set(list_methods(1, "game"))  # grey-box methods read feature maps: not games
    assert {"search-cam", "search-gradcam"} <= set(list_methods(1, "side")) - black_box
    assert "kernel-shapley-taylor" not in list_methods(1, "side")


def test_default_budgets():
    assert default_budget(1, "game", 20) == 2 * 20 + 2048
    assert default_budget(2, "game", 20) == 22 + 2048
    assert default_budget(1, "side", 50) == 1024 and default_budget(1, "side", 8) == 256
    assert default_budget(2, "joint", (16, 16)) == 2048
    assert default_budget(1, "game", 8, method="exact") == 256
    assert default_budget(2, "joint", (3, 4), method="exact") == 8 + 16
    # never below the method's minimum: 60 + 60 players need more than 2048 passes
    from qdrant_explain.explainers.joint import stratified_minimum_budget

    assert default_budget(2, "joint", (60, 60)) == max(2048, stratified_minimum_budget(60, 60))


def test_defaults_and_words():
    assert DEFAULT_PLAYERS == {1: "slic:24", 2: "slic:16"}
    assert "encoder passes" in BUDGET_MEANING and "order 2" in BUDGET_MEANING
    assert AUTO_EXACT_COST == 4096
    import json

    json.dumps({"players": DEFAULT_PLAYERS, "baselines": BASELINES})  # provenance and --help can carry them


# ----------------------------------------------------------------------------- baselines


def _pixels() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (24, 20, 3)).astype(np.uint8)


@pytest.mark.parametrize("name", [b for b in BASELINES if not b.startswith("background")])
def test_every_baseline_name_is_accepted(name):
    spelled = {"blur:SIGMA": "blur:3.5", "constant:R,G,B": "constant:10,20,30"}.get(name, name)
    out = make_baseline(spelled, _pixels())
    assert out.shape == (24, 20, 3) and out.dtype == np.uint8


def test_the_background_baseline_is_a_game_over_fills_not_one_image():
    """``background:DIR`` is in the vocabulary; it has no single replacement image (the plugin averages fills)."""
    assert "background:DIR" in BASELINES
    with pytest.raises(ValueError, match="not one replacement image"):
        make_baseline("background:/photos", _pixels())


@pytest.mark.parametrize("name", ["gray", "grey", "GRAY", " grey ", "constant:128,128,128"])
def test_gray_is_mid_grey_everywhere(name):
    out = make_baseline(name, _pixels())
    assert (out == 128).all()


def test_constant_is_clip_mean_and_differs_from_gray():
    assert make_baseline("constant", _pixels())[0, 0].tolist() == [123, 117, 104]


def test_blur_sigma_is_used():
    pix = _pixels()
    assert not np.array_equal(make_baseline("blur:1", pix), make_baseline("blur:6", pix))
    assert np.array_equal(make_baseline("blur:1.9200000", pix), make_baseline("blur", pix))  # 0.08 * 24


@pytest.mark.parametrize(
    "bad,pattern",
    [
        ("blur:-1", r"finite and > 0 pixels; got -1.0"),
        ("blur:0", r"finite and > 0 pixels; got 0.0"),
        ("blur:inf", r"finite and > 0 pixels; got inf"),
        ("blur:nan", r"'blur:SIGMA' needs SIGMA to be a number of pixels > 0; got 'nan'"),
        ("blur:wide", r"needs SIGMA to be a number.*got 'wide'"),
        ("blur:", r"needs SIGMA to be a number.*got ''"),
        ("constant:256,0,0", r"each of R, G, B must be in 0..255; got 256"),
        ("constant:0,-1,0", r"each of R, G, B must be in 0..255; got -1"),
        ("constant:1,2", r"three integers 0..255; got '1,2'"),
        ("constant:1.5,2,3", r"three integers 0..255"),
        ("constant:", r"three integers 0..255; got ''"),
        ("noise", r"baseline='noise' is not a baseline name; use one of \['blur', 'blur:SIGMA', 'mean', 'gray'"),
        ((300, 0, 0), r"three numbers 0..255; got \[300.0, 0.0, 0.0\]"),
        ((0, float("nan"), 0), r"three numbers 0..255"),
    ],
)
def test_bad_baselines_are_refused_with_a_clear_message(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_baseline(bad, _pixels())
