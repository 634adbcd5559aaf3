exec(open("var.py").read())
from qdrant_explain.explainers.joint.control_variate import fit_size_effects as _fit  # bound before the patch below
def make(order, grid, mix=0.0):
    def fit(z, emb):
        n = z.shape[1]
        d1 = np.diff(np.eye(n + 1), n=1, axis=0); dd = np.diff(np.eye(n + 1), n=order, axis=0)
        return _fit(z, emb, roughness=dd.T @ dd + mix * d1.T @ d1, smoothing=grid)
    return fit
G=(1e-3,1e-2,1e-1,1.0,10.0)
for tag,order,grid,mix in [("d2",2,G,0.0),("d2+0.1d1",2,G,0.1),("d2+0.01d1",2,G,0.01),("d3",3,G,0.0)]:
    cv.fit_size_effects = make(order,grid,mix); report(tag)
