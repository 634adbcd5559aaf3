"""``qdrant-explain audit``: where does similarity come from across many queries (a folder, a file, the collection)?"""

from __future__ import annotations

import json
import pathlib
import sys

import click

from qdrant_explain._io import safe_text

from ._common import (
    MIN_BUDGET,
    MethodChoice,
    _check_players,
    collection_options,
    command_errors,
    memory_cap_option,
    open_explainer,
    out_dir_option,
    run_options,
)


def _parse_filter(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--filter``: a Qdrant filter as JSON (``{"must": [{"key": "label", "match": {"value": "cat"}}]}``)."""
    if value is None:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON ({exc.msg}); give a Qdrant filter such as "
                                 '\'{"must": [{"key": "label", "match": {"value": "cat"}}]}\'.') from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"a Qdrant filter is a JSON object; got {type(data).__name__}.")
    from qdrant_client import models

    try:
        models.Filter(**data)
    except Exception as exc:  # noqa: BLE001 - pydantic's validation error, shown in one line
        raise click.BadParameter(f"not a Qdrant filter: {' '.join(str(exc).split())[:300]}") from None
    return data


def _engine_choices() -> list[str]:
    from qdrant_explain.scale import ENGINES

    return list(ENGINES)


@click.command()
@click.argument("queries", required=False, type=click.Path(exists=True, path_type=pathlib.Path))
@click.option("--texts", "texts_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              default=None, help="Audit text queries instead: FILE holds one query per line (UTF-8); the "
                                 "collection's encoder must be clip:.")
@collection_options
@click.option("--from-collection", is_flag=True,
              help="Audit the collection itself: every point (or those matching --filter) is a query, its "
                   "image searched by its stored vector (the point itself is not counted as a hit).")
@click.option("--filter", "query_filter", metavar="JSON", default=None, callback=_parse_filter,
              help="With --from-collection: a Qdrant filter on the points, as JSON.")
@click.option("--sample", type=click.IntRange(min=1), default=None, metavar="N",
              help="Audit a seeded random sample of N queries (default: all).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Hits per query.")
@click.option("--players", default="slic:24", show_default=True, metavar="SPEC", callback=_check_players,
              help="Regions: slic:N or grid:RxC.")
@click.option("--budget", type=click.IntRange(min=MIN_BUDGET), default=128, show_default=True, metavar="N",
              help="Encoder passes per explained side (capped at the exact cost).")
@click.option("--method", type=MethodChoice(1), default="auto", show_default=True, help="Order-1 estimator.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every sampler and of the query order.")
@click.option("--engine", type=click.Choice(_engine_choices()), default="local", show_default=True,
              help="Run the queries in this process (local) or on Ray actors (ray; pip install 'qdrant-explain[ray]').")
@click.option("--address", default=None, metavar="ADDR",
              help="With --engine ray: an existing Ray cluster ('auto', 'ray://HOST:10001'); default: start one here.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --engine ray: worker actors (default: CPUs / --threads, or GPUs / --num-gpus).")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="CPU threads per worker (torch and BLAS).")
@click.option("--num-gpus", type=click.FloatRange(min=0), default=None, metavar="G",
              help="With --engine ray: GPUs per worker (e.g. 1, or 0.5 for two workers per GPU).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, metavar="N",
              help="Masked images per encoder call.")
@click.option("--ci-width", type=click.FloatRange(min=0, min_open=True, max=2, max_open=True), default=None,
              metavar="W", help="Stop once every interval (border share, object share, stale-vector rate, "
                                "stability) is at most W wide (high - low), e.g. 0.02.")
@click.option("--min-queries", type=click.IntRange(min=2), default=10, show_default=True, metavar="N",
              help="With --ci-width: never stop before N queries.")
@click.option("--stability", type=click.FloatRange(min=0, max=1), default=0.1, show_default=True, metavar="F",
              help="Share of the queries explained again with seed + 1 (explanation stability).")
@click.option("--interval", type=click.Choice(["clt", "bootstrap"]), default="clt", show_default=True,
              help="Confidence intervals over queries: delta-method CLT (Wilson for rates) or percentile bootstrap.")
@click.option("--no-maps", is_flag=True, help="Keep only the numbers of each query (smaller state; no maps in the report).")
@click.option("--restart", is_flag=True, help="Drop the state in --out and start the audit again.")
@out_dir_option("qe-audit", "The audit's folder: queries.jsonl (one row per query; a rerun resumes), manifest.json, "
                            "queries.parquet, audit.json and report.html (created if missing).")
@memory_cap_option
@run_options
@command_errors
def audit(queries, texts_file, collection, db, url, api_key, encoder_spec, from_collection, query_filter, sample, k, players,
          budget, method, seed, engine, address, workers, threads, num_gpus, batch_size, ci_width, min_queries,
          stability, interval, no_maps, restart, out_dir, quiet, debug):
    """Explain the top hits of many queries and summarise them, with confidence intervals, in one report.

    QUERIES is a folder of images or a text file with one query per line (an image path, or
    point:ID); or give --from-collection. Each query's row is committed to --out as soon as it
    is explained: an interrupted audit, rerun with the same options, goes on where it stopped.
    The summary gives the share of the attribution on the image border vs the centre and on the
    image's largest object vs the background, where the top regions recur, the rate of stored
    vectors that disagree with a fresh encode, and how stable the explanations are across seeds.
    A query or hit that cannot be read is listed as a finding and the audit goes on; exit code 1
    only when no query could be explained. The collection is never written to.
    """
    from qdrant_explain.scale import CollectionSource, FolderSource, QueryFileSource

    if texts_file is not None:
        return _audit_texts(queries, texts_file, from_collection, collection, db, url, api_key, encoder_spec, k,
                            out_dir, quiet)
    if from_collection and queries is not None:
        raise click.UsageError("Give QUERIES (a folder or a file of queries) or --from-collection, not both.")
    if query_filter is not None and not from_collection:
        raise click.UsageError("--filter selects points of the collection: use it with --from-collection.")
    if engine != "ray" and any(v is not None for v in (address, workers, num_gpus)):
        raise click.UsageError("--address, --workers and --num-gpus are options of --engine ray.")
    if from_collection:
        source = CollectionSource(filter=query_filter)
    elif queries is None:
        raise click.UsageError("Give QUERIES (a folder of images or a file of queries) or --from-collection.")
    elif queries.is_dir():
        source = FolderSource(str(queries))
    else:
        source = QueryFileSource(str(queries))
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=False)
    options = dict(address=address, workers=workers, num_gpus=num_gpus) if engine == "ray" else {}
    report = ex.audit(source, limit=k, players=players, budget=budget, method=method, seed=seed, engine=engine,
                      out=out_dir, progress=False if quiet else sys.stderr, threads=threads, batch_size=batch_size,
                      ci_width=ci_width, min_queries=min_queries, max_queries=sample, stability=stability,
                      interval=interval, keep_maps=not no_maps, restart=restart, **options)
    s = report.summary
    if not quiet:
        for f in s.get("findings", ()):
            where = f"query {f['query']}" + ("" if f.get("hit") is None else f", hit {f['hit']}")
            click.echo(f"warning: {safe_text(where)}: {safe_text(f['error'])}", err=True)
    ivs = s.get("intervals", {})

    def pct(name: str) -> str:
        iv = ivs.get(name) or {}
        if iv.get("estimate") is None:
            return "n/a"
        if iv.get("low") is None:
            return f"{100 * iv['estimate']:.0f}%"
        return f"{100 * iv['estimate']:.0f}% [{100 * iv['low']:.0f}, {100 * iv['high']:.0f}]"

    area = "n/a" if s["border_area"] is None else f"{100 * s['border_area']:.0f}%"
    click.echo(f"{s['queries']} queries, {s['hits']} hits: {pct('border_share')} of the attribution from the border "
               f"band ({area} of the pixels); {s['vector_mismatch_count']} stored vector(s) disagree with a fresh "
               f"encode; {s.get('finding_count', 0)} item(s) could not be explained")
    stab = ivs.get("stability") or {}
    stab_text = "n/a" if stab.get("estimate") is None else (
        f"{stab['estimate']:.3f}" + ("" if stab.get("low") is None else f" [{stab['low']:.3f}, {stab['high']:.3f}]"))
    level = int(round(100 * s.get("level", 0.95)))
    click.echo(f"largest object: {pct('object_share')}; stale-vector rate: {pct('stale_rate')}; stability "
               f"(heatmap correlation across seeds): {stab_text}  ({level}% intervals over queries)")
    per_query = s.get("passes_per_query")
    rate = s.get("queries_per_second")
    click.echo(f"{s.get('queries_this_run', 0)} queries this run, {s.get('resumed', 0)} resumed"
               + (f"; {per_query:.0f} encoder passes per query" if per_query else "")
               + (f"; {rate:.2f} queries/s on {s.get('workers')} {s.get('engine')} worker(s)" if rate else "")
               + ("; stopped: every interval is narrower than --ci-width" if s.get("stopped_early") else ""))
    click.echo(f"report: {safe_text(out_dir / 'report.html')}")
    if s["queries"] == 0:
        raise click.ClickException(f"none of the {s.get('planned_queries', 0)} queries could be explained "
                                   "(see the warnings above).")


def _audit_texts(queries, texts_file, from_collection, collection, db, url, api_key, encoder_spec, k, out_dir,
                 quiet) -> None:
    """``audit --texts FILE``: text queries (one per line, UTF-8) against a clip: collection, on this machine."""
    from qdrant_explain.text import read_queries_file

    if queries is not None or from_collection:
        raise click.UsageError("Give QUERIES, --from-collection or --texts FILE, not two of them.")
    texts = read_queries_file(texts_file)
    if not texts:
        raise click.ClickException(f"No queries found in {safe_text(texts_file)!r}.")
    ex = open_explainer(collection, db, url, api_key, encoder_spec, progress=False)
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc="auditing texts", unit="query")
    try:
        def step(i, n, name):
            if bar is not None and i:
                bar.update(1)

        report = ex.audit_texts(texts, limit=k, progress=step)
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
    tops = ", ".join(f"{t['where']!r} ({t['query']!r})" for t in s["top_regions"][:3])
    click.echo(f"{s['queries']} text queries, {s['hits']} hits: {s['text_passes']} text + {s['image_passes']} image "
               f"encodes; strongest words: {safe_text(tops) or 'none'}; {s.get('finding_count', 0)} item(s) could "
               "not be explained")
    click.echo(f"report: {safe_text(html_path)}")
    if s["queries"] == 0:
        raise click.ClickException(f"none of the {len(texts)} queries could be explained (see the warnings above).")
