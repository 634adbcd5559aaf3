"""The ``--memory-cap`` option: the most memory a plan may state (``auto`` picks only what fits)."""

from __future__ import annotations

from typing import Any, Callable

import click

from qdrant_explain.explainers.memory import DEFAULT_MEMORY_FRACTION, MEMORY_CAP_ENV, parse_memory

from ._common import _remember, context_options


def _check_cap(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_memory(value, what="--memory-cap")
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    return _remember(ctx, param, value)


def memory_cap_option(fn: Callable) -> Callable:
    """Add ``--memory-cap SIZE`` (env ``QDRANT_EXPLAIN_MEMORY_CAP``), kept in the click context."""
    return click.option(
        "--memory-cap", metavar="SIZE", envvar=MEMORY_CAP_ENV, default=None, expose_value=False, callback=_check_cap,
        help=f"Most memory a plan may state before it runs, e.g. 4GiB, 500M or 50% (of the available memory); "
             f"'auto' picks only methods that fit and anything else is refused with the numbers "
             f"(env {MEMORY_CAP_ENV}). Default: {DEFAULT_MEMORY_FRACTION:.0%} of the available memory.",
    )(fn)


def memory_cap() -> Any:
    """The ``--memory-cap`` of the current command (None: the library's default)."""
    return context_options().get("memory_cap")


__all__ = ["memory_cap", "memory_cap_option"]
