"""qdrant-explain: why did this image come back for that query?

The package root holds the public API, the CLI and the reports. Heavy modules
(torch, Qdrant) load lazily on first use, so ``import qdrant_explain`` is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # image pairs (issue 3)
    "explain_pair": ".pair",
    "explain_hits": ".pair",
    "ImagePairExplanation": ".pair",
    # search, explain, compare, audit (issue 5)
    "SearchExplainer": ".explainer",
    "Hit": ".results",
    "PairExplanation": ".results",
    "SearchResults": ".results",
    "Comparison": ".results",
    "AuditReport": ".results",
    "render_report": ".report",
    # text queries (issue 13)
    "explain_text": ".text",
    "TextSide": ".text",
    "TextExplanation": ".text_results",
    "run_demo": ".demo",
    # grey-box methods (issue 19): the anytime budget's instant preview
    "instant_preview": ".preview",
    # every query shape (issue 14)
    "explain_shape": ".shapes",
    "ShapeExplanation": ".shapes",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'qdrant_explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["__version__", *_LAZY]
