"""The ``qdrant-explain`` command line: the group and its commands.

Each command lives in its own module; shared options and error handling are in
:mod:`._common`.
"""

from __future__ import annotations

import click

from .. import __version__
from .audit import audit
from .compare import compare
from .demo import demo
from .discover import discover, fuse
from .explain import explain
from .index import index
from .recommend import recommend
from .search import search

EPILOG = """\b
Example:
  qdrant-explain demo --out ./qe-demo      # offline: index, search, explain, report
\b
  qdrant-explain index photos/ --collection photos
  qdrant-explain search query.jpg --collection photos -k 5 --html hits.html
  qdrant-explain explain query.jpg --collection photos --point-id ID --order 2 --html why.html
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="qdrant-explain")
def main() -> None:
    """Explain why Qdrant returned an image for a query image."""
    from ..plugins import PluginError, load_plugins

    try:  # extensions named by the user (QDRANT_EXPLAIN_PLUGINS, entry points) register before options are parsed
        load_plugins()
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None


for _command in (index, search, explain, compare, recommend, discover, fuse, audit, demo):
    main.add_command(_command)

__all__ = ["main"]
