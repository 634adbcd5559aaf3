"""The ``qdrant-explain`` command line: the group and its commands."""

from __future__ import annotations

import click

from .. import __version__

EPILOG = """\b
Example:
  qdrant-explain demo --out ./qe-demo      # offline: index, search, explain, report
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="qdrant-explain")
def main() -> None:
    """Explain why Qdrant returned an image for a query image."""


__all__ = ["main"]
