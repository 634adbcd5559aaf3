"""The stratified sampler's control variates: models of one side's embeddings whose stratum means are known.

Two ways to use a model ``m`` of the embeddings: the estimate of a stratum mean
is ``E_stratum[m] + mean over the sampled masks of (e - m)``.

* Cross-fitted (the default, :func:`cross_fit_deltas`): the model used for the
  masks of size s (:class:`SizeEffectModel`) is fitted on the masks of every
  *other* size (with twice the minimum of masks or more: a :class:`SideModel`
  per fold of sizes, fitted on the other folds). The sizes are sampled independently with fixed counts, so the
  model is independent of the masks it corrects and each stratum mean is
  unbiased; only what the model misses is sampled.
* What the models are: :class:`SideModel` (intercepts, drifting player effects,
  pair terms: all pairs or, given the side's ``neighbours``, only those of
  neighbouring players), for many masks plus a kernel-ridge correction of its
  residual (:mod:`~.kernel_correction`); the choices by leave-one-out error.
* In-sample (``unbiased=False``, :func:`side_deltas`): one :class:`SideModel` fitted
  on all masks and applied to the same masks. Lower variance at small budgets,
  but **biased**: it fits 25+ parameters on ~34 masks at 8 players and reuses
  them for the residual means (``benchmarks/RESULTS.md``, section "unbiased
  joint sampler", gives the measured bias).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
from scipy.linalg import LinAlgError as ScipyLinAlgError, eigh

from .design import _ratio, _side_minimum
from .kernel_correction import StratumModel, corrected

_PLAYER_RIDGE = 1e-3


_PAIR_RIDGES = (1e-3, 1e-2, 1e-1, 1.0)


_LOCAL_PAIR_RIDGES = (1e-3, 1e-2, 1e-1)
"""Ridges of the neighbour-only pair terms (few pairs, so lighter than :data:`_PAIR_RIDGES`; lab: 1e-3 chosen)."""


_MAX_PAIR_FEATURES = 1200


@dataclass(frozen=True)
class SideModel:
    """A fitted control variate for one side's embeddings (the stratified sampler's regression).

    ``e(S) ~ c[|S|] + sum_k (beta_k + gamma_k |S|/n) z_k + sum_{k<l} G_kl z_k z_l``:
    per-size intercepts, player effects that drift linearly with the mask size,
    and (optionally) pairwise terms: every pair, or only the pairs of
    neighbouring players (``local``: adjacent regions, consecutive words). Its
    stratum means are known exactly (:meth:`deltas`), so only its residual has
    to be sampled.
    """

    c: np.ndarray  # (n+1, d)
    beta: np.ndarray  # (n, d)
    gamma: np.ndarray  # (n, d)
    pairs: np.ndarray | None  # (n, n, d) symmetric, zero diagonal (zero too for pairs left out)
    ridge: float | None  # ridge of the pair terms (None: no pair terms)
    local: bool = False  # pair terms only between neighbours

    @staticmethod
    def design(z: np.ndarray, pairs: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """(K, 3n + 1 [+ pairs]) features: size indicators, players, players x size / n, pair products."""
        n = z.shape[1]
        zf = z.astype(np.float64)
        sizes = z.sum(axis=1)
        cols = [np.eye(n + 1)[sizes], zf, zf * (sizes / n)[:, None]]
        if pairs is not None:
            cols.append(zf[:, pairs[0]] * zf[:, pairs[1]])
        return np.concatenate(cols, axis=1)

    def predict(self, z: np.ndarray) -> np.ndarray:
        out = self.design(z, None) @ np.concatenate([self.c, self.beta, self.gamma])
        if self.pairs is not None:
            iu = np.triu_indices(self.beta.shape[0], 1)
            coef = self.pairs[iu]
            used = np.abs(coef).sum(axis=1) > 0  # the fitted pairs (all, or the neighbours')
            zf = z.astype(np.float64)
            out = out + (zf[:, iu[0][used]] * zf[:, iu[1][used]]) @ coef[used]
        return out

    def stratum_means(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean prediction over the masks of ``size`` with / without each player: two (n, d) arrays.

        For a mask of size s drawn uniformly among those holding player i, another
        player is in it with probability (s-1)/(n-1) and another pair with
        (s-1)(s-2)/((n-1)(n-2)); without i: s/(n-1) and s(s-1)/((n-1)(n-2)).
        """
        n = self.beta.shape[0]
        plus, minus = _additive_stratum_means(self.c[size], self.beta + self.gamma * (size / n), size)
        if self.pairs is None:
            return plus, minus
        with_i = self.pairs.sum(axis=1)  # (n, d): pairs (i, l)
        without_i = self.pairs.sum(axis=(0, 1))[None, :] / 2.0 - with_i  # pairs not touching i
        one, two = 1.0 / max(n - 1, 1), 1.0 / max((n - 1) * (n - 2), 1)
        if size >= 1:
            plus = plus + (size - 1) * one * with_i + (size - 1) * (size - 2) * two * without_i
        if size <= n - 1:
            minus = minus + size * (size - 1) * two * without_i
        return plus, minus

    def deltas(self) -> np.ndarray:
        """(n, n, d) exact ``E[m(A + i)] - E[m(A)]`` over uniform contexts A of size a not holding i, [a, i]."""
        n = self.beta.shape[0]
        return np.stack([self.stratum_means(a + 1)[0] - self.stratum_means(a)[1] for a in range(n)])


