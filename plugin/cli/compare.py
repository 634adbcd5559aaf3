"""``qdrant-explain compare``: why point A ranks above point B for a query image or a text query."""

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
from ._intervals import interval_lines


@click.command()
@click.argument("positional", nargs=-1, metavar="[QUERY_IMAGE] ID_A ID_B")
@click.option("--text", "text", metavar="TEXT", default=None,
              help="Compare for a text query instead of QUERY_IMAGE (then give only ID_A ID_B): which words make "
                   "ID_A score above ID_B. Needs a clip: collection.")
@click.option("--text-mode", type=click.Choice(["pad", "delete"]), default=None,
              help="How a removed word is masked: pad (the tokenizer's pad token, positions kept; default) or delete.")
@collection_options
@explain_options
@output_options
@run_options
@command_errors
def compare(positional, text, text_mode, collection, db, url, api_key, encoder_spec, method, players, baseline, budget,
            seed, json_out, png_out, html_out, quiet, debug):
    """Explain why point ID_A scores above point ID_B for QUERY_IMAGE (query regions, relative game),
    or for --text TEXT (words)."""
    query_image, id_a, id_b = _positional(positional, text, text_mode)
    check_method(method, 1, order_option=False)
    console = Console(quiet)
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=show_progress(quiet))
    console.info(f"comparing {safe_text(id_a)} and {safe_text(id_b)} ({method}) ...")
    if text is not None:
        result = ex.compare_text(text, id_a, id_b, method=method, budget=budget, seed=seed, text_mode=text_mode,
                                 log=console.info)
        write_outputs(result, json_out, png_out, html_out, console)
        if json_out != "-":
            c = result.extra["comparison"]
            order = sorted(range(result.n_words), key=lambda i: -result.word_values[i])[:3]
            top = ", ".join(f"{safe_text(result.words.words[i])} {result.word_values[i]:+.4f}" for i in order)
            click.echo(f"score(A) - score(B) = {result.full_value:.6f} (A {c['score_a']:.6f}, B {c['score_b']:.6f}); "
                       f"{result.n_words} word{'s' if result.n_words != 1 else ''}, {result.text_passes} text encodes, {result.seconds:.1f} s; "
                       f"words for A: {top}")
        return
    result = ex.compare(query_image, id_a, id_b, method=method, players=players, baseline=baseline, budget=budget,
                        seed=seed, log=console.info)
    write_outputs(result, json_out, png_out, html_out, console)
    if json_out != "-":
        click.echo(f"score(A) - score(B) = {result.full_value:.6f} (A {result.hit_a.score:.6f}, B {result.hit_b.score:.6f}); "
                   f"{len(result.query_values)} query regions, {result.encoder_passes} encoder passes, {result.seconds:.1f} s")
        for line in interval_lines(result):
            click.echo(f"  {line}")


def _positional(values: tuple[str, ...], text: str | None, text_mode: str | None) -> tuple:
    """(query image or None, id A, id B) from the positional arguments: QUERY_IMAGE ID_A ID_B, or ID_A ID_B with --text."""
    want = 2 if text is not None else 3
    if len(values) != want:
        what = "ID_A ID_B (with --text TEXT)" if text is not None else "QUERY_IMAGE ID_A ID_B (or --text TEXT ID_A ID_B)"
        raise click.UsageError(f"compare takes {what}; got {len(values)} argument(s): {' '.join(values) or 'none'}.")
    if text_mode is not None and text is None:
        raise click.UsageError("--text-mode applies to a text query (--text TEXT).")
    ids = tuple(parse_point_id(None, None, v) for v in values[-2:])
    return (None if text is not None else pathlib.Path(values[0])), ids[0], ids[1]
