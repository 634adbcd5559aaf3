"""Fidelity benchmark: are the explanations right? Ground truth, faithfulness curves, sanity checks.

Part A (digit scenes, ground truth known; ``digits-cnn`` encoder):
  A Qdrant collection (in memory, cosine) holds held-out scenes. For each query
  scene, the explained hit is the best-ranked of its top 10 hits that shares some
  but not all digit classes with it (so that shared *and* unshared digits exist).
  Players are the 3 x 3 grid cells of each scene (one digit per occupied cell,
  label maps given explicitly), removed cells become black (the scene background,
  ``baseline="constant:0,0,0"``), so removing a cell removes exactly its digit.

  * order 1, query side and hit side: shared-object ranking (pairs (shared digit,
    unshared digit) ordered correctly, ties wrong), relevance mass on shared digits,
    deletion and insertion AUC of the score; methods at a budget of B encoder passes
    per side: exact (512), kernel-shap, permutation, lime, captum KernelShap and Lime on
    the same score (feature_mask = cell labels), and the trivial baselines (``baselines.py``):
    singleton v({i}) - v(empty) (10), leave-one-out = occlusion (10), random (2).
  * order 2 (query x hit cross indices): correspondence accuracy (argmax of the row of
    a shared query digit lands on the same-class hit digit), censoring AUC (Hamilton
    et al.: keep only the top-k pairs' regions); methods at B2 encoder passes in all:
    exact (1024), stratified (product design), kernel-shapley-taylor on i.i.d. joint
    coalitions, and the trivial baselines: pair singleton (the pair's derivative at the
    empty coalition), sbsm (pair occlusion = pair leave-one-out), random.
  * scenes use *screened* digits (``digits.ambiguous_digits``: the ~4 % of sklearn's
    digits that an independent SVM, 3-NN or logistic regression, out of fold, reads as
    another class are left out), so the class labels that define the truth are ones a
    reader agrees with; the *unscreened* protocol draws from every held-out digit. Both
    run by default (``--protocols screened,unscreened``) and every table shows them side by
    side (screened / unscreened).
  * ranking and correspondence are also given on the pairs whose digits the model
    itself reads as their class (each digit shown alone is nearest its class centroid,
    ``protocol.recognised_cells``; no explanation involved): on the others the class
    label is not the model's ground truth (an ambiguous 8 x 8 nine that it embeds
    among the 4s), so a "miss" there is the model's error, not the explainer's.
  * sanity: Spearman between the exact maps of the trained and a randomly
    re-initialised network (same architecture).

Part B (any model): deletion / insertion AUC with EfficientNet-Lite0 on offline
photos (skimage.data), query = photo, hit = an augmented view of it (flip, crop,
brightness); players = a 4 x 4 grid; all methods at the same budget.

Run:

    nice -n 5 python benchmarks/fidelity/run.py                  # full, both protocols (~12 min on 2 idle cores)
    nice -n 5 python benchmarks/fidelity/run.py --quick          # smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import time
from collections import defaultdict

import numpy as np

from baselines import pair_singleton_cross, random_cross, random_values, singleton_values  # sibling modules
from protocol import class_centroids, matches, reads_every_digit, truth  # (benchmarks/fidelity/ is on sys.path)

from qdrant_explain.datasets import digits
from qdrant_explain.explainers import (
    HitGame,
    ImageSide,
    JointGame,
    QueryGame,
    explain_game,
    explain_joint,
    make_baseline,
)
from qdrant_explain.explainers import metrics as M

# --------------------------------------------------------------------------- plumbing


class MemoEncoder:
    """Wraps an encoder's ``encode`` with a cache keyed by image bytes.

    Budgets are counted by the explainers (distinct masks per side evaluator); the
    memo only saves our CPU when several methods ask for the same masked image.
    """

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.cache: dict[bytes, np.ndarray] = {}
        self.computed = 0

    def encode(self, batch: np.ndarray) -> np.ndarray:
        keys = [hashlib.blake2b(img.tobytes(), digest_size=16).digest() for img in batch]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            uniq: dict[bytes, int] = {}
            for i in todo:
                uniq.setdefault(keys[i], i)
            idx = list(uniq.values())
            out = self.encoder.encode(batch[idx])
            self.computed += len(idx)
            for row, i in enumerate(idx):
                self.cache[keys[i]] = out[row]
        return np.stack([self.cache[k] for k in keys])


def side(memo: MemoEncoder, pixels: np.ndarray, labels: np.ndarray, baseline: str, name: str) -> ImageSide:
    return ImageSide(pixels, make_baseline(baseline, pixels), labels, memo.encode, batch_size=512, progress=False, name=name)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- captum wrappers


def captum_map(method: str, encoder, pixels: np.ndarray, labels: np.ndarray, other: np.ndarray,
               budget: int, seed: int) -> tuple[np.ndarray, int]:
    """captum KernelShap / Lime on score(encode(masked pixels), other); returns (per-region values, passes)."""
    import torch
    from captum.attr import KernelShap, Lime

    target = torch.as_tensor(other / np.linalg.norm(other), dtype=torch.float32)
    calls = {"n": 0}

    def forward(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += x.shape[0]
        imgs = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        emb = torch.as_tensor(encoder.encode(imgs), dtype=torch.float32)
        return torch.nn.functional.normalize(emb, dim=1) @ target

    torch.manual_seed(seed)
    x = torch.as_tensor(pixels, dtype=torch.float32).permute(2, 0, 1)[None] / 255.0
    mask = torch.as_tensor(labels, dtype=torch.long)[None, None]
    cls = KernelShap if method == "captum-kernelshap" else Lime
    attr = cls(forward).attribute(x, baselines=0.0, feature_mask=mask, n_samples=budget,
                                  perturbations_per_eval=budget, show_progress=False)
    a = attr[0, 0].numpy()
    n = int(labels.max()) + 1
    values = np.array([a[labels == i].mean() for i in range(n)])
    return values, calls["n"]


# --------------------------------------------------------------------------- part A: digits


def build_collection(encoder, scenes: list[digits.Scene]):
    """Index scenes in an in-memory Qdrant collection (cosine); returns the client."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(":memory:")
    vectors = encoder.encode(np.stack([s.image for s in scenes]))
    client.create_collection("scenes", vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE))
    client.upsert("scenes", points=[
        models.PointStruct(id=i, vector=v.tolist(), payload={"classes": list(s.classes), "cells": list(s.cells)})
        for i, (v, s) in enumerate(zip(vectors, scenes))
    ])
    return client


