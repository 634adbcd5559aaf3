"""Latency of the default ``explain`` (``budget="auto"``) on EfficientNet-Lite0 over (photo, top hit) pairs.

For each demo photo (:func:`qdrant_explain.demo.write_demo_photos`) the hit is its nearest other photo
(cosine of fresh EfficientNet-Lite0 embeddings), and each of the demo's held-out queries (a cat crop, the
left motorcycle view) with its nearest photo. Each pair is explained twice at order 1 on both sides:
with the default anytime budget (timed) and at a fixed 1,024 passes per side (2,048 passes: the reference).
Reported: the median wall time of the default and the share of pairs whose top-k regions (as a set) per side
equal the reference's. Results are appended to a JSON lines file, so an interrupted run resumes.

    OMP_NUM_THREADS=2 python benchmarks/latency.py --pairs 20 --out /tmp/latency.jsonl
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np


def pairs_of(photos: list[pathlib.Path], encoder, queries: list[pathlib.Path] = ()) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(query, top hit) pairs: every photo with its nearest other photo, then every extra query (the demo's
    held-out queries) with its nearest photo."""
    from qdrant_explain.connectors import load_image
    from qdrant_explain.explainers.encoder import to_rgb_array

    def embed(paths):
        e = np.stack([encoder.encode(encoder.prepare(to_rgb_array(load_image(p), name="photo")).pixels[None])[0]
                      for p in paths]).astype(np.float64)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    emb = embed(photos)
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    pairs = [(photos[i], photos[int(np.argmax(sim[i]))]) for i in range(len(photos))]
    if queries:
        qsim = embed(queries) @ emb.T
        pairs += [(q, photos[int(np.argmax(qsim[i]))]) for i, q in enumerate(queries)]
    return pairs


def top(values, k: int) -> list[int]:
    return sorted(int(i) for i in np.argsort(-np.asarray(values))[:k])


def main() -> None:
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.demo import write_demo_photos
    from qdrant_explain.pair import explain_pair

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--players", default=None, help="player spec (default: the library's)")
    ap.add_argument("--reference", type=int, default=1024, help="fixed passes per side of the reference")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/latency.jsonl")
    args = ap.parse_args()
    enc = load_encoder("efficientnet-lite0")
    folder = pathlib.Path(tempfile.mkdtemp()) / "photos"
    demo = write_demo_photos(folder)
    photos = sorted(folder.glob("*.png")) or sorted(p for p in folder.iterdir() if p.is_file())
    queries = sorted((folder.parent / "queries").glob("*.png"))
    pairs = pairs_of(photos, enc, queries)[: args.pairs]
    out = pathlib.Path(args.out)
    done = {json.loads(line)["query"] for line in out.read_text().splitlines()} if out.exists() else set()
    for q, h in pairs:
        if q.name in done:
            continue
        t0 = time.perf_counter()
        auto = explain_pair(q, h, enc, players=args.players, top_k=args.top_k)
        wall = time.perf_counter() - t0
        ref = explain_pair(q, h, enc, players=args.players, budget=args.reference)
        same = {s: top(getattr(auto, f"{s}_values"), args.top_k) == top(getattr(ref, f"{s}_values"), args.top_k)
                for s in ("query", "hit")}
        row = {"query": q.name, "hit": h.name, "seconds": round(wall, 2), "passes": auto.encoder_passes,
               "stopped": auto.extra.get("stopped"), "players": [auto.n_query_players, auto.n_hit_players],
               "same_top": same, "reference_passes": ref.encoder_passes}
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    secs = [r["seconds"] for r in rows]
    agree = [r["same_top"]["query"] and r["same_top"]["hit"] for r in rows]
    print(f"{len(rows)} pairs: median {np.median(secs):.1f} s (max {max(secs):.1f}), top-{args.top_k} per side equal "
          f"to the {2 * args.reference}-pass run in {sum(agree)}/{len(rows)} pairs; stopped: "
          f"{ {k: sum(r['stopped'] == k for r in rows) for k in {r['stopped'] for r in rows}} }")


if __name__ == "__main__":
    main()
