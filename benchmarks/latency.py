"""Latency of the default ``explain`` (``budget="auto"``) on EfficientNet-Lite0 over (photo, top hit) pairs.

For each demo photo (:func:`qdrant_explain.demo.write_demo_photos`) the hit is its nearest other photo
(cosine of fresh EfficientNet-Lite0 embeddings), and each of the demo's held-out queries (a cat crop, the
left motorcycle view) with its nearest photo. Each pair is explained twice at order 1 on both sides:
with the default anytime budget (timed) and at a fixed 1,024 passes per side (2,048 passes: the reference).
Reported: the median wall time of the default and the share of pairs whose top-k regions (as a set) per side
equal the reference's. Results are appended to two JSON lines files (``--out`` prefix: ``.timed.jsonl``, ``.reference-seedS.jsonl``), so an
interrupted run resumes, and the untimed references can run beside other work.

    OMP_NUM_THREADS=2 python benchmarks/latency.py --phase timed       # on an idle machine: the timed runs
    OMP_NUM_THREADS=2 python benchmarks/latency.py --phase reference   # the 2,048-pass references, then the summary
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np


REFERENCE_SEED = 1
"""The default reference samples with another seed than the default explain (0), an independent run: the rounds'
coalitions are nested in a larger budget's with the same seed, so a same-seed reference (``--reference-seed 0``,
what a user gets by re-running with ``--budget 1024``) shares them and answers whether stopping early changed the
result."""


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


def load_rows(path: pathlib.Path) -> dict[str, dict]:
    """query name -> row of a JSON lines file (an interrupted run resumes from it)."""
    if not path.exists():
        return {}
    return {r["query"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def summary(timed: dict[str, dict], refs: dict[str, dict], k: int, reference: int) -> str:
    """The median wall time of the default and the share of pairs whose top-k per side equals the reference's."""
    both = [q for q in timed if q in refs]
    secs = [timed[q]["seconds"] for q in timed]
    same = [all(timed[q]["top"][s] == refs[q]["top"][s] for s in ("query", "hit")) for q in both]
    stopped: dict[str, int] = {}
    for q in timed:
        stopped[timed[q]["stopped"]] = stopped.get(timed[q]["stopped"], 0) + 1
    passes = [timed[q]["passes"] for q in timed]
    return (f"{len(timed)} pairs timed: median {np.median(secs):.1f} s (min {min(secs):.1f}, max {max(secs):.1f}), "
            f"median {np.median(passes):.0f} encoder passes; top-{k} per side equal to the {2 * reference}-pass run "
            f"in {sum(same)}/{len(both)} pairs ({100 * np.mean(same):.0f} %); stopped: {stopped}")


def main() -> None:
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.demo import write_demo_photos
    from qdrant_explain.pair import explain_pair

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=21)
    ap.add_argument("--players", default=None, help="player spec (default: the library's)")
    ap.add_argument("--reference", type=int, default=1024, help="fixed passes per side of the reference")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--reference-seed", type=int, default=REFERENCE_SEED)
    ap.add_argument("--phase", choices=("timed", "reference", "both"), default="both",
                    help="timed: the default explain, timed (run it on an idle machine); reference: the fixed-budget "
                         "runs (not timed, can run beside other work); both: one after the other, pair by pair")
    ap.add_argument("--out", default="benchmarks/latency", help="prefix of the two JSON lines files")
    args = ap.parse_args()
    enc = load_encoder("efficientnet-lite0")
    folder = pathlib.Path(tempfile.mkdtemp()) / "photos"
    write_demo_photos(folder)
    photos = sorted(folder.glob("*.png")) or sorted(p for p in folder.iterdir() if p.is_file())
    queries = sorted((folder.parent / "queries").glob("*.png"))
    pairs = pairs_of(photos, enc, queries)[: args.pairs]
    files = {"timed": pathlib.Path(f"{args.out}.timed.jsonl"), "reference": pathlib.Path(f"{args.out}.reference-seed{args.reference_seed}.jsonl")}
    phases = ("timed", "reference") if args.phase == "both" else (args.phase,)
    for q, h in pairs:
        for phase in phases:
            if q.name in load_rows(files[phase]):
                continue
            t0 = time.perf_counter()
            if phase == "timed":
                r = explain_pair(q, h, enc, players=args.players, top_k=args.top_k)
            else:
                r = explain_pair(q, h, enc, players=args.players, budget=args.reference, seed=args.reference_seed)
            wall = time.perf_counter() - t0
            row = {"query": q.name, "hit": h.name, "seconds": round(wall, 2), "passes": r.encoder_passes,
                   "stopped": r.extra.get("stopped", "fixed"), "players": [r.n_query_players, r.n_hit_players],
                   "top": {s: top(getattr(r, f"{s}_values"), args.top_k) for s in ("query", "hit")},
                   "anytime": r.extra.get("anytime")}
            print(phase, json.dumps(row), flush=True)
            with files[phase].open("a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"reference seed {args.reference_seed}:",
          summary(load_rows(files["timed"]), load_rows(files["reference"]), args.top_k, args.reference))


if __name__ == "__main__":
    main()
