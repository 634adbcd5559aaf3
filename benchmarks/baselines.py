"""Which baseline scores below the full pair most often? The measurement behind the default baseline.

A baseline that scores at least as high as the full pair (v(empty) >= v(N)) makes every explanation add
up to zero or less: a person reads "these regions make the images less similar" for a near-duplicate.
This script measures, on the demo's photos (the bundled skimage / sklearn photos, their crops and flips:
the "25-photo set") with the packaged EfficientNet-Lite0, for each baseline:

- pairs: the demo query (a crop of the cat) against every photo, and every photo against its nearest
  other photo (its top hit) — near-duplicates, same object different photo, and unrelated pairs;
- v(empty) of the three games an explanation uses: the query side (query fully removed, hit complete),
  the hit side (hit removed, query complete) and the joint game (both removed);
- the share of (pair, game) cases with v(empty) < v(N), and the median of v(N) - v(empty).

The background baseline fills from 8 of the other photos (never the pair's own two); it costs 8 encoder
passes per coalition instead of 1.

Each case is one exact explanation with a single player per side (``grid:1x1``): its base and full
values are exactly v(empty) and v(N) of the real pipeline.

Run:  OMP_NUM_THREADS=2 python benchmarks/baselines.py [--out benchmarks/baselines.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

BASELINES = ("blur", "gray", "mean", "constant", "background")
GAMES = ("query side", "hit side", "joint")


def _pairs(files: list[pathlib.Path], query: pathlib.Path, embed) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(query, hit) pairs: the demo query with every photo, and every photo with its nearest other photo."""
    vecs = np.stack([embed(f) for f in files])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    pairs = [(query, f) for f in files]
    pairs += [(f, files[int(np.argmax(sims[i]))]) for i, f in enumerate(files)]
    return pairs


def _background_folder(root: pathlib.Path, files: list[pathlib.Path], pair: tuple, seed: int) -> pathlib.Path:
    """A folder of 8 photos that are neither end of the pair (symlinks, seeded choice)."""
    others = [f for f in files if f not in pair and f.stem.split("_")[0] not in {p.stem.split("_")[0] for p in pair}]
    pick = np.random.default_rng(seed).choice(len(others), size=min(8, len(others)), replace=False)
    folder = root / f"bg-{seed}"
    folder.mkdir(exist_ok=True)
    for i in pick:
        link = folder / others[i].name
        if not link.exists():
            link.symlink_to(others[i])
    return folder


def measure(seed: int = 0) -> dict:
    """Run the measurement and return the table (see the module docstring)."""
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.demo import DEFAULT_ENCODER, write_demo_photos
    from qdrant_explain.pair import explain_pair

    enc = load_encoder(DEFAULT_ENCODER)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qe-baselines-"))
    photos = write_demo_photos(tmp / "photos", tmp / "queries")

    def embed(path: pathlib.Path) -> np.ndarray:
        from qdrant_explain.sides import load_side_image
        from qdrant_explain.explainers.encoder import to_rgb_array

        return enc.encode(enc.prepare(to_rgb_array(load_side_image(path, "photo"))).pixels[None])[0]

    pairs = _pairs(photos.files, photos.query, embed)
    rows = []
    t0 = time.perf_counter()
    for k, (q, h) in enumerate(pairs):
        for name in BASELINES:
            baseline = f"background:{_background_folder(tmp, photos.files, (q, h), k)}" if name == "background" else name
            one = explain_pair(q, h, enc, order=1, players="grid:1x1", baseline=baseline, method="exact",
                               side="both", progress=False, seed=seed)
            two = explain_pair(q, h, enc, order=2, players="grid:1x1", baseline=baseline, method="exact",
                               progress=False, seed=seed)
            full = one.full_value
            bases = {"query side": one.base_value, "hit side": one.extra["hit_base_value"], "joint": two.base_value}
            for game, base in bases.items():
                rows.append({"pair": k, "query": q.name, "hit": h.name, "baseline": name, "game": game,
                             "base": float(base), "full": float(full)})
    seconds = time.perf_counter() - t0
    table = {}
    for name in BASELINES:
        for game in (*GAMES, "all"):
            sel = [r for r in rows if r["baseline"] == name and (game == "all" or r["game"] == game)]
            gaps = np.array([r["full"] - r["base"] for r in sel])
            table[f"{name}|{game}"] = {"cases": len(sel), "below": int((gaps > 0).sum()),
                                       "share_below": float((gaps > 0).mean()), "median_gap": float(np.median(gaps))}
    return {"pairs": len(pairs), "photos": len(photos.files), "seconds": seconds, "table": table, "rows": rows}


def markdown(result: dict) -> str:
    """The table as Markdown rows (baseline x game: share of cases with v(empty) < v(N), median gap)."""
    lines = ["| baseline | " + " | ".join(f"{g}: v(∅) < v(N)" for g in (*GAMES, "all")) + " | median v(N) − v(∅) (all) |",
             "|---|" + "---|" * (len(GAMES) + 2)]
    for name in BASELINES:
        cells = []
        for game in (*GAMES, "all"):
            t = result["table"][f"{name}|{game}"]
            cells.append(f"{t['below']}/{t['cases']} ({100 * t['share_below']:.0f} %)")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['table'][f'{name}|all']['median_gap']:+.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the rows and the table as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = measure(args.seed)
    print(f"{result['pairs']} pairs over {result['photos']} photos, {result['seconds']:.0f} s")
    print(markdown(result))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
