"""Coverage of the joint sampler's 95 % intervals on real EfficientNet-Lite0 joint games (8 + 8 regions).

Pairs of sample photos (scikit-image), each image in model space split into a
2 x 4 grid (8 players per side), mean-colour baseline, the packaged
EfficientNet-Lite0 weights, cosine score (as the collections store them) and
dot. Each side's 2^8 masked images are encoded once (512 passes per pair) and
cached; the exact joint Shapley-Taylor comes from those tables, and every seed
of ``method="stratified"`` (the unbiased default) samples from the cache, so
the seeds cost only the solve.

Reported per budget (encoder passes): the share of (cross index, seed) cases
whose nominal 95 % interval ``cross +- 1.96 cross_stderr`` covers the exact
value, the same for the side Shapley values, and stderr / RMSE.

Run:  OMP_NUM_THREADS=2 python benchmarks/coverage_joint.py [--seeds 200] [--budgets 68,100,179,290] [--json out.json]
      [--no-neighbours]  (sides without their regions' neighbours, as before the neighbour pair terms)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from qdrant_explain.connectors import load_encoder
from qdrant_explain.explainers import ImageSide, SideEvaluator, explain_joint, make_baseline
from qdrant_explain.explainers.coalitions import coalition_index
from qdrant_explain.explainers.masking import region_adjacency
from qdrant_explain.explainers.players import make_players

PAIRS = (("astronaut", "coffee"), ("chelsea", "rocket"), ("coffee", "chelsea"))


def photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    return img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)


def side_table(enc, prepared, labels: np.ndarray, name: str) -> np.ndarray:
    """(256, d) embeddings of every mask of one prepared photo's 8 grid regions."""
    side = ImageSide(prepared.pixels, make_baseline("mean", prepared.pixels), labels, enc.encode, batch_size=64,
                     progress=False, name=name)
    return side.table()


def cached_side(table: np.ndarray, n: int, neighbours: np.ndarray | None) -> SideEvaluator:
    """The cached table as a side; ``neighbours`` as the pipeline's image evaluator has them (touching regions)."""
    return SideEvaluator(lambda m: table[coalition_index(m)], n, batch_size=1 << 20, progress=False,
                         neighbours=neighbours)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--budgets", default="68,100,179,290")
    ap.add_argument("--scores", default="cosine,dot")
    ap.add_argument("--players", default="grid:2x4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--cache", default=None, help="folder for the encoded mask tables (reused when present)")
    ap.add_argument("--no-neighbours", action="store_true",
                    help="sides without their regions' neighbours (the pipeline's image sides have them)")
    args = ap.parse_args()
    n = 8
    t_start = time.time()
    enc = load_encoder("efficientnet-lite0", threads=args.threads)
    tables, near = {}, {}
    for name in sorted({p for pair in PAIRS for p in pair}):
        prepared = enc.prepare(photo(name))
        labels = make_players(args.players, prepared, name=name).labels
        near[name] = None if args.no_neighbours else region_adjacency(labels, n)
        path = None if args.cache is None else Path(args.cache) / f"{name}-{args.players.replace(':', '_')}.npy"
        if path is not None and path.exists():
            tables[name] = np.load(path)
        else:
            tables[name] = side_table(enc, prepared, labels, name)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, tables[name])
        print(f"encoded {name}: {tables[name].shape} ({time.time() - t_start:.0f}s)", flush=True)
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    for score in args.scores.split(","):
        for qn, hn in PAIRS:
            tq, th = tables[qn], tables[hn]
            exact = explain_joint(cached_side(tq, n, None), cached_side(th, n, None), n, n, score=score, method="exact")
            for budget in budgets:
                err, se, side_err, side_se = [], [], [], []
                for seed in range(args.seeds):
                    res = explain_joint(cached_side(tq, n, near[qn]), cached_side(th, n, near[hn]), n, n, score=score,
                                        method="stratified", budget=budget, seed=seed)
                    err.append(res.cross - exact.cross)
                    se.append(res.cross_stderr)
                    side_err.append(np.concatenate([res.query_side_values - exact.query_side_values,
                                                    res.hit_side_values - exact.hit_side_values]))
                    side_se.append(np.concatenate([res.query_side_values_stderr, res.hit_side_values_stderr]))
                err, se, side_err, side_se = map(np.array, (err, se, side_err, side_se))
                row = dict(score=score, pair=f"{qn} x {hn}", budget=budget, seeds=args.seeds,
                           covered=int((np.abs(err) <= 1.96 * se).sum()), cases=int(err.size),
                           side_covered=int((np.abs(side_err) <= 1.96 * side_se).sum()), side_cases=int(side_err.size),
                           stderr_over_rmse=float(np.sqrt((se**2).mean() / (err**2).mean())),
                           rel_mse=float((err**2).mean() / (exact.cross**2).mean()))
                rows.append(row)
                print(f"{score} {row['pair']} budget {budget}: cross coverage {row['covered'] / row['cases']:.3f}, "
                      f"side {row['side_covered'] / row['side_cases']:.3f}, stderr/RMSE {row['stderr_over_rmse']:.2f} "
                      f"({time.time() - t_start:.0f}s)", flush=True)
                if args.json:
                    with open(args.json, "w") as fh:
                        json.dump(rows, fh, indent=1)
    print("\n| score | budget | seeds | pairs | cross cases | cross coverage (range over pairs) | side coverage | "
          "stderr / RMSE (range) | rel. MSE (mean over pairs) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for score in args.scores.split(","):
        for budget in budgets:
            rs = [r for r in rows if r["score"] == score and r["budget"] == budget]
            cov = [r["covered"] / r["cases"] for r in rs]
            pooled = sum(r["covered"] for r in rs) / sum(r["cases"] for r in rs)
            side = sum(r["side_covered"] for r in rs) / sum(r["side_cases"] for r in rs)
            ratio = [r["stderr_over_rmse"] for r in rs]
            print(f"| {score} | {budget} | {args.seeds} | {len(rs)} | {sum(r['cases'] for r in rs)} | "
                  f"{100 * pooled:.1f} % ({100 * min(cov):.1f}-{100 * max(cov):.1f}) | {100 * side:.1f} % | "
                  f"{np.mean(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f}) | {np.mean([r['rel_mse'] for r in rs]):.4g} |")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {args.threads} threads, python "
          f"{platform.python_version()}, numpy {np.__version__}; total {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
