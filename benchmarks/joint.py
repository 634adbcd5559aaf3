"""MSE of the query x hit cross block vs encoder passes: factorised sampler vs i.i.d. joint peers.

Games: random "encoders" of the masks, ``e_side(S) = tanh(A tanh(W_side z_S + 0.2))``
with a shared last layer A (the same network on both sides, different region
projections), d = 32, cosine score. Truth: factorised exact Shapley-Taylor
(2^nq + 2^nh encodes) at nq = nh = 8 and 16.

Methods, all charged in **encoder passes** = distinct query masks + distinct
hit masks encoded (peers run on :class:`JointGame`, which caches each side, so
they also profit from deduplication; their joint evaluations are reported too):

- ``stratified`` (ours): product design, every query mask x every hit mask.
- ``kernel-shapley-taylor``: the core's Kernel Shapley-Taylor on i.i.d. joint coalitions.
- shapiq 1.4 ``SHAPIQ``, ``SVARMIQ``, ``PermutationSamplingSTII`` (index STII, order 2).
- ``product-kst`` (with ``--product-kst``): the stratified masks solved by constrained Kernel
  Shapley-Taylor regression, a benchmark-only joint estimator (``benchmarks/_product_kst.py``, which
  registers it by subclassing; the package does not know it).

Run:  nice -n 10 python benchmarks/joint.py [--quick] [--sizes 8] [--product-kst] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np

import _product_kst  # noqa: F401  (registers the joint estimator "product-kst"; benchmarks/ is on sys.path)
from qdrant_explain.explainers import JointGame, SideEvaluator, explain_game, explain_joint

warnings.filterwarnings("ignore")


def make_game(nq: int, nh: int, seed: int, d: int = 32):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) * 0.5
    wq, wh = rng.normal(size=(nq, d)) * 0.6, rng.normal(size=(nh, d)) * 0.6

    def fq(m):
        return np.tanh(np.tanh(np.asarray(m, float) @ wq + 0.2) @ a)

    def fh(m):
        return np.tanh(np.tanh(np.asarray(m, float) @ wh + 0.2) @ a)

    return fq, fh


def cross_from_shapiq(iv, nq: int, nh: int) -> np.ndarray:
    out = np.zeros((nq, nh))
    for i in range(nq):
        for j in range(nh):
            out[i, j] = iv[(i, nq + j)]
    return out


def run_peer(name: str, fq, fh, nq: int, nh: int, budget: int, seed: int):
    qs, hs = SideEvaluator(fq, nq, batch_size=4096, progress=False), SideEvaluator(fh, nh, batch_size=4096, progress=False)
    game = JointGame(qs, hs, "cosine")
    calls = {"rows": 0}

    def value(z):
        z = np.atleast_2d(np.asarray(z, dtype=bool))
        calls["rows"] += z.shape[0]
        return game(z)

    if name == "kernel-shapley-taylor":
        res = explain_game(value, nq + nh, method="kernel-shapley-taylor", order=2, budget=budget, seed=seed)
        cross = res.interactions[:nq, nq:]
    else:
        import shapiq

        cls = getattr(shapiq, name)
        approx = cls(n=nq + nh, max_order=2, index="STII", random_state=seed)
        cross = cross_from_shapiq(approx.approximate(budget, value), nq, nh)
    return cross, game.encoder_passes, calls["rows"]


def log_interp(x_target: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """y at x_target on a log-log piecewise-linear curve (xs decreasing MSE allowed); NaN outside."""
    order = np.argsort(xs)
    xs, ys = np.log(np.asarray(xs)[order]), np.log(np.asarray(ys)[order])
    t = np.log(x_target)
    if t < xs[0] or t > xs[-1]:
        return float("nan")
    return float(np.exp(np.interp(t, xs, ys)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer games/seeds/budgets (smoke run)")
    ap.add_argument("--json", default=None, help="write all rows to this JSON file")
    ap.add_argument("--report", default=None, help="only print the tables of a JSON file written before")
    ap.add_argument("--sizes", default="8,16", help="comma-separated nq = nh values to run (8 and/or 16)")
    ap.add_argument("--product-kst", action="store_true",
                    help="also run the benchmark-only joint estimator product-kst at our budgets")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as fh_:
            report(json.load(fh_))
        return
    configs = {
        8: dict(
            games=2 if args.quick else 3,
            seeds=2,
            ours=[68, 100, 150, 200, 300, 400],
            peers={
                "kernel-shapley-taylor": [200, 500, 1000, 2000, 5000, 10000, 30000],
                "SHAPIQ": [200, 500, 1000, 2000, 5000, 10000, 30000],
                "PermutationSamplingSTII": [500, 1000, 2000, 5000, 10000, 30000],
                "SVARMIQ": [200, 500, 1000, 2000, 5000],
            },
        ),
        16: dict(
            games=1 if args.quick else 2,
            seeds=1 if args.quick else 2,
            ours=[184, 300, 500, 1000, 2000, 4000],
            peers={
                "kernel-shapley-taylor": [1000, 2000, 5000, 10000, 20000, 40000],
                "SHAPIQ": [1000, 2000, 5000, 10000, 20000, 50000, 100000],
                "PermutationSamplingSTII": [2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000],
                "SVARMIQ": [500, 1000, 2000],
            },
        ),
    }
    configs = {n: cfg for n, cfg in configs.items() if str(n) in args.sizes.split(",")}
    if args.quick:
        for cfg in configs.values():
            cfg["peers"] = {k: v[:3] for k, v in cfg["peers"].items()}
    rows = []
    t_start = time.time()
    for n, cfg in configs.items():
        for g in range(cfg["games"]):
            fq, fh = make_game(n, n, seed=1000 * n + g)
            t0 = time.time()
            truth = explain_joint(fq, fh, n, n, method="exact")
            scale = float((truth.cross**2).mean())
            print(f"n={n}+{n} game {g}: exact {truth.encoder_passes} passes, {time.time() - t0:.1f}s, "
                  f"mean cross^2 {scale:.3g}", flush=True)
            rows.append(dict(n=n, game=g, method="exact (factorised)", budget=None, seed=0,
                             passes=truth.encoder_passes, evaluations=2 ** (2 * n), mse=0.0, rel_mse=0.0, seconds=time.time() - t0))
            for seed in range(cfg["seeds"]):
                for b in cfg["ours"]:
                    t0 = time.time()
                    res = explain_joint(fq, fh, n, n, method="stratified", budget=b, seed=seed)
                    mse = float(((res.cross - truth.cross) ** 2).mean())
                    rows.append(dict(n=n, game=g, method="stratified (ours)", budget=b, seed=seed,
                                     passes=res.encoder_passes, evaluations=res.n_evaluations, mse=mse,
                                     rel_mse=mse / scale, seconds=time.time() - t0))
                    if args.product_kst:
                        t0 = time.time()
                        res = explain_joint(fq, fh, n, n, method="product-kst", budget=b, seed=seed)
                        mse = float(((res.cross - truth.cross) ** 2).mean())
                        rows.append(dict(n=n, game=g, method="product-kst", budget=b, seed=seed,
                                         passes=res.encoder_passes, evaluations=res.n_evaluations, mse=mse,
                                         rel_mse=mse / scale, seconds=time.time() - t0))
                for peer, budgets in cfg["peers"].items():
                    for b in budgets:
                        t0 = time.time()
                        cross, passes, evals = run_peer(peer, fq, fh, n, n, b, seed)
                        mse = float(((cross - truth.cross) ** 2).mean())
                        rows.append(dict(n=n, game=g, method=peer, budget=b, seed=seed, passes=passes,
                                         evaluations=evals, mse=mse, rel_mse=mse / scale, seconds=time.time() - t0))
                print(f"  seed {seed} done ({time.time() - t_start:.0f}s total)", flush=True)
                if args.json:  # incremental, so a long run can be reported before it ends
                    with open(args.json, "w") as fh_:
                        json.dump(rows, fh_, indent=1)
    if args.json:
        with open(args.json, "w") as fh_:
            json.dump(rows, fh_, indent=1)
    report(rows)
    print(f"\nmachine: {platform.processor() or platform.machine()}, python {platform.python_version()}; "
          f"total {time.time() - t_start:.0f}s")


def report(rows: list[dict]) -> None:
    import collections

    for n in sorted({r["n"] for r in rows}):
        print(f"\n### nq = nh = {n}: relative MSE of the cross block (mean over games and seeds)\n")
        print("| method | budget | encoder passes | joint evaluations | rel. MSE | s/run |")
        print("|---|---:|---:|---:|---:|---:|")
        agg = collections.defaultdict(list)
        for r in rows:
            if r["n"] == n:
                agg[(r["method"], r["budget"])].append(r)
        curves: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        for (method, budget), rs in agg.items():
            p = float(np.mean([r["passes"] for r in rs]))
            e = float(np.mean([r["evaluations"] for r in rs]))
            m = float(np.mean([r["rel_mse"] for r in rs]))
            se = float(np.std([r["rel_mse"] for r in rs], ddof=1) / np.sqrt(len(rs))) if len(rs) > 1 else 0.0
            s = float(np.mean([r["seconds"] for r in rs]))
            print(f"| {method} | {budget} | {p:.0f} | {e:.0f} | {m:.3g} ± {se:.2g} | {s:.2f} |")
            if budget is not None:
                curves[method].append((p, m))
        ours = sorted(curves.pop("stratified (ours)"))
        cap = 2 * 2**n  # exact factorised cost: no design can need more passes than every mask of both sides
        evals = collections.defaultdict(list)
        for (method, budget), rs in agg.items():
            if budget is not None and method in curves:
                evals[method].append((float(np.mean([r["evaluations"] for r in rs])), float(np.mean([r["rel_mse"] for r in rs]))))
        print(f"\nEncoder passes each peer needs for our relative MSE, nq = nh = {n}: log-log interpolation of its "
              f"curve; '~' = power-law extrapolation of its last three points, capped at the exact cost {cap} "
              f"('>=cap'). 'naive' charges 2 passes per joint evaluation (no factorised cache).\n")
        print("| rel. MSE | ours | " + " | ".join(curves) + " | best peer / ours | naive best / ours |")
        print("|---:|---:|" + "---:|" * len(curves) + "---:|---:|")

        def need(points, target):
            pts = sorted(points)
            xs, ms = np.array([p for p, _ in pts]), np.array([m for _, m in pts])
            if ms.min() <= target:
                i = int(np.flatnonzero(ms <= target)[0])  # first budget that reaches the target
                if i == 0:
                    return xs[0], ""
                t = (np.log(target) - np.log(ms[i - 1])) / (np.log(ms[i]) - np.log(ms[i - 1]))
                return float(np.exp(np.log(xs[i - 1]) + t * (np.log(xs[i]) - np.log(xs[i - 1])))), ""
            slope, icpt = np.polyfit(np.log(xs[-3:]), np.log(np.maximum(ms[-3:], 1e-300)), 1)
            return (float(np.exp((np.log(target) - icpt) / slope)) if slope < 0 else float("inf")), "~"

        for p_ours, m_ours in ours:
            cells, best, best_naive = [], float("inf"), float("inf")
            for method, pts in curves.items():
                value, mark = need(pts, m_ours)
                capped = min(value, cap)
                cells.append(">=cap" if value > cap else f"{mark}{value:.0f}")
                best = min(best, capped)
                ev, _ = need(evals[method], m_ours)
                best_naive = min(best_naive, 2 * ev)
            print(f"| {m_ours:.3g} | {p_ours:.0f} | " + " | ".join(cells) + f" | {best / p_ours:.1f}x | {best_naive / p_ours:.3g}x |")


if __name__ == "__main__":
    main()
