"""Indexing throughput: images/s per Qdrant backend (memory, path, Edge) and encoder dtype.

Builds a folder of N distinct photos (random crops of the skimage / scikit-learn
sample photos, 256 px short side, PNG), then times ``index_folder`` end to end
(read + decode + prepare + encode + upsert) for each backend x dtype, plus the
encoder alone and the store alone (precomputed vectors), so one can see where
the time goes. Everything is offline.

Usage:
    nice -n 10 python benchmarks/indexing.py [--n 32] [--threads 1] [--encoder efficientnet-lite0]
        [--dtypes fp32,bf16] [--backends memory,path,edge] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), *load_sample_images().images]
    rng = np.random.default_rng(seed)
    for i in range(n):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        ch, cw = int(h * rng.uniform(0.5, 0.9)), int(w * rng.uniform(0.5, 0.9))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        img = Image.fromarray(src[top : top + ch, left : left + cw])
        img.thumbnail((384, 384))
        img.save(folder / f"img_{i:04d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--encoder", default="efficientnet-lite0")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--backends", default="memory,path,edge")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch

    from qdrant_explain.connectors import create_collection, index_folder, load_encoder
    from qdrant_explain.connectors.edge import close_shards

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        make_photos(photos, args.n)
        for dtype in args.dtypes.split(","):
            enc = load_encoder(args.encoder, device="cpu", dtype=dtype, threads=args.threads, batch_size=args.batch_size)
            pixels = np.stack([enc.prepare(Image.open(p).convert("RGB")).pixels for p in sorted(photos.iterdir())])
            enc.encode(pixels[:2])  # warm-up
            t = time.perf_counter()
            vectors = enc.encode(pixels)
            rows.append({"stage": "encode only", "backend": "-", "dtype": dtype, "images_per_s": args.n / (time.perf_counter() - t)})
            for backend in args.backends.split(","):
                loc = {"memory": {"path": ":memory:"}, "path": {"path": str(tmp / f"db_{dtype}")},
                       "edge": {"path": str(tmp / f"edge_{dtype}"), "backend": "edge"}}[backend]
                name = f"bench_{dtype}_{backend}"
                t = time.perf_counter()
                report = index_folder(photos, name, encoder=enc, batch_size=args.batch_size, progress=False, **loc)
                elapsed = time.perf_counter() - t
                assert report.added == args.n, report
                rows.append({"stage": "index_folder", "backend": backend, "dtype": dtype, "images_per_s": args.n / elapsed})
                if dtype == args.dtypes.split(",")[0]:
                    col = create_collection(name + "_store", vector_size=vectors.shape[1], **loc)
                    t = time.perf_counter()
                    for s in range(0, args.n, args.batch_size):
                        col.upsert(list(range(s, min(s + args.batch_size, args.n))), vectors[s : s + args.batch_size],
                                   [{"i": i} for i in range(s, min(s + args.batch_size, args.n))])
                    rows.append({"stage": "upsert only", "backend": backend, "dtype": "-",
                                 "images_per_s": args.n / (time.perf_counter() - t)})
        close_shards()
    meta = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine(),
            "torch": torch.__version__, "threads": args.threads, "n_images": args.n, "encoder": args.encoder,
            "batch_size": args.batch_size}
    print(json.dumps(meta))
    print(f"{'stage':<14} {'backend':<8} {'dtype':<6} {'images/s':>9}")
    for r in rows:
        print(f"{r['stage']:<14} {r['backend']:<8} {r['dtype']:<6} {r['images_per_s']:>9.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


if __name__ == "__main__":
    main()
