"""The joint sampler's richer control variates: neighbour-only pair terms and the kernel correction of the residual.

Both must keep what makes the cross-fitted control variate unbiased (exact stratum means, fitted on other sizes
only), and must be chosen only where they help (leave-one-out)."""

from __future__ import annotations

import numpy as np
import pytest

from _estimator_games import assert_stratum_means_exact, cached_side, mlp_side

from qdrant_explain.explainers import SideEvaluator, explain_joint
from qdrant_explain.explainers.coalitions import all_coalitions
from qdrant_explain.explainers.joint import fit_side_model
from qdrant_explain.explainers.joint.control_variate import _SIZE_FOLDS, _fold_models
from qdrant_explain.explainers.joint.design import _split_budget, fixed_plan_side
from qdrant_explain.explainers.joint.kernel_correction import (
    CorrectedModel,
    KernelCorrection,
    _hypergeometric,
    _kernel_of_counts,
    _mean_tables,
    fit_kernel_correction,
)
from qdrant_explain.explainers.masking import region_adjacency


def _grid_labels(rows: int, cols: int, cell: int = 3) -> np.ndarray:
    return np.kron(np.arange(rows * cols).reshape(rows, cols), np.ones((cell, cell), dtype=np.int64))


def test_region_adjacency_of_a_grid_is_its_eight_neighbours():
    adj = region_adjacency(_grid_labels(3, 3))
    assert adj.shape == (9, 9) and (adj == adj.T).all() and not adj.diagonal().any()
    assert set(np.flatnonzero(adj[0])) == {1, 3, 4}  # corner: side and corner neighbours
    assert set(np.flatnonzero(adj[4])) == set(range(9)) - {4}  # centre touches all
    assert not adj[0, 8] and not adj[0, 2]


@pytest.mark.parametrize("labels", [np.zeros(5, dtype=np.int64), np.array([[0, -1]]), np.ones((2, 2))])
def test_region_adjacency_refuses_bad_label_maps(labels):
    with pytest.raises(ValueError, match="region_adjacency"):
        region_adjacency(labels)


@pytest.mark.parametrize("bad, match", [
    (np.ones((3, 3)), "boolean matrix"),
    (np.zeros((2, 2), dtype=bool), r"\(3, 3\) boolean"),
    (np.triu(np.ones((3, 3), dtype=bool), 1), "symmetric"),
    (np.eye(3, dtype=bool), "False diagonal"),
])
def test_side_evaluator_refuses_bad_neighbours(bad, match):
    with pytest.raises(ValueError, match=match):
        SideEvaluator(lambda m: m.astype(float), 3, neighbours=bad)


def test_image_and_text_evaluators_know_their_neighbours():
    from qdrant_explain.connectors.text import TextEvaluator, word_players
    from qdrant_explain.explainers.side import ImageSide

    labels = _grid_labels(2, 3)
    img = np.zeros(labels.shape + (3,), dtype=np.uint8)
    side = ImageSide(img, img, labels, lambda b: np.zeros((len(b), 2)))
    np.testing.assert_array_equal(side.neighbours, region_adjacency(labels))

    class Words:
        context_length = 77

        def encode_text(self, texts):
            return np.ones((len(texts), 2))

    players = word_players("a red bicycle", Words())
    near = TextEvaluator(players, Words()).neighbours
    np.testing.assert_array_equal(near, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool))


def test_neighbour_pairs_are_chosen_when_only_neighbours_interact_and_their_means_are_exact():
    n = 8  # a 2x4 grid; interactions only between touching regions
    adj = region_adjacency(_grid_labels(2, 4))
    z = all_coalitions(n)
    rng = np.random.default_rng(3)
    zf = z.astype(float)
    emb = zf @ rng.normal(size=(n, 4))
    for k, l in zip(*np.nonzero(np.triu(adj, 1))):
        emb += np.outer(zf[:, k] * zf[:, l], rng.normal(size=4))
    emb += 0.05 * rng.normal(size=emb.shape)
    sample = z[rng.permutation(len(z))[:120]]
    fitted = fit_side_model(sample, emb[sample @ (1 << np.arange(n))], pairs_beyond_masks=True, neighbours=adj)
    assert fitted.local and fitted.pairs is not None
    far = ~adj & ~np.eye(n, dtype=bool)
    assert np.abs(fitted.pairs[far]).max() == 0.0  # far pairs left out
    without = fit_side_model(sample, emb[sample @ (1 << np.arange(n))], pairs_beyond_masks=True)
    held = np.setdiff1d(np.arange(len(z)), sample @ (1 << np.arange(n)))
    err = [np.mean((emb[held] - m.predict(z[held])) ** 2) for m in (fitted, without)]
    assert err[0] < 0.8 * err[1], err
    assert_stratum_means_exact(fitted, n)


def test_kernel_correction_stratum_means_are_hypergeometric_sums():
    n = 9
    rng = np.random.default_rng(0)
    train = rng.random((40, n)) < 0.5
    tables = _mean_tables(n, _kernel_of_counts(n, 0.3, 2.0), _hypergeometric(n))
    model = KernelCorrection(masks=train, alpha=rng.normal(size=(40, 4)), gamma=0.3, ell=2.0, ridge=0.1,
                             tables=tables)
    assert_stratum_means_exact(model, n)
    base = fit_side_model(all_coalitions(n), mlp_side(n, 4, 1)(all_coalitions(n)))
    assert_stratum_means_exact(CorrectedModel(base, model), n)


