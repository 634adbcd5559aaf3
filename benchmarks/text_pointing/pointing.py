"""Pointing game of text explanations on held-out digit mosaics with the trained ``digits-clip`` model.

Each mosaic (96 x 96, 3 x 3 cells, 2-4 digits of distinct classes, digit images from the held-out
test split) is explained against captions naming its digits, with grid:3x3 players (one per cell),
removed cells black (the canvas background), every game exact, through :func:`qdrant_explain.text.explain_text`
(TextSide + ImageSide on the pipeline of sides):

- word -> region: the caption names every digit ("seven, two and five"); the order-2 joint
  word x region Shapley-Taylor matrix (factorised: 2^w text + 2^9 image encodes). A hit: the top
  region of a digit word's row is that digit's cell.
- one-digit map: the caption names one digit of the mosaic ("seven"); the first-order image map
  against the full text (``side="hit"``). A hit: its top region is that digit's cell.
- baselines: MM-SHAP-style first order only (Shapley values of the one game over words and
  regions together: one image map per caption, the same for every word), the cell with the most ink,
  and chance (1 / digits).
- deletion / insertion (normalised AUC; deletion lower is better, insertion higher): words
  removed/inserted by their first-order Shapley value (caption of all digits, image whole) and
  regions by the one-digit map, each beside a random order (mean of 10) and MM-SHAP-style values.

The MM-SHAP game is built from brute-force tables (every text mask x every image mask), whose
order-2 Shapley-Taylor cross block is also checked against the factorised joint (max abs difference reported).

    OMP_NUM_THREADS=1 python benchmarks/text_pointing/pointing.py --mosaics 200
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from qdrant_explain.datasets.digits import make_scenes
from qdrant_explain.datasets.digits.clip import DIGIT_WORDS, caption, load_digits_clip
from qdrant_explain.explainers import make_baseline, make_players, masked_batch
from qdrant_explain.explainers.exact import shapley_taylor_order2, shapley_values
from qdrant_explain.explainers.metrics import deletion_curve, insertion_curve
from qdrant_explain.explainers.scores import score_matrix
from qdrant_explain.text import explain_text

PLAYERS, BASELINE = "grid:3x3", "constant:0,0,0"


def all_masks(n: int) -> np.ndarray:
    """(2^n, n) bool, row r = bitmask r (player i = bit i)."""
    return (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1 == 1


def index_of(z: np.ndarray) -> np.ndarray:
    """Bitmask index of each row of ``z``."""
    return (np.asarray(z, dtype=np.int64) << np.arange(z.shape[1])[None, :]).sum(axis=1)


class Tables:
    """Brute-force tables of one (caption, mosaic): every text mask x every image mask, scored (cosine)."""

    def __init__(self, enc, text: str, image: np.ndarray) -> None:
        from qdrant_explain.connectors.text import word_players

        te = enc.text_encoder()
        self.words = word_players(text, te)
        prepared = enc.prepare(image)
        players = make_players(PLAYERS, prepared)
        base = make_baseline(BASELINE, prepared.pixels)
        self.w, self.r = self.words.n_players, players.n_players
        et = te.encode_text(self.words.texts(all_masks(self.w)))
        ei = enc.encode(masked_batch(prepared.pixels, base, players.labels, all_masks(self.r)))
        self.scores = score_matrix(et, ei, "cosine")  # (2^w, 2^r)

    def joint_table(self) -> np.ndarray:
        """The game over words + regions (word i = bit i, region j = bit w + j), length 2^(w + r)."""
        return self.scores.T.reshape(-1)

    def mmshap(self) -> tuple[np.ndarray, np.ndarray]:
        """First-order Shapley values of the one game over words and regions: (word values, region values)."""
        phi = shapley_values(self.joint_table())
        return phi[: self.w], phi[self.w :]

    def cross(self) -> np.ndarray:
        """Order-2 Shapley-Taylor word x region block of the joint game (brute force)."""
        _, pairs = shapley_taylor_order2(self.joint_table())
        return pairs[: self.w, self.w :]

    def word_game(self, z: np.ndarray) -> np.ndarray:
        return self.scores[index_of(z), -1]

    def region_game(self, z: np.ndarray) -> np.ndarray:
        return self.scores[-1, index_of(z)]


def curves(game, values: np.ndarray, rng: np.random.Generator, n_random: int = 10) -> dict:
    """Deletion / insertion AUC of ``values`` and of random orders (mean)."""
    rand = [rng.permutation(values.size).astype(float) for _ in range(n_random)]
    return {
        "deletion": deletion_curve(game, values).auc, "insertion": insertion_curve(game, values).auc,
        "deletion_random": float(np.mean([deletion_curve(game, r).auc for r in rand])),
        "insertion_random": float(np.mean([insertion_curve(game, r).auc for r in rand])),
    }


def run(n: int, seed: int) -> dict:
    enc = load_digits_clip(threads=1)
    rng = np.random.default_rng(seed)
    scenes = make_scenes(n, seed=seed, k=(2, 4), split="test")
    hits = {"joint": [], "mmshap_word": [], "one_digit": [], "mmshap_one": [], "ink_one": [], "chance": []}
    auc = {k: [] for k in ("words", "words_mmshap", "regions", "regions_mmshap")}
    passes = {"joint_text": [], "joint_image": [], "one_image": [], "words_text": []}
    worst_gap = 0.0
    t0 = time.perf_counter()
    for s in scenes:
        cell_of = dict(zip(s.classes, s.cells))
        text = caption(s.classes, order=rng.permutation(len(s.classes)))
        (joint,) = explain_text(text, [s.image], enc, order=2, method="exact", players=PLAYERS, baseline=BASELINE)
        tab = Tables(enc, text, s.image)
        worst_gap = max(worst_gap, float(np.abs(tab.cross() - joint.cross).max()))
        _, mm_regions = tab.mmshap()
        for i, word in enumerate(joint.words.words):
            if word in DIGIT_WORDS:
                cell = cell_of[DIGIT_WORDS.index(word)]
                hits["joint"].append(int(np.argmax(joint.cross[i])) == cell)
                hits["mmshap_word"].append(int(np.argmax(mm_regions)) == cell)
        passes["joint_text"].append(joint.text_passes)
        passes["joint_image"].append(joint.image_passes)
        # words: first-order word values (image whole), deletion / insertion
        (words,) = explain_text(text, [s.image], enc, order=1, side="query", method="exact", players=PLAYERS,
                                baseline=BASELINE)
        passes["words_text"].append(words.text_passes)
        mm_words, _ = tab.mmshap()
        auc["words"].append(curves(tab.word_game, words.word_values, rng))
        auc["words_mmshap"].append(curves(tab.word_game, mm_words, rng))
        # one-digit caption: first-order image map
        c = int(rng.choice(s.classes))
        one_text = DIGIT_WORDS[c]
        (one,) = explain_text(one_text, [s.image], enc, order=1, side="hit", method="exact", players=PLAYERS,
                              baseline=BASELINE)
        one_tab = Tables(enc, one_text, s.image)
        _, mm_one = one_tab.mmshap()
        ink = np.array([s.image[(j // 3) * 32:(j // 3 + 1) * 32, (j % 3) * 32:(j % 3 + 1) * 32].sum() for j in range(9)])
        hits["one_digit"].append(int(np.argmax(one.hit_values)) == cell_of[c])
        hits["mmshap_one"].append(int(np.argmax(mm_one)) == cell_of[c])
        hits["ink_one"].append(int(np.argmax(ink)) == cell_of[c])
        hits["chance"].append(1.0 / len(s.classes))
        passes["one_image"].append(one.image_passes)
        auc["regions"].append(curves(one_tab.region_game, one.hit_values, rng))
        auc["regions_mmshap"].append(curves(one_tab.region_game, mm_one, rng))
    mean_auc = {k: {m: round(float(np.mean([d[m] for d in v])), 4) for m in v[0]} for k, v in auc.items()}
    return {
        "mosaics": n, "seed": seed, "digit_words": len(hits["joint"]),
        "pointing": {k: round(float(np.mean(v)), 4) for k, v in hits.items()},
        "auc": mean_auc,
        "encodes_per_explanation": {k: float(np.mean(v)) for k, v in passes.items()},
        "max_abs_cross_vs_brute_force": worst_gap,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mosaics", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.mosaics, args.seed), indent=1))


if __name__ == "__main__":
    main()
