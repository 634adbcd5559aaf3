"""``run_audit``: the driver of a collection-scale audit (local or Ray), resumable, with intervals.

The driver lists the queries (:mod:`.sources`), visits them in a seeded random order, skips those
the store already holds, prepares each query (search + hit images: the only collection access;
never a write), hands it to the engine, commits each row as it comes back
(:class:`~qdrant_explain.scale.store.AuditStore`), updates the statistics and the progress bar
(queries done, ETA, current interval widths), and stops sampling once every interval is at most
``ci_width`` wide. Then it writes ``queries.parquet`` and returns the
:class:`~qdrant_explain.results.AuditReport` (summary with intervals, histograms, worst
offenders with their maps, drill-down list).
"""

from __future__ import annotations

import math
import tempfile
import time
from typing import Any, Callable, Mapping

import numpy as np

from .engines import ENGINES, LocalEngine, RayEngine
from .sources import as_source, audit_order
from .stats import INTERVALS, LEVEL, MIN_QUERIES, STOP_STATISTICS, AuditStatistics, format_widths
from .store import AuditStore
from .work import AuditSettings, prepare_query, with_images

KEEP_ALL = 12
"""An audit of at most this many explained queries keeps every one's explanations in the report."""

OFFENDERS = 6
"""Worst offenders (highest border share, stale vectors, least stable) shown with their maps."""

DRILLDOWN = 500
"""Rows of the report's drill-down list (all of them are in queries.parquet / queries.jsonl)."""

HIST_BINS = 20


class _Progress:
    """The live bar: queries done / total, ETA (tqdm's), and the current interval half-widths."""

    def __init__(self, progress: Any, total: int, initial: int, engine: str, target: float | None) -> None:
        self.callback: Callable | None = None
        self.bar = None
        self.target = target
        if callable(progress) and not hasattr(progress, "write"):
            self.callback = progress
        elif progress is not False:
            import sys

            from tqdm.auto import tqdm

            file = progress if hasattr(progress, "write") else sys.stderr
            if progress is None and not getattr(file, "isatty", lambda: False)():
                return
            self.bar = tqdm(total=total, initial=initial, desc=f"auditing ({engine})", unit="query", file=file,
                            dynamic_ncols=True, mininterval=0.0 if hasattr(progress, "write") else 0.1)
        self.total = total

    def update(self, done: int, widths: Mapping[str, float]) -> None:
        text = format_widths(widths) + (f" (target ±{self.target / 2:.3f})" if self.target else "")
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        if self.callback is not None:
            self.callback(done, self.total, dict(widths))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _per_query(row: Mapping, num: str, den: str) -> float | None:
    s = row.get("stats") or {}
    d = float(s.get(den) or 0.0)
    return float(s.get(num, 0.0)) / d if abs(d) > 1e-12 else None


