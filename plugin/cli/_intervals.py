"""Summary lines with the values' 95 % intervals: ``#3 +0.0310 ± 0.0040`` for the top regions, exact said as such."""

from __future__ import annotations

from typing import Any

import numpy as np

from qdrant_explain.explainers.uncertainty import LEVEL, critical_value, format_interval

TOP = 3
"""Regions (or region pairs) shown per line."""


def _method_note(result: Any, which: str) -> str:
    expl = {"query": getattr(result, "query_explanation", None) or getattr(result, "explanation", None),
            "hit": getattr(result, "hit_explanation", None)}.get(which)
    joint = getattr(result, "joint", None)
    meta = (expl.meta if expl is not None else (joint.meta if joint is not None else {})) or {}
    how = meta.get("stderr_method")
    dof = (getattr(result, "stderr_dof", None) or {}).get(which)
    parts = [str(p) for p in (result.method, how.split(" (")[0] if how else None) if p]
    parts.append("normal quantile" if dof is None else f"t with {dof:.0f} dof")
    return ", ".join(parts)


def _entries(values: np.ndarray, stderr: np.ndarray | None, dof: float | None, labels: list[str], k: int,
             level: float) -> tuple[str, int]:
    order = np.argsort(-np.abs(values), kind="stable")[:k]
    t = critical_value(level, dof)
    out, covers = [], 0
    if stderr is not None:
        half_all = t * np.asarray(stderr)
        covers = int(np.sum(np.abs(values) <= half_all))
    for i in order:
        if stderr is None:
            out.append(f"{labels[i]} {format_interval(values[i])}")
            continue
        half = float(t * stderr[i])
        out.append(f"{labels[i]} {format_interval(values[i], half)}" + (" (covers 0)" if abs(values[i]) <= half else ""))
    return ", ".join(out), covers


def interval_lines(result: Any, *, k: int = TOP, level: float = LEVEL) -> list[str]:
    """One line per explained array (query, hit, cross) with its top ``k`` values by size and their intervals.

    Exact values say so; sampled ones give ``value ± t x stderr`` at ``level`` and how many of
    the array's intervals cover 0; a method without error estimate says that.
    """
    lines = []
    pct = f"{100 * level:g} %"
    for which, label in (("query", "query regions"), ("hit", "hit regions"), ("cross", "query x hit pairs")):
        values = getattr(result, "cross" if which == "cross" else f"{which}_values", None)
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        stderr = getattr(result, f"{'cross' if which == 'cross' else which + '_values'}_stderr", None)
        if which == "cross":
            nq, nh = values.shape
            names = [f"q#{i}-h#{j}" for i in range(nq) for j in range(nh)]
            values = values.ravel()
            stderr = None if stderr is None else np.asarray(stderr).ravel()
        else:
            names = [f"#{i}" for i in range(values.size)]
        dof = (getattr(result, "stderr_dof", None) or {}).get(which)
        exact = stderr is not None and not bool(getattr(result, "estimated", True)) and not np.any(stderr)
        if exact:
            text, _ = _entries(values, None, None, names, k, level)
            lines.append(f"{label} (exact values, no sampling error): {text}")
        elif stderr is None:
            text, _ = _entries(values, None, None, names, k, level)
            lines.append(f"{label} ({result.method} gives no error estimate): {text}")
        else:
            text, covers = _entries(values, np.asarray(stderr, dtype=np.float64), dof, names, k, level)
            lines.append(f"{label}, value and {pct} interval ({_method_note(result, which)}): {text}; "
                         f"{covers} of {values.size} intervals cover 0")
    return lines


__all__ = ["TOP", "interval_lines"]
