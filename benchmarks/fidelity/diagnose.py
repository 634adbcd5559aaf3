"""Where do exact Shapley maps misorder shared and unshared digits: explainer or model?

For the benchmark's (query, hit) pairs (same seeds as run.py), every (shared, unshared)
digit pair that the exact order-1 map orders wrongly is checked against the model
itself: does the unshared digit *alone* score at least as high against the other image
as the shared digit alone (cos(embed(only u), e_other) >= cos(embed(only s), e_other))?
If so, the model, not the explanation, treats the unshared digit as the better match.

    nice -n 5 python benchmarks/fidelity/diagnose.py [--weights PATH] [--database-seed 101 --query-seed 202] [--unscreened]

Other seeds give validation pairs, disjoint scenes from the benchmark's (used to
choose between trained models without looking at the benchmark pairs).
"""

from __future__ import annotations

import sys
import pathlib

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import protocol as P  # noqa: E402
import run as R  # noqa: E402

from qdrant_explain.datasets import digits  # noqa: E402
from qdrant_explain.explainers import HitGame, QueryGame, explain_game  # noqa: E402
from qdrant_explain.explainers import metrics as M  # noqa: E402


def main() -> None:
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a weights file (default: the shipped digits-cnn weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database-seed", type=int, default=101, help="101: the benchmark's scenes")
    parser.add_argument("--query-seed", type=int, default=202, help="202: the benchmark's scenes")
    parser.add_argument("--unscreened", action="store_true",
                        help="scenes from every held-out digit, disputed labels included (run.py --unscreened)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    enc = digits.load_digits_encoder(args.weights, threads=args.threads)
    memo = R.MemoEncoder(enc)
    screened = not args.unscreened
    database = digits.make_scenes(500, seed=args.database_seed, k=(2, 4), split="test", screened=screened)
    queries = digits.make_scenes(30, seed=args.query_seed, k=(3, 4), split="test", screened=screened)
    pairs = R.pick_pairs(enc, R.build_collection(enc, database), queries, database)
    centroids = P.class_centroids(enc)
    ok = total = model_agrees = ok_read = total_read = 0
    unread = []
    for q, h, _, _ in pairs:
        read = P.reads_every_digit(enc, (q, h), centroids)
        if not read:
            unread.append((sorted(q.class_set), sorted(h.class_set)))
        eq, eh = enc.encode(np.stack([q.image, h.image]))
        for scene, other, side_name in ((q, eh, "query"), (h, eq, "hit")):
            labels = scene.cell_labels()
            s = R.side(memo, scene.image, labels, R.BASELINE, side_name)
            game = QueryGame(s, other, "cosine") if side_name == "query" else HitGame(s, other, "cosine")
            values = explain_game(game, 9, method="exact").values
            shared, unshared = P.truth(scene, h if side_name == "query" else q)
            single = game(np.eye(9, dtype=bool))  # score of each cell alone
            a, b = M.ranking_pairs(values, shared, unshared)
            ok, total = ok + a, total + b
            if read:
                ok_read, total_read = ok_read + a, total_read + b
            for si in shared:
                for ui in unshared:
                    if values[si] <= values[ui]:
                        model_agrees += bool(single[ui] >= single[si])
    wrong = total - ok
    print(f"exact order-1 ranking: {ok}/{total} = {ok / total:.3f}; misordered pairs: {wrong}, of which "
          f"{model_agrees} have the unshared digit alone scoring >= the shared digit alone (model-level confusion)")
    print(f"on the {len(pairs) - len(unread)} of {len(pairs)} pairs whose digits the model reads as their class "
          f"(each digit alone nearest its class centroid): {ok_read}/{total_read} = {ok_read / max(total_read, 1):.3f}; "
          f"pairs with a misread digit: {unread}")


if __name__ == "__main__":
    main()
