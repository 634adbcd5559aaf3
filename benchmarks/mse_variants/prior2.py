exec(open("var.py").read())
orig = de.size_prior; oimp = st._side_importance
st.size_prior = lambda n: orig(n)**0.5; report("pow0.5")
st._side_importance = lambda p, ax: oimp(p, ax)**0.5; report("pow0.5+imp0.5")
st.size_prior = orig; report("imp0.5")
