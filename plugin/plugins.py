"""Load third-party extensions: estimators, encoder families and collection backends.

An extension is an ordinary Python module that registers what it adds when imported (an
:class:`~qdrant_explain.explainers.estimators.Estimator` subclass registers itself, encoder families
and backends call ``register_encoder_family`` / ``register_backend``). The CLI imports, before it
runs a command:

* every module named in the environment variable ``QDRANT_EXPLAIN_PLUGINS`` (comma-separated), and
* every entry point of the group ``qdrant_explain.plugins`` of the installed distributions
  (``[project.entry-points."qdrant_explain.plugins"] my_ext = "my_ext"`` in the extension's pyproject).

Both come from the user's own environment, which is trusted; nothing read from a collection ever
names a module to import (docs/security.md).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

PLUGINS_ENV = "QDRANT_EXPLAIN_PLUGINS"
"""Environment variable naming extension modules to import (comma-separated)."""

ENTRY_POINT_GROUP = "qdrant_explain.plugins"
"""Entry-point group of installed extensions."""


class PluginError(ImportError):
    """An extension module named by the user could not be imported."""


def plugin_modules(environ: dict | None = None) -> list[str]:
    """The module names :data:`PLUGINS_ENV` lists, in order, without blanks or repeats."""
    raw = (os.environ if environ is None else environ).get(PLUGINS_ENV, "")
    return list(dict.fromkeys(m.strip() for m in raw.split(",") if m.strip()))


def load_plugins(environ: dict | None = None) -> list[str]:
    """Import the extensions of :data:`PLUGINS_ENV` and of the entry-point group; return their names.

    Raises:
        PluginError: a listed module cannot be imported (the message names it and the variable).
    """
    loaded = []
    for name in plugin_modules(environ):
        try:
            importlib.import_module(name)
        except Exception as exc:  # the user's module: report which one and why
            raise PluginError(
                f"{PLUGINS_ENV} names module {name!r}, which failed to import ({type(exc).__name__}: {exc}). "
                f"Fix the module or remove it from {PLUGINS_ENV}."
            ) from exc
        loaded.append(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            raise PluginError(
                f"The installed extension {ep.name!r} ({ep.value}, entry point group {ENTRY_POINT_GROUP!r}) "
                f"failed to load ({type(exc).__name__}: {exc}). Reinstall or uninstall it."
            ) from exc
        loaded.append(ep.value)
    return loaded


__all__ = ["load_plugins", "plugin_modules", "PluginError", "PLUGINS_ENV", "ENTRY_POINT_GROUP"]
