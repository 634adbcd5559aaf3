"""``qdrant-explain search``: nearest images to a query image, optionally explained."""

from __future__ import annotations

import pathlib
from dataclasses import replace

import click

from ._common import (
    METHODS_ORDER1,
    Console,
    collection_options,
    command_errors,
    open_explainer,
    run_options,
    show_progress,
    write_text_output,
)


@click.command()
@click.argument("query_image", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@collection_options
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of hits.")
@click.option("--json", "json_out", metavar="OUT", default=None, help="Write the hits as JSON to OUT ('-' = stdout).")
@click.option("--html", "html_out", metavar="OUT", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report to OUT.")
@click.option("--explain", "explain_method", type=click.Choice(METHODS_ORDER1), default=None, metavar="METHOD",
              help=f"Also explain every hit on the query side with METHOD ({', '.join(METHODS_ORDER1)}); "
                   "the masked-query encodes are shared across hits.")
@run_options
@command_errors
def search(query_image, collection, db, url, api_key, encoder_spec, k, json_out, html_out, explain_method, quiet, debug):
    """Search collection NAME with QUERY_IMAGE and list the hits (id, score, payload)."""
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    if explain_method:
        Console(quiet).info(f"explaining {k} hits with {explain_method} ...")
        results = ex.explain_hits(query_image, None, limit=k, order=1, method=explain_method, side="query")
    else:
        results = ex.search(query_image, limit=k)
    if json_out:
        write_text_output(json_out, results.to_json())
    if html_out:
        shown = []
        for h in results.hits:
            if h.image is None:
                try:
                    h = ex._hit(h)  # results are frozen: a copy with the image resolved
                except ValueError:
                    pass
            shown.append(h)
        replace(results, hits=tuple(shown)).to_html(html_out)
        Console(quiet).info(f"wrote {html_out}")
    if json_out != "-":
        for rank, h in enumerate(results.hits, 1):
            label = h.payload.get("path") or h.payload.get("name") or ""
            click.echo(f"{rank:>3}  {h.score:.6f}  {h.id}  {label}")
