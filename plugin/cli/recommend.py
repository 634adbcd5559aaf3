"""``qdrant-explain recommend``: recommend by example points, and explain why a hit came back."""

from __future__ import annotations

import click

from qdrant_explain._io import safe_text

from ._common import (
    Console,
    check_method,
    open_explainer,
    parse_point_id,
    show_progress,
    write_outputs,
)
from .discover import echo_shape, shape_options

STRATEGIES = ("average_vector", "best_score", "sum_scores")


def _ids(ctx: click.Context, param: click.Parameter, value: tuple) -> tuple:
    return tuple(parse_point_id(ctx, param, v) for v in value)


@click.command()
@click.option("--positive", multiple=True, callback=_ids, metavar="ID", help="A positive example point (repeat).")
@click.option("--negative", multiple=True, callback=_ids, metavar="ID", help="A negative example point (repeat).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="average_vector", show_default=True,
              help="Qdrant's recommend strategy.")
@shape_options("Explain a hit: Shapley values over the examples (exact), then the region map of the example that "
               "drives it most.", "the example split")
def recommend(positive, negative, strategy, limit, do_explain, point_id, no_regions, order, collection, db, url,
              api_key, encoder_spec, method, players, baseline, budget, seed, json_out, png_out, html_out, quiet,
              debug):
    """Recommend points like --positive and unlike --negative; --explain says why a hit came back."""
    from qdrant_explain.connectors import shapes as S

    order = int(order)
    check_method(method, order)
    if not positive and not negative:
        raise click.UsageError("give at least one --positive or --negative example point id.")
    try:
        shape = S.Recommend(positive=positive, negative=negative, strategy=strategy)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    console = Console(quiet)
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    col = ex.collection
    if not do_explain:
        if png_out or html_out or json_out:
            raise click.UsageError("--json, --png and --html write an explanation: add --explain.")
        for rank, hit in enumerate(S.run_shape(col, shape, limit=limit, with_vectors=False), start=1):
            click.echo(f"{rank:>3}  {safe_text(hit.id)}  {hit.score:.6f}  {safe_text(hit.payload.get('path', ''))}")
        return
    from qdrant_explain.shapes import explain_shape

    console.info(f"explaining a {strategy} recommendation of collection {safe_text(collection)} ...")
    result = explain_shape(col, shape, point_id, encoder=ex.encoder, regions=not no_regions, order=order,
                           players=players, baseline=baseline, method=method, budget=budget, seed=seed, limit=limit,
                           progress=show_progress(quiet), log=console.info)
    write_outputs(result, json_out, png_out, html_out, console)
    echo_shape(result, json_out, console)
