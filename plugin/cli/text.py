"""Text queries at the command line: ``explain --text`` (the search side lives in ``search --text``)."""

from __future__ import annotations

from ._common import open_explainer


def explain_text_command(text, text_mode, point_id, collection, hit_image, db, url, api_key, encoder_spec, *, progress,
                         log, **options):
    """A :class:`~qdrant_explain.text_results.TextExplanation` of a point of a collection, or of an image file
    (then the encoder is --encoder, else the collection's)."""
    from qdrant_explain.text import explain_text

    if point_id is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        return ex.explain_text(text, point_id, text_mode=text_mode, log=log, **options)
    if collection is not None:
        ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=progress)
        encoder = ex.encoder
    else:
        if encoder_spec is None:
            import click

            raise click.UsageError("explain --text --image HIT_IMAGE needs a clip: encoder: --encoder clip:MODEL@TAG "
                                   "(or --collection NAME of a clip: collection).")
        encoder = encoder_spec
    (result,) = explain_text(text, [hit_image], encoder, score="cosine", text_mode=text_mode, progress=progress, log=log,
                             **options)
    return result


def text_summary_line(result) -> str:
    """One line: values, cost (text and image encodes apart), the strongest words or pairs."""
    score = "" if result.score is None else f" (Qdrant score {result.score:.6f})"
    if result.cross is not None:
        best = ", ".join(f"{w}<->#{j} {v:+.4f}" for _, w, j, v in result.top_pairs(3))
        what = f"top pairs {best}"
    elif result.word_values is not None:
        order = sorted(range(result.n_words), key=lambda i: -result.word_values[i])[:3]
        what = "top words " + ", ".join(f"{result.words.words[i]} {result.word_values[i]:+.4f}" for i in order)
    else:
        what = f"{result.n_hit_players} hit regions explained"
    return (f"full value {result.full_value:.6f}{score}, base {result.base_value:.6f}; order {result.order}, "
            f"{result.method}, {result.n_words} words x {result.n_hit_players} regions, {result.text_passes} text + "
            f"{result.image_passes} image encodes, {result.seconds:.1f} s; {what}")
