"""Multi-hit: explaining the query side against 10 hits costs what explaining 1 costs.

One query, its top-k hits given as stored vectors (as Qdrant returns them);
:func:`qdrant_explain.explain_hits` encodes each masked query once and solves
the k query-side games from the same encodes. Compared: k = 1 vs k = 10, encoder
passes and wall time, open_clip ViT-B-32 (random weights) on CPU. A second part
does the same for the joint game (order 2): the masked-query encodes are shared,
each hit adds only its own hit-side masks.

Run:  nice -n 10 python benchmarks/multihit.py [--budget 300] [--dtype bf16] [--players slic:50]
      [--device cpu|cuda] [--batch-size 64] [--instant]

``--instant`` swaps the model for a stand-in that costs nothing (a random linear
map of the mask, built "on the device" like a GPU encoder's ``masked_encoder``):
what is left is our own per-explanation and per-hit work, i.e. what an
infinitely fast GPU would see.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


class InstantEncoder:
    """Stand-in with the encoder protocol whose cost is ~0: tanh of a fixed random map of the mask / pixels."""

    name, input_size, dim = "instant", (224, 224), 64

    def prepare(self, image):
        from qdrant_explain.explainers.encoder import prepare_image

        return prepare_image(image, self.input_size)

    def encode(self, pixels):
        x = np.asarray(pixels)[:, ::32, ::32, 0].reshape(len(pixels), -1).astype(np.float64) / 255.0
        return np.tanh(x @ np.random.default_rng(0).normal(size=(x.shape[1], self.dim)))

    def masked_encoder(self, pixels, baseline, labels):
        w = np.random.default_rng(1).normal(size=(int(labels.max()) + 1, self.dim))
        return lambda masks: np.tanh(np.asarray(masks, dtype=np.float64) @ w + 0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--players", default="slic:50")
    ap.add_argument("--hits", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    ap.add_argument("--instant", action="store_true", help="a zero-cost stand-in encoder (our overhead only)")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    from skimage import data

    from overhead import load  # sibling script (benchmarks/ is on sys.path when run as a script)
    from qdrant_explain import explain_hits

    enc = InstantEncoder() if args.instant else load(args.dtype, args.threads, args.device)
    query = data.astronaut()
    pool = [data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry(), data.hubble_deep_field()]
    pool = [p if p.ndim == 3 else np.repeat(p[:, :, None], 3, 2) for p in pool]
    vecs = enc.encode(np.stack([enc.prepare(p).pixels for p in pool]))
    rng = np.random.default_rng(0)
    hits = np.concatenate([vecs, vecs + 0.01 * rng.normal(size=vecs.shape)])[: args.hits]
    enc.encode(enc.prepare(query).pixels[None].repeat(4, 0))  # warm-up
    rows = []
    for rep in range(args.repeats):
        for k in (1, args.hits):
            t0 = time.perf_counter()
            res = explain_hits(query, [None] * k, enc, order=1, method="kernel-shap", players=args.players,
                               budget=args.budget, hit_embeddings=hits[:k], batch_size=args.batch_size,
                               progress=False)
            wall = time.perf_counter() - t0
            passes = sum(r.encoder_passes for r in res)
            rows.append((rep, k, passes, wall))
            print(f"repeat {rep}: {k} hit(s): {passes} encoder passes, {wall:.2f}s", flush=True)
    one = [r for r in rows if r[1] == 1]
    many = [r for r in rows if r[1] == args.hits]
    p1, pk = one[0][2], many[0][2]
    w1, wk = min(r[3] for r in one), min(r[3] for r in many)
    print(f"\n| hits | encoder passes | wall s (best of {args.repeats}) |")
    print("|---:|---:|---:|")
    print(f"| 1 | {p1} | {w1:.3f} |")
    print(f"| {args.hits} | {pk} | {wk:.3f} |")
    print(f"| ratio | {pk / p1:.3f}x | {wk / w1:.3f}x |")

    # joint (order 2): the query side is encoded once for all hits
    small = "grid:2x2"
    hit_imgs = pool[:3]
    t0 = time.perf_counter()
    one = explain_hits(query, hit_imgs[:1], enc, order=2, method="exact", players=small, progress=False)
    t1 = time.perf_counter()
    three = explain_hits(query, hit_imgs, enc, order=2, method="exact", players=small, progress=False)
    t2 = time.perf_counter()
    q1 = one[0].joint.query_passes
    q3 = sum(r.joint.query_passes for r in three)
    print(f"\njoint exact ({small} both sides): 1 hit {one[0].encoder_passes} passes ({q1} query) {t1 - t0:.2f}s; "
          f"3 hits {sum(r.encoder_passes for r in three)} passes ({q3} query) {t2 - t1:.2f}s")
    print(f"\nmachine: {platform.machine()}, threads={args.threads}, dtype={args.dtype}, device={args.device}, python {platform.python_version()}")


if __name__ == "__main__":
    main()
