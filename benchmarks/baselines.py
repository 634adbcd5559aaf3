"""Which baseline scores below the full pair most often? The measurement behind the default baseline.

A baseline that scores at least as high as the full pair (v(empty) >= v(N)) makes every explanation add
up to zero or less: a person reads "these regions make the images less similar" for a near-duplicate.
This script measures, on the demo's photos (the bundled skimage / sklearn photos, their crops and flips:
the "25-photo set") with the packaged EfficientNet-Lite0, for each baseline:

- pairs a user would explain: the demo query (a crop of the cat) with its top 5 hits, and every photo
  with its top hit among the other photos (near-duplicates, crops, flips, same object in another photo,
  and a "best of the rest" hit where a photo has no relative); as a contrast, the demo query with the
  photos outside its top 5 (unrelated pairs, where v(N) itself is low);
- v(empty) of the three games an explanation uses: the query side (query fully removed, hit complete),
  the hit side (hit removed, query complete) and the joint game (both removed);
- the share of (pair, game) cases with v(empty) < v(N), and the median of v(N) - v(empty).

The background baseline fills from 8 of the other photos (never a photo of the pair's own sources); it
costs 8 encoder passes per coalition instead of 1.

v(empty) is computed from one encode per removed image and baseline; the first pairs are re-run through
the real pipeline (``explain_pair``, one player per side, exact) and must give the same values.

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


def _pairs(files: list[pathlib.Path], query: pathlib.Path, embed, top: int = 5) -> list[tuple]:
    """(query, hit, kind) pairs a user would explain: the demo query with its ``top`` hits, and every photo
    with its top hit among the other photos (``"hit"``); and, as a contrast, the demo query with every photo
    that is not among its top hits (``"other"``)."""
    vecs = np.stack([embed(f) for f in files])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    qv = embed(query) / np.linalg.norm(embed(query))
    ranked = np.argsort(-(vecs @ qv))
    pairs = [(query, files[i], "hit") for i in ranked[:top]]
    pairs += [(f, files[int(np.argmax(sims[i]))], "hit") for i, f in enumerate(files)]
    pairs += [(query, files[i], "other") for i in ranked[top:]]
    return pairs


def _family(path: pathlib.Path) -> str:
    """The source photo of a demo file (``chelsea_flipped`` -> ``chelsea``)."""
    return path.stem.split("_")[0]


def measure(seed: int = 0, check_pairs: int = 2) -> dict:
    """Run the measurement and return the table (see the module docstring).

    v(empty) needs one encode of each fully removed image per baseline: the removed image is the
    baseline image itself (for the background baseline, each of the 8 background photos prepared to the
    model's input, the embedding the mean of their normalised embeddings). The first ``check_pairs``
    pairs are also run through ``explain_pair`` (grid:1x1, exact) and must give the same base values.
    """
    from qdrant_explain.connectors import load_encoder
    from qdrant_explain.demo import DEFAULT_ENCODER, write_demo_photos
    from qdrant_explain.explainers.encoder import to_rgb_array
    from qdrant_explain.explainers.masking import Backgrounds, make_baseline
    from qdrant_explain.explainers.scores import normalize_rows
    from qdrant_explain.pair import explain_pair
    from qdrant_explain.sides import load_side_image

    enc = load_encoder(DEFAULT_ENCODER)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qe-baselines-"))
    photos = write_demo_photos(tmp / "photos", tmp / "queries")
    files = photos.files
    pixels = {f: enc.prepare(to_rgb_array(load_side_image(f, "photo"))).pixels for f in [*files, photos.query]}

    def unit(batch: np.ndarray) -> np.ndarray:
        return normalize_rows(enc.encode(batch))

    t0 = time.perf_counter()
    full = {f: unit(px[None])[0] for f, px in pixels.items()}
    removed: dict[tuple, np.ndarray] = {}

    def removed_embedding(f: pathlib.Path, name: str, exclude: frozenset) -> np.ndarray:
        key = (f, name, exclude if name == "background" else None)
        if key not in removed:
            if name == "background":
                pool = [g for g in files if _family(g) not in exclude]
                pick = np.random.default_rng(seed).choice(len(pool), size=min(8, len(pool)), replace=False)
                removed[key] = unit(np.stack([pixels[pool[i]] for i in pick])).mean(axis=0)
            else:
                removed[key] = unit(make_baseline(name, pixels[f])[None])[0]
        return removed[key]

    pairs = _pairs(files, photos.query, lambda f: full[f])
    rows = []
    for k, (q, h, kind) in enumerate(pairs):
        exclude = frozenset({_family(q), _family(h), "query"})
        for name in BASELINES:
            rq, rh = removed_embedding(q, name, exclude), removed_embedding(h, name, exclude)
            value = float(full[q] @ full[h])
            bases = {"query side": float(rq @ full[h]), "hit side": float(full[q] @ rh), "joint": float(rq @ rh)}
            if k < check_pairs:
                _check_with_pipeline(explain_pair, Backgrounds, enc, q, h, name, exclude, files, seed, bases, value)
            for game, base in bases.items():
                rows.append({"pair": k, "kind": kind, "query": q.name, "hit": h.name, "baseline": name,
                             "game": game, "base": base, "full": value})
    seconds = time.perf_counter() - t0
    table = {}
    for kind in ("hit", "other"):
        for name in BASELINES:
            for game in (*GAMES, "all"):
                sel = [r for r in rows if r["kind"] == kind and r["baseline"] == name
                       and (game == "all" or r["game"] == game)]
                gaps = np.array([r["full"] - r["base"] for r in sel])
                table[f"{kind}|{name}|{game}"] = {
                    "cases": len(sel), "below": int((gaps > 0).sum()), "share_below": float((gaps > 0).mean()),
                    "median_gap": float(np.median(gaps))}
    return {"pairs": len(pairs), "photos": len(files), "seconds": seconds, "encodes": len(full) + sum(
        8 if key[1] == "background" else 1 for key in removed), "table": table, "rows": rows}


def _check_with_pipeline(explain_pair, Backgrounds, enc, q, h, name, exclude, files, seed, bases, value) -> None:
    """The same base values through the real pipeline (grid:1x1, exact); raises when they differ."""
    if name == "background":
        pool = [g for g in files if _family(g) not in exclude]
        pick = np.random.default_rng(seed).choice(len(pool), size=min(8, len(pool)), replace=False)
        baseline = Backgrounds(images=tuple(pool[i] for i in pick))
    else:
        baseline = name
    one = explain_pair(q, h, enc, order=1, players="grid:1x1", baseline=baseline, method="exact", side="both",
                       progress=False, seed=seed)
    two = explain_pair(q, h, enc, order=2, players="grid:1x1", baseline=baseline, method="exact", progress=False,
                       seed=seed)
    got = {"query side": one.base_value, "hit side": one.extra["hit_base_value"], "joint": two.base_value}
    for game, base in bases.items():
        if abs(got[game] - base) > 1e-5 or abs(one.full_value - value) > 1e-5:
            raise AssertionError(f"{name} {game}: pipeline base {got[game]:.6f} != direct {base:.6f}")


def markdown(result: dict, kind: str = "hit") -> str:
    """The table as Markdown rows (baseline x game: share of cases with v(empty) < v(N), median gap)."""
    lines = ["| baseline | " + " | ".join(f"{g}: v(∅) < v(N)" for g in (*GAMES, "all")) + " | median v(N) − v(∅) (all) |",
             "|---|" + "---|" * (len(GAMES) + 2)]
    for name in BASELINES:
        cells = []
        for game in (*GAMES, "all"):
            t = result["table"][f"{kind}|{name}|{game}"]
            cells.append(f"{t['below']}/{t['cases']} ({100 * t['share_below']:.0f} %)")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['table'][f'{kind}|{name}|all']['median_gap']:+.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the rows and the table as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = measure(args.seed)
    print(f"{result['pairs']} pairs over {result['photos']} photos, {result['encodes']} encodes, "
          f"{result['seconds']:.0f} s")
    print("pairs a user would explain (top hits):")
    print(markdown(result, "hit"))
    print("contrast: the demo query with photos outside its top hits:")
    print(markdown(result, "other"))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
