"""Use 2: add an explain step to a search application.

``with_explanations`` wraps the search function your app already has (query image ->
hits) so that every call also returns why each hit came back: one saliency map per
hit over the query, computed with one shared set of masked-query encodes.

    python examples/search_with_explain.py                 # tiny random encoder, seconds
    python examples/search_with_explain.py --encoder efficientnet-lite0
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import tempfile

import numpy as np
from _setup import TINY, build_collection

from qdrant_explain import SearchExplainer


def with_explanations(explainer: SearchExplainer, *, players: str = "slic:24", budget: int = 96):
    """Decorator: ``search(query, limit) -> hits`` becomes ``search(query, limit) -> (hits, explanations)``."""

    def wrap(search_fn):
        @functools.wraps(search_fn)
        def search_and_explain(query, limit=5, **kwargs):
            hits = search_fn(query, limit=limit, **kwargs)
            explained = explainer.explain_hits(query, hits, order=1, side="query", players=players, budget=budget)
            return hits, explained.explanations

        return search_and_explain

    return wrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=TINY)
    parser.add_argument("--out", default=None, help="working folder (default: a new temporary one)")
    args = parser.parse_args()
    workdir = pathlib.Path(args.out) if args.out else pathlib.Path(tempfile.mkdtemp(prefix="qe-search-"))
    db, photos = build_collection(workdir, args.encoder)
    explainer = SearchExplainer.open("photos", path=str(db))

    # the application's own search function (here: the explainer's search; any function returning hits works)
    def search(query, limit=5):
        return explainer.search(query, limit=limit).hits

    explained_search = with_explanations(explainer)(search)
    hits, explanations = explained_search(photos.query, limit=3)
    for hit, why in zip(hits, explanations):
        top = int(np.argmax(why.query_values))
        print(f"{hit.score:.4f} {hit.payload['path']:<24} full value {why.full_value:.4f}; "
              f"most helpful query region #{top} ({why.query_values[top]:+.4f}); {why.encoder_passes} encoder passes")
    out = workdir / "explained.json"
    out.write_text("[" + ",".join(e.to_json(indent=None) for e in explanations) + "]\n")
    print(f"explanations as JSON: {out}")


if __name__ == "__main__":
    main()
