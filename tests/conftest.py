"""Suite-wide isolation: the user directory ($QDRANT_EXPLAIN_HOME) is a temporary folder.

``index`` records image roots under the home directory (connectors/roots.py); tests
must neither read the developer's records nor write into their ~/.qdrant-explain.
"""

from __future__ import annotations

import os
import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_home():
    old = os.environ.get("QDRANT_EXPLAIN_HOME")
    with tempfile.TemporaryDirectory(prefix="qe-home-") as home:
        os.environ["QDRANT_EXPLAIN_HOME"] = home
        yield home
    if old is None:
        os.environ.pop("QDRANT_EXPLAIN_HOME", None)
    else:
        os.environ["QDRANT_EXPLAIN_HOME"] = old
