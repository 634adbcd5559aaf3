exec(open("var.py").read())
from qdrant_explain.explainers.coalitions import coalition_index
Z = all_coalitions(n)
fq, fh = games["dot"][0]
tabs = [fq(Z), fh(Z)]
orig = cv.fit_size_effects
def oracle(z, emb):
    idx = coalition_index(z)
    for t in tabs:
        if np.allclose(t[idx], emb):
            return orig(Z, t)
    raise RuntimeError
cv.fit_size_effects = oracle
games = {"dot": games["dot"]}
report("oracle-dot")