def pick_pairs(encoder, client, queries: list[digits.Scene], database: list[digits.Scene], top: int = 10):
    """(query, hit, rank, qdrant score) with partial class overlap, best-ranked in the top ``top``."""
    vectors = encoder.encode(np.stack([q.image for q in queries]))
    pairs = []
    for q, v in zip(queries, vectors):
        hits = client.query_points("scenes", query=v.tolist(), limit=top).points
        for rank, h in enumerate(hits):
            hs = database[h.id]
            shared = q.class_set & hs.class_set
            if shared and (q.class_set - hs.class_set) and (hs.class_set - q.class_set):
                pairs.append((q, hs, rank, float(h.score)))
                break
    return pairs


FIRST_ORDER = ["exact", "kernel-shap", "permutation", "lime", "captum-kernelshap", "captum-lime",
               "singleton", "occlusion", "random"]
SECOND_ORDER = ["exact", "stratified", "kernel-shapley-taylor", "pair-singleton", "sbsm", "random"]
TRIVIAL = {"singleton": "singleton v({i}) - v(∅)", "occlusion": "leave-one-out v(N) - v(N∖i) (occlusion)",
           "random": "random (seeded Dirichlet split of v(N) - v(∅))",
           "pair-singleton": "pair singleton v({i,j}) - v({i}) - v({j}) + v(∅)",
           "sbsm": "pair leave-one-out (sbsm, pair occlusion)", }
"""Display names of the trivial baselines (every table lists them beside the real methods)."""
DETERMINISTIC = ("exact", "occlusion", "singleton", "sbsm", "pair-singleton")
"""Methods run once per game (no seed)."""
BASELINE = "constant:0,0,0"


def first_order(method: str, game, encoder, pixels, labels, other_emb, budget: int, seed: int):
    n = game.n_players
    if method == "random":
        return random_values(game, n, seed)
    if method == "singleton":
        return singleton_values(game, n)
    if method.startswith("captum"):
        return captum_map(method, encoder, pixels, labels, other_emb, budget, seed)
    if method == "exact":
        res = explain_game(game, n, method="exact")
    elif method == "occlusion":
        res = explain_game(game, n, method="occlusion")
    else:
        res = explain_game(game, n, method=method, budget=budget, seed=seed)
    return res.values, res.n_evaluations


