exec(open("explore.py").read())
import json
base=json.load(open("biased.json"))
seeds=int(sys.argv[1]); budgets=[int(b) for b in sys.argv[2].split(",")]
def report(tag):
    rs=[]
    for g,(game,score) in games.items():
        for b in budgets:
            rs.append(mse(game,score,b,seeds)/base[f"{g}{b}"])
    print(tag, " ".join(f"{r:.3f}" for r in rs), f"max {max(rs):.3f}", flush=True)
