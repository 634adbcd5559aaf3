exec(open("explore.py").read())
import json
seeds=int(sys.argv[1]); budgets=[int(b) for b in sys.argv[2].split(",")]
out={}
for g,(game,score) in games.items():
    for b in budgets:
        out[f"{g}{b}"]=mse(game,score,b,seeds,unbiased=False)
print(json.dumps(out))
