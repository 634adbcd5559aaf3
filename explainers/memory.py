"""Memory planning, the one place: what a method will hold, the cap it must fit, the refusal.

Every estimator states its peak memory before it runs
(:meth:`~qdrant_explain.explainers.estimators.base.Estimator.memory_bytes`:
``(n_players, budget, *, dim, games) -> bytes``); the vocabulary's ``auto``
rule (:func:`~qdrant_explain.explainers.vocabulary.resolve_method`) picks only
methods whose statement fits the cap, and refuses with the numbers otherwise.

The cap, in order of precedence (llm style: argument, env var, default):

1. the ``memory_cap`` argument (bytes, or a string such as ``"512MiB"``,
   ``"8G"``, ``"50%"`` of the available memory);
2. the environment variable :data:`MEMORY_CAP_ENV` (same forms);
3. :data:`DEFAULT_MEMORY_FRACTION` of :func:`available_memory` (none when the
   platform does not say how much is available).

Example:
    >>> parse_memory("512MiB"), parse_memory("1.5G"), parse_memory(2048)
    (536870912, 1500000000, 2048)
    >>> format_bytes(3 * 2**30)
    '3.0 GiB'
"""

from __future__ import annotations

import os
import re

MEMORY_CAP_ENV = "QDRANT_EXPLAIN_MEMORY_CAP"
"""Environment variable with the memory cap (``"4GiB"``, ``"50%"``, bytes) when no argument gives one."""

DEFAULT_MEMORY_FRACTION = 0.8
"""Without a cap, a plan may use this share of the memory available when it is planned."""

FIXED_OVERHEAD = 1 << 20
"""Bytes every statement includes for small arrays and Python objects (1 MiB)."""

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50,
}
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*|%)\s*")


class MemoryCapError(MemoryError, ValueError):
    """A plan that would not fit the memory cap (raised before any evaluation).

    It is a :class:`MemoryError` and a :class:`ValueError`, so generic handlers of
    either (the CLI's one-line errors) catch it.

    Attributes:
        needed: bytes the plan states.
        cap: the cap in bytes.
    """

    def __init__(self, message: str, *, needed: int, cap: int) -> None:
        super().__init__(message)
        self.needed = int(needed)
        self.cap = int(cap)


def available_memory() -> int | None:
    """Bytes of memory available now: Linux's ``MemAvailable`` (free plus reclaimable cache), else the
    free physical pages; None when the platform does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def parse_memory(value: object, *, what: str = "memory_cap") -> int:
    """Bytes from an int, or a string: a number with an optional unit (k, M, G, T, P; KiB, MiB, GiB, TiB, PiB) or a
    percentage of :func:`available_memory` (``"50%"``).

    Raises:
        ValueError: anything else, or a value <= 0 (naming ``what``).
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of bytes or a size such as '4GiB' or '50%'; got {value!r}.")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = int(value)
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value)) and m.group(2).lower() in (*_UNITS, "%"):
        number, unit = float(m.group(1)), m.group(2).lower()
        if unit == "%":
            avail = available_memory()
            if avail is None:
                raise ValueError(f"{what}={value!r} is a share of the available memory, which this platform does "
                                 "not report; give bytes instead (e.g. '4GiB').")
            out = int(avail * number / 100)
        else:
            out = int(number * _UNITS[unit])
    else:
        raise ValueError(
            f"{what} must be a number of bytes or a size such as '512MiB', '4G' or '50%' (of the available "
            f"memory); got {value!r}."
        )
    if out <= 0:
        raise ValueError(f"{what} must be > 0 bytes; got {value!r}.")
    return out


def memory_cap(cap: object = None) -> int | None:
    """The cap in bytes: ``cap`` if given, else :data:`MEMORY_CAP_ENV`, else :data:`DEFAULT_MEMORY_FRACTION`
    of :func:`available_memory` (None: no cap known).

    Raises:
        ValueError: a malformed ``cap`` or environment value.
    """
    if cap is not None:
        return parse_memory(cap)
    env = os.environ.get(MEMORY_CAP_ENV)
    if env:
        return parse_memory(env, what=f"${MEMORY_CAP_ENV}")
    avail = available_memory()
    return None if avail is None else int(DEFAULT_MEMORY_FRACTION * avail)


def format_bytes(n: int) -> str:
    """``n`` bytes in binary units, one decimal (``'1.5 GiB'``)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def cache_bytes(rows: int, n_players: int, dim: int, games: int = 1) -> int:
    """Bytes an evaluator holds for ``rows`` distinct coalitions of ``dim``-d embeddings.

    The cache of :class:`~qdrant_explain.explainers.side.SideEvaluator` (float64
    rows, grown by doubling, so up to twice), the (rows, d) copy handed to the
    score and its normalised copy, the mask keys (a bytes object and a dict slot
    each) and the (rows, games) scores. 0 when ``dim`` is 0 (a plain game holds
    its values only, counted by the estimator).
    """
    if dim <= 0:
        return 0
    return int(rows) * (32 * int(dim) + 2 * ((int(n_players) + 7) // 8) + 160 + 16 * max(int(games), 1))


def largest_fitting(fits, low: int, high: int) -> int | None:
    """The largest integer b in [low, high] with ``fits(b)`` true (``fits`` monotone, true then false);
    None when ``fits(low)`` is false."""
    if not fits(low):
        return None
    if fits(high):
        return high
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


__all__ = [
    "DEFAULT_MEMORY_FRACTION",
    "FIXED_OVERHEAD",
    "MEMORY_CAP_ENV",
    "MemoryCapError",
    "available_memory",
    "cache_bytes",
    "format_bytes",
    "largest_fitting",
    "memory_cap",
    "parse_memory",
]
