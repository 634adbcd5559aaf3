"""Work outside the encoder per explanation, with a zero-cost encoder: what a fast GPU would wait for.

The model is replaced by :class:`multihit.InstantEncoder` (a fixed random map of the mask, built "on the
device" like a GPU encoder's ``masked_encoder``), so every second measured is our own CPU work: loading and
resizing, SLIC, the baseline, the plan, the cache, the solve, the heatmaps. Two workloads, at 1,000 and
10,000 coalitions per side (Kernel SHAP, a fixed budget, ``slic:50`` on both sides of a photo pair):

- ``pair``: one ``explain_pair`` of a query photo and a hit photo (order 1, both sides);
- ``app``: a search app's loop, the same query explained against 5 hits one call at a time (as
  ``SearchExplainer.explain`` does per hit), with one :class:`~qdrant_explain.explainers.SegmentCache`
  for the calls where the code has it.

Run the same script on the code before and after a change (``--label`` names the row) and compare:

    OMP_NUM_THREADS=2 python benchmarks/hot_path.py --label after --repeats 5
"""

from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import platform
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def photos() -> list[np.ndarray]:
    """Six skimage photos (offline), as RGB arrays."""
    from skimage import data

    return [np.asarray(getattr(data, n)()) for n in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                                                      "immunohistochemistry")]


def best(fn, repeats: int) -> float:
    """Least wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    from multihit import InstantEncoder

    from qdrant_explain.pair import explain_pair

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="after")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budgets", default="1000,10000")
    ap.add_argument("--players", default="slic:50")
    ap.add_argument("--out", default=None, help="append the JSON row to this file")
    args = ap.parse_args()
    enc = InstantEncoder()
    imgs = photos()
    query, hits = imgs[0], imgs[1:]
    has_cache = "segments" in inspect.signature(explain_pair).parameters
    row = {"label": args.label, "segment_cache": has_cache, "players": args.players, "machine": platform.machine(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for budget in (int(b) for b in args.budgets.split(",")):
        kw = dict(players=args.players, method="kernel-shap", budget=budget, batch_size=1000)

        def pair() -> None:
            explain_pair(query, hits[0], enc, **kw)

        def app() -> None:
            extra = {}
            if has_cache:
                from qdrant_explain.explainers import SegmentCache

                extra["segments"] = SegmentCache()
            for h in hits:
                explain_pair(query, h, enc, **kw, **extra)

        row[f"pair_{budget}_s"] = round(best(pair, args.repeats), 4)
        row[f"app_{budget}_s"] = round(best(app, max(1, args.repeats // 2)), 4)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
