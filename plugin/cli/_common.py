"""Options and error handling shared by every ``qdrant-explain`` command (one place).

- :func:`collection_options`: ``--collection``, ``--db`` / ``--url`` / ``--api-key``, ``--encoder``.
- :func:`run_options`: ``--quiet`` and ``--debug``.
- :func:`explain_options`: ``--order``, ``--method``, ``--players``, ``--baseline``, ``--budget``, ``--seed``.
- :func:`user_errors`: a user error (bad file, unknown collection or point, wrong encoder...)
  becomes one line on stderr and exit code 1; with ``--debug`` the traceback is shown.
  Usage errors (bad option values) stay click's: exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import sys
from typing import Any, Callable, Iterator

import click

HOME_ENV = "QDRANT_EXPLAIN_HOME"
"""Environment variable that moves the user directory (default ``~/.qdrant-explain``)."""

from qdrant_explain.explainers import vocabulary as _vocabulary

METHODS_ORDER1 = tuple(_vocabulary.list_methods(1, "side"))
"""``--method`` values at order 1 (the vocabulary's image-side methods)."""

METHODS_ORDER2 = tuple(_vocabulary.list_methods(2, "joint"))
"""``--method`` values at order 2 (the vocabulary's joint methods)."""

METHODS = tuple(dict.fromkeys(METHODS_ORDER1 + METHODS_ORDER2))
"""Every ``--method`` value."""

BASELINES = tuple(_vocabulary.BASELINES)
"""``--baseline`` names (the vocabulary's; ``NAME:ARGS`` forms take their arguments)."""

MIN_BUDGET = 2
"""Smallest ``--budget``: any game needs at least the empty and the full coalition."""


def home_dir() -> pathlib.Path:
    """``$QDRANT_EXPLAIN_HOME`` or ``~/.qdrant-explain``."""
    env = os.environ.get(HOME_ENV)
    return pathlib.Path(env).expanduser() if env else pathlib.Path("~/.qdrant-explain").expanduser()


def default_db() -> pathlib.Path:
    """The embedded Qdrant used when neither ``--db`` nor ``--url`` is given: ``<home>/db``."""
    return home_dir() / "db"


def _check_players(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--players``: ``slic:N`` (N >= 1) or ``grid:RxC`` / ``grid:N`` (R, C, N >= 1); else a usage error."""
    if value is None:
        return None
    text = value.strip().lower()
    match = re.fullmatch(r"slic:(\d+)|grid:(\d+)x(\d+)|grid:(\d+)", text)
    if not match:
        raise click.BadParameter(f"use 'slic:N' (e.g. slic:50) or 'grid:RxC' (e.g. grid:7x7); got {value!r}.")
    if any(g is not None and int(g) < 1 for g in match.groups()):
        raise click.BadParameter(f"needs at least one region (every count >= 1); got {value!r}.")
    return text


def _check_baseline(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--baseline``: a name of the vocabulary's BASELINES (``blur:SIGMA``, ``constant:R,G,B`` with values)."""
    if value is None:
        return None
    import numpy as np

    from qdrant_explain.explainers.masking import make_baseline

    try:
        make_baseline(value, np.zeros((4, 4, 3), dtype=np.uint8))
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(f"{value!r}: {' '.join(str(exc).split())} Names: {', '.join(BASELINES)}.") from None
    return value.strip().lower()


def parse_point_id(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A point id option/argument: an unsigned integer or a UUID, never a path (else a usage error)."""
    if value is None:
        return None
    from qdrant_explain.connectors.qdrant import normalize_id

    try:
        return normalize_id(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a point id: Qdrant ids are unsigned integers or UUIDs "
                                 "(to explain against an image file, use --image).") from None


def _method_help() -> str:
    return (f"Estimator. Order 1: {', '.join(METHODS_ORDER1)}; order 2: {', '.join(METHODS_ORDER2)}. auto: exact "
            f"when its cost fits the budget ({_vocabulary.AUTO_EXACT_COST} encoder passes without one), else sampled.")


def _baseline_help() -> str:
    return "What replaces a removed region: " + "; ".join(f"{k}: {v}" for k, v in _vocabulary.BASELINES.items()) + "."


def run_options(fn: Callable) -> Callable:
    """Add ``--quiet`` and ``--debug``."""
    fn = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(fn)
    fn = click.option("--quiet", is_flag=True, help="No progress bars or chatter on stderr.")(fn)
    return fn


def connection_options(fn: Callable) -> Callable:
    """Add ``--db``, ``--url``, ``--api-key`` and ``--encoder``."""
    fn = click.option("--encoder", "encoder_spec", metavar="SPEC", default=None,
                      help="Encoder spec (efficientnet-lite0, clip:MODEL@TAG, module:function). "
                           "Default: the one recorded with the collection, else efficientnet-lite0.")(fn)
    fn = click.option("--api-key", envvar="QDRANT_API_KEY", default=None, metavar="KEY",
                      help="Qdrant API key for --url (env QDRANT_API_KEY).")(fn)
    fn = click.option("--url", default=None, metavar="URL", help="Qdrant server URL instead of the embedded --db.")(fn)
    fn = click.option("--db", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None, metavar="PATH",
                      help=f"Embedded Qdrant folder. Default: ${HOME_ENV}/db, else ~/.qdrant-explain/db.")(fn)
    return fn


def collection_options(fn: Callable) -> Callable:
    """Add ``--collection`` plus :func:`connection_options`."""
    fn = connection_options(fn)
    fn = click.option("--collection", required=True, metavar="NAME", help="Qdrant collection name.")(fn)
    return fn


def explain_options(fn: Callable) -> Callable:
    """Add ``--order``, ``--method``, ``--players``, ``--baseline``, ``--budget``, ``--seed``."""
    fn = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                      help="Random seed (>= 0).")(fn)
    fn = click.option("--budget", type=click.IntRange(min=MIN_BUDGET), default=None, metavar="N",
                      help=f"{_vocabulary.BUDGET_MEANING} Capped at the exact cost; at least {MIN_BUDGET}. "
                           "Default: the method's own.")(fn)
    fn = click.option("--baseline", default="blur", show_default=True, metavar="NAME", callback=_check_baseline,
                      help=_baseline_help())(fn)
    fn = click.option("--players", default=None, metavar="SPEC", callback=_check_players,
                      help=f"Regions: slic:N or grid:RxC (default {_vocabulary.DEFAULT_PLAYERS[1]} at order 1, "
                           f"{_vocabulary.DEFAULT_PLAYERS[2]} at order 2).")(fn)
    fn = click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
                      help=_method_help())(fn)
    return fn


def _output_target(option: str, *, allow_stdout: bool) -> Callable:
    """A click callback validating an output file option at parse time (before any computation)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from qdrant_explain._io import OutputPathError, check_output_path

        try:
            checked = check_output_path(value, option=option, allow_stdout=allow_stdout)
        except OutputPathError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        return None if checked is None else str(checked)

    return callback


def _output_folder(option: str) -> Callable:
    """A click callback validating an output folder option at parse time (created when writing)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> pathlib.Path | None:
        from qdrant_explain._io import OutputPathError, check_output_dir

        try:
            return check_output_dir(value, option=option)
        except OutputPathError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback


def json_option(fn: Callable) -> Callable:
    """Add ``--json OUT`` (``-`` = stdout), validated before the command runs."""
    return click.option("--json", "json_out", metavar="OUT", default=None,
                        callback=_output_target("--json", allow_stdout=True),
                        help="Write the result as JSON to OUT ('-' = stdout); fields in README.")(fn)


def png_option(fn: Callable) -> Callable:
    """Add ``--png OUT`` (a file; not stdout), validated before the command runs."""
    return click.option("--png", "png_out", metavar="OUT", default=None, callback=_output_target("--png", allow_stdout=False),
                        help="Write a PNG figure (heatmaps over the images) to OUT.")(fn)


def html_option(fn: Callable) -> Callable:
    """Add ``--html OUT`` (a file; not stdout), validated before the command runs."""
    return click.option("--html", "html_out", metavar="OUT", default=None,
                        callback=_output_target("--html", allow_stdout=False),
                        help="Write a self-contained HTML report to OUT.")(fn)


def out_dir_option(default: str, help: str) -> Callable:
    """Add ``--out DIR`` (a folder, created when writing), validated before the command runs."""
    return click.option("--out", "out_dir", metavar="DIR", default=default, show_default=True,
                        callback=_output_folder("--out"), help=help)


def output_options(fn: Callable) -> Callable:
    """Add ``--json OUT``, ``--png OUT``, ``--html OUT``.

    Every target is checked when the options are parsed, before any computation: its folder must
    exist and be writable and it must not be a folder; only ``--json -`` means stdout. A bad
    target is a usage error (exit code 2) naming the option.
    """
    return json_option(png_option(html_option(fn)))


def write_outputs(result: Any, json_out: str | None, png_out: str | None, html_out: str | None, console: "Console") -> None:
    """Write the requested ``--json`` / ``--png`` / ``--html`` outputs of a result (atomically; names escaped)."""
    from qdrant_explain._io import safe_text

    if json_out:
        write_text_output(json_out, result.to_json())
        if json_out != "-":
            console.info(f"wrote {safe_text(json_out)}")
    if png_out:
        result.save_png(png_out)
        console.info(f"wrote {safe_text(png_out)}")
    if html_out:
        result.to_html(html_out)
        console.info(f"wrote {safe_text(html_out)}")


def check_method(method: str, order: int) -> None:
    """Refuse a method the order does not support (a usage error: exit code 2)."""
    allowed = METHODS_ORDER1 if order == 1 else METHODS_ORDER2
    if method not in allowed:
        raise click.BadParameter(f"{method!r} is not available at order {order}; use one of {', '.join(allowed)}.",
                                 param_hint="'--method'")


def open_explainer(collection: str, db: pathlib.Path | None, url: str | None, api_key: str | None,
                   encoder_spec: str | None, *, progress: bool | None = None) -> Any:
    """A :class:`~qdrant_explain.SearchExplainer` for the CLI options (encoder: --encoder or the recorded one)."""
    from qdrant_explain.connectors import CollectionNotFoundError
    from qdrant_explain.explainer import SearchExplainer

    conn = connection_kwargs(db, url, api_key)
    if "path" in conn and not pathlib.Path(conn["path"]).is_dir():
        raise CollectionNotFoundError(
            f"Collection {collection!r} not found: there is no Qdrant database at {conn['path']!r}. "
            "Create it with 'qdrant-explain index FOLDER --collection NAME' or pass --db/--url.")
    ex = SearchExplainer.open(collection, encoder=encoder_spec, progress=progress, **conn)
    return ex


def connection_kwargs(db: pathlib.Path | None, url: str | None, api_key: str | None) -> dict[str, Any]:
    """Keywords for :func:`qdrant_explain.connectors.open_collection`: ``path=`` or ``url=``/``api_key=``."""
    if db is not None and url is not None:
        raise click.UsageError("Give either --db PATH (embedded Qdrant) or --url URL (server), not both.")
    if url is not None:
        return {"url": url, "api_key": api_key}
    return {"path": str(db if db is not None else default_db())}


class Console:
    """Messages to stderr unless ``--quiet``; results go to stdout."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)


_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, LookupError, RuntimeError)


@contextlib.contextmanager
def user_errors(debug: bool = False) -> Iterator[None]:
    """Turn library errors into one line on stderr and exit code 1 (tracebacks only with ``--debug``)."""
    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
        raise
    except _USER_ERRORS as exc:
        if debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in message:
            message = f"{message}: {exc.filename}"
        raise click.ClickException(_safe(message)) from None
    except Exception as exc:  # anything else is still a one-line error without --debug
        if debug:
            raise
        raise click.ClickException(_safe(f"{type(exc).__name__}: {' '.join(str(exc).split())}")) from None


def _safe(message: str) -> str:
    """A message with file names in it, made terminal-safe (escape sequences shown escaped)."""
    from qdrant_explain._io import safe_text

    return safe_text(message)


def command_errors(fn: Callable) -> Callable:
    """Decorator: run the command body inside :func:`user_errors` (reads the ``debug`` keyword)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors(kwargs.get("debug", False)):
            return fn(*args, **kwargs)

    return wrapper


def write_text_output(target: str, text: str) -> None:
    """Write ``text`` (plus a final newline) to a file atomically, or to stdout as UTF-8 when ``target`` is ``-``.

    Lone surrogates (undecodable bytes of file names) are written escaped, so the output is always
    valid UTF-8, whatever the terminal's locale.
    """
    from qdrant_explain._io import escape_surrogates, write_atomic

    data = escape_surrogates(text if text.endswith("\n") else text + "\n")
    if target == "-":
        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stdout (e.g. replaced by a caller): it encodes itself
            sys.stdout.write(data)
        else:
            binary.write(data.encode("utf-8"))
            binary.flush()
    else:
        write_atomic(target, data)


def show_progress(quiet: bool) -> bool | None:
    """The ``progress`` argument for library calls: False when quiet, else shown on a TTY."""
    return False if quiet else (True if sys.stderr.isatty() else None)


__all__ = [
    "BASELINES",
    "HOME_ENV",
    "MIN_BUDGET",
    "parse_point_id",
    "METHODS",
    "METHODS_ORDER1",
    "METHODS_ORDER2",
    "check_method",
    "html_option",
    "json_option",
    "open_explainer",
    "out_dir_option",
    "output_options",
    "png_option",
    "write_outputs",
    "Console",
    "collection_options",
    "command_errors",
    "connection_kwargs",
    "connection_options",
    "default_db",
    "explain_options",
    "home_dir",
    "run_options",
    "show_progress",
    "user_errors",
    "write_text_output",
]
