"""``qdrant-explain discover`` (discovery / context search) and ``qdrant-explain fuse`` (RRF / DBSF over image
prefetches): run the query, and with ``--explain`` say why a hit came back (score parity, the exact split, regions)."""

from __future__ import annotations

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


def order_option(fn):
    """``--order``: 1 (region maps) or 2 (the joint correspondence with the hit)."""
    return click.option("--order", type=click.Choice(["1", "2"]), default="1", show_default=True,
                        help="With --explain: 1 = region map; 2 = the joint correspondence between the driving "
                             "image's regions and the hit's (both images masked).")(fn)


def shape_options(explain_help: str, split: str):
    """The options every shape command shares: ``-k``, ``--explain`` (with ``explain_help``), ``--point-id``,
    ``--no-regions`` (``split``: what is left without regions), ``--order`` and the connection, explain,
    output and run options, in that order of parameters."""
    def wrap(fn):
        for option in reversed((
            click.option("-k", "--limit", type=click.IntRange(min=1), default=10, show_default=True,
                         help="Hits to return."),
            click.option("--explain", "do_explain", is_flag=True, help=explain_help),
            click.option("--point-id", default=None, callback=parse_point_id, metavar="ID",
                         help="The hit to explain (default: the top hit)."),
            click.option("--no-regions", is_flag=True, help=f"With --explain: {split} only (no encoder passes)."),
            order_option, collection_options, explain_options, output_options, run_options, command_errors,
        )):
            fn = option(fn)
        return fn
    return wrap


def echo_hits(hits) -> None:
    """One line per hit: rank, id, Qdrant's score, path."""
    for rank, hit in enumerate(hits, start=1):
        click.echo(f"{rank:>3}  {safe_text(hit.id)}  {hit.score:.6f}  {safe_text((hit.payload or {}).get('path', ''))}")


def echo_shape(result, json_out: str | None, console: Console) -> None:
    """The parity line, each player's contribution (the driver marked) and the total (not when --json -)."""
    for note in result.notes:
        console.info(f"warning: {note}")
    if json_out == "-":
        return
    p = result.parity
    click.echo(f"point {safe_text(result.hit.id)}: Qdrant {result.score:.6f}, exact {result.exact_score:.6f} "
               f"(gap {p['gap']:.1e}; rank {'-' if p['rank'] is None else p['rank'] + 1}, exact rank "
               f"{'-' if p['exact_rank'] is None else p['exact_rank'] + 1})")
    if "fresh_score" in p:
        click.echo(f"  fresh encode {p['fresh_score']:.6f} (gap {p['fresh_gap']:.1e})")
    if result.base_value:
        click.echo(f"  base: {result.base_value:+.6f}")
    for i, (name, v) in enumerate(zip(result.players, result.values)):
        mark = "  <- regions" if result.driver == i else ""
        click.echo(f"  {safe_text(name)}: {v:+.6f}{mark}")
    click.echo(f"  total {result.total:.6f} = exact score; {result.encoder_passes} encoder passes, "
               f"{result.seconds:.1f} s")


def _pair(ctx: click.Context, param: click.Parameter, value: tuple) -> tuple:
    return tuple((parse_point_id(ctx, param, a), parse_point_id(ctx, param, b)) for a, b in value)


@click.command()
@click.option("--target", default=None, callback=parse_point_id, metavar="ID",
              help="The discovery target point (without it: a context search).")
@click.option("--pair", "pairs", nargs=2, multiple=True, callback=_pair, metavar="POS NEG",
              help="A context pair: a positive and a negative point id (repeat).")
@shape_options("Explain a hit: each pair's contribution (exact), then the regions of the target (discovery) or "
               "of the positive of the pair holding the hit back (context).", "the pair split")
def discover(target, pairs, limit, do_explain, point_id, no_regions, order, collection, db, url, api_key,
             encoder_spec, method, players, baseline, budget, seed, json_out, png_out, html_out, quiet, debug):
    """Discovery search (--target and --pair) or context search (--pair only); --explain says which pair lets a hit through."""
    from qdrant_explain.connectors import shapes as S

    order = int(order)
    check_method(method, order)
    if not pairs:
        raise click.UsageError("give at least one --pair POSITIVE_ID NEGATIVE_ID.")
    shape = S.Discover(target=target, pairs=pairs) if target is not None else S.Context(pairs=pairs)
    _run(shape, limit, do_explain, point_id, no_regions, order, collection, db, url, api_key, encoder_spec, method,
         players, baseline, budget, seed, json_out, png_out, html_out, quiet, what=shape.kind)


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--fusion", type=click.Choice(["rrf", "dbsf"]), default="rrf", show_default=True,
              help="How Qdrant fuses the prefetches.")
@click.option("--prefetch-limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Results of each prefetch.")
@click.option("--rrf-k", type=click.IntRange(min=1), default=None, help="RRF's constant k (default Qdrant's).")
@shape_options("Explain a hit: the fused score per prefetch (RRF rank terms, DBSF normalised scores), then the "
               "regions of the first image against the hit.", "the prefetch split")
def fuse(images, fusion, prefetch_limit, rrf_k, limit, do_explain, point_id, no_regions, order, collection, db, url,
         api_key, encoder_spec, method, players, baseline, budget, seed, json_out, png_out, html_out, quiet, debug):
    """Search with one prefetch per image, fused by RRF or DBSF; --explain splits a hit's fused score per prefetch."""
    from qdrant_explain.connectors import shapes as S

    order = int(order)
    check_method(method, order)
    if rrf_k is not None and fusion != "rrf":
        raise click.UsageError("--rrf-k is RRF's constant; it does not apply to --fusion dbsf.")
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    prefetches = tuple(S.Nearest(ex._shape_vector(str(p), f"image {p}")[0], limit=prefetch_limit) for p in images)
    shape = S.Fusion(prefetches=prefetches, method=fusion, k=rrf_k)
    _run(shape, limit, do_explain, point_id, no_regions, order, collection, db, url, api_key, encoder_spec, method,
         players, baseline, budget, seed, json_out, png_out, html_out, quiet, what=f"{fusion} fusion", explainer=ex,
         query_image=str(images[0]))


def _run(shape, limit, do_explain, point_id, no_regions, order, collection, db, url, api_key, encoder_spec, method,
         players, baseline, budget, seed, json_out, png_out, html_out, quiet, *, what, explainer=None,
         query_image=None) -> None:
    console = Console(quiet)
    ex = explainer or open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    if not do_explain:
        if png_out or html_out or json_out:
            raise click.UsageError("--json, --png and --html write an explanation: add --explain.")
        echo_hits(ex.query(shape, limit=limit))
        return
    console.info(f"explaining a {what} hit of collection {safe_text(collection)} ...")
    result = ex.query(shape, limit=limit, explain=True, hit=point_id, regions=not no_regions, order=order,
                      query_image=query_image, method=method, players=players, baseline=baseline, budget=budget,
                      seed=seed, log=console.info)
    write_outputs(result, json_out, png_out, html_out, console)
    echo_shape(result, json_out, console)
