"""``qdrant-explain index``: encode a folder of images into a collection."""

from __future__ import annotations

import pathlib

import click

from qdrant_explain._io import safe_text

from ._common import Console, collection_options, command_errors, connection_kwargs, run_options

DEFAULT_ENCODER = "efficientnet-lite0"


def recorded_encoder(collection: str, conn: dict) -> str | None:
    """The encoder recorded with an existing collection, or None when it does not exist (yet)."""
    from qdrant_explain.connectors import CollectionNotFoundError, open_collection

    if "path" in conn and not pathlib.Path(conn["path"]).exists():
        return None
    from qdrant_explain.connectors import check_trusted_spec

    try:
        spec = open_collection(collection, **conn).info.encoder
    except CollectionNotFoundError:
        return None
    if spec:
        check_trusted_spec(spec, source=f"collection {collection!r}")  # never import what a collection names
    return spec


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@collection_options(images=False)
@click.option("--prune", is_flag=True,
              help="Delete points whose file is gone or whose content changed (they are listed either way).")
@click.option("--strict", is_flag=True, help="Exit with code 1 at the end when any file failed (default: 0).")
@run_options
@command_errors
def index(folder, collection, db, url, api_key, encoder_spec, prune, strict, quiet, debug):
    """Encode every image under FOLDER into collection NAME, and reconcile it with the folder.

    Point ids come from the file contents: files already indexed are skipped, renamed
    files keep their point with the new path, and points of changed or deleted files are
    listed (deleted with --prune). A file that cannot be indexed is listed with its
    reason and the rest is indexed; --strict makes that exit code 1.
    """
    from qdrant_explain.connectors import index_folder

    conn = connection_kwargs(db, url, api_key)
    if "path" in conn:
        pathlib.Path(conn["path"]).mkdir(parents=True, exist_ok=True)
    spec = encoder_spec or recorded_encoder(collection, conn) or DEFAULT_ENCODER
    report = index_folder(folder, collection, encoder=spec, progress=not quiet, prune=prune, **conn)
    where = conn.get("url") or conn.get("path")
    click.echo(summary_line(report, collection, where))
    for line in detail_lines(report, prune=prune):
        Console(quiet).info(line)
    for rel, reason in report.failed:
        click.echo(f"failed: {safe_text(rel)}: {safe_text(reason)}", err=True)
    if strict and report.failed:
        raise click.ClickException(f"{len(report.failed)} file(s) failed (--strict).")


def summary_line(report, collection: str, where: str | None) -> str:
    """One line of counts: added, already indexed, failed, then moved, stale and pruned."""
    return (f"{report.added} added, {report.skipped} already indexed, {len(report.failed)} failed "
            f"({report.total} images), {len(report.moved)} moved, {len(report.stale)} stale "
            f"({len(report.changed)} changed, {len(report.gone)} gone), {report.pruned} pruned "
            f"-> collection {safe_text(collection)!r} at {safe_text(where)}")


def detail_lines(report, *, prune: bool) -> list[str]:
    """What changed, one line per file (names escaped), plus the --prune hint."""
    lines = [f"moved: {safe_text(old)} -> {safe_text(new)}" for old, new in report.moved]
    verb = "pruned" if prune else "stale"
    lines += [f"{verb} (content changed): {safe_text(rel)}" for rel in report.changed]
    lines += [f"{verb} (file gone): {safe_text(rel)}" for rel in report.gone]
    if report.stale and not prune:
        lines.append(f"{len(report.stale)} stale point(s) kept; re-run with --prune to delete them.")
    return lines
