"""Datasets with known ground truth, for checking that explanations are right.

Each dataset is a subpackage that holds its data, its generator and, where it has
one, the model trained on it; nothing here is needed to explain a search.

* :mod:`qdrant_explain.datasets.digits`: scenes of sklearn 8 x 8 digits on a grid,
  the screen of disputed digit labels, and the ``digits-cnn`` encoder trained on them
  (the fidelity benchmark's ground truth, ``benchmarks/fidelity/``).

Layering: a dataset may import :mod:`qdrant_explain.explainers` and
:mod:`qdrant_explain.connectors` (to register its encoder); neither imports a dataset
(``tests/test_imports.py``).
"""

__all__ = ["digits"]
