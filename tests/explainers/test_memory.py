"""Bounded memory: statements before anything runs, the cap (argument, env, default), ``auto`` that refuses."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from qdrant_explain.explainers import explain_game, explain_joint
from qdrant_explain.explainers.memory import (
    DEFAULT_MEMORY_FRACTION,
    MEMORY_CAP_ENV,
    MemoryCapError,
    available_memory,
    format_bytes,
    largest_fitting,
    memory_cap,
    parse_memory,
)
from qdrant_explain.explainers.vocabulary import method_memory, resolve_method

HERE = pathlib.Path(__file__).parent
CAP = 256 * 2**20


def test_auto_at_21_to_64_players_finishes_or_refuses_within_60_s_and_its_cap():
    """Must show 3: orders 1 and 2, budgets up to 2^n (and joint pairs), in a fresh process; peak RSS measured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop(MEMORY_CAP_ENV, None)
    proc = subprocess.run([sys.executable, str(HERE / "_auto_memory_run.py"), str(CAP)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    baseline, peak = lines[0]["baseline"], lines[-1]["peak"]
    runs = lines[1:-1]
    assert len(runs) == 4 * 2 * 3 + 3 * 2 * 2
    for run in runs:
        assert run["seconds"] < 60, run
        if run["outcome"] == "refused":
            assert "does not fit the memory cap" in run["message"] and "the cap is 256.0 MiB" in run["message"], run
            assert run["needed"] > CAP
    outcomes = {r["case"]: r["outcome"] for r in runs}
    assert outcomes["game n=21 order=2 budget=2097152"] == "refused"  # the dense (m, C(n,2)) matrix: 17 GiB
    assert outcomes["game n=21 order=1 budget=None"] == outcomes["game n=64 order=1 budget=4096"] == "finished"
    assert outcomes["joint 21+21 euclid budget=None"] == "finished"
    assert sum(o == "finished" for o in outcomes.values()) >= 15
    assert peak - baseline <= CAP, f"peak RSS grew by {format_bytes(peak - baseline)}, above the cap {format_bytes(CAP)}"


def test_the_refusal_gives_the_numbers_and_a_budget_that_fits():
    with pytest.raises(MemoryCapError) as info:
        resolve_method("auto", order=2, kind="game", n_players=21, budget=2**21, memory_cap="512MiB")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, MemoryError)
    assert err.cap == 512 * 2**20 and err.needed > err.cap
    msg = str(err)
    assert "kernel-shapley-taylor at budget 2097152 needs 17.2 GiB; the cap is 512.0 MiB" in msg
    best = int(msg.split("Lower the budget to at most ")[1].split(",")[0])
    assert resolve_method("auto", order=2, kind="game", n_players=21, budget=best, memory_cap="512MiB") == (
        "kernel-shapley-taylor", best)
    with pytest.raises(MemoryCapError):
        resolve_method("auto", order=2, kind="game", n_players=21, budget=best + 1, memory_cap="512MiB")


def test_explicit_methods_are_checked_too_before_the_game_is_called():
    calls = []

    def game(z):
        calls.append(len(z))
        return z.sum(axis=1).astype(float)

    with pytest.raises(MemoryCapError, match=r"method='kernel-shap' \(order 1, 30 players, budget 10000000\)"):
        explain_game(game, 30, method="kernel-shap", budget=10**7, memory_cap="100MiB")
    with pytest.raises(MemoryCapError, match=r"exact needs .* the cap is 1.0 MiB"):
        explain_game(game, 12, method="exact", memory_cap=2**20)
    assert calls == []
    assert explain_game(game, 12, method="exact", memory_cap="1GiB").n_evaluations == 4096


def test_auto_prefers_exact_only_when_its_tables_fit():
    need = method_memory("exact", order=1, kind="game", n_players=12, budget=None)
    assert resolve_method("auto", order=1, kind="game", n_players=12, budget=None, memory_cap=need) == ("exact", None)
    with pytest.raises(MemoryCapError, match=r"exact needs 2.\d MiB; kernel-shap at budget 2072 needs .*Lower the budget"):
        resolve_method("auto", order=1, kind="game", n_players=12, budget=None, memory_cap=need - 1)
    ks = method_memory("kernel-shap", order=1, kind="game", n_players=12, budget=600)
    assert ks < need  # below the exact cost, the sampler is what fits
    assert resolve_method("auto", order=1, kind="game", n_players=12, budget=600, memory_cap=ks) == ("kernel-shap", 600)


def test_exact_joint_checks_its_tables_before_encoding():
    calls = []

    def embed(m):
        calls.append(len(m))
        return np.ones((len(m), 512))

    with pytest.raises(MemoryCapError, match=r"exact needs [0-9.]+ GiB; the cap is 8.0 GiB"):
        explain_joint(embed, embed, 20, 20, score="cosine", method="exact", memory_cap="8GiB")
    with pytest.raises(MemoryCapError, match=r"exact needs 998.8 MiB; the cap is 256.0 MiB. Use a sampler"):  # euclid: the 2^12 x 2^12 score table
        explain_joint(embed, embed, 12, 12, score="euclid", method="exact", memory_cap="256MiB")
    assert calls == []
    cos = method_memory("exact", order=2, kind="joint", n_players=(12, 12), budget=None, dim=512, score="cosine")
    euc = method_memory("exact", order=2, kind="joint", n_players=(12, 12), budget=None, dim=512, score="euclid")
    assert euc - cos >= 8 * 2**24  # the table path holds (2^12 x 2^12) float64 tables


@pytest.mark.parametrize("score", ["cosine", "dot", "euclid", "manhattan"])
def test_joint_auto_never_picks_a_method_that_then_refuses_the_players(score):
    """Whatever auto picks for a pair, that method accepts the pair (exact's side and table limits)."""
    from qdrant_explain.explainers.estimators.base import registered_estimators

    for nq, nh in [(12, 12), (13, 12), (12, 13), (20, 4), (21, 3), (10, 10)]:
        for budget in (None, 2**nq + 2**nh, 10**9):
            name, _ = resolve_method("auto", order=2, kind="joint", n_players=(nq, nh), budget=budget, score=score,
                                     memory_cap="1PiB")
            assert registered_estimators("joint")[name].fits((nq, nh), score=score), (nq, nh, budget, name)
    rng = np.random.default_rng(0)
    wq, wh = rng.normal(size=(2, 13, 8))
    res = explain_joint(lambda m: m @ wq[:13], lambda m: m @ wh[:12], 13, 12, score="euclid", method="auto",
                        budget=2**13 + 2**12)
    assert res.method == "stratified"


def test_cap_from_argument_then_env_then_a_share_of_available(monkeypatch):
    monkeypatch.delenv(MEMORY_CAP_ENV, raising=False)
    avail = available_memory()
    assert memory_cap(None) == (None if avail is None else pytest.approx(DEFAULT_MEMORY_FRACTION * avail, rel=0.05))
    monkeypatch.setenv(MEMORY_CAP_ENV, "3GiB")
    assert memory_cap(None) == 3 * 2**30
    assert memory_cap("2M") == 2 * 10**6
    monkeypatch.setenv(MEMORY_CAP_ENV, "a lot")
    with pytest.raises(ValueError, match=rf"\${MEMORY_CAP_ENV} must be a number of bytes or a size"):
        memory_cap(None)
    monkeypatch.setenv(MEMORY_CAP_ENV, "1MiB")
    with pytest.raises(MemoryCapError, match="the cap is 1.0 MiB"):
        explain_game(lambda z: z.sum(axis=1) * 1.0, 12, method="exact")


@pytest.mark.parametrize("text,want", [("512MiB", 512 * 2**20), ("1.5G", 1_500_000_000), ("4 kib", 4096),
                                       (12345, 12345), ("2TiB", 2 * 2**40), ("77", 77)])
def test_parse_memory_forms(text, want):
    assert parse_memory(text) == want


@pytest.mark.parametrize("bad", ["", "lots", "-5M", "0", 0, -1, True, "12 parsecs", None, [1]])
def test_parse_memory_rejects_what_is_not_a_size(bad):
    with pytest.raises(ValueError, match=r"memory_cap must be .*got"):
        parse_memory(bad)


def test_parse_memory_percent_is_a_share_of_the_available_memory():
    avail = available_memory()
    if avail is None:
        with pytest.raises(ValueError, match="does not report"):
            parse_memory("50%")
    else:
        assert parse_memory("50%") == pytest.approx(avail / 2, rel=0.05)


def test_largest_fitting():
    assert largest_fitting(lambda b: b <= 37, 1, 10**30) == 37
    assert largest_fitting(lambda b: b <= 37, 40, 100) is None
    assert largest_fitting(lambda b: True, 1, 5) == 5


def test_permutation_at_a_budget_above_2n_plans_bounded_rows():
    """Every coalition fits, yet the plan stops at ROW_FACTOR x budget rows (it used to plan budget permutations)."""
    from qdrant_explain.explainers import plan_game
    from qdrant_explain.explainers.estimators.permutation import ROW_FACTOR

    for order in (1, 2):
        est, plan = plan_game(8, method="permutation", order=order, budget=4000)
        assert plan.coalitions.shape[0] <= ROW_FACTOR * 4000
        assert plan.coalitions.shape[0] <= est.planned_rows(8, 4000)
        assert plan.n_evaluations <= 2**8
