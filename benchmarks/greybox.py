"""Grey-box methods (issue 19) against black-box Shapley values: rank correlation, fidelity, cost.

Part A (photos, EfficientNet-Lite0, cosine): every pair among ``--images`` sample photos (skimage / sklearn
photos and a flipped / cropped / brightened view of each, in the order photo, its view, next photo, ...:
C(n, 2) pairs from n images; 7 images give 21 pairs). The black-box reference is the *exact* pixel-masking
game on a 3 x 3 grid (blur baseline): order 1 on each side and the order-2 cross block, all from the
2^9 = 512 masked encodes of each image, which are one table per image (they do not depend on the other
side), cached under /tmp/qe-greybox-cache and shared by every pair the image enters. The grey-box maps live
on the 7 x 7 feature cells; they are summed into the 3 x 3 regions by pixel overlap before the Spearman
correlation. Also: each map against the Shapley values of the *feature-cell game* (7 x 7 cells, zero feature
masking; kernel-shap 2048 / stratified 2048, no encoder passes), and occlusion (n + 2 passes) as a cheap
black-box peer. ``--tables-only reverse`` in a second process fills the cache from the other end.

Part B (digit scenes, digits-cnn, truth by construction): the fidelity protocol
(benchmarks/fidelity/protocol.py): shared-object ranking at order 1 and correspondence accuracy at order 2
on 3 x 3 digit cells, grey-box maps (8 x 8 feature cells summed into the digit cells) beside exact
black-box Shapley values (black baseline) and a random map.

Part C (cost): encoder forward / backward passes, wall and CPU time of each grey-box explanation against
the black-box explanation (``explain_pair``'s ``auto``; ``--cost-budget B``: B passes a side at order 1,
2 B at order 2, instead of the defaults 1,024 a side and 2,048), in one run.

    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/greybox.py --images 7 --pairs 21 --sam-reference 3 --parts a
    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/greybox.py --parts b --digit-pairs 20
    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/greybox.py --parts c --cost-budget 128
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
import time

import numpy as np

CACHE = pathlib.Path("/tmp/qe-greybox-cache")
HERE = pathlib.Path(__file__).resolve().parent


def photos() -> dict[str, np.ndarray]:
    from qdrant_explain.demo import _rgb, _shrink, _skimage_photos, _sklearn_photos

    return {k: _shrink(_rgb(v), 384) for k, v in {**_skimage_photos(), **_sklearn_photos()}.items()}


def augmented(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = int(0.85 * h), int(0.85 * w)
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    out = img[top : top + ch, left : left + cw, ::-1].astype(np.float64) * rng.uniform(0.8, 1.2)
    return np.clip(out, 0, 255).astype(np.uint8)


def overlap(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """(n_coarse, n_fine): share of each fine cell's pixels inside each coarse region (model space)."""
    nf, nc = int(fine.max()) + 1, int(coarse.max()) + 1
    counts = np.zeros((nc, nf))
    np.add.at(counts, (coarse.ravel(), fine.ravel()), 1.0)
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)


def spearman(a, b) -> float:
    from qdrant_explain.explainers.metrics import spearman as sp

    return float(sp(np.ravel(a), np.ravel(b)))


def image_key(name: str, img: np.ndarray, grid: int, baseline: str) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()[:12]
    return f"table-{name}-{digest}-g{grid}-{baseline}".replace("~", "_")


def masked_table(enc, img: np.ndarray, key: str, baseline: str, grid: int, batch_size: int) -> np.ndarray:
    """All 2^(grid^2) masked encodes of one image (bitmask order), cached under /tmp/qe-greybox-cache.

    One table serves the image as a query and as a hit in every pair it enters (the masked encodes of a
    side do not depend on the other side), so the exact reference costs 2^9 passes per image, not per pair.
    """
    from qdrant_explain.explainers import make_baseline, make_players
    from qdrant_explain.sides import encoder_side

    path = CACHE / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    prep = enc.prepare(img)
    players = make_players(f"grid:{grid}x{grid}", prep)
    ev = encoder_side(enc, prep.pixels, make_baseline(baseline, prep.pixels), players.labels,
                      batch_size=batch_size, progress=False, name="image")
    table = ev.table()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, table)
    return table


def table_side(table: np.ndarray, name: str):
    """A side evaluator answering from a cached 2^n table (no encoder passes)."""
    from qdrant_explain.explainers.coalitions import coalition_index
    from qdrant_explain.explainers.side import SideEvaluator

    n = int(round(np.log2(table.shape[0])))
    return SideEvaluator(lambda masks: table[coalition_index(masks)], n, batch_size=table.shape[0], progress=False,
                         name=name)


