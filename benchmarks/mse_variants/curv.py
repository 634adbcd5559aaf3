exec(open("var.py").read())
from qdrant_explain.explainers.joint.control_variate import _size_effect_design, SizeEffectModel, _EFFECT_RIDGE
def make(order, grid, mix=0.0):
    def fit(z, emb):
        k, n = z.shape
        present = np.bincount(z.sum(axis=1), minlength=n + 1) > 0
        x = _size_effect_design(z)
        keep = np.concatenate([present, np.ones((n + 1) * n, dtype=bool)])
        xs = x[:, keep]
        d1 = np.diff(np.eye(n + 1), n=1, axis=0); dd = np.diff(np.eye(n + 1), n=order, axis=0)
        smooth = np.kron(dd.T @ dd + mix * d1.T @ d1, np.eye(n))
        n_icpt = int(present.sum())
        gram, rhs = xs.T @ xs, xs.T @ emb
        best = None
        for lam in grid:
            pen = np.zeros_like(gram)
            pen[n_icpt:, n_icpt:] = k * (lam * smooth + _EFFECT_RIDGE * np.eye(smooth.shape[0]))
            inv = np.linalg.inv(gram + pen)
            coef = inv @ rhs
            resid = emb - xs @ coef
            lev = ((xs @ inv) * xs).sum(axis=1)
            ok = lev < 1.0 - 1e-9
            loo = float(((resid[ok] / (1.0 - lev[ok])[:, None]) ** 2).sum() / max(int(ok.sum()), 1))
            if best is None or loo < best[0]:
                best = (loo, coef, lam)
        _, coef, lam = best
        full = np.zeros((x.shape[1], emb.shape[1])); full[keep] = coef
        return SizeEffectModel(c=full[: n + 1], b=full[n + 1 :].reshape(n + 1, n, -1), smoothing=float(lam))
    return fit
G=(1e-3,1e-2,1e-1,1.0,10.0)
for tag,order,grid,mix in [("d2",2,G,0.0),("d2+0.1d1",2,G,0.1),("d2+0.01d1",2,G,0.01),("d3",3,G,0.0)]:
    cv.fit_size_effects = make(order,grid,mix); report(tag)
