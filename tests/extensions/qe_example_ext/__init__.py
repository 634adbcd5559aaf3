"""An extension of qdrant-explain written outside the project's folders (docs/extending.md).

Importing it registers one estimator, one encoder family and one collection backend, each from
its own file. The CLI imports it when ``QDRANT_EXPLAIN_PLUGINS=qe_example_ext`` is set (or when a
distribution declares it in the ``qdrant_explain.plugins`` entry-point group).
"""

from . import backend, encoder, estimator  # noqa: F401  (each registers itself on import)
