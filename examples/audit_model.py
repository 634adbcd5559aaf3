"""Use 3: audit an embedding model over a folder of queries.

For every query image: search, explain the top hits on both sides, then summarise
where the similarity comes from (image border vs centre), which regions carry it,
and which stored vectors disagree with a fresh encode of their image.

    python examples/audit_model.py                        # tiny random encoder, seconds
    python examples/audit_model.py --encoder efficientnet-lite0 --out qe-audit
"""

from __future__ import annotations

import argparse
import pathlib

from _setup import TINY, build_collection

from qdrant_explain import SearchExplainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=TINY)
    parser.add_argument("--out", default="qe-audit")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    db, photos = build_collection(out, args.encoder)
    queries = [photos.query] + [p for p in photos.files if "flipped" in p.name]  # a few queries

    explainer = SearchExplainer.open("photos", path=str(db))
    report = explainer.audit(queries, limit=3, players="slic:16", budget=64)
    s = report.summary
    print(f"{s['queries']} queries, {s['hits']} hits, {s['encoder_passes']} encoder passes")
    print(f"share of the score from the border band: {s['border_share']:.0%} (the band holds {s['border_area']:.0%} "
          f"of the pixels)")
    for r in s["top_regions"][:5]:
        print(f"  {r['side']:<5} region {r['region']:>2} of {r['query']} vs {r['hit']}: {r['value']:+.4f} ({r['where']})")
    print(f"stored vectors that disagree with a fresh encode: {s['vector_mismatch_count']} of {s['vectors_checked']}")
    report.to_html(out / "audit.html")
    report.to_json(out / "audit.json")
    print(f"wrote {out / 'audit.html'}")


if __name__ == "__main__":
    main()
