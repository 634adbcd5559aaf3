"""Coverage of the nominal 95 % intervals (value ± t x stderr) on real EfficientNet-Lite0 games (issue 17).

Order 1 (this part): 12 SLIC regions per image, the packaged ``efficientnet-lite0``
weights, 4 photos from ``skimage.data``; each ordered pair (a, b) is one side
game (a's regions masked, b's whole embedding fixed, cosine): 12 games. The
2^12 = 4096 masks of every photo are encoded ONCE (:func:`build_tables`, cached in an ``.npz``); every seed's sampled
estimate then reads its coalitions' values from the table (no further encodes),
and its 95 % interval is checked against the exact Shapley value of the table.

A (value, seed) case is covered when |estimate - exact| <= t x stderr, t the
method's critical value (:func:`qdrant_explain.explainers.uncertainty.critical_value`
with the degrees of freedom the estimator reports). Coverage is counted per
(method, budget) over every game, player and seed.

The joint 8 + 8 part (engineer ``jointub``) plugs in beside :func:`order1_coverage`:
a ``joint_coverage(...)`` that counts with :func:`coverage_counts` (the one counting
rule: |estimate - exact| <= t x stderr) and reports with :func:`summarise`, its side
tables from :func:`masked_embeddings` (any player spec, e.g. a SLIC target that gives
8 regions) of the same photos (:func:`photo`), selected by ``--part joint``.

The tables are kept in ``benchmarks/coverage_tables.npz`` (367 kB: 12 games x 4096 values); delete it
(or pass ``--tables NEW.npz``) to encode them again (4 x 4096 EfficientNet passes, about 1 h on a
loaded 2-core VM).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/coverage.py --seeds 200 \\
        --budgets 128,256,512,1024,2048 --methods kernel-shap,permutation
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import time

import numpy as np

PHOTOS = {"chelsea": "slic:20", "coffee": "slic:14", "astronaut": "slic:26", "immunohistochemistry": "slic:22"}
"""Photos of ``skimage.data`` and the SLIC target that gives each exactly 12 regions (SLIC merges segments)."""


def photo(name: str) -> np.ndarray:
    """The RGB photo ``name`` of ``skimage.data``."""
    from skimage import data

    return np.asarray(getattr(data, name)())[..., :3]


def masked_embeddings(image: np.ndarray, encoder, *, players: str, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of all 2^n masks of ``image`` (bitmask order) and of the whole image.

    Returns:
        ``(table, whole)``: (2^n, d) float32 and (d,).
    """
    from qdrant_explain.sides import ImageSide

    kw = dict(order=1, seed=0, batch_size=batch_size, progress=False, metric="cosine", check_vector=False)
    side = ImageSide(image, encoder, players=players).prepare(maskable=True, **kw)
    return side.evaluator.table().astype(np.float32), side.fresh


def build_tables(path: pathlib.Path, *, encoder_spec: str = "efficientnet-lite0", photos=PHOTOS,
                 metric: str = "cosine") -> dict:
    """Encode every photo's 2^12 masks once; save every ordered pair's order-1 side game to ``path`` (.npz).

    Game "a|b" masks photo a over its 12 regions and holds photo b's whole embedding fixed.
    """
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.explainers.scores import score_matrix

    encoder = load_encoder(encoder_spec)
    emb, whole, t0 = {}, {}, time.perf_counter()
    for name, spec in photos.items():
        emb[name], whole[name] = masked_embeddings(photo(name), encoder, players=spec)
        if emb[name].shape[0] != 4096:
            raise RuntimeError(f"{name} with {spec} has {int(np.log2(emb[name].shape[0]))} players, not 12.")
        print(f"  {name}: {emb[name].shape[0]} masks encoded, {time.perf_counter() - t0:.0f} s", flush=True)
    tables, names = [], []
    for a in photos:
        for b in photos:
            if a != b:
                tables.append(score_matrix(emb[a].astype(np.float64), whole[b][None], metric)[:, 0])
                names.append(f"{a}|{b}")
    out = {"tables": np.stack(tables), "names": np.array(names), "players": json.dumps(photos),
           "encoder": encoder_spec, "metric": metric, "seconds": time.perf_counter() - t0}
    np.savez_compressed(path, **out)
    return out


