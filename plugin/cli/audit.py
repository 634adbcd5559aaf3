"""``qdrant-explain audit``: where does similarity come from across many queries?"""

from __future__ import annotations

import pathlib

import click

from qdrant_explain._io import safe_text

from ._common import collection_options, command_errors, open_explainer, out_dir_option, run_options


@click.command()
@click.argument("queries_folder", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path), required=False)
@click.option("--texts", "texts_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              default=None, help="Audit text queries instead: FILE holds one query per line (UTF-8); the "
                                 "collection's encoder must be clip:.")
@collection_options
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Hits per query.")
@out_dir_option("qe-audit", "Folder for report.html and audit.json (created if missing).")
@run_options
@command_errors
def audit(queries_folder, texts_file, collection, db, url, api_key, encoder_spec, k, out_dir, quiet, debug):
    """Explain the top hits of every image in QUERIES_FOLDER and summarise them in one report.

    The summary gives the share of the score that comes from the image border vs the
    centre, the most-attributed regions, and the hits whose stored vector disagrees
    with a fresh encode of their image. A query that cannot be read or a hit whose
    image cannot be resolved is listed as a finding (stderr, audit.json, the report)
    and the audit goes on; exit code 1 only when no query could be explained.
    """
    from qdrant_explain.connectors import iter_image_files

    if (queries_folder is None) == (texts_file is None):
        raise click.UsageError("Give exactly one of QUERIES_FOLDER (images) or --texts FILE (text queries).")
    if texts_file is not None:
        from qdrant_explain.text import read_queries_file

        queries = read_queries_file(texts_file)
    else:
        queries = iter_image_files(queries_folder)
    if not queries:
        raise click.ClickException(f"No images found in {safe_text(queries_folder)!r}.")
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=False)
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(queries), desc="auditing", unit="query")
    try:
        def step(i, n, name):
            if bar is not None and i:
                bar.update(1)

        if texts_file is not None:
            report = ex.audit_texts(queries, limit=k, progress=step)
        else:
            report = ex.audit(queries, limit=k, progress=step)
        if bar is not None:
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    report.to_html(html_path)
    report.to_json(out_dir / "audit.json")
    s = report.summary
    for f in s.get("findings", ()):
        where = f"query {f['query']}" + ("" if f.get("hit") is None else f", hit {f['hit']}")
        if not quiet:
            click.echo(f"warning: {safe_text(where)}: {safe_text(f['error'])}", err=True)
    if texts_file is not None:
        tops = ", ".join(f"{t['where']!r} ({t['query']!r})" for t in s["top_regions"][:3])
        click.echo(f"{s['queries']} text queries, {s['hits']} hits: {s['text_passes']} text + {s['image_passes']} image "
                   f"encodes; strongest words: {safe_text(tops) or 'none'}; {s.get('finding_count', 0)} item(s) could "
                   "not be explained")
        click.echo(f"report: {safe_text(html_path)}")
        if s["queries"] == 0:
            raise click.ClickException(f"none of the {len(queries)} queries could be explained (see the warnings above).")
        return
    share = "n/a" if s["border_share"] is None else f"{100 * s['border_share']:.0f}%"
    area = "n/a" if s["border_area"] is None else f"{100 * s['border_area']:.0f}%"
    click.echo(f"{s['queries']} queries, {s['hits']} hits: {share} of the score from the border band "
               f"({area} of the pixels); {s['vector_mismatch_count']} stored vector(s) disagree with a fresh encode; "
               f"{s.get('finding_count', 0)} item(s) could not be explained")
    click.echo(f"report: {safe_text(html_path)}")
    if s["queries"] == 0:
        raise click.ClickException(f"none of the {len(queries)} queries could be explained (see the warnings above).")
