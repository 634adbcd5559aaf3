"""``qdrant-explain search``: nearest images to a query image, optionally explained."""

from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import replace

import click

from qdrant_explain._io import safe_text

from ._common import (
    memory_cap_option,
    METHODS_ORDER1,
    MethodChoice,
    Console,
    collection_options,
    command_errors,
    html_option,
    json_option,
    open_explainer,
    run_options,
    show_progress,
    write_text_output,
)


@click.command()
@click.argument("query_image", type=click.Path(dir_okay=False, path_type=pathlib.Path), required=False)
@click.option("--text", "text", metavar="TEXT", default=None,
              help="Search with this text instead of QUERY_IMAGE (the collection's encoder must be clip:).")
@collection_options
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of hits.")
@json_option
@html_option
@click.option("--explain", "explain_method", type=MethodChoice(1), default=None, metavar="METHOD",
              help=f"Also explain every hit on the query side with METHOD ({', '.join(METHODS_ORDER1)}); "
                   "the masked-query encodes are shared across hits.")
@memory_cap_option
@run_options
@command_errors
def search(query_image, text, collection, db, url, api_key, encoder_spec, k, json_out, html_out, explain_method, quiet,
           debug):
    """Search collection NAME with QUERY_IMAGE (or --text TEXT) and list the hits (id, score, payload).

    A hit that cannot be explained or whose image cannot be resolved is reported on
    stderr and the others go on.
    """
    if (query_image is None) == (text is None):
        raise click.UsageError("Give exactly one query: QUERY_IMAGE or --text TEXT.")
    if text is not None and explain_method:
        raise click.UsageError("--explain explains image queries; for a text query run "
                               "'qdrant-explain explain --text TEXT --point-id ID --collection NAME'.")
    console = Console(quiet)
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    findings: list[dict] = []
    if text is not None:
        results = ex.search(text=text, limit=k)
    elif explain_method:
        console.info(f"explaining {k} hits with {explain_method} ...")
        results, findings = ex._explain_hits(query_image, None, limit=k, order=1, method=explain_method, players=None,
                                             baseline=None, budget=None, side="query", seed=None, check_vectors=False,
                                             errors="record", log=console.info)
    else:
        results = ex.search(query_image, limit=k)
    if html_out:
        hits, unresolved = ex.resolve_images(results.hits)
        findings += unresolved
        results = dataclasses.replace(results, hits=hits)
    for f in findings:
        console.info(f"warning: hit {safe_text(f['hit'])}: {safe_text(f['error'])}")
    if json_out:
        write_text_output(json_out, results.to_json())
    if html_out:
        results.to_html(html_out)
        console.info(f"wrote {safe_text(html_out)}")
    if json_out != "-":
        for rank, h in enumerate(results.hits, 1):
            label = h.payload.get("path") or h.payload.get("name") or ""
            click.echo(f"{rank:>3}  {h.score:.6f}  {safe_text(h.id)}  {safe_text(label)}")
