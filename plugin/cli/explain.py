"""``qdrant-explain explain``: why a hit (a point of a collection, or any image) matched a query image."""

from __future__ import annotations

import pathlib

import click

from qdrant_explain._io import safe_text

from ._common import (
    Console,
    check_method,
    order_for,
    command_errors,
    connection_options,
    anytime_options,
    explain_options,
    open_explainer,
    output_options,
    parse_point_id,
    run_options,
    show_progress,
    write_outputs,
)
from ._intervals import interval_lines


@click.command()
@click.argument("query_image", type=click.Path(dir_okay=False, path_type=pathlib.Path), required=False)
@click.option("--text", "text", metavar="TEXT", default=None,
              help="Explain a text query instead of QUERY_IMAGE: which words and which hit regions made the hit "
                   "come back, and with --order 2 the word<->region pairs. Needs a clip: encoder.")
@click.option("--text-mode", type=click.Choice(["pad", "delete"]), default=None,
              help="How a removed word is masked: pad (the tokenizer's pad token, positions kept; default) or delete.")
@click.option("--point-id", "point_id", metavar="ID", default=None, callback=parse_point_id,
              help="Id of the hit in --collection (an unsigned integer or a UUID).")
@click.option("--collection", metavar="NAME", default=None, help="Qdrant collection holding --point-id.")
@click.option("--image", "hit_image", metavar="HIT_IMAGE", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=None, help="Explain against this image file instead of a point.")
@click.option("--order", type=click.Choice(["1", "2"]), default=None,
              help="1: saliency maps on both images; 2: joint query<->hit region correspondences. Default: 1, "
                   "or 2 for a method that exists only at order 2 (sam, stratified).")
@explain_options
@anytime_options
@connection_options
@output_options
@run_options
@command_errors
def explain(query_image, text, text_mode, point_id, collection, hit_image, order, method, players, baseline, budget,
            seed, top_k, max_seconds, db, url, api_key, encoder_spec, json_out, png_out, html_out, quiet, debug):
    """Explain why a hit matched QUERY_IMAGE (or --text TEXT): give --point-id ID --collection NAME, or --image HIT_IMAGE.

    Before encoding, the plan is printed (method, encoder passes, a time estimate); a stored
    vector that no longer matches its image is reported as a warning.
    """
    order = order_for(order, method)
    if (query_image is None) == (text is None):
        raise click.UsageError("Give exactly one query: QUERY_IMAGE or --text TEXT.")
    if text_mode is not None and text is None:
        raise click.UsageError("--text-mode applies to a text query (--text TEXT).")
    if (point_id is None) == (hit_image is None):
        raise click.UsageError("Give exactly one of --point-id ID (with --collection NAME) or --image HIT_IMAGE.")
    if point_id is not None and collection is None:
        raise click.UsageError("--point-id needs --collection NAME.")
    check_method(method, order)
    progress = show_progress(quiet)
    console = Console(quiet)
    console.info(f"explaining (order {order}, {method}) ...")
    said: list[str] = []

    def log(line: str) -> None:  # the plan, before encoding
        said.append(line)
        console.info(safe_text(line))

    options = dict(order=order, method=method, players=players, baseline=baseline, budget=budget, seed=seed, log=log)
    if text is not None:
        from .text import explain_text_command  # noqa: PLC0415

        result = explain_text_command(text, text_mode, point_id, collection, hit_image, db, url, api_key, encoder_spec,
                                      progress=progress, **options)
    elif point_id is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        ex.top_k, ex.max_seconds = top_k, max_seconds
        result = ex.explain(query_image, point_id, **{**options, "budget": "auto" if budget is None else budget})
    else:
        result = explain_images(query_image, hit_image, collection, db, url, api_key, encoder_spec, progress=progress,
                                top_k=top_k, max_seconds=max_seconds,
                                **{**options, "budget": "auto" if budget is None else budget})
    for line in warnings_of(result):
        if line not in said:  # a capped budget was said with the plan already
            console.info(f"warning: {safe_text(line)}")
    write_outputs(result, json_out, png_out, html_out, console)
    if json_out != "-":
        click.echo(summary_line(result))
        for line in interval_lines(result):
            click.echo(f"  {line}")
        click.echo(safe_text(result.summary_text(warn=False)))  # a baseline warning was printed above
        stopped = stopped_line(result)
        if stopped:
            click.echo(stopped)


def stopped_line(result) -> str | None:
    """The last line of an anytime explanation: why it stopped (None for a fixed cost)."""
    from qdrant_explain.explainers.anytime import STOP_REASONS

    extra = getattr(result, "extra", None) or {}
    reason = extra.get("stopped")
    if reason is None:
        return None
    info = extra.get("anytime") or {}
    sides = ", ".join(f"{name} {info[name].get('passes')} passes in {len(info[name].get('rounds', ()))} rounds"
                      for name in ("query", "hit") if name in info)
    return f"stopped: {reason} ({STOP_REASONS.get(reason, reason)}; top {info.get('top_k')}; {sides})"


def explain_images(query_image, hit_image, collection, db, url, api_key, encoder_spec, *, progress, log, top_k=3,
                   max_seconds=None, **options):
    """A raw pair of image files: the encoder is --encoder, else the collection's, else the default."""
    from qdrant_explain.pair import explain_hits

    from .index import DEFAULT_ENCODER

    if collection is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        ex.top_k, ex.max_seconds = top_k, max_seconds
        return ex.explain(query_image, hit_image, log=log, **options)
    from ._common import memory_cap

    (result,) = explain_hits(query_image, [hit_image], encoder_spec or DEFAULT_ENCODER, score="cosine",
                             progress=progress, log=log, memory_cap=memory_cap(), top_k=top_k,
                             max_seconds=max_seconds, **options)
    return result


def warnings_of(result) -> list[str]:
    """The lines a user must read: a stale stored vector, a capped budget."""
    extra = getattr(result, "extra", None) or {}
    return [str(w) for w in extra.get("warnings", ())]


def summary_line(result) -> str:
    """One line: values and cost."""
    if hasattr(result, "text_passes"):
        from .text import text_summary_line  # noqa: PLC0415

        return text_summary_line(result)
    score = "" if result.score is None else f" (Qdrant score {result.score:.6f})"
    stale = ""
    if result.vector_check is not None and result.vector_check.get("disagrees"):
        stale = " [warning: stored vector differs from a fresh encode of the image]"
    extra = getattr(result, "extra", None) or {}
    split = ""
    if result.order == 1 and result.query_values is not None and result.hit_values is not None:
        split = f" (query {extra.get('query_passes')}, hit {extra.get('hit_passes')}: the budget counts per side)"
    return (f"full value {result.full_value:.6f}{score}{stale}, base {result.base_value:.6f}; order {result.order}, "
            f"{result.method}, players q={result.n_query_players} h={result.n_hit_players}, "
            f"{result.encoder_passes} encoder passes{split}, {result.seconds:.1f} s")
