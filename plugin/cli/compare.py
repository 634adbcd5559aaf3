"""``qdrant-explain compare``: why point A ranks above point B for a query image."""

from __future__ import annotations

import pathlib

import click

from qdrant_explain._io import safe_text

from ._common import (
    Console,
    check_method,
    collection_options,
    command_errors,
    explain_options,
    open_explainer,
    output_options,
    parse_point_id,
    run_options,
    show_progress,
    write_outputs,
)


@click.command()
@click.argument("query_image", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.argument("id_a", callback=parse_point_id)
@click.argument("id_b", callback=parse_point_id)
@collection_options
@explain_options
@output_options
@run_options
@command_errors
def compare(query_image, id_a, id_b, collection, db, url, api_key, encoder_spec, method, players, baseline, budget,
            seed, json_out, png_out, html_out, quiet, debug):
    """Explain why point ID_A scores above point ID_B for QUERY_IMAGE (query regions, relative game)."""
    check_method(method, 1, order_option=False)
    console = Console(quiet)
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    console.info(f"comparing {safe_text(id_a)} and {safe_text(id_b)} ({method}) ...")
    result = ex.compare(query_image, id_a, id_b, method=method, players=players, baseline=baseline, budget=budget,
                        seed=seed, log=console.info)
    write_outputs(result, json_out, png_out, html_out, console)
    if json_out != "-":
        click.echo(f"score(A) - score(B) = {result.full_value:.6f} (A {result.hit_a.score:.6f}, B {result.hit_b.score:.6f}); "
                   f"{len(result.query_values)} query regions, {result.encoder_passes} encoder passes, {result.seconds:.1f} s")
