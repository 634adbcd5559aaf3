exec(open("var.py").read())
import itertools
from math import comb
orig = de._balanced_masks
def pair_masks(n, size, count, rng, taken=None):
    taken = np.zeros((0, n), dtype=bool) if taken is None else np.asarray(taken, dtype=bool)
    total = comb(n, size)
    if count + len(taken) >= total or size in (0, n) or count<=0:
        return orig(n, size, count, rng, taken)
    seen = {row.tobytes() for row in taken}
    tf = taken.astype(float)
    counts = tf.sum(0); pair = tf.T @ tf
    out=[]
    tries=0
    while len(out) < count:
        chosen=[]
        noise = rng.random(n)
        for _ in range(size):
            key = counts*1e6 + (pair[:, chosen].sum(1) if chosen else 0.0)*1.0 + noise
            key[chosen] = np.inf
            chosen.append(int(np.argmin(key)))
        if tries >= 8:
            chosen = list(rng.choice(n, size=size, replace=False))
        row=np.zeros(n,bool); row[chosen]=True
        k=row.tobytes()
        if k in seen: tries+=1; continue
        tries=0; seen.add(k); out.append(row)
        counts[chosen]+=1; pair[np.ix_(chosen,chosen)]+=1
    return np.array(out).reshape(-1,n)
de._balanced_masks = pair_masks
report("pairbal")