def joint_cross(method: str, qs: ImageSide, hs: ImageSide, budget: int, seed: int):
    nq, nh = qs.n_players, hs.n_players
    if method in ("random", "pair-singleton"):
        game = JointGame(qs, hs, "cosine")
        cross = random_cross(game, nq, nh, seed) if method == "random" else pair_singleton_cross(game, nq, nh)
        return cross, game.encoder_passes
    if method in ("exact", "stratified"):
        res = explain_joint(qs, hs, nq, nh, score="cosine", method=method,
                            budget=None if method == "exact" else budget, seed=seed)
        return res.cross, res.encoder_passes
    game = JointGame(qs, hs, "cosine")
    if method == "sbsm":
        res = explain_game(game, nq + nh, method="sbsm", order=2)
        return res.interactions[:nq, nq:], game.encoder_passes
    # kernel-shapley-taylor on i.i.d. joint coalitions: largest coalition budget within `budget` passes
    lo, hi, best = max(20, budget // 4), 2 * budget, None
    while lo <= hi:
        mid = (lo + hi) // 2
        probe = JointGame(side(qs.encode.__self__, qs.pixels, qs.labels, BASELINE, "query"),
                          side(hs.encode.__self__, hs.pixels, hs.labels, BASELINE, "hit"), "cosine")
        res = explain_game(probe, nq + nh, method="kernel-shapley-taylor", order=2, budget=mid, seed=seed)
        if probe.encoder_passes <= budget:
            best, lo = (res.interactions[:nq, nq:], probe.encoder_passes), mid + 1
        else:
            hi = mid - 1
    return best


def run_digits(args, screened: bool) -> dict:
    enc = digits.load_digits_encoder(threads=args.threads)
    rnd = digits.load_digits_encoder("random", seed=1, threads=args.threads)
    memo, memo_rnd = MemoEncoder(enc), MemoEncoder(rnd)
    database = digits.make_scenes(args.database, seed=101, k=(2, 4), split="test", screened=screened)
    queries = digits.make_scenes(args.queries, seed=202, k=(3, 4), split="test", screened=screened)
    client = build_collection(enc, database)
    pairs = pick_pairs(enc, client, queries, database)
    print(f"digits ({'screened' if screened else 'unscreened'}): {len(pairs)} (query, hit) pairs with partial overlap from {len(queries)} queries; "
          f"hit ranks {np.bincount([p[2] for p in pairs]).tolist()}", flush=True)

    centroids = class_centroids(enc)
    read = [reads_every_digit(enc, (q, h), centroids)
            for q, h, _, _ in pairs]
    print(f"  {sum(read)} of {len(pairs)} pairs have every digit read as its class by the model", flush=True)
    acc = defaultdict(lambda: defaultdict(list))
    sanity = defaultdict(list)
    t0 = time.perf_counter()
    for pi, (q, h, rank, score) in enumerate(pairs):
        labels_q, labels_h = q.cell_labels(), h.cell_labels()
        eq, eh = enc.encode(np.stack([q.image, h.image]))
        assert abs(cosine(eq, eh) - score) < 1e-4, (cosine(eq, eh), score)  # explained score = Qdrant's score
        sq, uq = truth(q, h)
        sh, uh = truth(h, q)
        # ---- order 1, both sides
        for side_name, img, labels, other, shared, unshared in (
            ("query", q.image, labels_q, eh, sq, uq), ("hit", h.image, labels_h, eq, sh, uh)
        ):
            for method in FIRST_ORDER:
                for seed in range(args.seeds if method not in DETERMINISTIC else 1):
                    s = side(memo, img, labels, BASELINE, side_name)
                    game = QueryGame(s, other, "cosine") if side_name == "query" else HitGame(s, other, "cosine")
                    values, passes = first_order(method, game, memo, img, labels, other, args.budget, seed)
                    ok, tot = M.ranking_pairs(values, shared, unshared)
                    r = acc[("1", method)]
                    r["rank_ok"].append(ok)
                    r["rank_tot"].append(tot)
                    r["rank_ok_read"].append(ok if read[pi] else 0)
                    r["rank_tot_read"].append(tot if read[pi] else 0)
                    r["mass"].append(M.shared_relevance_mass(values, shared, shared + unshared))
                    r["passes"].append(passes)
                    if side_name == "query":
                        ref = QueryGame(side(memo, img, labels, BASELINE, "query"), other, "cosine")
                        r["deletion"].append(M.deletion_curve(ref, values, seed=seed).auc)
                        r["insertion"].append(M.insertion_curve(ref, values, seed=seed).auc)
                    if method == "exact":
                        s2 = side(memo_rnd, img, labels, BASELINE, side_name)
                        other_rnd = rnd.encode(np.stack([h.image if side_name == "query" else q.image]))[0]
                        g2 = QueryGame(s2, other_rnd, "cosine") if side_name == "query" else HitGame(s2, other_rnd, "cosine")
                        v2 = explain_game(g2, g2.n_players, method="exact").values
                        objects = shared + unshared
                        sanity["order1_all_cells"].append(M.map_rank_correlation(values, v2))
                        sanity["order1_digit_cells"].append(M.map_rank_correlation(values[objects], v2[objects]))
        # ---- order 2
        m = matches(q, h)
        for method in SECOND_ORDER:
            for seed in range(args.seeds if method not in DETERMINISTIC else 1):
                qs = side(memo, q.image, labels_q, BASELINE, "query")
                hs = side(memo, h.image, labels_h, BASELINE, "hit")
                cross, passes = joint_cross(method, qs, hs, args.budget2, seed)
                r = acc[("2", method)]
                hits_ = sum(M.correspondence_accuracy(cross, {a: b}) for a, b in m.items())
                r["corr_ok"].append(hits_)
                r["corr_tot"].append(len(m))
                r["corr_ok_read"].append(hits_ if read[pi] else 0)
                r["corr_tot_read"].append(len(m) if read[pi] else 0)
                r["passes"].append(passes)
                jg = JointGame(side(memo, q.image, labels_q, BASELINE, "query"),
                               side(memo, h.image, labels_h, BASELINE, "hit"), "cosine")
                r["censoring"].append(M.censoring_curve(jg, cross, max_pairs=args.censor_pairs, seed=seed).auc)
                if method == "exact":
                    qr = side(memo_rnd, q.image, labels_q, BASELINE, "query")
                    hr = side(memo_rnd, h.image, labels_h, BASELINE, "hit")
                    c2 = explain_joint(qr, hr, 9, 9, method="exact").cross
                    sanity["order2_all_pairs"].append(M.map_rank_correlation(cross, c2))
                    dq, dh = sq + uq, sh + uh
                    sanity["order2_digit_pairs"].append(M.map_rank_correlation(cross[np.ix_(dq, dh)], c2[np.ix_(dq, dh)]))
        if pi % 5 == 4:
            print(f"  pair {pi + 1}/{len(pairs)}  {time.perf_counter() - t0:.0f} s  (encodes: {memo.computed})", flush=True)

    out = {"screened": screened, "pairs": len(pairs), "pairs_read": int(sum(read)), "budget": args.budget, "budget2": args.budget2, "seeds": args.seeds,
           "seconds": time.perf_counter() - t0, "order1": {}, "order2": {}, "sanity": {}}
    for (order, method), r in acc.items():
        row = {"passes": float(np.mean(r["passes"]))}
        if order == "1":
            row["ranking"] = sum(r["rank_ok"]) / max(sum(r["rank_tot"]), 1)
            row["ranking_pairs"] = int(sum(r["rank_tot"]))
            row["ranking_read"] = sum(r["rank_ok_read"]) / max(sum(r["rank_tot_read"]), 1)
            row["ranking_read_pairs"] = int(sum(r["rank_tot_read"]))
            row["mass"] = float(np.nanmean(r["mass"]))
            row["deletion_auc"] = float(np.mean(r["deletion"]))
            row["insertion_auc"] = float(np.mean(r["insertion"]))
            row["deletion_se"] = float(np.std(r["deletion"]) / np.sqrt(len(r["deletion"])))
            row["insertion_se"] = float(np.std(r["insertion"]) / np.sqrt(len(r["insertion"])))
            out["order1"][method] = row
        else:
            row["correspondence"] = sum(r["corr_ok"]) / max(sum(r["corr_tot"]), 1)
            row["correspondence_n"] = int(sum(r["corr_tot"]))
            row["correspondence_read"] = sum(r["corr_ok_read"]) / max(sum(r["corr_tot_read"]), 1)
            row["censoring_auc"] = float(np.mean(r["censoring"]))
            out["order2"][method] = row
    for key, vals in sanity.items():
        vals = np.asarray(vals, dtype=np.float64)
        out["sanity"][key] = {"mean": float(np.nanmean(vals)), "n": int(np.isfinite(vals).sum())}
    return out


# --------------------------------------------------------------------------- part B: EfficientNet-Lite0


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def augmented_view(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip, crop 85 % at a random offset, scale brightness: a near-duplicate hit."""
    h, w = img.shape[:2]
    ch, cw = int(0.85 * h), int(0.85 * w)
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = img[top : top + ch, left : left + cw, :3][:, ::-1].astype(np.float64) * rng.uniform(0.85, 1.15)
    return np.clip(out, 0, 255).astype(np.uint8)


def grid_labels(size: tuple[int, int], rows: int, cols: int) -> np.ndarray:
    h, w = size
    r = np.minimum(np.arange(h) * rows // h, rows - 1)
    c = np.minimum(np.arange(w) * cols // w, cols - 1)
    return (r[:, None] * cols + c[None, :]).astype(np.int64)


def run_photos(args) -> dict:
    import skimage.data

    from qdrant_explain.connectors.encoders import load_encoder

    enc = load_encoder("efficientnet-lite0", threads=args.threads)
    memo = MemoEncoder(enc)
    rng = np.random.default_rng(0)
    methods = ["exact", "kernel-shap", "permutation", "lime", "singleton", "occlusion", "random"] if args.photo_grid <= 3 else \
        ["kernel-shap", "permutation", "lime", "singleton", "occlusion", "random"]
    res = defaultdict(lambda: defaultdict(list))
    t0 = time.perf_counter()
    for name in PHOTOS[: args.photos]:
        photo = getattr(skimage.data, name)()[:, :, :3]
        qp = enc.prepare(photo).pixels
        hp = enc.prepare(augmented_view(photo, rng)).pixels
        labels = grid_labels(qp.shape[:2], args.photo_grid, args.photo_grid)
        eh = enc.encode(hp[None])[0]
        for method in methods:
            for seed in range(args.seeds if method not in DETERMINISTIC else 1):
                game = QueryGame(side(memo, qp, labels, "blur", "query"), eh, "cosine")
                values, passes = first_order(method, game, memo, qp, labels, eh, args.photo_budget, seed)
                ref = QueryGame(side(memo, qp, labels, "blur", "query"), eh, "cosine")
                res[method]["deletion"].append(M.deletion_curve(ref, values, seed=seed).auc)
                res[method]["insertion"].append(M.insertion_curve(ref, values, seed=seed).auc)
                res[method]["passes"].append(passes)
        print(f"  photo {name}: {time.perf_counter() - t0:.0f} s (encodes {memo.computed})", flush=True)
    out = {"photos": list(PHOTOS[: args.photos]), "grid": args.photo_grid, "budget": args.photo_budget,
           "seconds": time.perf_counter() - t0, "methods": {}}
    for method, r in res.items():
        out["methods"][method] = {
            "passes": float(np.mean(r["passes"])),
            "deletion_auc": float(np.mean(r["deletion"])),
            "deletion_se": float(np.std(r["deletion"]) / np.sqrt(len(r["deletion"]))),
            "insertion_auc": float(np.mean(r["insertion"])),
            "insertion_se": float(np.std(r["insertion"]) / np.sqrt(len(r["insertion"]))),
        }
    return out


# --------------------------------------------------------------------------- report


def _label(method: str) -> str:
    return TRIVIAL.get(method, method)


def _both(d: dict, order: str, method: str, key: str, fmt) -> str:
    """'screened / unscreened' figures of one table cell ('-' where a protocol did not run)."""
    parts = []
    for protocol in ("screened", "unscreened"):
        row = d.get(protocol, {}).get(order, {}).get(method)
        parts.append("-" if row is None else fmt(row, key))
    return " / ".join(parts)


def _pct(row: dict, key: str) -> str:
    n = row.get(f"{key}_pairs", row.get(f"{key}_n"))
    return f"{100 * row[key]:.1f} %" + (f" ({n})" if n is not None else "")


def _auc(row: dict, key: str) -> str:
    se = row.get(key.replace("_auc", "_se"))
    return f"{row[key]:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def markdown(result: dict) -> str:
    lines = []
    if "digits" in result:
        d = result["digits"]
        first = d.get("screened") or d.get("unscreened")
        counts = "; ".join(f"{p}: {d[p]['pairs']} pairs ({d[p]['pairs_read']} with every digit read as its class)"
                           for p in ("screened", "unscreened") if p in d)
        lines += [f"Digit scenes, both protocols (screened / unscreened in every cell): {counts}; 9 + 9 cell "
                  f"players, {first['seeds']} seed(s) per sampled method; trivial baselines listed beside the methods.", "",
                  f"Order 1 (query and hit sides; budget {first['budget']} encoder passes per side):", "",
                  "| method | passes/side | shared-object ranking | ranking, digits read right | mass on shared | "
                  "deletion AUC ↓ | insertion AUC ↑ |",
                  "|---|---|---|---|---|---|---|"]
        for m in first["order1"]:
            lines.append(f"| {_label(m)} | {_both(d, 'order1', m, 'passes', lambda r, k: f'{r[k]:.0f}')} | "
                         f"{_both(d, 'order1', m, 'ranking', _pct)} | {_both(d, 'order1', m, 'ranking_read', _pct)} | "
                         f"{_both(d, 'order1', m, 'mass', lambda r, k: f'{r[k]:.3f}')} | "
                         f"{_both(d, 'order1', m, 'deletion_auc', _auc)} | {_both(d, 'order1', m, 'insertion_auc', _auc)} |")
        lines += ["", f"Order 2 (query x hit cross indices; budget {first['budget2']} encoder passes, both sides together):", "",
                  "| method | passes | correspondence accuracy | correspondence, digits read right | censoring AUC ↑ |",
                  "|---|---|---|---|---|"]
        for m in first["order2"]:
            lines.append(f"| {_label(m)} | {_both(d, 'order2', m, 'passes', lambda r, k: f'{r[k]:.0f}')} | "
                         f"{_both(d, 'order2', m, 'correspondence', _pct)} | "
                         f"{_both(d, 'order2', m, 'correspondence_read', lambda r, k: f'{100 * r[k]:.1f} %')} | "
                         f"{_both(d, 'order2', m, 'censoring_auc', lambda r, k: f'{r[k]:.3f}')} |")
        lines += ["", "Sanity (Spearman between exact maps of the trained and a re-initialised network):", "",
                  "| map | mean rank correlation (screened / unscreened) | maps |", "|---|---|---|"]
        for k, v in first["sanity"].items():
            cells = " / ".join(f"{d[p]['sanity'][k]['mean']:.3f}" if p in d else "-" for p in ("screened", "unscreened"))
            lines.append(f"| {k} | {cells} | {v['n']} |")
    if "photos" in result:
        p = result["photos"]
        lines += ["", f"EfficientNet-Lite0 on {len(p['photos'])} skimage photos vs an augmented view, "
                      f"{p['grid']}x{p['grid']} grid, blur baseline, budget {p['budget']} passes:", "",
                  "| method | passes | deletion AUC ↓ | insertion AUC ↑ |", "|---|---|---|---|"]
        for m, r in p["methods"].items():
            lines.append(f"| {_label(m)} | {r['passes']:.0f} | {r['deletion_auc']:.3f} ± {r['deletion_se']:.3f} | "
                         f"{r['insertion_auc']:.3f} ± {r['insertion_se']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--database", type=int, default=500)
    parser.add_argument("--budget", type=int, default=64, help="order-1 encoder passes per side")
    parser.add_argument("--budget2", type=int, default=256, help="order-2 encoder passes, query + hit")
    parser.add_argument("--censor-pairs", type=int, default=9)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--photo-grid", type=int, default=4)
    parser.add_argument("--photo-budget", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--protocols", default="screened,unscreened",
                        help="comma-separated digit-scene protocols, reported side by side: 'screened' (digits whose "
                             "label independent classifiers dispute, digits.ambiguous_digits, left out) and/or "
                             "'unscreened' (every held-out digit)")
    parser.add_argument("--skip-photos", action="store_true")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a few pairs, one seed, two photos")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/fidelity/results.json"))
    args = parser.parse_args()
    if args.quick:
        args.queries, args.seeds, args.photos = 8, 1, 2
    import torch

    torch.set_num_threads(args.threads)
    result: dict = {"args": {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()}}
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    bad = sorted(set(protocols) - {"screened", "unscreened"})
    if bad or not protocols:
        parser.error(f"--protocols takes 'screened' and/or 'unscreened' (comma-separated); got {args.protocols!r}")
    if not args.skip_digits:
        result["digits"] = {p: run_digits(args, screened=p == "screened") for p in protocols}
    if not args.skip_photos:
        result["photos"] = run_photos(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
