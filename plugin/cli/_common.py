"""Options and error handling shared by every ``qdrant-explain`` command (one place).

- :func:`collection_options`: ``--collection``, ``--db`` / ``--url`` / ``--api-key``, ``--encoder``,
  ``--backend``, ``--vector-name``, ``--insecure``, and (commands that resolve hit images)
  ``--image-root``, ``--allow-urls``. The options added after the first release reach
  :func:`connection_kwargs` / :func:`open_explainer` through the click context, so a
  command's signature does not change when one is added.
- :func:`console_warnings`: Python warnings (SLIC's, ours) become one line on stderr
  without file paths, and nothing with ``--quiet``.
- :func:`run_options`: ``--quiet`` and ``--debug``.
- :func:`explain_options`: ``--order``, ``--method``, ``--players``, ``--baseline``, ``--budget``, ``--seed``.
- :func:`user_errors`: a user error (bad file, unknown collection or point, wrong encoder...)
  becomes one line on stderr and exit code 1; with ``--debug`` the traceback is shown.
  Usage errors (bad option values) stay click's: exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
import re
import sys
import warnings
from typing import Any, Callable, Iterator

import click

from qdrant_explain.connectors.roots import HOME_ENV
from qdrant_explain.connectors.roots import home_dir as _home_dir

from qdrant_explain.explainers import vocabulary as _vocabulary

METHODS_ORDER1 = tuple(_vocabulary.list_methods(1, "side"))
"""``--method`` values at order 1 (the vocabulary's image-side methods)."""

METHODS_ORDER2 = tuple(_vocabulary.list_methods(2, "joint"))
"""``--method`` values at order 2 (the vocabulary's joint methods)."""

METHODS = tuple(dict.fromkeys(METHODS_ORDER1 + METHODS_ORDER2))
"""Every built-in ``--method`` value (extensions may register more: :func:`methods_for`)."""


def methods_for(order: int | None = None) -> tuple[str, ...]:
    """The ``--method`` values now registered: for ``order`` 1 (image sides), 2 (joint), or both (None)."""
    if order == 1:
        return tuple(_vocabulary.list_methods(1, "side"))
    if order == 2:
        return tuple(_vocabulary.list_methods(2, "joint"))
    return tuple(dict.fromkeys(methods_for(1) + methods_for(2)))


class MethodChoice(click.Choice):
    """``click.Choice`` over the registry, read when a value is parsed (after extensions registered)."""

    def __init__(self, order: int | None = None) -> None:
        self.order = order
        super().__init__(methods_for(order))

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return methods_for(self.order)

    @choices.setter
    def choices(self, _value: Any) -> None:  # click's __init__ assigns; the registry is the source
        pass

BASELINES = tuple(_vocabulary.BASELINES)
"""``--baseline`` names (the vocabulary's; ``NAME:ARGS`` forms take their arguments)."""

MIN_BUDGET = 2
"""Smallest ``--budget``: any game needs at least the empty and the full coalition."""


def home_dir() -> pathlib.Path:
    """``$QDRANT_EXPLAIN_HOME`` or ``~/.qdrant-explain``."""
    return _home_dir()


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

    from qdrant_explain.explainers.masking import is_background, make_baseline
    from qdrant_explain.sides import resolve_backgrounds

    try:
        if is_background(value):  # a folder of photos: its path keeps its case
            resolve_backgrounds(value, seed=0)
            return value.strip()
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


_CONTEXT_KEY = "qdrant_explain.connection"

BACKEND_NAMES = ("client", "edge")
"""Built-in ``--backend`` values; a backend registered with ``register_backend`` is accepted too."""


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Store an option that is not a parameter of the command function in the click context."""
    ctx.meta.setdefault(_CONTEXT_KEY, {})[param.name] = value
    return value


def _check_backend(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return _remember(ctx, param, None)
    from qdrant_explain.connectors import list_backends

    known = list_backends()
    if value not in known:
        raise click.BadParameter(f"{value!r} is not a backend; use one of {', '.join(known)}.")
    return _remember(ctx, param, value)


def connection_options(fn: Callable | None = None, *, images: bool = True) -> Callable:
    """Add ``--db``, ``--url``, ``--api-key``, ``--insecure``, ``--backend``, ``--vector-name``, ``--encoder``.

    With ``images=True`` (commands that resolve hit images) also ``--image-root`` and
    ``--allow-urls``. Usable as ``@connection_options`` or ``@connection_options(images=False)``.
    """
    if fn is None:
        return functools.partial(connection_options, images=images)
    if images:
        fn = click.option("--allow-urls", is_flag=True, default=False, expose_value=False, callback=_remember,
                          help="Fetch hit images from http(s) URLs in payloads (off: a collection cannot make "
                               "this machine fetch URLs).")(fn)
        fn = click.option("--image-root", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
                          metavar="DIR", expose_value=False, callback=_remember,
                          help="Folder that payload image paths are confined to. Default: the FOLDER that "
                               "'index' recorded on this machine (never the collection's metadata).")(fn)
    fn = click.option("--vector-name", default=None, metavar="NAME", expose_value=False, callback=_remember,
                      help="Named vector to use (collections with several, or built by another tool).")(fn)
    fn = click.option("--backend", default=None, metavar="NAME", expose_value=False, callback=_check_backend,
                      help="Storage backend: client (qdrant-client: --db or --url; default) or edge "
                           "(Qdrant Edge shards in --db).")(fn)
    fn = click.option("--encoder", "encoder_spec", metavar="SPEC", default=None,
                      help="Encoder spec (efficientnet-lite0, clip:MODEL@TAG, module:function). "
                           "Default: the one recorded with the collection if it is a built-in family, "
                           "else efficientnet-lite0.")(fn)
    fn = click.option("--insecure", is_flag=True, default=False, expose_value=False, callback=_remember,
                      help="Allow sending --api-key over plain http:// to another machine.")(fn)
    fn = click.option("--api-key", envvar="QDRANT_API_KEY", default=None, metavar="KEY",
                      help="Qdrant API key for --url (env QDRANT_API_KEY).")(fn)
    fn = click.option("--url", default=None, metavar="URL", help="Qdrant server URL instead of the embedded --db.")(fn)
    fn = click.option("--db", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None, metavar="PATH",
                      help=f"Embedded Qdrant folder (or Edge shards with --backend edge). Default: ${HOME_ENV}/db, "
                           "else ~/.qdrant-explain/db.")(fn)
    return fn


def collection_options(fn: Callable | None = None, *, images: bool = True) -> Callable:
    """Add ``--collection`` plus :func:`connection_options` (``images`` as there)."""
    if fn is None:
        return functools.partial(collection_options, images=images)
    fn = connection_options(fn, images=images)
    fn = click.option("--collection", required=True, metavar="NAME", help="Qdrant collection name.")(fn)
    return fn


def context_options() -> dict[str, Any]:
    """The connection options stored in the current click context (empty outside a command)."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_CONTEXT_KEY, {})) if ctx is not None else {}


def _check_memory_cap(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from qdrant_explain.explainers.memory import parse_memory

    if value is not None:
        try:
            parse_memory(value, what="--memory-cap")
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    return _remember(ctx, param, value)


def memory_cap_option(fn: Callable) -> Callable:
    """Add ``--memory-cap SIZE`` (env ``QDRANT_EXPLAIN_MEMORY_CAP``), kept in the click context."""
    from qdrant_explain.explainers.memory import DEFAULT_MEMORY_FRACTION, MEMORY_CAP_ENV

    return click.option(
        "--memory-cap", metavar="SIZE", envvar=MEMORY_CAP_ENV, default=None, expose_value=False,
        callback=_check_memory_cap,
        help=f"Most memory a plan may state before it runs, e.g. 4GiB, 500M or 50% (of the available memory); "
             f"'auto' picks only methods that fit and anything else is refused with the numbers "
             f"(env {MEMORY_CAP_ENV}). Default: {DEFAULT_MEMORY_FRACTION:.0%} of the available memory.",
    )(fn)


def memory_cap() -> Any:
    """The ``--memory-cap`` of the current command (None: the library's default)."""
    return context_options().get("memory_cap")


class BudgetParam(click.ParamType):
    """``--budget``: an integer >= 2 (a fixed cost), ``auto`` or ``auto:N`` (rounds, at most N passes per side)."""

    name = "budget"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from qdrant_explain.explainers.anytime import parse_budget

        if not isinstance(value, str):
            return value
        try:
            auto, cap = parse_budget(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value.strip().lower() if auto else cap


def anytime_options(fn: Callable) -> Callable:
    """Add ``--top-k`` and ``--max-seconds`` (the stop rule of ``--budget auto``)."""
    fn = click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None, metavar="S",
                      help="Under --budget auto: start no sampling round that would end after S seconds.")(fn)
    fn = click.option("--top-k", "top_k", type=click.IntRange(min=1), default=3, show_default=True, metavar="K",
                      help="Under --budget auto: stop when the K strongest regions of each side are identified "
                           "with 95 % confidence.")(fn)
    return fn


def explain_options(fn: Callable) -> Callable:
    """Add ``--order``, ``--method``, ``--players``, ``--baseline``, ``--budget``, ``--seed``, ``--memory-cap``."""
    fn = memory_cap_option(fn)
    fn = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                      help="Random seed (>= 0).")(fn)
    fn = click.option("--budget", type=BudgetParam(), default=None, metavar="N|auto|auto:N",
                      help=f"{_vocabulary.BUDGET_MEANING} Capped at the exact cost; at least {MIN_BUDGET}. "
                           "'auto' (explain's default at order 1): sample in rounds until the top regions are "
                           "identified with 95 % confidence (auto:N: at most N passes per side; a side of 8 "
                           "regions or fewer is enumerated at once); N: a fixed cost. "
                           "Default: explain samples in rounds, the other commands use the method's own.")(fn)
    fn = click.option("--baseline", default=_vocabulary.DEFAULT_BASELINE, show_default=True, metavar="NAME", callback=_check_baseline,
                      help=_baseline_help())(fn)
    fn = click.option("--players", default=None, metavar="SPEC", callback=_check_players,
                      help=f"Regions: slic:N or grid:RxC (default {_vocabulary.DEFAULT_PLAYERS[1]} at order 1, "
                           f"{_vocabulary.DEFAULT_PLAYERS[2]} at order 2).")(fn)
    fn = click.option("--method", type=MethodChoice(), default="auto", show_default=True,
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


def order_for(order: str | int | None, method: str) -> int:
    """The order to explain at: ``--order`` when given, else the method's own.

    A method that exists only at order 2 (``sam``, ``stratified``: query x hit correspondences)
    implies ``--order 2``; every other method defaults to order 1.
    """
    if order is not None:
        return int(order)
    return 2 if method in methods_for(2) and method not in methods_for(1) else 1


def check_method(method: str, order: int, *, order_option: bool = True) -> None:
    """Refuse a method the order does not support (a usage error: exit code 2).

    A method of the other order is named as such, with the ``--order`` that runs it when the
    command has that option (``order_option``).
    """
    allowed = methods_for(order)
    if method in allowed:
        return
    other = 2 if order == 1 else 1
    if method in methods_for(other):
        what = "query x hit correspondences" if other == 2 else "a saliency map per image"
        fix = (f"give --order {other} (or leave --order out: it follows the method)" if order_option
               else "this command explains at order 1 only")
        raise click.BadParameter(f"{method!r} is an order-{other} method ({what}), not available at order {order}; "
                                 f"{fix}. At order {order} use one of {', '.join(allowed)}.", param_hint="'--method'")
    raise click.BadParameter(f"{method!r} is not available at order {order}; use one of {', '.join(allowed)}.",
                             param_hint="'--method'")


def open_explainer(collection: str, db: pathlib.Path | None, url: str | None, api_key: str | None,
                   encoder_spec: str | None, *, progress: bool | None = None) -> Any:
    """A :class:`~qdrant_explain.SearchExplainer` for the CLI options (encoder: --encoder or the recorded one).

    ``--backend``, ``--vector-name``, ``--image-root``, ``--allow-urls`` and ``--insecure``
    come from the click context (see :func:`connection_kwargs`).
    """
    from qdrant_explain.explainer import SearchExplainer

    conn = connection_kwargs(db, url, api_key)
    extra = context_options()
    if extra.get("image_root") is not None:
        conn["image_root"] = str(extra["image_root"])
    if extra.get("allow_urls"):
        conn["allow_urls"] = True
    if extra.get("memory_cap") is not None:
        conn["memory_cap"] = extra["memory_cap"]
    return SearchExplainer.open(collection, encoder=encoder_spec, progress=progress, **conn)


def connection_kwargs(db: pathlib.Path | None, url: str | None, api_key: str | None) -> dict[str, Any]:
    """Keywords for :func:`qdrant_explain.connectors.open_collection` / ``index_folder``.

    ``path=`` or ``url=``/``api_key=``, plus ``backend=`` and ``vector_name=`` when given.
    An API key over plain http to another machine is refused here unless ``--insecure``;
    with it, the checked client is passed as ``client=`` (``index_folder`` takes no
    ``insecure`` keyword).
    """
    extra = context_options()
    if db is not None and url is not None:
        raise click.UsageError("Give either --db PATH (embedded Qdrant) or --url URL (server), not both.")
    conn: dict[str, Any]
    if url is not None:
        conn = {"url": url, "api_key": api_key}
        if extra.get("insecure") and api_key:
            from qdrant_explain.connectors.client import connect
            from qdrant_explain.connectors.collection import OpenRequest

            client, _ = connect(OpenRequest(name="", url=url, api_key=api_key, insecure=True))
            conn = {"client": client}
    else:
        conn = {"path": str(db if db is not None else default_db())}
    if extra.get("backend"):
        conn["backend"] = extra["backend"]
    if extra.get("vector_name"):
        conn["vector_name"] = extra["vector_name"]
    return conn


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
    """Decorator: run the command body inside :func:`user_errors` and :func:`console_warnings`.

    Reads the ``debug`` and ``quiet`` keywords.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with console_warnings(kwargs.get("quiet", False), debug=kwargs.get("debug", False)):
            with user_errors(kwargs.get("debug", False)):
                return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def console_warnings(quiet: bool, *, debug: bool = False) -> Iterator[None]:
    """Show Python warnings as ``warning: MESSAGE`` on stderr, once each, without file paths; none when quiet.

    Library warnings (SLIC's "Applying ...", ours about an insecure connection) would
    otherwise print the internal source path and line of whoever raised them.
    With ``debug`` they keep Python's format.
    """
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' signature
        text = " ".join(str(message).split())
        if quiet or text in seen:
            return
        seen.add(text)
        if debug:
            click.echo(warnings.formatwarning(message, category, filename, lineno, line).rstrip(), err=True)
        else:
            click.echo(f"warning: {text}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


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
    "MethodChoice",
    "methods_for",
    "METHODS_ORDER1",
    "METHODS_ORDER2",
    "BACKEND_NAMES",
    "check_method",
    "order_for",
    "console_warnings",
    "context_options",
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
    "memory_cap",
    "memory_cap_option",
    "home_dir",
    "run_options",
    "show_progress",
    "user_errors",
    "write_text_output",
]
