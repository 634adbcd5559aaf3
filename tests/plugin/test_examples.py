"""The examples run offline (with the tiny random encoder, their default)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("script, expect", [
    ("explain_collection_hits.py", "report.html"),
    ("search_with_explain.py", "explanations as JSON"),
    ("audit_model.py", "audit.html"),
])
def test_example_runs(script, expect, tmp_path):
    args = [sys.executable, str(EXAMPLES / script), "--out", str(tmp_path / "out")]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout
