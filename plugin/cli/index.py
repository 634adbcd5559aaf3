"""``qdrant-explain index``: encode a folder of images into a collection."""

from __future__ import annotations

import pathlib

import click

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
@run_options
@command_errors
def index(folder, collection, db, url, api_key, encoder_spec, quiet, debug):
    """Encode every image under FOLDER into collection NAME (re-running adds only new files).

    Point ids come from the file contents, so files already indexed are skipped.
    The encoder is recorded with the collection; later commands reuse it.
    """
    from qdrant_explain.connectors import index_folder

    conn = connection_kwargs(db, url, api_key)
    if "path" in conn:
        pathlib.Path(conn["path"]).mkdir(parents=True, exist_ok=True)
    spec = encoder_spec or recorded_encoder(collection, conn) or DEFAULT_ENCODER
    report = index_folder(folder, collection, encoder=spec, progress=not quiet, **conn)
    where = conn.get("url") or conn.get("path")
    click.echo(f"{report.added} added, {report.skipped} already indexed, {len(report.failed)} failed "
               f"({report.total} images) -> collection {collection!r} at {where}")
    console = Console(quiet)
    for rel, reason in report.failed:
        console.info(f"skipped {rel}: {reason}")
