"""``qdrant-explain explain``: why a hit (a point of a collection, or any image) matched a query image."""

from __future__ import annotations

import pathlib
from dataclasses import replace

import click

from ._common import (
    Console,
    check_method,
    command_errors,
    connection_options,
    explain_options,
    open_explainer,
    output_options,
    run_options,
    show_progress,
    write_outputs,
)


@click.command()
@click.argument("query_image", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.option("--point-id", "point_id", metavar="ID", default=None, help="Id of the hit in --collection.")
@click.option("--collection", metavar="NAME", default=None, help="Qdrant collection holding --point-id.")
@click.option("--image", "hit_image", metavar="HIT_IMAGE", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=None, help="Explain against this image file instead of a point.")
@click.option("--order", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="1: saliency maps on both images; 2: joint query<->hit region correspondences.")
@explain_options
@connection_options
@output_options
@run_options
@command_errors
def explain(query_image, point_id, collection, hit_image, order, method, players, baseline, budget, seed,
            db, url, api_key, encoder_spec, json_out, png_out, html_out, quiet, debug):
    """Explain why a hit matched QUERY_IMAGE: give --point-id ID --collection NAME, or --image HIT_IMAGE."""
    order = int(order)
    if (point_id is None) == (hit_image is None):
        raise click.UsageError("Give exactly one of --point-id ID (with --collection NAME) or --image HIT_IMAGE.")
    if point_id is not None and collection is None:
        raise click.UsageError("--point-id needs --collection NAME.")
    check_method(method, order)
    progress = show_progress(quiet)
    Console(quiet).info(f"explaining (order {order}, {method}) ...")
    if point_id is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        result = ex.explain(query_image, point_id, order=order, method=method, players=players, baseline=baseline,
                            budget=budget, seed=seed)
    else:
        result = explain_images(query_image, hit_image, collection, db, url, api_key, encoder_spec, order=order,
                                method=method, players=players, baseline=baseline, budget=budget, seed=seed,
                                progress=progress)
    write_outputs(result, json_out, png_out, html_out, Console(quiet))
    if json_out != "-":
        click.echo(summary_line(result))


def explain_images(query_image, hit_image, collection, db, url, api_key, encoder_spec, *, progress, **options):
    """A raw pair of image files: the encoder is --encoder, else the collection's, else the default."""
    from qdrant_explain.connectors import load_encoder, load_image
    from qdrant_explain.pair import explain_pair

    from .index import DEFAULT_ENCODER

    if collection is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        encoder, metric = ex.encoder, ex.distance
    else:
        encoder, metric = load_encoder(encoder_spec or DEFAULT_ENCODER), "cosine"
    if options.get("baseline") == "gray":
        options["baseline"] = "constant:128,128,128"
    result = explain_pair(load_image(query_image), load_image(hit_image), encoder, score=metric, progress=progress,
                          **options)
    return replace(result, query_name=pathlib.Path(query_image).name,
                   hit_payload={"image": pathlib.Path(hit_image).name})


def summary_line(result) -> str:
    """One line: values and cost."""
    score = "" if result.score is None else f" (Qdrant score {result.score:.6f})"
    return (f"full value {result.full_value:.6f}{score}, base {result.base_value:.6f}; order {result.order}, "
            f"{result.method}, players q={result.n_query_players} h={result.n_hit_players}, "
            f"{result.encoder_passes} encoder passes, {result.seconds:.1f} s")
