"""A kernel-ridge correction of a side's control variate whose stratum means are still known exactly.

The fold models of :mod:`~.control_variate` are linear in the players and their
pairs; what they miss (higher-order interactions) is sampled. This module fits
that remainder with kernel ridge regression on masks,

    k(S, T) = exp(-gamma |S xor T|) * exp(-(|S| - |T|)^2 / (2 ell^2)),

(the normalised all-subsets kernel, which weights an interaction of r players
by a prior shrinking geometrically in r, times a kernel over mask sizes so that
sizes borrow mostly from their neighbours). The kernel depends on a mask only
through ``|S and T|`` and the two sizes, so the mean prediction over the masks
of a size with / without a player is a hypergeometric sum: exact, like the
linear models' stratum means, and the corrected model is still a valid control
variate (unbiased when fitted on other sizes). Hyper-parameters are chosen by
leave-one-out error (closed form); "no correction" is one of the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import gammaln

_GAMMAS = (0.2, 0.4)
"""Decay of the kernel per differing player (10 words x 49 regions lab: 0.2 and 0.4 chosen, 0.1 / 0.8 / 1.6 not)."""

_RIDGES = (1e-2, 1e-1, 1.0)
"""Ridge strengths of the kernel fit, chosen by leave-one-out error (with "no correction")."""

_MAX_KERNEL_MASKS = 1024
"""Most training masks of one kernel fit (evenly spaced over the fold's rows, so every size keeps its share):
the eigendecomposition costs O(K^3)."""

_MAX_KERNEL_PLAYERS = 128
"""Above this many players no kernel correction (its hypergeometric table has n^3 entries)."""


class StratumModel(Protocol):
    """A model of one side's embeddings with exact stratum means (what the cross-fitted control variate needs)."""

    def predict(self, z: np.ndarray) -> np.ndarray: ...

    def stratum_means(self, size: int) -> tuple[np.ndarray, np.ndarray]: ...


def _size_scale(n: int) -> float:
    """Width ``ell`` of the size kernel: a tenth of the sizes, at least 2."""
    return max(2.0, n / 10.0)


def _hypergeometric(n: int) -> np.ndarray:
    """(n, n, n) pmf[d, K, x]: x successes in d draws without replacement from n - 1 items of which K succeed."""
    N = n - 1
    d = np.arange(n)[:, None, None]
    k = np.arange(n)[None, :, None]
    x = np.arange(n)[None, None, :]
    ok = (x <= d) & (x <= k) & (d - x <= N - k) & (k <= N) & (d <= N)

    def lcomb(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    with np.errstate(invalid="ignore"):
        logp = lcomb(k, np.minimum(x, k)) + lcomb(N - k, np.clip(d - x, 0, None)) - lcomb(N, d)
    return np.where(ok, np.exp(np.where(ok, logp, 0.0)), 0.0)


def _kernel_of_counts(n: int, gamma: float, ell: float) -> np.ndarray:
    """(n+1, n+1, n+1) kernel value g[s, t, m] of two masks of sizes s, t sharing m players."""
    s = np.arange(n + 1)[:, None, None]
    t = np.arange(n + 1)[None, :, None]
    m = np.arange(n + 1)[None, None, :]
    return np.exp(-gamma * (s + t - 2 * m) - (s - t) ** 2 / (2.0 * ell**2))


def _mean_tables(n: int, g: np.ndarray, pmf: np.ndarray) -> np.ndarray:
    """(4, n+1, n+1) mean kernel value between a uniform size-s mask and a training mask of size t.

    Index 0: both hold player i; 1: the random mask holds i, the training mask not; 2: the reverse;
    3: neither. Given the cases, the overlap beyond i is hypergeometric (the other n - 1 players).
    """
    out = np.zeros((4, n + 1, n + 1))
    sizes = np.arange(n + 1)
    for c, (in_s, in_t) in enumerate(((1, 1), (1, 0), (0, 1), (0, 0))):
        d, k = sizes - in_s, sizes - in_t
        ok = ((d >= 0) & (d <= n - 1))[:, None] & ((k >= 0) & (k <= n - 1))[None, :]
        p = pmf[np.clip(d, 0, n - 1)][:, np.clip(k, 0, n - 1)]  # (n+1, n+1, n): overlap x beyond i
        shift = in_s * in_t
        vals = g[:, :, shift : shift + n]  # g[s, t, x + shift]
        out[c] = np.where(ok, (p * vals).sum(axis=2), 0.0)
    return out


def kernel_matrix(za: np.ndarray, zb: np.ndarray, gamma: float, ell: float) -> np.ndarray:
    """(Ka, Kb) kernel between two sets of masks."""
    fa, fb = za.astype(np.float64), zb.astype(np.float64)
    sa, sb = fa.sum(axis=1)[:, None], fb.sum(axis=1)[None, :]
    return np.exp(-gamma * (sa + sb - 2.0 * fa @ fb.T) - (sa - sb) ** 2 / (2.0 * ell**2))


@dataclass(frozen=True)
class KernelCorrection:
    """A fitted kernel-ridge model of a residual: ``r(S) ~ sum_t alpha_t k(S, T_t)``.

    Attributes:
        masks: (K, n) bool training masks T_t.
        alpha: (K, d) dual coefficients.
        gamma, ell, ridge: the chosen kernel decay, size width and ridge.
        tables: (4, n+1, n+1) exact mean kernel values (:func:`_mean_tables`).
    """

    masks: np.ndarray
    alpha: np.ndarray
    gamma: float
    ell: float
    ridge: float
    tables: np.ndarray

    def predict(self, z: np.ndarray) -> np.ndarray:
        """(m, d) predicted residuals of the masks ``z``."""
        return kernel_matrix(z, self.masks, self.gamma, self.ell) @ self.alpha

    def stratum_means(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean prediction over the masks of ``size`` with / without each player: two (n, d) arrays."""
        zt = self.masks.astype(np.float64)
        t = self.masks.sum(axis=1)
        both, only_s, only_t, neither = (self.alpha * self.tables[c, size, t][:, None] for c in range(4))
        plus = zt.T @ both + (1.0 - zt).T @ only_s
        minus = zt.T @ only_t + (1.0 - zt).T @ neither
        return plus, minus


@dataclass(frozen=True)
class CorrectedModel:
    """A side model plus a :class:`KernelCorrection` of its residual (predictions and stratum means add)."""

    base: StratumModel
    correction: KernelCorrection

    def predict(self, z: np.ndarray) -> np.ndarray:
        return self.base.predict(z) + self.correction.predict(z)

    def stratum_means(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        p1, m1 = self.base.stratum_means(size)
        p2, m2 = self.correction.stratum_means(size)
        return p1 + p2, m1 + m2


def fit_kernel_correction(z: np.ndarray, resid: np.ndarray, *, gammas=_GAMMAS, ridges=_RIDGES,
                          max_masks: int = _MAX_KERNEL_MASKS) -> KernelCorrection | None:
    """Kernel ridge on ``resid`` (K, d) of masks ``z`` (K, n), or None when no choice beats predicting zero.

    Leave-one-out error (closed form from one eigendecomposition per ``gamma``)
    picks ``gamma`` and the ridge; the zero prediction's error is ``mean |r|^2``.
    At most ``max_masks`` rows are used (evenly spaced).
    """
    k, n = z.shape
    if n > _MAX_KERNEL_PLAYERS or n < 2 or k < 4:
        return None
    if k > max_masks:
        keep = np.linspace(0, k - 1, max_masks).round().astype(np.int64)
        z, resid = z[keep], resid[keep]
        k = max_masks
    ell = _size_scale(n)
    best = (float((resid**2).sum() / k), None)
    for gamma in gammas:
        w, v = np.linalg.eigh(kernel_matrix(z, z, gamma, ell))
        w = np.clip(w, 0.0, None)
        vr = v.T @ resid
        for lam in ridges:
            shrink = w / (w + lam)
            lev = (v**2) @ shrink
            fit = v @ (shrink[:, None] * vr)
            ok = lev < 1.0 - 1e-9
            if not ok.any():
                continue
            loo = float((((resid - fit)[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / ok.sum())
            if loo < best[0]:
                best = (loo, (gamma, lam, v @ (vr / (w + lam)[:, None])))
    if best[1] is None:
        return None
    gamma, lam, alpha = best[1]
    tables = _mean_tables(n, _kernel_of_counts(n, gamma, ell), _hypergeometric(n))
    return KernelCorrection(masks=np.asarray(z, dtype=bool), alpha=alpha, gamma=float(gamma), ell=float(ell),
                            ridge=float(lam), tables=tables)


def corrected(base: StratumModel, z: np.ndarray, emb: np.ndarray) -> StratumModel:
    """``base`` plus a kernel correction of its residual on (z, emb) when leave-one-out error says it helps."""
    fix = fit_kernel_correction(z, emb - base.predict(z))
    return base if fix is None else CorrectedModel(base, fix)


__all__ = ["CorrectedModel", "KernelCorrection", "corrected", "fit_kernel_correction", "kernel_matrix"]