def _histogram(values: list[float], lo: float | None = None, hi: float | None = None) -> dict | None:
    vals = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if vals.size == 0:
        return None
    lo = float(vals.min()) if lo is None else lo
    hi = float(vals.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1e-9
    counts, edges = np.histogram(np.clip(vals, lo, hi), bins=HIST_BINS, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "n": int(vals.size)}


def _summary(rows: list[dict], stats: AuditStatistics, settings: AuditSettings) -> dict:
    ok = [r for r in rows if r.get("status") == "ok"]
    ivs = stats.intervals()
    border = ivs["border_share"]
    regions = sorted((t for r in ok for t in r["stats"]["top_regions"]), key=lambda t: -t["value"])[:10]
    stale = [h for r in ok for h in r["stats"]["stale_hits"]]
    findings = [f for r in rows for f in (r.get("findings") or [])]
    hit_queries: dict[Any, int] = {}
    for r in ok:
        for hid in dict.fromkeys(r["stats"]["hit_ids"]):
            hit_queries[hid] = hit_queries.get(hid, 0) + 1
    recurring = sorted(hit_queries.items(), key=lambda kv: -kv[1])[:10]
    passes = sum(int(r.get("passes") or 0) for r in rows)
    n_ok = len(ok)
    return {
        "queries": n_ok,
        "hits": sum(len(r["stats"]["hit_ids"]) for r in ok),
        "explanations": sum(int(r["stats"]["pairs"]) for r in ok),
        "border_band": settings.band,
        "border_area": ivs["border_area"].estimate,
        "border_share": border.estimate,
        "centre_share": None if border.estimate is None else 1.0 - border.estimate,
        "object_share": ivs["object_share"].estimate,
        "object_area": ivs["object_area"].estimate,
        "stale_rate": ivs["stale_rate"].estimate,
        "stability": ivs["stability"].estimate,
        "intervals": {k: v.to_dict() for k, v in ivs.items()},
        "interval_method": stats.interval,
        "level": stats.level,
        "recurring_cells": stats.cells(),
        "recurring_hits": [{"id": hid, "queries": c, "share": c / n_ok if n_ok else None} for hid, c in recurring
                           if c > 1],
        "encoder_passes": passes,
        "search_passes": sum(int(r.get("search_passes") or 0) for r in rows),
        "stability_passes": sum(int(r.get("stability_passes") or 0) for r in rows),
        "passes_per_query": passes / n_ok if n_ok else None,
        "encoder_seconds": sum(float(r.get("encoder_seconds") or 0.0) for r in rows),
        "prepare_seconds": sum(float(r.get("prepare_seconds") or 0.0) for r in rows),
        "stability_queries": sum(1 for r in ok if r.get("stability") and r["stability"].get("count")),
        "vectors_checked": sum(int(r["stats"]["checked"]) for r in ok),
        "vector_mismatch_count": len(stale),
        "top_regions": regions,
        "vector_mismatches": stale,
        "findings": findings,
        "finding_count": len(findings),
        "queries_failed": sum(1 for r in rows if r.get("status") != "ok"),
        "histograms": {
            "border_share": _histogram([_per_query(r, "border", "total") for r in ok], 0.0, 1.0),
            "object_share": _histogram([_per_query(r, "object", "object_total") for r in ok], 0.0, 1.0),
            "stability": _histogram([(r["stability"]["sum"] / r["stability"]["count"]) for r in ok
                                     if r.get("stability") and r["stability"].get("count")], -1.0, 1.0),
        },
        "drilldown": _drilldown(ok),
    }


def _drilldown(ok: list[dict]) -> list[dict]:
    out = []
    for r in ok:
        st = r.get("stability") or {}
        out.append({"name": r["name"], "key": r["key"], "border_share": _per_query(r, "border", "total"),
                    "object_share": _per_query(r, "object", "object_total"), "stale": r["stats"]["stale"],
                    "checked": r["stats"]["checked"],
                    "stability": st["sum"] / st["count"] if st.get("count") else None,
                    "passes": r.get("passes"), "seconds": r.get("seconds")})
    out.sort(key=lambda d: -(d["border_share"] if d["border_share"] is not None else -math.inf))
    return out[:DRILLDOWN]


def _offender_keys(ok: list[dict]) -> list[str]:
    if len(ok) <= KEEP_ALL:
        return [r["key"] for r in ok]
    by_border = sorted(ok, key=lambda r: -(_per_query(r, "border", "total") or -math.inf))
    picked = [r["key"] for r in by_border[:OFFENDERS]]
    picked += [r["key"] for r in ok if r["stats"]["stale"]][:OFFENDERS]
    unstable = [r for r in ok if r.get("stability") and r["stability"].get("count")]
    unstable.sort(key=lambda r: r["stability"]["sum"] / r["stability"]["count"])
    picked += [r["key"] for r in unstable[: OFFENDERS // 2]]
    return list(dict.fromkeys(picked))


def run_audit(explainer: Any, queries: Any, *, limit: int = 5, players: Any = "slic:24", budget: int | None = 128,
              method: str | None = None, baseline: Any = None, seed: int | None = None, engine: str = "local",
              address: str | None = None, workers: int | None = None, threads: int | None = None,
              num_gpus: float | None = None, batch_size: int | None = None, out: Any = None, restart: bool = False,
              ci_width: float | None = None, min_queries: int = MIN_QUERIES, max_queries: int | None = None,
              stability: float = 0.1, interval: str = "clt", level: float = LEVEL, keep_maps: bool = True,
              progress: Any = None, num_cpus: int | None = None) -> Any:
    """Audit many queries' top hits (see the module docstring); the engine of ``SearchExplainer.audit``.

    Args:
        explainer: the :class:`~qdrant_explain.SearchExplainer` (its collection and encoder).
        queries: a source (:class:`~qdrant_explain.scale.CollectionSource`, ``FolderSource``,
            ``QueryFileSource``), a folder, or a list of query images / point ids.
        limit: hits per query.
        players, budget, method, baseline, seed: explanation settings (order 1, both sides).
        engine: ``"local"`` or ``"ray"``; ``address``, ``workers``, ``threads``, ``num_gpus``,
            ``batch_size``, ``num_cpus``: the Ray engine's (see :class:`~qdrant_explain.scale.RayEngine`);
            ``threads`` also sets torch's threads on the local engine.
        out: folder of the audit's state (``queries.jsonl``, ``manifest.json``, ``queries.parquet``,
            ``audit.json``, ``report.html``); a rerun resumes it. None: a temporary folder.
        restart: drop what ``out`` holds first.
        ci_width: stop sampling queries once every interval (border share, object share, stale-vector
            rate, stability) is at most this wide (``high - low``), after ``min_queries``.
        max_queries: audit at most this many queries (a seeded random sample of the source).
        stability: share of the queries re-explained with ``seed + 1``.
        interval: ``"clt"`` or ``"bootstrap"``; ``level`` the confidence level.
        keep_maps: keep each query's explanations in its row (the report's maps).
        progress: True (a tqdm bar on stderr), None (a bar on a TTY), False, a file-like object
            (the bar is written there), or a callable ``progress(done, total, widths)``.

    Returns:
        :class:`~qdrant_explain.results.AuditReport`.

    Raises:
        ValueError: bad settings, an empty source, or ``out`` holding another audit
            (:class:`~qdrant_explain.scale.AuditStateError`).
        ImportError: ``engine="ray"`` without Ray installed.
    """
    from qdrant_explain.results import AuditReport, SearchResults

    if engine not in ENGINES:
        raise ValueError(f"audit(engine=...) must be one of {ENGINES}; got {engine!r}.")
    if interval not in INTERVALS:
        raise ValueError(f"audit(interval=...) must be one of {INTERVALS}; got {interval!r}.")
    if ci_width is not None and not (isinstance(ci_width, (int, float)) and 0 < ci_width < 2):
        raise ValueError(f"audit(ci_width=...) is the widest interval accepted (high - low), in (0, 2); "
                         f"got {ci_width!r}. E.g. 0.02 for shares known to ±0.01.")
    if max_queries is not None and (isinstance(max_queries, bool) or not isinstance(max_queries, int) or max_queries < 1):
        raise ValueError(f"audit(max_queries=...) must be an integer >= 1; got {max_queries!r}.")
    if engine == "local" and any(v is not None for v in (address, workers, num_gpus)):
        raise ValueError("audit: address, workers and num_gpus are options of engine='ray'; pass engine='ray' "
                         "or drop them.")
    t0 = time.perf_counter()
    settings = AuditSettings(limit=limit, players=players, budget=budget,
                             method=explainer.method if method is None else method,
                             baseline=explainer.baseline if baseline is None else baseline,
                             seed=explainer.seed if seed is None else seed, stability=stability, keep_maps=keep_maps,
                             batch_size=explainer.batch_size if batch_size is None else batch_size)
    source = as_source(queries)
    items = source.items(explainer.collection)
    order = audit_order(items, settings.seed)
    if max_queries is not None:
        order = order[:max_queries]
    info = explainer.collection.info
    manifest = {"settings": settings.to_dict(), "source": source.describe(), "encoder": explainer.encoder_name,
                "collection": {"name": info.name, "location": info.location, "vector_name": info.vector_name},
                "interval": interval, "level": level}
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="qe-audit-")
        out = tmp.name
    store = AuditStore(out, manifest, restart=restart)
    stats = AuditStatistics(interval=interval, level=level, seed=settings.seed)
    for row in store.done.values():
        stats.add(row)
    resumed = len(store.done)
    todo = [(i, it) for i, it in enumerate(order) if it.key not in store.done]
    already = len(order) - len(todo)
    if engine == "ray":
        runner: Any = RayEngine(type(explainer), explainer.encoder, info, settings, address=address, workers=workers,
                                threads=threads, num_gpus=num_gpus, batch_size=batch_size, num_cpus=num_cpus)
    else:
        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        runner = LocalEngine(type(explainer), explainer.encoder, info, settings)
    stopped_early = False
    state = {"stop": stats.should_stop(ci_width, min_queries=min_queries)}
    bar = _Progress(progress, len(order), already, engine, ci_width)
    t_run = time.perf_counter()
    committed = 0
    try:
        if todo and not state["stop"]:
            runner.start()

            def works():
                for index, item in todo:
                    if state["stop"]:
                        return
                    yield prepare_query(explainer, item, index, settings)

            for row in runner.map(works()):
                if store.commit(row):
                    committed += 1
                    stats.add(row)
                if not state["stop"] and stats.should_stop(ci_width, min_queries=min_queries):
                    state["stop"] = True
                bar.update(len(store.done), stats.widths())
        stopped_early = ci_width is not None and state["stop"] and len(store.done) < len(order)
    finally:
        bar.close()
        runner.close()
    run_seconds = time.perf_counter() - t_run
    store.export_parquet()
    rows = sorted(store.done.values(), key=lambda r: (r.get("index") or 0, r["key"]))  # audit order, any engine
    summary = _summary(rows, stats, settings)
    keys = set(_offender_keys([r for r in rows if r.get("status") == "ok"]))
    searches = []
    if keys and keep_maps:
        by_key = {it.key: it for it in items}
        for row in store.rows(with_search=True):
            if row["key"] in keys and row.get("search") and row["key"] in by_key:
                searches.append(with_images(explainer, SearchResults.from_json(row["search"]), by_key[row["key"]]))
    summary.update(
        encoder=explainer.encoder_name, collection=info.name, seconds=round(time.perf_counter() - t0, 2),
        run_seconds=round(run_seconds, 3), queries_this_run=committed, resumed=resumed, planned_queries=len(order),
        source_queries=len(items), ci_width=ci_width, stopped_early=stopped_early,
        stop_statistics=list(STOP_STATISTICS), out=str(out) if tmp is None else None,
        queries_per_second=committed / run_seconds if committed and run_seconds > 0 else None,
        **runner.describe())
    report = AuditReport(searches=searches, summary=summary, collection=info.name, method=settings.method,
                         budget=settings.budget, encoder_passes=summary["encoder_passes"], seconds=summary["seconds"],
                         encoder=explainer.encoder_name, seed=settings.seed)
    store.close()
    if tmp is None:
        import pathlib

        report.to_json(pathlib.Path(out) / "audit.json")
        report.to_html(pathlib.Path(out) / "report.html")
    else:
        tmp.cleanup()
    return report


__all__ = ["run_audit"]
