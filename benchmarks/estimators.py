"""MSE vs budget of the game estimators against shap and shapiq (issue 2).

Games (n = 15 players by default): random deep tanh networks evaluated on
masked inputs (absent players set to the baseline 0), as in the convergence
figure of Hamilton et al. (2021), and sparse random interaction games (a few
dozen Moebius terms of order 1-4). Ground truth comes from the full 2^n table
(``method="exact"``). Budgets are fractions of 2^n, counted as distinct game
evaluations, the empty and full coalitions included for every method.

Order 1: our Kernel SHAP and permutation sampling vs ``shap.KernelExplainer``
(``nsamples = budget - 2``, since shap evaluates the background and the
instance separately; ``l1_reg=False`` i.e. plain Kernel SHAP, and its default
``num_features(10)`` with ``--shap-default``).
Order 2 (pairs of the Shapley-Taylor index): our Kernel Shapley-Taylor and
permutation baseline vs shapiq's PermutationSamplingSTII, SHAPIQ and SVARMIQ
(index "STII").

Usage:
    python benchmarks/estimators.py --quick
    nice -n 10 python benchmarks/estimators.py --games 30 --budgets 0.01,0.02,0.05,0.1,0.2,0.5
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from typing import Callable

import numpy as np

from qdrant_explain.explainers import explain_game
from qdrant_explain.explainers.coalitions import all_coalitions, coalition_index
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values

Game = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------- games
def deep_tanh_game(n: int, seed: int, *, depth: int = 4, width: int = 32, gain: float = 2.0) -> Game:
    """v(S) = f(x * 1_S) for a random tanh MLP f and a random input x (baseline 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    dims = [n] + [width] * depth + [1]
    layers = [
        (rng.normal(scale=gain / np.sqrt(a), size=(a, b)), rng.normal(scale=0.5, size=b))
        for a, b in zip(dims[:-1], dims[1:])
    ]

    def game(z: np.ndarray) -> np.ndarray:
        h = np.asarray(z, dtype=np.float64) * x
        for k, (w, b) in enumerate(layers):
            h = h @ w + b
            if k < len(layers) - 1:
                h = np.tanh(h)
        return h[:, 0]

    return game


def sparse_interaction_game(n: int, seed: int, *, n_terms: int | None = None) -> Game:
    """v(S) = sum_T a_T [T subset S] over random T of size 1-4 (sizes 1:2:3:4 w.p. .3/.35/.2/.15)."""
    rng = np.random.default_rng(seed)
    k = n_terms or 3 * n
    sizes = rng.choice([1, 2, 3, 4], size=k, p=[0.3, 0.35, 0.2, 0.15])
    terms = np.zeros((k, n), dtype=bool)
    for r, s in enumerate(sizes):
        terms[r, rng.choice(n, size=s, replace=False)] = True
    coef = rng.normal(size=k)
    tsize = terms.sum(axis=1)

    def game(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        return ((z @ terms.T.astype(np.float64)) == tsize).astype(np.float64) @ coef

    return game


def tabulate(game: Game, n: int) -> tuple[Game, np.ndarray]:
    """Evaluate the game once on all 2^n coalitions; return a fast lookup game and the table."""
    table = np.asarray(game(all_coalitions(n)), dtype=np.float64)
    return (lambda z: table[coalition_index(np.asarray(z, dtype=bool))]), table


# --------------------------------------------------------------- estimators
def ours(method: str, order: int, **options) -> Callable:
    def run(game: Game, n: int, budget: int, seed: int):
        res = explain_game(game, n, method=method, order=order, budget=budget, seed=seed, **options)
        return res.values, res.interactions, res.n_evaluations

    return run


def shap_kernel(l1_reg) -> Callable:
    def run(game: Game, n: int, budget: int, seed: int):
        import shap

        calls = []

        def model(x):
            calls.append(x.shape[0])
            return game(np.asarray(x) > 0.5)

        np.random.seed(seed)  # shap samples with the global numpy generator
        explainer = shap.KernelExplainer(model, np.zeros((1, n)), silent=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = explainer.shap_values(np.ones((1, n)), nsamples=budget - 2, l1_reg=l1_reg, silent=True)
        return np.asarray(phi).reshape(-1)[:n], None, int(sum(calls))

    return run


def shapiq_approximator(name: str, **options) -> Callable:
    def run(game: Game, n: int, budget: int, seed: int):
        import shapiq

        cls = getattr(shapiq, name)
        kwargs = dict(n=n, max_order=2, random_state=seed, **options)
        if name != "PermutationSamplingSTII":
            kwargs["index"] = "STII"
        seen: set[int] = set()

        def counted(z):
            z = np.atleast_2d(np.asarray(z, dtype=bool))
            seen.update(coalition_index(z).tolist())
            return game(z)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iv = cls(**kwargs).approximate(budget=budget, game=counted)
        single = np.array([iv[(i,)] for i in range(n)])
        inter = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                inter[i, j] = inter[j, i] = iv[(i, j)]
        return single, inter, len(seen)

    return run


ORDER1 = {
    "kernel-shap (ours)": ours("kernel-shap", 1),
    "permutation (ours)": ours("permutation", 1),
    "shap KernelExplainer": shap_kernel(False),
}
ORDER1_VARIANTS = {
    "kernel-shap wls solver": ours("kernel-shap", 1, solver="wls"),
    "kernel-shap size_degree=0": ours("kernel-shap", 1, size_degree=0),
    "kernel-shap uniform alloc": ours("kernel-shap", 1, allocation="uniform"),
    "kernel-shap kernel alloc": ours("kernel-shap", 1, allocation="kernel"),
    "kernel-shap unpaired": ours("kernel-shap", 1, paired=False),
}
ORDER2 = {
    "kernel-shapley-taylor (ours)": ours("kernel-shapley-taylor", 2),
    "permutation ST (ours)": ours("permutation", 2),
    "shapiq PermutationSamplingSTII": shapiq_approximator("PermutationSamplingSTII"),
    "shapiq SHAPIQ": shapiq_approximator("SHAPIQ"),
    "shapiq SVARMIQ": shapiq_approximator("SVARMIQ"),
}
ORDER2_VARIANTS = {
    "kernel-ST paired": ours("kernel-shapley-taylor", 2, paired=True),
    "kernel-ST uniform alloc": ours("kernel-shapley-taylor", 2, allocation="uniform"),
    "kernel-ST sqrt alloc": ours("kernel-shapley-taylor", 2, allocation="sqrt"),
    "shapiq SHAPIQ paired": shapiq_approximator("SHAPIQ", pairing_trick=True),
    "shapiq SVARMIQ paired": shapiq_approximator("SVARMIQ", pairing_trick=True),
}


# ---------------------------------------------------------------- benchmark
def run_benchmark(
    n: int, n_games: int, fractions: list[float], order: int, methods: dict, seed: int = 0, dump: str | None = None
) -> dict:
    """errors[method][budget] = list of per-game MSEs (NaN where the budget is below the method's minimum).

    With ``dump``, the raw per-game errors are rewritten to that JSON file after every game.
    """
    budgets = [max(int(round(f * 2**n)), 1) for f in fractions]
    errors = {m: {b: [] for b in budgets} for m in methods}
    seconds = {m: 0.0 for m in methods}
    for g in range(n_games):
        kind = deep_tanh_game if g % 2 == 0 else sparse_interaction_game
        game, table = tabulate(kind(n, seed + g), n)
        truth = shapley_values(table) if order == 1 else shapley_taylor_order2(table)[1]
        for m, fn in methods.items():
            for b in budgets:
                t0 = time.perf_counter()
                try:
                    phi, inter, used = fn(game, n, b, seed + 1000 * g + b)
                except ValueError:
                    errors[m][b].append(np.nan)
                    continue
                seconds[m] += time.perf_counter() - t0
                if used > b:
                    raise RuntimeError(f"{m} used {used} evaluations at budget {b}")
                est = phi if order == 1 else inter[np.triu_indices(n, 1)]
                ref = truth if order == 1 else truth[np.triu_indices(n, 1)]
                errors[m][b].append(float(np.mean((est - ref) ** 2)))
        print(f"  game {g + 1}/{n_games} done", file=sys.stderr, flush=True)
        if dump:
            with open(dump, "w") as fh:
                json.dump({"order": order, "n": n, "games_done": g + 1, "budgets": budgets, "errors": errors,
                           "seconds": seconds}, fh)
    return {"budgets": budgets, "errors": errors, "seconds": seconds}


def _cell(x: list[float]) -> str:
    a = np.asarray(x, dtype=float)
    if np.isnan(a).any():
        return "—"
    se = a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else 0.0
    return f"{a.mean():.2e} ± {se:.1e}"


def markdown_table(result: dict, fractions: list[float], reference: str | None = None) -> str:
    """Methods x budgets table of mean MSE ± standard error (and the ratio to ``reference``)."""
    budgets = result["budgets"]
    head = "| method | " + " | ".join(f"{f:g}·2^n ({b})" for f, b in zip(fractions, budgets)) + " |"
    lines = [head, "|" + "---|" * (len(budgets) + 1)]
    for m, per in result["errors"].items():
        lines.append(f"| {m} | " + " | ".join(_cell(per[b]) for b in budgets) + " |")
    if reference:
        for m, per in result["errors"].items():
            if m == reference:
                continue
            ratios = []
            for b in budgets:
                a, r = np.asarray(per[b]), np.asarray(result["errors"][reference][b])
                ratios.append("—" if np.isnan(a).any() or np.isnan(r).any() else f"{a.mean() / r.mean():.2f}")
            lines.append(f"| ratio {m} / {reference} | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def _select(methods: dict, only: str | None) -> dict:
    if not only:
        return methods
    names = [m.strip() for m in only.split(",")]
    unknown = [m for m in names if m not in methods]
    if unknown:
        raise SystemExit(f"--only: unknown method(s) {unknown}; available: {list(methods)}")
    return {m: methods[m] for m in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", type=int, default=30, help="games per order (half deep tanh, half sparse)")
    parser.add_argument("--players", type=int, default=15)
    parser.add_argument("--budgets", default="0.01,0.02,0.05,0.1,0.2,0.5", help="fractions of 2^n")
    parser.add_argument("--order", choices=["1", "2", "both"], default="both")
    parser.add_argument("--variants", action="store_true", help="also run design variants (allocation, pairing)")
    parser.add_argument("--shap-default", action="store_true", help="also run shap with its default l1_reg")
    parser.add_argument("--quick", action="store_true", help="4 games, n=10, three budgets")
    parser.add_argument("--only", default=None, help="comma-separated method names to run (after --variants)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write raw per-game errors to PREFIX-order{1,2}.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.games, args.players, args.budgets = 4, 10, "0.05,0.2,0.5"
    fractions = [float(f) for f in args.budgets.split(",")]
    print(f"# estimators benchmark, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"# command: {' '.join(sys.argv)}")
    print(f"# n = {args.players}, {args.games} games, MSE mean ± standard error over games\n")
    if args.order in ("1", "both"):
        methods = dict(ORDER1)
        if args.shap_default:
            methods["shap KernelExplainer (default l1_reg)"] = shap_kernel("num_features(10)")
        if args.variants:
            methods.update(ORDER1_VARIANTS)
        methods = _select(methods, args.only)
        dump = f"{args.json}-order1.json" if args.json else None
        res = run_benchmark(args.players, args.games, fractions, 1, methods, args.seed, dump)
        print("## Order 1: Shapley values\n")
        print(markdown_table(res, fractions, reference="shap KernelExplainer" if "shap KernelExplainer" in methods else None))
        print("\nseconds per method (all games, all budgets):", {k: round(v, 1) for k, v in res["seconds"].items()})
    if args.order in ("2", "both"):
        methods = dict(ORDER2)
        if args.variants:
            methods.update(ORDER2_VARIANTS)
        methods = _select(methods, args.only)
        dump = f"{args.json}-order2.json" if args.json else None
        res = run_benchmark(args.players, args.games, fractions, 2, methods, args.seed, dump)
        print("\n## Order 2: Shapley-Taylor pair indices\n")
        ref = "kernel-shapley-taylor (ours)"
        print(markdown_table(res, fractions, reference=ref if ref in methods else None))
        print("\nseconds per method (all games, all budgets):", {k: round(v, 1) for k, v in res["seconds"].items()})


if __name__ == "__main__":
    main()