def load_tables(path: pathlib.Path) -> dict:
    """What :func:`build_tables` saved."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# --------------------------------------------------------------------------- counting
def coverage_counts(estimates: np.ndarray, stderr: np.ndarray, truth: np.ndarray, dof: np.ndarray | float | None,
                    *, level: float = 0.95) -> tuple[int, int]:
    """(covered, total) cases: |estimate - truth| <= t(level, dof) x stderr, elementwise.

    Args:
        estimates, stderr: (..., k) arrays of the same shape, one row per seed.
        truth: exact values, broadcast against ``estimates``.
        dof: degrees of freedom per row (broadcast; None or inf: normal quantile).
        level: nominal coverage.
    """
    from qdrant_explain.explainers.uncertainty import critical_value

    est, se = np.asarray(estimates, dtype=np.float64), np.asarray(stderr, dtype=np.float64)
    t = critical_value(level, dof)
    t = np.asarray(t, dtype=np.float64).reshape(np.shape(t) + (1,) * (est.ndim - np.ndim(t)))
    covered = np.abs(est - truth) <= t * se
    return int(covered.sum()), int(covered.size)


def summarise(covered: int, total: int) -> dict:
    """Coverage rate with its binomial standard error."""
    rate = covered / total
    return {"covered": covered, "cases": total, "coverage": rate, "binomial_se": float(np.sqrt(rate * (1 - rate) / total))}


def order1_coverage(tables: np.ndarray, *, methods, budgets, seeds: int, level: float = 0.95) -> list[dict]:
    """Coverage per (method, budget) of the order-1 intervals on exact tables (no encodes)."""
    from qdrant_explain.explainers import plan_game, solve_game
    from qdrant_explain.explainers.coalitions import coalition_index
    from qdrant_explain.explainers.exact import shapley_values

    rows = []
    n = int(np.log2(tables.shape[1]))
    truths = [shapley_values(t) for t in tables]
    for method in methods:
        for budget in budgets:
            covered = total = 0
            t0, widths, errors = time.perf_counter(), [], []
            for seed in range(seeds):
                est, plan = plan_game(n, method=method, budget=budget, seed=seed)
                idx = coalition_index(plan.coalitions)
                results = solve_game(est, plan, tables[:, idx].T, seed=seed)  # every game on this seed's plan
                for e, truth in zip(results, truths):
                    c, k = coverage_counts(e.values, e.stderr, truth, e.meta.get("stderr_dof"), level=level)
                    covered, total = covered + c, total + k
                    widths.append(float(np.mean(e.stderr)))
                    errors.append(float(np.sqrt(np.mean((e.values - truth) ** 2))))
            row = {"method": method, "budget": budget, "passes": int(plan.n_evaluations), "seeds": seeds,
                   **summarise(covered, total), "mean_stderr": float(np.mean(widths)),
                   "rmse": float(np.sqrt(np.mean(np.square(errors)))), "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(f"  {method:>12} budget {budget:>5} ({row['passes']:>4} passes): coverage {100 * row['coverage']:.2f} % "
                  f"± {100 * row['binomial_se']:.2f}  (mean stderr {row['mean_stderr']:.2e}, RMSE {row['rmse']:.2e}, "
                  f"{row['seconds']:.0f} s)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=pathlib.Path, default=pathlib.Path(__file__).with_name("coverage_tables.npz"),
                    help="cache of the exact tables (built when missing)")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--budgets", default="128,256,512,1024,2048")
    ap.add_argument("--methods", default="kernel-shap,permutation")
    ap.add_argument("--level", type=float, default=0.95)
    ap.add_argument("--part", choices=("order1",), default="order1", help="which coverage study to run")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--json", type=pathlib.Path, default=None, help="write the rows here")
    args = ap.parse_args()
    if not args.tables.exists():
        print(f"building exact tables -> {args.tables}", flush=True)
        build_tables(args.tables)
    data = load_tables(args.tables)
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(data['tables'])} games "
          f"({', '.join(map(str, data['names']))}) · {data['encoder']} · {data['players']}", flush=True)
    if args.build_only:
        return
    rows = order1_coverage(data["tables"], methods=args.methods.split(","),
                           budgets=[int(b) for b in args.budgets.split(",")], seeds=args.seeds, level=args.level)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
