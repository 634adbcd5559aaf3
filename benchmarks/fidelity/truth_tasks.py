"""Fidelity against a truth known by construction: co-occurrence, redundancy, and their joint forms.

The digit tasks (``run.py``) cannot separate methods: on their pairs the trivial singleton and
leave-one-out baselines rank shared digits first as often as exact Shapley does. Here every
task's true attribution is known in closed form (``qdrant_explain.datasets.digits.constructed``:
a :class:`CellLogicEncoder` whose unit-norm embedding is a known boolean function of which
cells hold a digit; its Möbius coefficients, and from them the Shapley and Shapley-Taylor
values, follow by hand), and each method's *error against that truth* is measured:

* **A. order 1, digit scenes through the pipeline of sides** (``qdrant_explain.sides``:
  ``ImageSide`` with the constructed encoder, black baseline, 3 x 3 cell players, against a
  ``VectorSide``, the stored vector of the scene's ideal), cosine; tasks ``additive``
  (control), ``co-occurrence`` (a feature that needs two digits together), ``redundancy``
  (a feature that either of two digits fires), ``mixed``; methods exact, kernel-shap,
  permutation, lime, occlusion (= leave-one-out), at B passes per side, and the trivial
  baselines singleton v({i}) - v(empty) and random (``baselines.py``).
* **B. order 2, joint query x hit, the pipeline of sides** (both ends ``ImageSide``): the
  same kinds as paired features (a hit digit that matches two query digits together;
  redundant partners in the hit); methods exact (factorised), stratified, kernel-shapley-taylor
  on i.i.d. joint coalitions (``run.joint_cross``), and the trivial pair singleton, pair
  leave-one-out (sbsm) and random; error on the cross matrix.
* **C. order 1, pure games** (``make_logic_game``: 12 players, 3 and / or features over random
  groups of 2-3 players): the same methods at several budgets.

Error = ||estimate - truth||_2 / ||truth||_2 over all players (cross pairs at order 2).
**A method passes a task when its error is <= 0.1 in at least 95 % of the (instance, seed)
cases.** Also reported: the median error and the top-k agreement (the k players, or pairs,
with non-zero truth are the k largest |estimates|; ties at the cut count as a miss).

    nice -n 5 python benchmarks/fidelity/truth_tasks.py            # full (~3 min on 2 shared cores)
    nice -n 5 python benchmarks/fidelity/truth_tasks.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from baselines import pair_singleton_cross, random_cross, random_values, singleton_values  # noqa: E402

from qdrant_explain.datasets import digits  # noqa: E402
from qdrant_explain.explainers import ImageSide as GameSide  # noqa: E402
from qdrant_explain.explainers import JointGame, QueryGame, explain_game, get_estimator, make_baseline  # noqa: E402
from qdrant_explain.sides import ImageSide, VectorSide, explain_sides  # noqa: E402

BASELINE = "constant:0,0,0"
PASS_ERROR = 0.1
"""A case passes when its relative L2 error is at most this."""
PASS_SHARE = 0.95
"""A method passes a task when at least this share of its cases pass."""

ORDER1 = ["exact", "kernel-shap", "permutation", "lime", "singleton", "occlusion", "random"]
JOINT = ["exact", "stratified", "kernel-shapley-taylor", "pair-singleton", "sbsm", "random"]
PURE = ["exact", "kernel-shap", "permutation", "lime", "singleton", "occlusion", "random"]
DETERMINISTIC = ("exact", "singleton", "occlusion", "pair-singleton", "sbsm")
LABELS = {"singleton": "singleton v({i}) - v(∅) *", "occlusion": "leave-one-out v(N) - v(N∖i) (occlusion) *",
          "random": "random *", "pair-singleton": "pair singleton *", "sbsm": "pair leave-one-out (sbsm) *"}
"""Display names; * marks a trivial baseline."""


# ----------------------------------------------------------------------------- metrics


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """||estimate - truth||_2 / ||truth||_2."""
    return float(np.linalg.norm(np.ravel(estimate) - np.ravel(truth)) / np.linalg.norm(np.ravel(truth)))


def top_k_agrees(estimate: np.ndarray, truth: np.ndarray, tol: float = 1e-12) -> bool:
    """The k entries with non-zero truth are exactly the k largest |estimate| (a tie at the cut is a miss)."""
    t, e = np.abs(np.ravel(truth)), np.abs(np.ravel(estimate))
    support = t > tol
    k = int(support.sum())
    if k == 0 or k == t.size:
        return True
    inside, outside = e[support].min(), e[~support].max()
    return bool(inside > outside + 1e-12)


def _record(store: dict, key: tuple, estimate: np.ndarray, truth: np.ndarray, passes: int) -> None:
    err = relative_error(estimate, truth)
    r = store[key]
    r["error"].append(err)
    r["topk"].append(top_k_agrees(estimate, truth))
    r["passes"].append(int(passes))


def summarise(store: dict) -> dict:
    """{task: {method: row}} with pass rate, median / mean error and top-k agreement per (task, method)."""
    out: dict = defaultdict(dict)
    for key, r in store.items():
        *task, method = key
        err = np.asarray(r["error"])
        ok = err <= PASS_ERROR
        out["/".join(map(str, task))][method] = {
            "cases": int(err.size),
            "pass_cases": int(ok.sum()),
            "passes_task": bool(ok.mean() >= PASS_SHARE),
            "median_error": float(np.median(err)),
            "mean_error": float(err.mean()),
            "mean_error_se": float(err.std(ddof=1) / np.sqrt(err.size)) if err.size > 1 else 0.0,
            "max_error": float(err.max()),
            "topk": float(np.mean(r["topk"])),
            "encoder_passes": float(np.mean(r["passes"])),
        }
    return dict(out)


# ----------------------------------------------------------------------------- A: order 1 through the pipeline


def _pipeline_side(task: digits.SideTask) -> ImageSide:
    return ImageSide(task.scene.image, task.encoder, players=task.scene.cell_labels(), baseline=BASELINE, name="query")


def _game(task: digits.SideTask, metric: str) -> QueryGame:
    px = task.scene.image
    side = GameSide(px, make_baseline(BASELINE, px), task.scene.cell_labels(), task.encoder.encode,
                    batch_size=512, progress=False, name="query")
    return QueryGame(side, task.vector, metric)


def order1_values(method: str, task: digits.SideTask, budget: int, seed: int, metric: str) -> tuple[np.ndarray, int]:
    """(values, encoder passes) of ``method`` on an order-1 side task."""
    if method in ("singleton", "random"):
        game = _game(task, metric)
        fn = singleton_values if method == "singleton" else (lambda g, n: random_values(g, n, seed))
        values, _ = fn(game, task.n_players)
        return values, game.side.encoder_passes
    out = explain_sides(_pipeline_side(task), [VectorSide(task.vector)], order=1, method=method,
                        budget=None if method in ("exact", "occlusion") else budget, metric=metric, seed=seed,
                        side="query", batch_size=512, progress=False)[0]
    return out.query_explanation.values, out.query_passes


def run_side_tasks(args) -> dict:
    rng = np.random.default_rng(args.seed)
    store: dict = defaultdict(lambda: defaultdict(list))
    exact_gap = 0.0
    for kind in digits.SIDE_TASKS:
        for _ in range(args.instances):
            task = digits.make_side_task(kind, rng)
            truth = task.shapley()
            for method in ORDER1:
                for seed in range(1 if method in DETERMINISTIC else args.seeds):
                    values, passes = order1_values(method, task, args.budget, seed, "cosine")
                    _record(store, (kind, method), values, truth, passes)
                    if method == "exact":
                        exact_gap = max(exact_gap, float(np.abs(values - truth).max()))
    return {"budget": args.budget, "instances": args.instances, "seeds": args.seeds,
            "exact_max_abs_error": exact_gap, "tasks": summarise(store)}


# ----------------------------------------------------------------------------- B: joint through the pipeline


def _joint_sides(task: digits.JointTask):
    q = ImageSide(task.query.image, task.query_encoder, players=task.query.cell_labels(), baseline=BASELINE, name="query")
    h = ImageSide(task.hit.image, task.hit_encoder, players=task.hit.cell_labels(), baseline=BASELINE, name="hit")
    return q, h


def _joint_game(task: digits.JointTask, metric: str) -> JointGame:
    def side(scene, enc, name):
        px = scene.image
        return GameSide(px, make_baseline(BASELINE, px), scene.cell_labels(), enc.encode, batch_size=512,
                        progress=False, name=name)

    return JointGame(side(task.query, task.query_encoder, "query"), side(task.hit, task.hit_encoder, "hit"), metric)


def _passes(coalitions: np.ndarray, nq: int) -> int:
    """Encoder passes a joint coalition matrix costs: distinct query masks + distinct hit masks."""
    z = np.asarray(coalitions, dtype=bool)
    return int(np.unique(z[:, :nq], axis=0).shape[0] + np.unique(z[:, nq:], axis=0).shape[0])


def _iid_kst(task: digits.JointTask, budget: int, seed: int, metric: str) -> tuple[np.ndarray, int]:
    """Kernel Shapley-Taylor on i.i.d. joint coalitions: the largest coalition budget within ``budget`` passes.

    The search plans only (ask/tell: plans never call the game); the chosen plan is evaluated once.
    """
    nq, nh = task.n_players
    est = get_estimator("kernel-shapley-taylor", order=2)
    lo, hi, best = est.minimum_budget(nq + nh), 4 * budget, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if _passes(est.plan(nq + nh, mid, np.random.default_rng(seed)).coalitions, nq) <= budget:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise ValueError(f"kernel-shapley-taylor needs more than {budget} encoder passes on {nq} + {nh} players.")
    game = _joint_game(task, metric)
    res = explain_game(game, nq + nh, method="kernel-shapley-taylor", order=2, budget=best, seed=seed)
    return res.interactions[:nq, nq:], game.encoder_passes


def joint_cross(method: str, task: digits.JointTask, budget: int, seed: int, metric: str) -> tuple[np.ndarray, int]:
    """(cross matrix, encoder passes) of ``method`` on a joint task."""
    nq, nh = task.n_players
    if method in ("exact", "stratified"):
        q, h = _joint_sides(task)
        out = explain_sides(q, [h], order=2, method=method, budget=None if method == "exact" else budget,
                            metric=metric, seed=seed, batch_size=512, progress=False)[0]
        return out.joint.cross, out.passes
    if method == "kernel-shapley-taylor":
        return _iid_kst(task, budget, seed, metric)
    game = _joint_game(task, metric)
    if method == "pair-singleton":
        cross = pair_singleton_cross(game, nq, nh)
    elif method == "random":
        cross = random_cross(game, nq, nh, seed)
    else:  # sbsm: pair occlusion at the full coalition
        cross = explain_game(game, nq + nh, method="sbsm", order=2).interactions[:nq, nq:]
    return cross, game.encoder_passes


def run_joint_tasks(args) -> dict:
    rng = np.random.default_rng(args.seed + 1)
    store: dict = defaultdict(lambda: defaultdict(list))
    exact_gap = 0.0
    for kind in digits.JOINT_TASKS:
        for _ in range(args.joint_instances):
            task = digits.make_joint_task(kind, rng)
            truth = task.truth().cross
            for method in JOINT:
                for seed in range(1 if method in DETERMINISTIC else args.seeds):
                    cross, passes = joint_cross(method, task, args.budget2, seed, "cosine")
                    _record(store, (kind, method), cross, truth, passes)
                    if method == "exact":
                        exact_gap = max(exact_gap, float(np.abs(cross - truth).max()))
    return {"budget2": args.budget2, "instances": args.joint_instances, "seeds": args.seeds,
            "exact_max_abs_error": exact_gap, "tasks": summarise(store)}


# ----------------------------------------------------------------------------- C: pure games


def pure_values(method: str, game: digits.LogicGame, budget: int, seed: int) -> tuple[np.ndarray, int]:
    """(values, distinct coalitions evaluated) of ``method`` on a pure game."""
    n = game.n_players
    if method == "singleton":
        return singleton_values(game, n)
    if method == "random":
        return random_values(game, n, seed)
    res = explain_game(game, n, method=method, budget=None if method in ("exact", "occlusion") else budget, seed=seed)
    return res.values, res.n_evaluations


def run_pure_games(args) -> dict:
    rng = np.random.default_rng(args.seed + 2)
    store: dict = defaultdict(lambda: defaultdict(list))
    exact_gap = 0.0
    for kind in digits.SIDE_TASKS:
        for _ in range(args.pure_instances):
            game = digits.make_logic_game(kind, rng, n_players=args.pure_players)
            truth = game.shapley()
            for budget in args.pure_budgets:
                for method in PURE:
                    if method in DETERMINISTIC and budget != args.pure_budgets[0]:
                        continue  # budget-free: once per game, shown at every budget
                    for seed in range(1 if method in DETERMINISTIC else args.seeds):
                        values, passes = pure_values(method, game, budget, seed)
                        keys = [(kind, b, method) for b in args.pure_budgets] if method in DETERMINISTIC else \
                            [(kind, budget, method)]
                        for key in keys:
                            _record(store, key, values, truth, passes)
                        if method == "exact":
                            exact_gap = max(exact_gap, float(np.abs(values - truth).max()))
    return {"players": args.pure_players, "budgets": list(args.pure_budgets), "instances": args.pure_instances,
            "seeds": args.seeds, "exact_max_abs_error": exact_gap, "tasks": summarise(store)}


# ----------------------------------------------------------------------------- report


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    mark = "**pass**" if row["passes_task"] else "fail"
    return f"{mark} {row['pass_cases']}/{row['cases']}, med {row['median_error']:.3f}, top-k {100 * row['topk']:.0f} %"


def _table(part: dict, methods: list[str], tasks: list[str], title: str) -> list[str]:
    lines = [title, "", "| method | passes | " + " | ".join(tasks) + " |", "|---|---|" + "---|" * len(tasks)]
    for m in methods:
        rows = [part["tasks"].get(t, {}).get(m) for t in tasks]
        passes = np.mean([r["encoder_passes"] for r in rows if r is not None])
        lines.append(f"| {LABELS.get(m, m)} | {passes:.0f} | " + " | ".join(_cell(r) for r in rows) + " |")
    return lines


def markdown(result: dict) -> str:
    lines = [f"Pass = relative L2 error <= {PASS_ERROR} in >= {100 * PASS_SHARE:.0f} % of the (instance, seed) cases. "
             "Cells: pass/fail, passing cases / cases, median relative error, top-k agreement; * = trivial baseline.", ""]
    if "side" in result:
        a = result["side"]
        lines += _table(a, ORDER1, list(digits.SIDE_TASKS),
                        f"A. Order 1, digit scenes through the pipeline of sides, cosine, {a['instances']} scenes per "
                        f"task x {a['seeds']} seeds, budget {a['budget']} passes (exact = 512); exact's largest "
                        f"|error| vs the closed form: {a['exact_max_abs_error']:.1e}")
        lines.append("")
    if "joint" in result:
        b = result["joint"]
        lines += _table(b, JOINT, list(digits.JOINT_TASKS),
                        f"B. Order 2, query x hit cross indices through the pipeline of sides, cosine, "
                        f"{b['instances']} scene pairs per task x {b['seeds']} seeds, budget {b['budget2']} passes "
                        f"(exact = 1024); exact's largest |error| vs the closed form: {b['exact_max_abs_error']:.1e}")
        lines.append("")
    if "pure" in result:
        c = result["pure"]
        for budget in c["budgets"]:
            tasks = [f"{t}/{budget}" for t in digits.SIDE_TASKS]
            sub = {"tasks": {t.split("/")[0]: c["tasks"][t] for t in tasks if t in c["tasks"]}}
            lines += _table(sub, PURE, list(digits.SIDE_TASKS),
                            f"C. Order 1, pure games on {c['players']} players, {c['instances']} games per task x "
                            f"{c['seeds']} seeds, budget {budget} coalitions (exact = {2 ** c['players']}); exact's "
                            f"largest |error|: {c['exact_max_abs_error']:.1e}")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=30, help="order-1 scenes per task")
    parser.add_argument("--joint-instances", type=int, default=15, help="scene pairs per joint task")
    parser.add_argument("--pure-instances", type=int, default=50, help="pure games per task")
    parser.add_argument("--pure-players", type=int, default=12)
    parser.add_argument("--pure-budgets", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per sampled method and instance")
    parser.add_argument("--budget", type=int, default=64, help="order-1 encoder passes per side")
    parser.add_argument("--budget2", type=int, default=256, help="joint encoder passes, query + hit")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task generator")
    parser.add_argument("--parts", default="side,joint,pure", help="comma-separated: side, joint, pure")
    parser.add_argument("--quick", action="store_true", help="2 instances per task, 2 seeds (smoke run)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/fidelity/truth_tasks.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.instances = args.joint_instances = args.pure_instances = 2
        args.seeds = 2
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - {"side", "joint", "pure"}:
        parser.error(f"--parts takes side, joint and/or pure (comma-separated); got {args.parts!r}")
    t0 = time.perf_counter()
    result: dict = {"args": {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()},
                    "pass_rule": {"relative_error": PASS_ERROR, "share_of_cases": PASS_SHARE}}
    runners = {"side": run_side_tasks, "joint": run_joint_tasks, "pure": run_pure_games}
    for part in parts:
        result[part] = runners[part](args)
        print(f"{part}: {time.perf_counter() - t0:.0f} s", flush=True)
    result["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