def black_box(q_table: np.ndarray, h_table: np.ndarray) -> dict:
    """Exact pixel-masking Shapley values (each side) and the exact Shapley-Taylor cross block, cosine."""
    from qdrant_explain.explainers import HitGame, QueryGame, explain_game, explain_joint

    q, h = table_side(q_table, "query"), table_side(h_table, "hit")
    n = q.n_players
    full_q, full_h = q_table[-1], h_table[-1]
    return {"query": explain_game(QueryGame(q, full_h, "cosine"), n, method="exact").values,
            "hit": explain_game(HitGame(h, full_q, "cosine"), n, method="exact").values,
            "occlusion_query": explain_game(QueryGame(q, full_h, "cosine"), n, method="occlusion").values,
            "cross": explain_joint(q, h, n, n, score="cosine", method="exact").cross}


def grey(enc, q_img, h_img, order: int, method: str, score: str = "cosine"):
    from qdrant_explain import explain_pair

    return explain_pair(q_img, h_img, enc, order=order, method=method, score=score)


class FeatureMemo:
    """The encoder with its feature maps remembered per image (the benchmark reads each photo's map once,
    not once per pair and method); everything else, ``feature_gradients`` included, goes to the encoder."""

    def __init__(self, enc) -> None:
        self._enc, self._maps = enc, {}

    def __getattr__(self, name):
        return getattr(self._enc, name)

    def feature_maps(self, pixels):
        pixels = np.asarray(pixels)
        keys = [hashlib.sha1(np.ascontiguousarray(p).tobytes()).hexdigest() for p in pixels]
        todo = [i for i, k in enumerate(keys) if k not in self._maps]
        if todo:
            for i, m in zip(todo, self._enc.feature_maps(pixels[todo])):
                self._maps[keys[i]] = m
        return [self._maps[k] for k in keys]


def photo_pairs(n_images: int, seed: int = 0):
    """Images (photo, its flipped / cropped / brightened view, next photo, ...) and every pair among them,
    ordered so that each pair is ready as soon as its later image is: C(n, 2) pairs from n images (a
    photo with its own view is a same-scene pair, the rest are different-scene pairs)."""
    pics = photos()
    rng = np.random.default_rng(seed)
    images: list[tuple[str, np.ndarray]] = []
    for name in sorted(pics):
        images += [(name, pics[name]), (f"{name}~view", augmented(pics[name], rng))]
    images = images[:n_images]
    pairs = [(a, b) for b in range(len(images)) for a in range(b)]
    return images, pairs


def part_a(args) -> dict:
    from qdrant_explain.connectors import load_encoder, read_features
    from qdrant_explain.explainers.greybox import SAM
    from qdrant_explain.explainers.players import make_players

    enc = load_encoder("efficientnet-lite0", device="cpu", threads=args.threads)
    images, pairs = photo_pairs(args.images)
    if args.tables_only:  # fill the cache (e.g. a second process from the other end of the list)
        order = range(len(images))[::-1] if args.tables_only == "reverse" else range(len(images))
        for j in order:
            name, img = images[j]
            masked_table(enc, img, image_key(name, img, args.grid, "blur"), "blur", args.grid, args.batch_size)
            print(f"  table {name} ready", flush=True)
        return {"tables": len(images)}
    memo = FeatureMemo(enc)
    pairs = pairs[: args.pairs]
    rows = {m: {"query": [], "hit": [], "feature_game": []} for m in ("search-cam", "search-gradcam")}
    rows["sam"] = {"cross": [], "feature_game": []}
    rows["occlusion"] = {"query": []}
    per_pair = []
    tables: dict[int, np.ndarray] = {}
    passes = 0
    t0 = time.perf_counter()
    for i, (a, b) in enumerate(pairs):
        for j in (a, b):
            if j not in tables:
                name, img = images[j]
                key = image_key(name, img, args.grid, "blur")
                fresh = not (CACHE / f"{key}.npy").is_file()
                tables[j] = masked_table(enc, img, key, "blur", args.grid, args.batch_size)
                passes += tables[j].shape[0] if fresh else 0
                print(f"  table {name}: {'encoded' if fresh else 'cached'}, {time.perf_counter() - t0:.0f} s", flush=True)
        (qa, q_img), (hb, h_img) = images[a], images[b]
        ref = black_box(tables[a], tables[b])
        w = [overlap(make_players("grid:7x7", enc.prepare(img)).labels,
                     make_players(f"grid:{args.grid}x{args.grid}", enc.prepare(img)).labels) for img in (q_img, h_img)]
        row = {"query": qa, "hit": hb, "same_scene": qa.split("~")[0] == hb.split("~")[0]}
        for method in ("search-cam", "search-gradcam"):
            r = grey(memo, q_img, h_img, 1, method)
            row[method] = (spearman(w[0] @ r.query_values, ref["query"]), spearman(w[1] @ r.hit_values, ref["hit"]))
            rows[method]["query"].append(row[method][0])
            rows[method]["hit"].append(row[method][1])
            rows[method]["feature_game"] += [r.extra["grey_box"]["feature_game"][s]["spearman"] for s in ("query", "hit")]
        r = grey(memo, q_img, h_img, 2, "sam")
        row["sam"] = spearman(w[0] @ r.cross @ w[1].T, ref["cross"])
        rows["sam"]["cross"].append(row["sam"])
        if i < args.sam_reference:
            maps = read_features(memo, np.stack([enc.prepare(q_img).pixels, enc.prepare(h_img).pixels]))
            meta = SAM(reference_budget=2048).explain(maps[0], maps[1], score="cosine")["meta"]
            rows["sam"]["feature_game"].append(meta["feature_game"]["spearman"])
        row["occlusion"] = spearman(ref["occlusion_query"], ref["query"])
        rows["occlusion"]["query"].append(row["occlusion"])
        per_pair.append(row)
        print(f"  photo pair {i + 1}/{len(pairs)} {qa} vs {hb}: {row} {time.perf_counter() - t0:.0f} s", flush=True)
    return {"pairs": len(pairs), "images": len(tables), "grid": args.grid,
            "reference": f"exact pixel-masking game, grid {args.grid}x{args.grid}, blur baseline, cosine; "
                         f"2^{args.grid ** 2} masked encodes per image, shared by every pair the image enters",
            "reference_passes_per_image": int(2 ** args.grid**2), "reference_passes_this_run": passes,
            "seconds": time.perf_counter() - t0, "per_pair": per_pair, "summary": summarise(rows)}


