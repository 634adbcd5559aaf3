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

METHODS_ORDER1 = ("auto", "exact", "kernel-shap", "permutation", "lime", "occlusion")
"""``--method`` values at order 1 (``auto``: exact when 2^n fits the budget, else kernel-shap)."""

METHODS_ORDER2 = ("auto", "exact", "stratified")
"""``--method`` values at order 2 (joint; ``auto``: exact when 2^nq + 2^nh fits the budget, else stratified)."""

METHODS = tuple(dict.fromkeys(METHODS_ORDER1 + METHODS_ORDER2))
"""Every ``--method`` value."""

BASELINES = ("blur", "mean", "gray")


def home_dir() -> pathlib.Path:
    """``$QDRANT_EXPLAIN_HOME`` or ``~/.qdrant-explain``."""
    env = os.environ.get(HOME_ENV)
    return pathlib.Path(env).expanduser() if env else pathlib.Path("~/.qdrant-explain").expanduser()


def default_db() -> pathlib.Path:
    """The embedded Qdrant used when neither ``--db`` nor ``--url`` is given: ``<home>/db``."""
    return home_dir() / "db"


def _check_players(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"slic:\d+|grid:\d+x\d+|grid:\d+", value.strip().lower()):
        raise click.BadParameter("use 'slic:N' (e.g. slic:50) or 'grid:RxC' (e.g. grid:7x7).")
    return value.strip().lower()


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
    fn = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")(fn)
    fn = click.option("--budget", type=click.IntRange(min=1), default=None, metavar="N",
                      help="Encoder passes allowed (default: the method's own).")(fn)
    fn = click.option("--baseline", type=click.Choice(BASELINES), default="blur", show_default=True,
                      help="What replaces a removed region.")(fn)
    fn = click.option("--players", default=None, metavar="SPEC", callback=_check_players,
                      help="Regions: slic:N or grid:RxC (default slic:50 at order 1, slic:16 at order 2).")(fn)
    fn = click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
                      help="Estimator; auto = exact when affordable, else sampled.")(fn)
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
