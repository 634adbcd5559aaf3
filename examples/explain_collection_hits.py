"""Use 1: explain the hits of an existing collection.

Builds a small collection from photos bundled with scikit-image/scikit-learn (offline),
then, as you would with your own collection: open it, search with a query image,
explain the top hits (saliency maps on both sides, then joint query<->hit
correspondences for the best hit) and write a self-contained HTML report.

    python examples/explain_collection_hits.py                       # tiny random encoder, seconds
    python examples/explain_collection_hits.py --encoder efficientnet-lite0 --out qe-example
"""

from __future__ import annotations

import argparse
import pathlib

from _setup import TINY, build_collection

from qdrant_explain import SearchExplainer, render_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=TINY, help="encoder spec (default: a tiny random encoder)")
    parser.add_argument("--out", default="qe-example", help="output folder")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    db, photos = build_collection(out, args.encoder)

    # --- what you do with your own collection -----------------------------------------
    explainer = SearchExplainer.open("photos", path=str(db))  # the encoder recorded at indexing time
    hits = explainer.search(photos.query, limit=3)
    for h in hits:
        print(f"{h.score:.4f}  {h.payload['path']}")

    saliency = explainer.explain_hits(photos.query, hits, order=1, players="slic:24", budget=128)
    joint = explainer.explain(photos.query, hits[0], order=2, players="grid:2x3", method="exact")
    print(f"best hit: Qdrant score {joint.score:.4f}, explained full value {joint.full_value:.4f}")
    for i, j, v in joint.top_pairs(3):
        print(f"  query region {i} <-> hit region {j}: {v:+.4f}")

    joint.save_png(out / "best_hit.png")
    html = render_report(title="Why these photos came back", query_image=saliency.query_image,
                         query_name=photos.query.name, explanations=[joint], searches=[saliency])
    (out / "report.html").write_text(html, encoding="utf-8")
    print(f"wrote {out / 'report.html'} and {out / 'best_hit.png'}")


if __name__ == "__main__":
    main()
