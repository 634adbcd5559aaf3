"""Audits at collection scale: sources, the per-query unit of work, engines (local, Ray), the resumable store,
statistics with confidence intervals and the stopping rule.

Entry points: :meth:`qdrant_explain.SearchExplainer.audit` and ``qdrant-explain audit``; both call
:func:`run_audit`. See ``docs/scale.md`` for the plan of a 1,000,000-image audit.

Example:
    >>> from qdrant_explain import SearchExplainer                                  # doctest: +SKIP
    >>> from qdrant_explain.scale import CollectionSource                           # doctest: +SKIP
    >>> ex = SearchExplainer.open("photos", path="db")                              # doctest: +SKIP
    >>> report = ex.audit(CollectionSource(), engine="ray", out="qe-audit", ci_width=0.02)  # doctest: +SKIP
    >>> report.summary["intervals"]["border_share"]                                 # doctest: +SKIP
"""

from .driver import run_audit
from .engines import ENGINES, AuditWorker, LocalEngine, RayEngine
from .sources import CollectionSource, FolderSource, ListSource, QueryFileSource, QueryItem, as_source, audit_order
from .stats import (
    INTERVALS,
    STOP_STATISTICS,
    AuditStatistics,
    Interval,
    heatmap_correlation,
    largest_object_mask,
    query_stats,
    rate_interval,
    ratio_interval,
)
from .store import AuditStateError, AuditStore
from .work import AuditSettings, QuerySnapshot, QueryWork, explain_query, prepare_query

__all__ = [
    "AuditSettings",
    "AuditStateError",
    "AuditStatistics",
    "AuditStore",
    "AuditWorker",
    "CollectionSource",
    "ENGINES",
    "FolderSource",
    "INTERVALS",
    "Interval",
    "ListSource",
    "LocalEngine",
    "QueryFileSource",
    "QueryItem",
    "QuerySnapshot",
    "QueryWork",
    "RayEngine",
    "STOP_STATISTICS",
    "as_source",
    "audit_order",
    "explain_query",
    "heatmap_correlation",
    "largest_object_mask",
    "prepare_query",
    "query_stats",
    "rate_interval",
    "ratio_interval",
    "run_audit",
]
