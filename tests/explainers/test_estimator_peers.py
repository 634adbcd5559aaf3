"""Peers: shap's KernelExplainer (order 1) and shapiq's exact Shapley-Taylor (order 2) on the same games."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _estimator_games import TableGame, bitmask, random_table, tanh_network_table

from qdrant_explain.explainers import explain_game

shap = pytest.importorskip("shap")
shapiq = pytest.importorskip("shapiq")


def shap_kernel_values(table: np.ndarray, n: int, nsamples: int) -> np.ndarray:
    """Wrap the game as a model of binary masks: background zeros, instance ones -> f(mask) = v(S)."""
    model = lambda x: table[bitmask(np.asarray(x) > 0.5)]
    explainer = shap.KernelExplainer(model, np.zeros((1, n)), silent=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = explainer.shap_values(np.ones((1, n)), nsamples=nsamples, l1_reg=False, silent=True)
    assert explainer.expected_value == pytest.approx(table[0])
    return np.asarray(phi).reshape(-1)[:n]


@pytest.mark.parametrize("make", [random_table, tanh_network_table])
@pytest.mark.parametrize("n", [4, 7])
def test_first_order_matches_shap_kernel_explainer_at_exact_budget(make, n):
    table = make(n, seed=30 + n)
    ref = shap_kernel_values(table, n, nsamples=2**n - 2)  # shap adds v(empty), v(N) itself
    for method in ("kernel-shap", "exact"):
        got = explain_game(TableGame(table), n, method=method, budget=2**n)
        np.testing.assert_allclose(got.values, ref, atol=1e-8)


def test_first_order_close_to_shap_at_partial_budget():
    n = 10
    table = tanh_network_table(n, seed=3)
    ref = explain_game(TableGame(table), n, method="exact").values
    ours = explain_game(TableGame(table), n, method="kernel-shap", budget=600).values
    np.random.seed(0)
    theirs = shap_kernel_values(table, n, nsamples=598)
    scale = np.abs(ref).max()
    assert np.abs(ours - ref).max() < 0.2 * scale
    assert np.abs(theirs - ref).max() < 0.2 * scale


@pytest.mark.parametrize("make", [random_table, tanh_network_table])
@pytest.mark.parametrize("n", [3, 6])
def test_order2_matches_shapiq_exact_stii(make, n):
    table = make(n, seed=40 + n)
    game = lambda z: table[bitmask(np.asarray(z, dtype=bool))]
    iv = shapiq.ExactComputer(game, n_players=n)(index="STII", order=2)
    single = np.array([iv[(i,)] for i in range(n)])
    inter = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            inter[i, j] = inter[j, i] = iv[(i, j)]
    assert iv.baseline_value == pytest.approx(table[0])
    for method in ("exact", "kernel-shapley-taylor"):
        got = explain_game(TableGame(table), n, method=method, order=2, budget=2**n)
        np.testing.assert_allclose(got.values, single, atol=1e-8)
        np.testing.assert_allclose(got.interactions, inter, atol=1e-8)
