"""Run ``auto`` on cheap games at many sizes and budgets under a memory cap; print one JSON line per run and the
peak RSS (``python _auto_memory_run.py CAP_BYTES``). Used by ``test_memory.py`` in a fresh subprocess."""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from qdrant_explain.explainers import explain_game, explain_joint
from qdrant_explain.explainers.memory import MemoryCapError


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main(cap: int) -> None:
    baseline = rss()
    print(json.dumps({"baseline": baseline}), flush=True)
    for n in (21, 24, 32, 64):
        w = np.linspace(-1.0, 1.0, n)
        game = lambda z: z @ w + 0.5 * (z[:, 0] & z[:, 1])  # noqa: E731  (an interaction, cheap)
        for order in (1, 2):
            for budget in (None, 4096, 2**n):
                runs = [(f"game n={n} order={order} budget={budget}",
                         lambda: explain_game(game, n, method="auto", order=order, budget=budget, memory_cap=cap))]
                run_one(runs[0], cap)
        if n <= 32:
            rng = np.random.default_rng(n)
            wq, wh = rng.normal(size=(2, n, 32))
            for score in ("cosine", "euclid"):
                for budget in (None, 2**n + 2**n):
                    run_one((f"joint {n}+{n} {score} budget={budget}",
                             lambda: explain_joint(lambda m: np.tanh(m @ wq), lambda m: np.tanh(m @ wh), n, n,
                                                   score=score, method="auto", budget=budget, memory_cap=cap)), cap)
    print(json.dumps({"peak": rss()}), flush=True)


def run_one(case, cap: int) -> None:
    what, fn = case
    t0 = time.perf_counter()
    try:
        res = fn()
        out = {"case": what, "outcome": "finished", "method": res.method}
    except MemoryCapError as err:
        out = {"case": what, "outcome": "refused", "message": str(err), "needed": err.needed}
    out["seconds"] = time.perf_counter() - t0
    out["rss"] = rss()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
