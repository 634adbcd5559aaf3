"""A Qdrant collection of digit scenes, searched and explained where the truth is known.

Each scene holds 2-4 sklearn digits of distinct classes on a 3 x 3 grid; the
``digits-cnn`` encoder was trained so that cosine similarity tracks how many
digit classes two scenes share. We index 300 scenes in an in-memory Qdrant
collection, search with a new scene, and explain the top hit at order 2 with
the grid cells as players: the cross matrix should link each digit of the query
to the digit of the same class in the hit.

    python examples/digits_collection.py
"""

from __future__ import annotations

import numpy as np

from qdrant_explain import explain_pair
from qdrant_explain.datasets.digits import make_scenes
from qdrant_explain.connectors.encoders import load_encoder
from qdrant_explain.connectors.qdrant import create_collection


def main() -> None:
    encoder = load_encoder("digits-cnn", threads=2)
    scenes = make_scenes(300, seed=1, k=(2, 4), split="test")
    collection = create_collection("digit-scenes", vector_size=encoder.dim, distance="cosine",
                                   encoder="digits-cnn", path=":memory:")
    vectors = encoder.encode(np.stack([s.image for s in scenes]))
    collection.upsert(list(range(len(scenes))), vectors,
                      [{"classes": list(s.classes), "cells": list(s.cells)} for s in scenes])

    query = make_scenes(1, seed=99, k=3, split="test")[0]
    hits = collection.search(encoder.encode(query.image[None])[0], limit=5)
    print(f"query classes {sorted(query.classes)}")
    for hit in hits:
        print(f"  hit {hit.id:>3}  score {hit.score:.3f}  classes {sorted(hit.payload['classes'])}")

    best = scenes[int(hits[0].id)]
    result = explain_pair(query.image, best.image, encoder, order=2, method="exact",
                          players=(query.cell_labels(), best.cell_labels()), baseline="constant:0,0,0")
    print(f"\nexplained score {result.full_value:.3f} with {result.encoder_passes} encoder passes")
    hit_class = dict(zip(best.cells, best.classes))
    for cls, cell in sorted(zip(query.classes, query.cells)):
        j = int(np.argmax(result.cross[cell]))
        verdict = "same class" if hit_class.get(j) == cls else ("not in hit" if cls not in best.classes else "WRONG")
        print(f"  query digit {cls} (cell {cell}) -> strongest link: hit cell {j} "
              f"(digit {hit_class.get(j, '-')}, index {result.cross[cell, j]:+.3f})  [{verdict}]")


if __name__ == "__main__":
    main()
