import sys, time, numpy as np
sys.path.insert(0, "..")
from joint_bias import bench_game, project_test_game, cached_side
from qdrant_explain.explainers import explain_joint
from qdrant_explain.explainers.coalitions import all_coalitions
import qdrant_explain.explainers.joint.control_variate as cv
import qdrant_explain.explainers.joint.design as de
import qdrant_explain.explainers.joint.stratified as st
n=8
def mse(game, score, budget, seeds, unbiased=True):
    fq, fh = game
    truth = explain_joint(fq, fh, n, n, score=score, method="exact").cross
    tq, th = fq(all_coalitions(n)), fh(all_coalitions(n))
    errs=[]
    for s in range(seeds):
        r = explain_joint(cached_side(tq,n), cached_side(th,n), n, n, score=score, method="stratified", budget=budget, seed=s, unbiased=unbiased)
        errs.append(r.cross-truth)
    e=np.array(errs); return float((e**2).mean()/ (truth**2).mean())
games={"dot":(bench_game(n,8000),"dot"),"cos":(bench_game(n,8000),"cosine"),"test":(project_test_game(),"cosine")}
