"""Bias, MSE and interval coverage of the joint stratified sampler: the unbiased default vs the earlier biased one.

Games: 8+8 synthetic embedding games (``benchmarks/joint.py``'s random two-layer
"encoders", d = 32) with the dot and cosine scores, and the project's test game
(``tests/explainers/test_joint.py``, d = 12, cosine). Truth: the factorised exact
joint Shapley-Taylor. Every side's 2^8 mask embeddings are computed once; each
seed's sample reads that table, so a seed costs only the solve.

For each budget (encoder passes) and both variants of ``method="stratified"``
(``unbiased=True``, the default, and ``unbiased=False``, the earlier two-round
sampler with the in-sample control variate) it reports over the seeds: relative
MSE of the cross block, bias / RMSE (root mean squared per-index bias over the
root mean squared error), the largest |mean error| / its standard error over the
64 cross indices (z; within 3 for an unbiased estimator at this many indices),
the MSE ratio default / earlier, and the share of (index, seed) cases whose
nominal 95 % interval (estimate +- 1.96 stderr) covers the exact value.

Run:  OMP_NUM_THREADS=1 python benchmarks/joint_bias.py [--seeds-min 1000] [--seeds 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from qdrant_explain.explainers import SideEvaluator, explain_joint
from qdrant_explain.explainers.coalitions import all_coalitions, coalition_index
from qdrant_explain.explainers.joint import stratified_minimum_budget


def bench_game(n: int, seed: int, d: int = 32):
    """The embedding game of ``benchmarks/joint.py`` (a shared last layer, per-side region projections)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) * 0.5
    wq, wh = rng.normal(size=(n, d)) * 0.6, rng.normal(size=(n, d)) * 0.6
    return (lambda m: np.tanh(np.tanh(np.asarray(m, float) @ wq + 0.2) @ a),
            lambda m: np.tanh(np.tanh(np.asarray(m, float) @ wh + 0.2) @ a))


def project_test_game(n: int = 8, d: int = 12):
    """The game of ``test_stratified_error_shrinks_and_is_unbiased`` (``_mlp_side(8, 12, 4)`` and ``(8, 12, 5)``)."""
    sides = []
    for seed in (4, 5):
        rng = np.random.default_rng(seed)
        w1, a = rng.normal(size=(n, d)) * 0.6, rng.normal(size=(d, d)) * 0.5
        sides.append(lambda m, w1=w1, a=a: np.tanh(np.tanh(np.asarray(m, float) @ w1 + 0.2) @ a))
    return tuple(sides)


def cached_side(table: np.ndarray, n: int) -> SideEvaluator:
    """A side evaluator that reads the 2^n embedding table (one table, many seeds)."""
    return SideEvaluator(lambda m: table[coalition_index(m)], n, batch_size=1 << 20, progress=False)


def run(fq, fh, n: int, score: str, budget: int, seeds: int, unbiased: bool, truth: np.ndarray) -> dict:
    tq, th = fq(all_coalitions(n)), fh(all_coalitions(n))
    t0 = time.time()
    cross, se = [], []
    for seed in range(seeds):
        res = explain_joint(cached_side(tq, n), cached_side(th, n), n, n, score=score, method="stratified",
                            budget=budget, seed=seed, unbiased=unbiased)
        cross.append(res.cross)
        se.append(res.cross_stderr)
    err = np.array(cross) - truth
    mse = float((err**2).mean())
    bias = err.mean(axis=0)
    sem = err.std(axis=0, ddof=1) / np.sqrt(seeds)
    row = dict(score=score, budget=budget, seeds=seeds, unbiased=unbiased, rel_mse=mse / float((truth**2).mean()),
               bias_over_rmse=float(np.sqrt((bias**2).mean() / mse)), max_z=float(np.abs(bias / sem).max()),
               seconds_per_run=(time.time() - t0) / seeds, coverage=None, stderr_over_rmse=None)
    if se[0] is not None:
        se = np.array(se)
        row["coverage"] = float((np.abs(err) <= 1.96 * se).mean())
        row["stderr_over_rmse"] = float(np.sqrt((se**2).mean() / mse))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds-min", type=int, default=1000, help="seeds at the minimum budget (default 1000)")
    ap.add_argument("--seeds", type=int, default=300, help="seeds at the other budgets (default 300)")
    ap.add_argument("--budgets", default="100,179,290", help="budgets above the minimum (comma-separated)")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = ap.parse_args()
    n = 8
    minimum = stratified_minimum_budget(n, n)
    budgets = [minimum] + [int(b) for b in args.budgets.split(",") if b]
    games = [("synthetic d=32", bench_game(n, 8000), "dot"), ("synthetic d=32", bench_game(n, 8000), "cosine"),
             ("test game d=12", project_test_game(), "cosine")]
    rows = []
    t_start = time.time()
    for game, (fq, fh), score in games:
        truth = explain_joint(fq, fh, n, n, score=score, method="exact").cross
        for budget in budgets:
            seeds = args.seeds_min if budget == minimum else args.seeds
            pair = [run(fq, fh, n, score, budget, seeds, unbiased, truth) for unbiased in (True, False)]
            for row in pair:
                row.update(game=game, mse_ratio=pair[0]["rel_mse"] / pair[1]["rel_mse"])
                rows.append(row)
            print(f"{game} {score} budget {budget}: default rel MSE {pair[0]['rel_mse']:.4g} max z {pair[0]['max_z']:.1f}, "
                  f"earlier {pair[1]['rel_mse']:.4g} max z {pair[1]['max_z']:.1f} ({time.time() - t_start:.0f}s)",
                  flush=True)
            if args.json:
                with open(args.json, "w") as fh_:
                    json.dump(rows, fh_, indent=1)
    print("\n| game | score | budget | seeds | sampler | rel. MSE | bias / RMSE | max z | MSE default / earlier "
          "| 95 % coverage | stderr / RMSE |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = "default (unbiased)" if r["unbiased"] else "earlier (`unbiased=False`)"
        cov = "-" if r["coverage"] is None else f"{100 * r['coverage']:.1f} %"
        ser = "-" if r["stderr_over_rmse"] is None else f"{r['stderr_over_rmse']:.2f}"
        print(f"| {r['game']} | {r['score']} | {r['budget']} | {r['seeds']} | {name} | {r['rel_mse']:.4g} | "
              f"{r['bias_over_rmse']:.3f} | {r['max_z']:.1f} | {r['mse_ratio']:.2f} | {cov} | {ser} |")
    print(f"\nmachine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}; total {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
