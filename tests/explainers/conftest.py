"""Fixtures of the explainers tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from qdrant_explain.explainers.estimators.base import unregister_estimator


@pytest.fixture
def product_kst():
    """benchmarks/_product_kst.py imported from its path: a joint estimator from outside the package.

    Importing it registers ``"product-kst"`` (by subclassing); it is unregistered afterwards.
    """
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "_product_kst.py"
    spec = importlib.util.spec_from_file_location("_product_kst", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    unregister_estimator("product-kst")
