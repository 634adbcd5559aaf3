"""The stratified sampler's control variate: a fitted model of one side's embeddings (:class:`SideModel`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import _ratio

_PLAYER_RIDGE = 1e-3


_PAIR_RIDGES = (1e-3, 1e-2, 1e-1, 1.0)


_MAX_PAIR_FEATURES = 1200


@dataclass(frozen=True)
class SideModel:
    """A fitted control variate for one side's embeddings (the stratified sampler's regression).

    ``e(S) ~ c[|S|] + sum_k (beta_k + gamma_k |S|/n) z_k + sum_{k<l} G_kl z_k z_l``:
    per-size intercepts, player effects that drift linearly with the mask size,
    and (optionally) pairwise terms. Its stratum means are known exactly
    (:meth:`deltas`), so only its residual has to be sampled.
    """

    c: np.ndarray  # (n+1, d)
    beta: np.ndarray  # (n, d)
    gamma: np.ndarray  # (n, d)
    pairs: np.ndarray | None  # (n, n, d) symmetric, zero diagonal
    ridge: float | None  # ridge of the pair terms (None: no pair terms)

    @staticmethod
    def design(z: np.ndarray, with_pairs: bool) -> np.ndarray:
        n = z.shape[1]
        zf = z.astype(np.float64)
        sizes = z.sum(axis=1)
        cols = [np.eye(n + 1)[sizes], zf, zf * (sizes / n)[:, None]]
        if with_pairs:
            iu = np.triu_indices(n, 1)
            cols.append(zf[:, iu[0]] * zf[:, iu[1]])
        return np.concatenate(cols, axis=1)

    def predict(self, z: np.ndarray) -> np.ndarray:
        n = z.shape[1]
        coef = [self.c, self.beta, self.gamma]
        if self.pairs is not None:
            iu = np.triu_indices(n, 1)
            coef.append(self.pairs[iu])
        return self.design(z, self.pairs is not None) @ np.concatenate(coef)

    def deltas(self) -> np.ndarray:
        """(n, n, d) exact ``E[m(A + i)] - E[m(A)]`` over uniform contexts A of size a not holding i, [a, i]."""
        n = self.beta.shape[0]
        a = np.arange(n, dtype=np.float64)[:, None, None]
        share = a / max(n - 1, 1)  # P(k in A) for another player k
        out = (self.c[1:] - self.c[:-1])[:, None, :] + np.zeros((1, n, 1))
        for coef, grow in ((self.beta, lambda t: np.ones_like(t)), (self.gamma, lambda t: t / n)):
            rest = coef.sum(axis=0)[None, None, :] - coef[None]
            out = out + grow(a + 1) * (coef[None] + share * rest) - grow(a) * share * rest
        if self.pairs is not None:
            # pairs without i are in A + i exactly when in A: only the pairs (i, l), l in A, change
            out = out + share * self.pairs.sum(axis=1)[None]
        return out


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


def fit_side_model(z: np.ndarray, emb: np.ndarray) -> SideModel | None:
    """The control variate with the smallest leave-one-out error, or None when there are too few masks.

    Candidates: the linear model (intercepts, player effects, effects x size) and
    the same plus pairwise terms at several ridge strengths (when there are more
    masks than pairs, at most 1,200 pairs). Intercepts are not penalised.
    """
    k, n = z.shape
    if k <= 3 * n + 2:
        return None
    npairs = n * (n - 1) // 2
    options: list[float | None] = [None]
    if n > 1 and npairs <= min(k, _MAX_PAIR_FEATURES):  # pair terms only with more masks than pairs
        options += list(_PAIR_RIDGES)
    best: tuple[float, np.ndarray, float | None] | None = None
    for ridge in options:
        x = SideModel.design(z, ridge is not None)
        penalty = np.full(x.shape[1], _PLAYER_RIDGE)
        penalty[: n + 1] = 0.0
        if ridge is not None:
            penalty[3 * n + 1 :] = ridge
        coef, loo = _ridge_fit(x, emb, penalty)
        if best is None or loo < best[0]:
            best = (loo, coef, ridge)
    _, coef, ridge = best
    pairs = None
    if ridge is not None:
        iu = np.triu_indices(n, 1)
        pairs = np.zeros((n, n, emb.shape[1]))
        pairs[iu] = coef[3 * n + 1 :]
        pairs[(iu[1], iu[0])] = coef[3 * n + 1 :]
    return SideModel(c=coef[: n + 1], beta=coef[n + 1 : 2 * n + 1], gamma=coef[2 * n + 1 : 3 * n + 1],
                     pairs=pairs, ridge=ridge)


def side_deltas(z: np.ndarray, emb: np.ndarray, *, control_variate: bool = True) -> np.ndarray:
    """Stratified estimates of the mean marginal embedding change of every player at every size.

    ``delta[a, i] ~ E_{|A|=a, i not in A}[e(A + i) - e(A)] = m_i^+(a+1) - m_i^-(a)``,
    where ``m_i^+(s)`` / ``m_i^-(s)`` are the mean embeddings of size-s masks with /
    without player i. With ``control_variate`` a :class:`SideModel` (chosen by
    leave-one-out error, fitted on the same masks) is subtracted and its exact
    stratum means added back: the estimate stays exact when every stratum is
    enumerated and only what the model misses is sampled.

    Args:
        z: (K, n) bool masks, every size 0..n present.
        emb: (K, d) their embeddings (normalised already for cosine).

    Returns:
        (n, n, d) array indexed [a, i].
    """
    k, n = z.shape
    zf = z.astype(np.float64)
    sizes = z.sum(axis=1)
    model = fit_side_model(z, emb) if control_variate else None
    if model is None:
        out, resid = np.zeros((n, n, emb.shape[1])), emb
    else:
        out, resid = model.deltas(), emb - model.predict(z)
    for a in range(n):
        up, down = sizes == a + 1, sizes == a
        zu, zd = zf[up], zf[down]
        plus = _ratio(zu.T @ resid[up], zu.sum(axis=0)[:, None])
        minus = _ratio((1.0 - zd).T @ resid[down], (1.0 - zd).sum(axis=0)[:, None])
        out[a] += plus - minus
    return out


__all__ = ["SideModel", "fit_side_model", "side_deltas"]
