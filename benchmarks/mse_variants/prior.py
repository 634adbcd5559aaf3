exec(open("var.py").read())
from math import comb
orig = de.size_prior
for tag, f in [("pow0.5", lambda n: orig(n)**0.5), ("pow1.5", lambda n: orig(n)**1.5), ("pow2", lambda n: orig(n)**2),
               ("flat", lambda n: np.ones(n+1))]:
    st.size_prior = f; report(tag)