def summarise(rows: dict) -> dict:
    out = {}
    for method, cols in rows.items():
        out[method] = {}
        for col, vals in cols.items():
            v = np.asarray(vals, dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                out[method][col] = {"mean": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0,
                                    "n": int(v.size)}
    return out


def part_b(args) -> dict:
    sys.path.insert(0, str(HERE / "fidelity"))
    import protocol

    from qdrant_explain import explain_pair
    from qdrant_explain.datasets import digits
    from qdrant_explain.explainers import HitGame, QueryGame, explain_game, explain_joint, make_baseline, make_players
    from qdrant_explain.explainers import metrics as M
    from qdrant_explain.sides import encoder_side

    enc = digits.load_digits_encoder(threads=args.threads)
    genc = enc  # DigitsEncoder.feature_parts: sum pooling then the bias-free linear head (exact)
    database = digits.make_scenes(200, seed=101, k=(2, 4), split="test", screened=True)
    queries = digits.make_scenes(4 * args.digit_pairs, seed=202, k=(3, 4), split="test", screened=True)
    db = enc.encode(np.stack([s.image for s in database]))
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    pairs = []
    for q, v in zip(queries, enc.encode(np.stack([s.image for s in queries]))):
        for j in np.argsort(-(db @ (v / np.linalg.norm(v))))[:10]:
            h = database[j]
            if (q.class_set & h.class_set) and (q.class_set - h.class_set) and (h.class_set - q.class_set):
                pairs.append((q, h))
                break
        if len(pairs) == args.digit_pairs:
            break
    acc = {m: {"ok": 0, "tot": 0} for m in ("search-cam", "search-gradcam", "exact", "random")}
    corr = {m: {"ok": 0, "tot": 0} for m in ("sam", "exact", "random")}
    rng = np.random.default_rng(0)
    for q, h in pairs:
        labels = {}
        for s, name in ((q, "query"), (h, "hit")):
            prep = enc.prepare(s.image)
            fine = make_players("grid:8x8", prep).labels
            labels[name] = overlap(fine, s.cell_labels())
        evals = [encoder_side(enc, s.image, make_baseline("constant:0,0,0", s.image), s.cell_labels(), batch_size=512,
                              progress=False, name=n) for s, n in ((q, "query"), (h, "hit"))]
        eq, eh = enc.encode(np.stack([q.image, h.image]))
        exact = {"query": explain_game(QueryGame(evals[0], eh, "cosine"), 9, method="exact").values,
                 "hit": explain_game(HitGame(evals[1], eq, "cosine"), 9, method="exact").values}
        truth = {"query": protocol.truth(q, h), "hit": protocol.truth(h, q)}
        maps = {m: explain_pair(q.image, h.image, genc, method=m, players=None) for m in ("search-cam", "search-gradcam")}
        for side in ("query", "hit"):
            shared, unshared = truth[side]
            for m in acc:
                if m == "exact":
                    values = exact[side]
                elif m == "random":
                    values = rng.normal(size=9)
                else:
                    r = maps[m]
                    values = labels[side] @ (r.query_values if side == "query" else r.hit_values)
                ok, tot = M.ranking_pairs(values, shared, unshared)
                acc[m]["ok"] += ok
                acc[m]["tot"] += tot
        match = protocol.matches(q, h)
        sam = explain_pair(q.image, h.image, genc, order=2, method="sam")
        crosses = {"sam": labels["query"] @ sam.cross @ labels["hit"].T,
                   "exact": explain_joint(evals[0], evals[1], 9, 9, score="cosine", method="exact").cross,
                   "random": rng.normal(size=(9, 9))}
        for m, cross in crosses.items():
            corr[m]["ok"] += sum(M.correspondence_accuracy(cross, {a: b}) for a, b in match.items())
            corr[m]["tot"] += len(match)
    return {"pairs": len(pairs),
            "order1_ranking": {m: {"ranking": r["ok"] / max(r["tot"], 1), "pairs": r["tot"]} for m, r in acc.items()},
            "order2_correspondence": {m: {"accuracy": r["ok"] / max(r["tot"], 1), "n": r["tot"]} for m, r in corr.items()}}


def part_c(args) -> dict:
    """Grey-box methods and the black-box explanation of one pair, timed in one run.

    ``--cost-budget B`` runs the black-box explanations at B passes a side (order 1) and 2 B passes
    (order 2) instead of the defaults (1,024 a side, 2,048): the budget actually used is recorded,
    and so is the CPU time per pass (process time, all torch threads: on a shared machine wall time
    mostly measures the other processes).
    """
    import os

    from qdrant_explain import explain_pair, instant_preview
    from qdrant_explain.connectors import load_encoder

    enc = load_encoder("efficientnet-lite0", device="cpu", threads=args.threads)
    pics = photos()
    q_img, h_img = pics["astronaut"], augmented(pics["astronaut"], np.random.default_rng(1))
    explain_pair(q_img, h_img, enc, method="search-cam")  # warm up
    budget = args.cost_budget
    out = {"load_average_before": os.getloadavg()[0], "black_box_budget": budget or "default", "runs": {}}
    runs = [("search-cam", 1, None), ("search-gradcam", 1, None), ("sam", 2, None), ("preview-1", 1, None),
            ("preview-2", 2, None), ("black-box order 1 (auto)", 1, budget), ("black-box order 2 (auto)", 2,
                                                                              2 * budget if budget else None)]
    for name, order, b in runs:
        t, cpu = time.perf_counter(), time.process_time()
        if name.startswith("preview"):
            r = instant_preview(q_img, h_img, enc, order=order)
        elif name.startswith("black-box"):
            r = explain_pair(q_img, h_img, enc, order=order, budget=b, progress=False)
        else:
            r = explain_pair(q_img, h_img, enc, order=order, method=name)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        grey_extra = r.extra.get("grey_box", {}) or {}
        out["runs"][name] = {"method": r.method, "players": [r.n_query_players, r.n_hit_players],
                             "forward_passes": int(r.encoder_passes),
                             "backward_passes": int(grey_extra.get("backward_passes", 0)), "seconds": wall,
                             "cpu_seconds": cpu, "cpu_seconds_per_forward_pass": cpu / max(int(r.encoder_passes), 1)}
        print(f"  cost {name}: {out['runs'][name]}", flush=True)
    out["load_average_after"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=7, help="images (photo, its view, next photo, ...): C(n, 2) pairs")
    ap.add_argument("--pairs", type=int, default=21)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--tables-only", choices=["forward", "reverse"], default=None,
                    help="part A: only encode the masked tables into the cache, in this order")
    ap.add_argument("--digit-pairs", type=int, default=20)
    ap.add_argument("--grid", type=int, default=3)
    ap.add_argument("--sam-reference", type=int, default=5, help="pairs whose SAM is measured against the feature-cell game")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cost-budget", type=int, default=None,
                    help="part C: black-box passes a side at order 1 (2 x at order 2); default: the library defaults")
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--out", default=str(HERE / "greybox_results.json"))
    args = ap.parse_args()
    result = {"date": time.strftime("%Y-%m-%d"), "args": vars(args)}
    t0 = time.perf_counter()
    if "a" in args.parts:
        result["photos"] = part_a(args)
    if "b" in args.parts:
        result["digits"] = part_b(args)
    if "c" in args.parts:
        result["cost"] = part_c(args)
    result["seconds"] = time.perf_counter() - t0
    pathlib.Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