def test_hypergeometric_table_is_a_distribution():
    pmf = _hypergeometric(7)
    for d in range(7):
        for k in range(7):
            assert abs(pmf[d, k].sum() - 1.0) < 1e-12
    assert abs(pmf[3, 2, 1] - 2 * 6 / 20) < 1e-12  # 1 of 2 successes in 3 draws from 6: C(2,1) C(4,2) / C(6,3)


def test_kernel_correction_fits_a_higher_order_residual_and_declines_zero():
    n = 12
    z = fixed_plan_side(n, 600, np.ones(n + 1), np.random.default_rng(4))
    zf = z.astype(float)
    resid = np.stack([zf[:, 0] * zf[:, 1] * zf[:, 2], zf[:, 3] * zf[:, 4] * zf[:, 5] * zf[:, 6]], axis=1)
    fit = fit_kernel_correction(z, resid)
    assert fit is not None
    fresh = fixed_plan_side(n, 600, np.ones(n + 1), np.random.default_rng(5))
    ff = fresh.astype(float)
    truth = np.stack([ff[:, 0] * ff[:, 1] * ff[:, 2], ff[:, 3] * ff[:, 4] * ff[:, 5] * ff[:, 6]], axis=1)
    assert np.mean((truth - fit.predict(fresh)) ** 2) < 0.5 * np.mean(truth**2)
    assert fit_kernel_correction(z, np.zeros_like(resid)) is None  # nothing to correct
    capped = fit_kernel_correction(z, resid, max_masks=100)
    assert capped.masks.shape[0] == 100
    assert fit_kernel_correction(np.ones((10, 200), dtype=bool), np.ones((10, 2))) is None  # too many players


def test_corrected_fold_models_never_see_their_own_sizes():
    n = 20
    labels = _grid_labels(4, 5)
    z = fixed_plan_side(n, 1200, np.ones(n + 1), np.random.default_rng(6))
    emb = mlp_side(n, 6, 7)(z)
    folds = _fold_models(z, emb, set(range(_SIZE_FOLDS)), region_adjacency(labels))
    assert any(isinstance(m, CorrectedModel) for m in folds.values())
    moved = emb.copy()
    moved[z.sum(1) % _SIZE_FOLDS == 1] += 5.0
    again = _fold_models(z, moved, {1}, region_adjacency(labels))
    np.testing.assert_allclose(again[1].predict(z), folds[1].predict(z), atol=1e-9)


def test_unbiased_with_neighbours_and_the_kernel_correction():
    """16 hit players on a 4x4 grid with neighbours (so the neighbour pairs and the kernel correction are in
    play): 120 seeds' mean of every cross index within 4.5 s.e. of exact."""
    nq, nh = 3, 16
    adj = region_adjacency(_grid_labels(4, 4))
    tq, th = mlp_side(nq, 8, 4)(all_coalitions(nq)), mlp_side(nh, 8, 9)(all_coalitions(nh))
    truth = explain_joint(cached_side(tq, nq), cached_side(th, nh), nq, nh, method="exact").cross

    def hit():
        plain = cached_side(th, nh)
        return SideEvaluator(plain.embed_fn, nh, batch_size=1 << 16, progress=False, neighbours=adj)

    runs = [explain_joint(cached_side(tq, nq), hit(), nq, nh, method="stratified", budget=500, seed=s).cross
            for s in range(120)]
    err = np.array(runs) - truth
    zs = np.abs(err.mean(0) / (err.std(0, ddof=1) / np.sqrt(len(runs))))
    assert zs.max() < 4.5, zs.max()
    assert np.sqrt((err**2).mean() / (truth**2).mean()) < 0.5


def test_budget_split_follows_players_to_the_power_one_and_a_half():
    assert _split_budget(8, 8, 300) == (150, 150)  # equal sides: halves
    bq, bh = _split_budget(10, 49, 1900)
    assert bq + bh == 1900 and bq == round(1900 * 10**1.5 / (10**1.5 + 49**1.5))
    assert _split_budget(8, 16, 1043) == (256, 787)  # the query side capped at 2^8


def test_ridge_path_equals_one_ridge_fit_per_ridge():
    from qdrant_explain.explainers.joint.control_variate import _ridge_fit, _ridge_path

    rng = np.random.default_rng(0)
    x = (rng.random((300, 200)) < 0.5).astype(float)  # more columns in the block than a few ridges can pin down
    y = rng.normal(size=(300, 3))
    penalty = np.full(200, 1e-3)
    penalty[:10] = 0.0
    block = np.arange(200) >= 50
    ridges = (1e-3, 1e-2, 1e-1, 1.0)
    for (coef, loo), r in zip(_ridge_path(x, y, penalty, block, ridges), ridges):
        want, want_loo = _ridge_fit(x, y, np.where(block, r, penalty))
        np.testing.assert_allclose(coef, want, atol=1e-10)
        assert abs(loo - want_loo) < 1e-9 * want_loo
