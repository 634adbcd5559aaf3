"""Collection-scale audit: local engine vs Ray on this machine, and the ci-width stopping rule.

Builds a collection of the bundled sample photos (scikit-image, scikit-learn) plus seeded random
crops and flips, indexes it with the encoder, then audits the same queries (``CollectionSource``:
every point is a query, its top-k hits explained on both sides) with

1. the local engine (``threads`` torch threads in this process), and
2. the Ray engine (``workers`` actors x 1 thread on a local ``ray.init(num_cpus=workers)``),

in one run, and reports queries/s (start-up excluded and included), encoder passes per query,
seconds inside the encoder per query, driver seconds per query, bytes per committed row, and that
both engines gave the same statistics. The raw encoder throughput (``encode`` of unmasked prepared
images, batch 32) is measured in the same run.

The stopping rule is replayed on the committed rows in audit order (the rule is a function of
that sequence; running it live stops at the same row): for each target width, the number of
queries at which every interval (border share, object share, stale-vector rate, stability) was
at most that wide, beside the fixed counts one would plan without it: the worst-case count for
a share in [0, 1] (``(z / W)^2``: variance 1/4) and the count from the measured per-query spread.

Run:  OMP_NUM_THREADS=1 nice -n 10 python benchmarks/audit_scale.py [--encoder efficientnet-lite0]
      [--queries 16] [--k 3] [--players slic:16] [--budget 32] [--workers 2] [--extra 24]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def build(root: pathlib.Path, encoder: str, extra: int, seed: int) -> pathlib.Path:
    from PIL import Image

    from qdrant_explain.connectors import index_folder
    from qdrant_explain.demo import write_demo_photos

    photos = write_demo_photos(root / "photos", root / "queries")
    rng = np.random.default_rng(seed)
    files = sorted(photos.folder.glob("*.png"))
    for i in range(extra):
        img = np.asarray(Image.open(files[i % len(files)]).convert("RGB"))
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.5, 0.9)), int(w * rng.uniform(0.5, 0.9))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[top:top + ch, left:left + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        Image.fromarray(np.ascontiguousarray(crop)).save(photos.folder / f"crop{i:03d}.png")
    db = root / "db"
    index_folder(photos.folder, collection="photos", path=str(db), encoder=encoder, progress=False)
    return db


def raw_throughput(encoder, folder: pathlib.Path, n: int = 32) -> float:
    from qdrant_explain.connectors import load_image

    files = sorted(folder.glob("*.png"))[:n]
    pixels = np.stack([encoder.prepare(np.asarray(load_image(f).convert("RGB"))).pixels for f in files])
    encoder.encode(pixels[:2])
    t = time.perf_counter()
    for i in range(0, len(pixels), 32):
        encoder.encode(pixels[i:i + 32])
    return len(pixels) / (time.perf_counter() - t)


def replay_stop(rows: list[dict], widths: list[float], min_queries: int) -> dict:
    from qdrant_explain.scale import AuditStatistics

    out = {}
    for w in widths:
        st = AuditStatistics()
        stop = None
        for i, r in enumerate(rows, start=1):
            st.add(r)
            if st.should_stop(w, min_queries=min_queries):
                stop = i
                break
        out[w] = stop
    return out


def spread(rows: list[dict], num: str, den: str) -> float:
    """Per-query standard deviation of the linearised ratio (what the CLT interval's width depends on)."""
    a = np.array([r["stats"][num] for r in rows], dtype=float)
    b = np.array([r["stats"][den] for r in rows], dtype=float)
    ratio = a.sum() / b.sum()
    return float(np.std(a - ratio * b, ddof=1) / abs(b.mean()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="efficientnet-lite0")
    p.add_argument("--queries", type=int, default=16, help="queries audited by each engine")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--players", default="slic:16")
    p.add_argument("--budget", type=int, default=32)
    p.add_argument("--stability", type=float, default=0.25)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch threads of the local engine")
    p.add_argument("--extra", type=int, default=24, help="random crops added to the collection")
    p.add_argument("--widths", default="0.4,0.3,0.2,0.1,0.05,0.01")
    p.add_argument("--min-queries", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--live-width", type=float, default=None,
                   help="also run the stopping rule live at this width (local engine) and compare with the replay")
    p.add_argument("--engines", choices=("both", "local"), default="both",
                   help="local: skip the Ray run (for the stopping-rule replay on many queries)")
    args = p.parse_args()

    import ray
    import torch

    from qdrant_explain import SearchExplainer
    from qdrant_explain.connectors.client import close_shared_clients
    from qdrant_explain.scale import CollectionSource
    from qdrant_explain.scale.stats import _z

    root = pathlib.Path(tempfile.mkdtemp(prefix="qe-audit-scale-"))
    t = time.perf_counter()
    db = build(root, args.encoder, args.extra, args.seed)
    print(f"indexed in {time.perf_counter() - t:.1f} s at {root}")
    close_shared_clients()
    ex = SearchExplainer.open("photos", path=str(db), encoder=args.encoder)
    torch.set_num_threads(args.threads)
    raw = raw_throughput(ex.encoder, root / "photos")
    torch.set_num_threads(1)
    raw1 = raw_throughput(ex.encoder, root / "photos")
    settings = dict(limit=args.k, players=args.players, budget=args.budget, stability=args.stability, seed=args.seed,
                    max_queries=args.queries, progress=False)
    local = ex.audit(CollectionSource(), out=root / "local", threads=args.threads, **settings).summary
    if args.engines == "both":
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        dist = ex.audit(CollectionSource(), out=root / "ray", engine="ray", workers=args.workers, threads=1,
                        **settings).summary
        ray.shutdown()
    else:
        dist = dict(local, engine="none", workers=0, start_seconds=0.0)
    same = local["intervals"] == dist["intervals"]

    def steady(s: dict) -> float:
        return s["queries"] / max(1e-9, s["run_seconds"] - s["start_seconds"])

    rows_l = [json.loads(x) for x in (root / "local" / "queries.jsonl").read_text().splitlines()]
    row_bytes = float(np.mean([len(x) for x in (root / "local" / "queries.jsonl").read_bytes().splitlines()]))
    lean = [{k: v for k, v in r.items() if k != "search"} for r in rows_l]
    lean_bytes = float(np.mean([len(json.dumps(r)) for r in lean]))
    n = local["queries"]
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores", "load_average": os.getloadavg(), "torch": torch.__version__, "ray": ray.__version__,
        "encoder": args.encoder, "settings": {k: v for k, v in vars(args).items()},
        "raw_encoder_img_s": {"threads": args.threads, "value": raw, "threads_1": raw1},
        "local": {"queries": n, "run_s": local["run_seconds"], "queries_per_s": steady(local),
                  "passes_per_query": local["passes_per_query"], "stability_passes": local["stability_passes"],
                  "encoder_s_per_query": local["encoder_seconds"] / n, "prepare_s_per_query": local["prepare_seconds"] / n},
        "ray": {"queries": dist["queries"], "workers": dist["workers"], "run_s": dist["run_seconds"],
                "start_s": dist["start_seconds"], "queries_per_s": steady(dist),
                "queries_per_s_with_start": dist["queries"] / dist["run_seconds"],
                "passes_per_query": dist["passes_per_query"], "encoder_s_per_query": dist["encoder_seconds"] / n,
                "prepare_s_per_query": dist["prepare_seconds"] / n},
        "ray_over_local": steady(dist) / steady(local), "same_statistics": same,
        "row_bytes_with_maps": row_bytes, "row_bytes_numbers_only": lean_bytes,
        "masked_img_s_local": (local["encoder_passes"] + local["stability_passes"]) / local["encoder_seconds"],
        "intervals": local["intervals"],
    }
    widths = [float(w) for w in args.widths.split(",")]
    stops = replay_stop(rows_l, widths, args.min_queries)
    z = _z(0.95)
    sig = {"border_share": spread(rows_l, "border", "total"), "object_share": spread(rows_l, "object", "object_total")}
    res["per_query_sd"] = sig
    res["stopping"] = [{"width": w, "stopped_at": stops[w], "of": n, "fixed_worst_case": math.ceil((z / w) ** 2),
                        "fixed_from_measured_sd": math.ceil((2 * z * max(sig.values()) / w) ** 2)} for w in widths]
    if args.live_width is not None:
        live = ex.audit(CollectionSource(), out=root / "live", threads=args.threads, ci_width=args.live_width,
                        min_queries=args.min_queries, **settings).summary
        replay = replay_stop(rows_l, [args.live_width], args.min_queries)[args.live_width]
        res["live_stop"] = {"width": args.live_width, "queries": live["queries"], "stopped_early": live["stopped_early"],
                            "replay_stopped_at": replay, "widths": {k: v["width"] for k, v in live["intervals"].items()}}
    print(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
