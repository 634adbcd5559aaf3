"""Grey-box methods (issue 19) against black-box Shapley values: rank correlation, fidelity, cost.

Part A (photos, EfficientNet-Lite0, cosine): >= 20 sample-photo pairs (skimage / sklearn photos: each
photo against a flipped / cropped / brightened view of itself, and against the next photo). For each
pair the black-box reference is the *exact* pixel-masking game on a 3 x 3 grid (blur baseline; order 1
on each side and the order-2 cross block from the same 2 x 512 masked encodes), computed once and cached
under /tmp/qe-greybox-cache. The grey-box maps live on the 7 x 7 feature cells; they are summed into the
3 x 3 regions by pixel overlap before the Spearman correlation. Also: each map against the Shapley values
of the *feature-cell game* (7 x 7 cells, zero feature masking; kernel-shap 2048 / stratified 2048, no
encoder passes), and occlusion (n + 2 passes) as a cheap black-box peer.

Part B (digit scenes, digits-cnn, truth by construction): the fidelity protocol
(benchmarks/fidelity/protocol.py): shared-object ranking at order 1 and correspondence accuracy at order 2
on 3 x 3 digit cells, grey-box maps (8 x 8 feature cells summed into the digit cells) beside exact
black-box Shapley values (black baseline) and a random map.

Part C (cost): encoder forward / backward passes and wall time of each grey-box explanation against the
default black-box explanation (``explain_pair`` defaults: order 1 slic:50 kernel-shap 1024 passes a side;
order 2 slic:16 stratified 2048 passes), in one run.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/greybox.py --pairs 20 --digit-pairs 20
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


def black_box(enc, q_img, h_img, key: str, baseline: str, grid: int) -> dict:
    """Exact pixel-masking Shapley (each side) and the exact Shapley-Taylor cross block, cached."""
    from qdrant_explain.explainers import HitGame, QueryGame, explain_game, explain_joint, make_baseline, make_players
    from qdrant_explain.sides import encoder_side

    path = CACHE / f"{key}.npz"
    if path.is_file():
        return dict(np.load(path))
    sides, evals = [], []
    for img, name in ((q_img, "query"), (h_img, "hit")):
        prep = enc.prepare(img)
        players = make_players(f"grid:{grid}x{grid}", prep, name=name)
        ev = encoder_side(enc, prep.pixels, make_baseline(baseline, prep.pixels), players.labels, batch_size=64,
                          progress=False, name=name)
        sides.append(players)
        evals.append(ev)
    full = [ev.embed(np.ones((1, ev.n_players), bool))[0] for ev in evals]
    q1 = explain_game(QueryGame(evals[0], full[1], "cosine"), evals[0].n_players, method="exact")
    h1 = explain_game(HitGame(evals[1], full[0], "cosine"), evals[1].n_players, method="exact")
    occ_q = explain_game(QueryGame(evals[0], full[1], "cosine"), evals[0].n_players, method="occlusion")
    joint = explain_joint(evals[0], evals[1], evals[0].n_players, evals[1].n_players, score="cosine", method="exact")
    out = {"query": q1.values, "hit": h1.values, "cross": joint.cross, "occlusion_query": occ_q.values,
           "passes": np.array(evals[0].encoder_passes + evals[1].encoder_passes)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def grey(enc, q_img, h_img, order: int, method: str, score: str = "cosine"):
    from qdrant_explain import explain_pair

    return explain_pair(q_img, h_img, enc, order=order, method=method, score=score)


def part_a(args) -> dict:
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.explainers.greybox import SAM
    from qdrant_explain.explainers.players import make_players

    enc = load_encoder("efficientnet-lite0", device="cpu", threads=args.threads)
    pics = photos()
    names = sorted(pics)
    rng = np.random.default_rng(0)
    pairs = [(n, pics[n], f"{n}~view", augmented(pics[n], rng)) for n in names]
    pairs += [(a, pics[a], b, pics[b]) for a, b in zip(names, names[1:] + names[:1])]
    pairs = pairs[: args.pairs]
    rows = {m: {"query": [], "hit": [], "feature_game": []} for m in ("search-cam", "search-gradcam")}
    rows["sam"] = {"cross": [], "feature_game": []}
    rows["occlusion"] = {"query": []}
    t0 = time.perf_counter()
    for i, (qa, q_img, hb, h_img) in enumerate(pairs):
        key = hashlib.sha1(f"{qa}|{hb}|{q_img.shape}|{h_img.shape}|{q_img.sum()}|{h_img.sum()}|{args.grid}".encode()).hexdigest()[:16]
        ref = black_box(enc, q_img, h_img, key, "blur", args.grid)
        w = [overlap(make_players("grid:7x7", enc.prepare(img)).labels,
                     make_players(f"grid:{args.grid}x{args.grid}", enc.prepare(img)).labels) for img in (q_img, h_img)]
        for method in ("search-cam", "search-gradcam"):
            r = grey(enc, q_img, h_img, 1, method)
            rows[method]["query"].append(spearman(w[0] @ r.query_values, ref["query"]))
            rows[method]["hit"].append(spearman(w[1] @ r.hit_values, ref["hit"]))
            rows[method]["feature_game"] += [r.extra["grey_box"]["feature_game"][s]["spearman"] for s in ("query", "hit")]
        r = grey(enc, q_img, h_img, 2, "sam")
        rows["sam"]["cross"].append(spearman(w[0] @ r.cross @ w[1].T, ref["cross"]))
        if i < args.sam_reference:
            from qdrant_explain.connectors import read_features

            maps = read_features(enc, np.stack([enc.prepare(q_img).pixels, enc.prepare(h_img).pixels]))
            meta = SAM(reference_budget=2048).explain(maps[0], maps[1], score="cosine")["meta"]
            rows["sam"]["feature_game"].append(meta["feature_game"]["spearman"])
        rows["occlusion"]["query"].append(spearman(ref["occlusion_query"], ref["query"]))
        print(f"  photo pair {i + 1}/{len(pairs)} {qa} vs {hb}: {time.perf_counter() - t0:.0f} s", flush=True)
    return {"pairs": len(pairs), "grid": args.grid, "reference_passes_per_pair": int(2 ** args.grid**2 * 2),
            "summary": summarise(rows)}


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


def digits_parts(enc):
    """FeatureParts of the digits CNN: its 8 x 8 map, sum-pooled then the bias-free linear head (exact)."""
    from qdrant_explain.connectors.torch_base import FeatureParts

    net = enc.model

    def cells(a):
        m, c, h, w = a.shape
        return (a.reshape(m, c, h * w).permute(0, 2, 1) @ net.head.weight.T).permute(0, 2, 1).reshape(m, -1, h, w)

    return FeatureParts(backbone=lambda x: (net.features(x), None), cells=cells,
                        head=lambda a: net.head(a.sum(dim=(2, 3))), exact_pooling=True,
                        pooling="sum pooling then a linear layer")


class GreyDigits:
    """The digits encoder plus feature maps (an adapter: the dataset's encoder is not a TorchEncoder)."""

    def __init__(self, enc) -> None:
        self.enc, self.name, self.input_size = enc, enc.name, enc.input_size
        self.parts = digits_parts(enc)

    def prepare(self, image):
        return self.enc.prepare(image)

    def encode(self, pixels):
        return self.enc.encode(pixels)

    def feature_maps(self, pixels):
        from qdrant_explain.connectors.greybox import read_feature_maps
        from qdrant_explain.datasets.digits.cnn import to_tensor

        return read_feature_maps(self.parts, to_tensor, np.asarray(pixels), batch_size=256)

    def feature_gradients(self, activations, targets, *, metric="cosine", weights=None):
        from qdrant_explain.connectors.greybox import head_gradients

        return head_gradients(self.parts, activations, targets, metric=metric, weights=weights)


def part_b(args) -> dict:
    sys.path.insert(0, str(HERE / "fidelity"))
    import protocol

    from qdrant_explain import explain_pair
    from qdrant_explain.datasets import digits
    from qdrant_explain.explainers import HitGame, QueryGame, explain_game, explain_joint, make_baseline, make_players
    from qdrant_explain.explainers import metrics as M
    from qdrant_explain.sides import encoder_side

    enc = digits.load_digits_encoder(threads=args.threads)
    genc = GreyDigits(enc)
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
    from qdrant_explain import explain_pair, instant_preview
    from qdrant_explain.connectors import load_encoder

    enc = load_encoder("efficientnet-lite0", device="cpu", threads=args.threads)
    pics = photos()
    q_img, h_img = pics["astronaut"], augmented(pics["astronaut"], np.random.default_rng(1))
    explain_pair(q_img, h_img, enc, method="search-cam")  # warm up
    out = {}
    runs = [("search-cam", 1), ("search-gradcam", 1), ("sam", 2), ("preview-1", 1), ("preview-2", 2),
            ("auto (default, order 1)", 1), ("auto (default, order 2)", 2)]
    for name, order in runs:
        t = time.perf_counter()
        if name.startswith("preview"):
            r = instant_preview(q_img, h_img, enc, order=order)
        elif name.startswith("auto"):
            r = explain_pair(q_img, h_img, enc, order=order, progress=False)
        else:
            r = explain_pair(q_img, h_img, enc, order=order, method=name)
        wall = time.perf_counter() - t
        out[name] = {"method": r.method, "forward_passes": int(r.encoder_passes),
                     "backward_passes": int(r.extra.get("grey_box", {}).get("backward_passes", 0)), "seconds": wall}
        print(f"  cost {name}: {out[name]}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--digit-pairs", type=int, default=20)
    ap.add_argument("--grid", type=int, default=3)
    ap.add_argument("--sam-reference", type=int, default=5, help="pairs whose SAM is measured against the feature-cell game")
    ap.add_argument("--threads", type=int, default=2)
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