def _additive_stratum_means(c: np.ndarray, eff: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact means of ``c + sum_{k in S} eff[k]`` over the masks S of ``size`` with / without each player.

    Another player is in a mask holding i with probability (s-1)/(n-1), in one without i with s/(n-1);
    sizes with no such mask (0 with, n without) give zeros.
    """
    n = eff.shape[0]
    rest = eff.sum(axis=0)[None, :] - eff
    share = 1.0 / max(n - 1, 1)
    plus = c + eff + (size - 1) * share * rest if size >= 1 else np.zeros_like(eff)
    minus = c + size * share * rest if size <= n - 1 else np.zeros_like(eff)
    return plus, minus


def _ridge_fit(x: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge coefficients and the leave-one-out mean squared error (closed form)."""
    k = x.shape[0]
    gram = x.T @ x + np.diag(penalty * k)
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(gram)
    coef = inv @ (x.T @ y)
    resid = y - x @ coef
    lev = ((x @ inv) * x).sum(axis=1)
    ok = lev < 1.0 - 1e-9
    if not ok.any():
        return coef, float("inf")
    loo = float(((resid[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / ok.sum())
    return coef, loo


def _ridge_path(x: np.ndarray, y: np.ndarray, penalty: np.ndarray, block: np.ndarray,
                ridges: Sequence[float]) -> list[tuple[np.ndarray, float]]:
    """:func:`_ridge_fit` for each ridge of the columns in ``block`` (the others keep ``penalty``), at once.

    With ``M`` the Gram matrix at the smallest ridge and ``D`` the block's
    indicator, the generalised eigenproblem ``D v = lambda M v`` gives every
    ``(M + t k D)^-1 = V diag(1 / (1 + t k lambda)) V^T``: one decomposition
    instead of one inverse per ridge.
    """
    k = x.shape[0]
    r0 = min(ridges)
    pen = np.where(block, r0, penalty) * k
    gram = x.T @ x + np.diag(pen)
    try:
        lam, v = eigh(np.diag(block.astype(np.float64)), gram)
    except (np.linalg.LinAlgError, ScipyLinAlgError, ValueError):
        return [_ridge_fit(x, y, np.where(block, r, penalty)) for r in ridges]
    xv = x @ v
    vy = xv.T @ y
    out = []
    for r in ridges:
        shrink = 1.0 / (1.0 + (r - r0) * k * lam)
        coef = v @ (shrink[:, None] * vy)
        resid = y - xv @ (shrink[:, None] * vy)
        lev = (xv**2) @ shrink
        ok = lev < 1.0 - 1e-9
        loo = float(((resid[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / ok.sum()) if ok.any() else float("inf")
        out.append((coef, loo))
    return out


def fit_side_model(z: np.ndarray, emb: np.ndarray, *, pairs_beyond_masks: bool = False,
                   neighbours: np.ndarray | None = None) -> SideModel | None:
    """The control variate with the smallest leave-one-out error, or None when there are too few masks.

    Candidates: the linear model (intercepts, player effects, effects x size) and
    the same plus pairwise terms at several ridge strengths (at most 1,200 pairs;
    only with more masks than pairs unless ``pairs_beyond_masks``: the ridge and
    the leave-one-out choice then guard the fit); with ``neighbours`` ((n, n)
    bool, e.g. adjacent image regions) also the pair terms of neighbours only
    (far fewer, so better estimated: 10 words x 49 grid regions, held-out
    residual spread at mid sizes 0.17-0.20 -> 0.09-0.12). Intercepts are not
    penalised; sizes without masks get a zero intercept (a constant per size
    cancels in ``E_stratum[m] + mean(e - m)``).
    """
    k, n = z.shape
    if k <= 3 * n + 2:
        return None
    iu = np.triu_indices(n, 1)
    npairs = iu[0].size
    # candidate pair sets, each with its ridges: none, every pair, the neighbours' pairs
    sets: list[tuple[np.ndarray | None, Sequence[float]]] = [(None, (0.0,))]
    if n > 1 and npairs <= _MAX_PAIR_FEATURES and (pairs_beyond_masks or npairs <= k):
        sets.append((np.ones(npairs, dtype=bool), _PAIR_RIDGES))
    if neighbours is not None and n > 1:
        near = np.asarray(neighbours, dtype=bool)[iu]
        if 0 < near.sum() < npairs and near.sum() <= _MAX_PAIR_FEATURES and (pairs_beyond_masks or near.sum() <= k):
            sets.append((near, _LOCAL_PAIR_RIDGES))
    present = np.bincount(z.sum(axis=1), minlength=n + 1) > 0
    best: tuple[float, np.ndarray, tuple[float, np.ndarray] | None] | None = None
    for chosen, ridges in sets:
        x = SideModel.design(z, None if chosen is None else (iu[0][chosen], iu[1][chosen]))
        keep = np.concatenate([present, np.ones(x.shape[1] - n - 1, dtype=bool)])
        penalty = np.full(x.shape[1], _PLAYER_RIDGE)
        penalty[: n + 1] = 0.0
        block = np.zeros(x.shape[1], dtype=bool)
        block[3 * n + 1 :] = True
        if chosen is None:
            fits = [_ridge_fit(x[:, keep], emb, penalty[keep])]
        else:
            fits = _ridge_path(x[:, keep], emb, penalty[keep], block[keep], ridges)
        for ridge, (fit, loo) in zip(ridges, fits):
            if best is None or loo < best[0]:
                coef = np.zeros((x.shape[1], emb.shape[1]))
                coef[keep] = fit
                best = (loo, coef, None if chosen is None else (ridge, chosen))
    _, coef, option = best
    pairs = None
    if option is not None:
        rows, cols = iu[0][option[1]], iu[1][option[1]]
        pairs = np.zeros((n, n, emb.shape[1]))
        pairs[rows, cols] = coef[3 * n + 1 :]
        pairs[cols, rows] = coef[3 * n + 1 :]
    return SideModel(c=coef[: n + 1], beta=coef[n + 1 : 2 * n + 1], gamma=coef[2 * n + 1 : 3 * n + 1],
                     pairs=pairs, ridge=None if option is None else option[0],
                     local=option is not None and not bool(option[1].all()))


def side_deltas(z: np.ndarray, emb: np.ndarray, *, control_variate: bool = True) -> np.ndarray:
    """In-sample stratified estimates of the mean marginal embedding change of every player at every size.

    ``delta[a, i] ~ E_{|A|=a, i not in A}[e(A + i) - e(A)] = m_i^+(a+1) - m_i^-(a)``,
    where ``m_i^+(s)`` / ``m_i^-(s)`` are the mean embeddings of size-s masks with /
    without player i. With ``control_variate`` a :class:`SideModel` (chosen by
    leave-one-out error, fitted on the *same* masks) is subtracted and its exact
    stratum means added back: exact when every stratum is enumerated, lower
    variance than plain means, but **biased** at small budgets (the fitted
    model is reused for the residual means). The unbiased default of the
    sampler is :func:`cross_fit_deltas`; plain means (``control_variate=False``)
    are unbiased for a design with fixed counts per size.

    Args:
        z: (K, n) bool masks, every size 0..n present.
        emb: (K, d) their embeddings (normalised already for cosine).

    Returns:
        (n, n, d) array indexed [a, i].
    """
    model = fit_side_model(z, emb) if control_variate else None
    return _in_sample(z, emb, model)[0]


def _in_sample(z: np.ndarray, emb: np.ndarray, model: SideModel | None) -> tuple[np.ndarray, np.ndarray]:
    """(deltas, residuals) with ``model`` (or none) fitted on the same masks."""
    k, n = z.shape
    zf = z.astype(np.float64)
    sizes = z.sum(axis=1)
    if model is None:
        out, resid = np.zeros((n, n, emb.shape[1])), np.asarray(emb, dtype=np.float64)
    else:
        out, resid = model.deltas(), emb - model.predict(z)
    for a in range(n):
        up, down = sizes == a + 1, sizes == a
        zu, zd = zf[up], zf[down]
        plus = _ratio(zu.T @ resid[up], zu.sum(axis=0)[:, None])
        minus = _ratio((1.0 - zd).T @ resid[down], (1.0 - zd).sum(axis=0)[:, None])
        out[a] += plus - minus
    return out, resid


_SMOOTHING = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""Strengths of the size-smoothness penalty :func:`fit_size_effects` chooses from (leave-one-out)."""

_EFFECT_RIDGE = 1e-3
"""Ridge of every player-at-size effect (keeps sizes without masks defined)."""


@dataclass(frozen=True)
class SizeEffectModel:
    """A model of one side's embeddings with a player effect per mask size (cross-fitted control variate).

    ``e(S) ~ c[|S|] + sum_{k in S} b[|S|, k]``: per-size intercepts and the
    effect of player k in masks of size s, smoothed over neighbouring sizes.
    Its stratum means are known exactly (:meth:`stratum_means`).

    Attributes:
        c: (n+1, d) intercepts (zero for sizes the model never saw).
        b: (n+1, n, d) player effects per size.
        smoothing: the size-smoothness penalty chosen by leave-one-out error.
    """

    c: np.ndarray
    b: np.ndarray
    smoothing: float

    def predict(self, z: np.ndarray) -> np.ndarray:
        """(K, d) predicted embeddings of the (K, n) bool masks ``z``."""
        sizes = z.sum(axis=1)
        return self.c[sizes] + np.einsum("kn,knd->kd", z.astype(np.float64), self.b[sizes])

    def stratum_means(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean prediction over the masks of ``size`` with / without each player: two (n, d) arrays."""
        return _additive_stratum_means(self.c[size], self.b[size], size)


def _size_effect_design(z: np.ndarray) -> np.ndarray:
    """(K, (n+1) + (n+1) n): size indicators, then z placed in its size's block."""
    k, n = z.shape
    onehot = np.eye(n + 1)[z.sum(axis=1)]
    return np.concatenate([onehot, (onehot[:, :, None] * z[:, None, :]).reshape(k, -1)], axis=1)


def fit_size_effects(z: np.ndarray, emb: np.ndarray, *, roughness: np.ndarray | None = None,
                     smoothing: Sequence[float] = _SMOOTHING) -> SizeEffectModel:
    """Fit :class:`SizeEffectModel` to masks ``z`` (K, n) and embeddings ``emb`` (K, d).

    Penalised least squares: intercepts free, ``smoothing * sum (b[s+1,k] - b[s,k])^2``
    (effects change slowly with the size, so a size without masks borrows its
    neighbours' effects) plus a small ridge; the smoothing with the smallest
    leave-one-out error (closed form) over ``smoothing`` wins.

    Args:
        roughness: (n+1, n+1) penalty over the sizes of each player's effects (None: squared first
            differences, ``D^T D``); ``benchmarks/mse_variants/curv.py`` tries others.
        smoothing: the penalty strengths to choose from.
    """
    k, n = z.shape
    present = np.bincount(z.sum(axis=1), minlength=n + 1) > 0
    x = _size_effect_design(z)
    keep = np.concatenate([present, np.ones((n + 1) * n, dtype=bool)])
    xs = x[:, keep]
    if roughness is None:
        diff = np.diff(np.eye(n + 1), axis=0)
        roughness = diff.T @ diff
    smooth = np.kron(roughness, np.eye(n))
    n_icpt = int(present.sum())
    gram, rhs = xs.T @ xs, xs.T @ emb
    best: tuple[float, np.ndarray, float] | None = None
    for lam in smoothing:
        pen = np.zeros_like(gram)
        pen[n_icpt:, n_icpt:] = k * (lam * smooth + _EFFECT_RIDGE * np.eye(smooth.shape[0]))
        try:
            inv = np.linalg.inv(gram + pen)  # positive definite: free intercepts of present sizes, ridge
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(gram + pen)
        coef = inv @ rhs
        resid = emb - xs @ coef
        lev = ((xs @ inv) * xs).sum(axis=1)
        ok = lev < 1.0 - 1e-9
        loo = float(((resid[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / max(int(ok.sum()), 1))
        if best is None or loo < best[0]:
            best = (loo, coef, lam)
    _, coef, lam = best
    full = np.zeros((x.shape[1], emb.shape[1]))
    full[keep] = coef
    return SizeEffectModel(c=full[: n + 1], b=full[n + 1 :].reshape(n + 1, n, -1), smoothing=float(lam))


_MAX_SIZE_EFFECT_PLAYERS = 16
"""Above this many players the model left out per size is linear in the size (:func:`fit_drift_effects`), not a
size-effect model (:func:`fit_size_effects`): both are used only near the minimum budget (:data:`_FOLD_FACTOR`)."""

_SIZE_FOLDS = 4
"""Folds of mask sizes (size mod 4) for the cross-fitted model of a side with enough masks: the model of the sizes
in one fold is fitted on the other three (:func:`_fold_models`; 10 words x 49 regions: 1.25x lower MSE of the cross
block than the drift model left out per size at 2,480 masks; 8 folds: 1.02x lower still, twice the time)."""

_FOLD_FACTOR = 2.0
"""A side uses the fold models (pair terms) once it holds this many times its stratified minimum of masks; below,
one model per left-out size. Fold / per-size MSE of the cross block at 1x, 1.5x, 2x, 3x the minimum: 49 regions
1.11, 1.07, 1.00, 0.93; 16+16 synthetic (2x, 3.2x, 8x the joint minimum) 1.45, 1.07, 0.92, 0.84; 8+8 at 100, 179,
290 passes 1.02-1.10, 0.91-0.94, 0.85-0.90 (``benchmarks/RESULTS.md``, "FIxLIP's cross-modal sampler")."""


def fit_drift_effects(z: np.ndarray, emb: np.ndarray) -> SizeEffectModel:
    """The cheaper cross-fitted model for many players: ``b[s, k] = beta_k + gamma_k s / n`` (ridge-penalised).

    3n + 1 parameters instead of (n+1)^2, so sides with more than
    ``_MAX_SIZE_EFFECT_PLAYERS`` players stay fast; same interface as
    :func:`fit_size_effects`.
    """
    k, n = z.shape
    sizes = z.sum(axis=1)
    present = np.bincount(sizes, minlength=n + 1) > 0
    zf = z.astype(np.float64)
    x = np.concatenate([np.eye(n + 1)[sizes][:, present], zf, zf * (sizes / n)[:, None]], axis=1)
    n_icpt = int(present.sum())
    penalty = np.full(x.shape[1], _PLAYER_RIDGE * k)
    penalty[:n_icpt] = 0.0
    coef = np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ emb)
    c = np.zeros((n + 1, emb.shape[1]))
    c[present] = coef[:n_icpt]
    beta, gamma = coef[n_icpt : n_icpt + n], coef[n_icpt + n :]
    b = beta[None] + (np.arange(n + 1) / n)[:, None, None] * gamma[None]
    return SizeEffectModel(c=c, b=b, smoothing=float("nan"))


@dataclass(frozen=True)
class SideEstimate:
    """Per-side result of the stratified solve: the mean marginal changes and what is left to sample.

    Attributes:
        deltas: (n, n, d) estimates of ``E[e(A + i) - e(A)]`` over contexts A of
            size a without i, indexed [a, i].
        residuals: (K, d) the part of each mask's embedding that was sampled
            (embedding minus the control variate used for its size); its spread
            within each size gives the standard errors
            (:func:`~.variance.stratum_variance`).
    """

    deltas: np.ndarray
    residuals: np.ndarray


def _domain_means(z: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) means of ``vals`` over the masks with / without each player."""
    zf = z.astype(np.float64)
    plus = _ratio(zf.T @ vals, zf.sum(axis=0)[:, None])
    minus = _ratio((1.0 - zf).T @ vals, (1.0 - zf).sum(axis=0)[:, None])
    return plus, minus


def cross_fit_deltas(z: np.ndarray, emb: np.ndarray, *, control_variate: bool = True,
                     neighbours: np.ndarray | None = None) -> SideEstimate:
    """Unbiased stratified estimates of every player's mean marginal embedding change at every size.

    ``delta[a, i] = m_i^+(a+1) - m_i^-(a)``, each stratum mean estimated as
    ``E_stratum[model] + mean(e - model)`` with a :class:`SizeEffectModel` fitted
    on the masks of the *other* sizes (cross-fitting: unbiased when the sizes
    are sampled independently with fixed counts, as :class:`~.stratified.StratifiedJoint`
    does). With at least twice the side's stratified minimum of masks the model
    is one :func:`fit_side_model` per fold of sizes (:func:`_fold_models`, pair
    terms when they help, plus a kernel correction of its residual,
    :mod:`~.kernel_correction`), below it one model per left-out size
    (:func:`fit_size_effects`; above 16 players :func:`fit_drift_effects`). Fully enumerated sizes use their
    exact means (no model). Exact when every size is enumerated.

    Args:
        z: (K, n) bool masks, every size 0..n present and every player in and
            out of every middle size.
        emb: (K, d) their embeddings (normalised already for cosine).
        control_variate: False: plain stratum means (no model).
        neighbours: (n, n) bool neighbouring players (adjacent regions, consecutive words), or None:
            the fold models may then keep only the neighbours' pair terms.

    Returns:
        :class:`SideEstimate`.
    """
    k, n = z.shape
    sizes = z.sum(axis=1)
    d = emb.shape[1]
    plus, minus = np.zeros((n + 1, n, d)), np.zeros((n + 1, n, d))
    resid = np.array(emb, dtype=np.float64, copy=True)
    sampled = [s for s in range(n + 1) if (sizes == s).sum() < comb(n, s)] if control_variate else []
    use_folds = k >= _FOLD_FACTOR * sum(_side_minimum(n))
    folds = _fold_models(z, emb, {s % _SIZE_FOLDS for s in sampled}, neighbours) if use_folds else {}
    per_size = fit_size_effects if n <= _MAX_SIZE_EFFECT_PLAYERS else fit_drift_effects
    for s in range(n + 1):
        rows = sizes == s
        if s in sampled:
            model = folds[s % _SIZE_FOLDS] if use_folds else per_size(z[~rows], emb[~rows])
            resid[rows] = emb[rows] - model.predict(z[rows])
            m_plus, m_minus = model.stratum_means(s)
        else:
            m_plus = m_minus = 0.0
        r_plus, r_minus = _domain_means(z[rows], resid[rows])
        plus[s], minus[s] = m_plus + r_plus, m_minus + r_minus
    return SideEstimate(deltas=plus[1:] - minus[:-1], residuals=resid)


def _fold_models(z: np.ndarray, emb: np.ndarray, folds: set[int],
                 neighbours: np.ndarray | None = None) -> dict[int, StratumModel]:
    """For each fold f of sizes (size mod :data:`_SIZE_FOLDS`), a model fitted on the masks of the other folds.

    :func:`fit_side_model` (pair terms allowed beyond the mask count, neighbour-only pairs with
    ``neighbours``, chosen by leave-one-out error), or :func:`fit_drift_effects` when the other folds hold
    too few masks for it; then a kernel correction of its residual where leave-one-out error says it helps
    (:func:`~.kernel_correction.corrected`; 10 words x 49 regions at 1,760 masks: 1.2x lower MSE of the
    cross block on top of the neighbour pairs).
    """
    sizes = z.sum(axis=1)
    out: dict[int, StratumModel] = {}
    for f in sorted(folds):
        train = sizes % _SIZE_FOLDS != f
        zt, et = z[train], emb[train]
        base = fit_side_model(zt, et, pairs_beyond_masks=True, neighbours=neighbours) or fit_drift_effects(zt, et)
        out[f] = corrected(base, zt, et)
    return out


def in_sample_deltas(z: np.ndarray, emb: np.ndarray, *, control_variate: bool = True) -> SideEstimate:
    """:func:`side_deltas` (biased in-sample control variate) with its residuals, for ``unbiased=False``."""
    deltas, resid = _in_sample(z, emb, fit_side_model(z, emb) if control_variate else None)
    return SideEstimate(deltas=deltas, residuals=resid)


__all__ = [
    "SideEstimate",
    "SideModel",
    "SizeEffectModel",
    "cross_fit_deltas",
    "fit_drift_effects",
    "fit_side_model",
    "fit_size_effects",
    "in_sample_deltas",
    "side_deltas",
]
