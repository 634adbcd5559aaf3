exec(open("var.py").read())
report("default")
for lam in cv._SMOOTHING + (100.0,):
    cv._SMOOTHING=(lam,); report(f"lam={lam}")
