"""The Ray engine on a local Ray (2 CPUs) with the tiny encoder (issue 15, must-show 1 and 4).

One Ray session serves the module. The distributed audit gives the same per-query explanations as
the local engine (same seeds); a driver killed with SIGKILL halfway and rerun finishes with every
query exactly once; the user's collection is byte-for-byte unchanged; the live bar shows queries
done, ETA and the interval widths on Ray as on the local engine.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from plugin_helpers import TINY  # noqa: E402
from scale_helpers import collection_fingerprint, photo_collection, run  # noqa: E402

from qdrant_explain import SearchExplainer  # noqa: E402
from qdrant_explain.connectors.client import close_shared_clients  # noqa: E402
from qdrant_explain.results import SearchResults  # noqa: E402
from qdrant_explain.scale import CollectionSource  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray session and a killed driver: ~25-55 s on 2 busy cores

N = 8
SETTINGS = dict(limit=3, players="grid:2x3", budget=32, stability=0.25, seed=3)


@pytest.fixture(scope="module")
def ray_session():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def rcol(tmp_path_factory):
    return photo_collection(tmp_path_factory.mktemp("rayscale"), N, seed=11, prefix="r")


def _rows(folder):
    return [json.loads(line) for line in (folder / "queries.jsonl").read_text().splitlines()]


def test_ray_gives_the_local_explanations_and_leaves_the_collection_unchanged(ray_session, rcol, tmp_path):
    before = collection_fingerprint(rcol["db"])
    ex = SearchExplainer.open("c", path=str(rcol["db"]))
    local_bar, ray_bar = io.StringIO(), io.StringIO()
    local = ex.audit(CollectionSource(), out=tmp_path / "local", progress=local_bar, **SETTINGS)
    dist = ex.audit(CollectionSource(), out=tmp_path / "ray", engine="ray", workers=2, threads=1, progress=ray_bar,
                    **SETTINGS)
    assert dist.summary["engine"] == "ray" and dist.summary["workers"] == 2
    by_key = {r["key"]: r for r in _rows(tmp_path / "local")}
    ray_rows = _rows(tmp_path / "ray")
    assert sorted(r["key"] for r in ray_rows) == sorted(by_key) and len(ray_rows) == N
    assert {r["worker"].split(":")[0] for r in ray_rows} == {"ray"} and len({r["worker"] for r in ray_rows}) == 2
    for r in ray_rows:
        mine = by_key[r["key"]]
        a, b = SearchResults.from_json(mine["search"]), SearchResults.from_json(r["search"])
        assert [h.id for h in a.hits] == [h.id for h in b.hits]
        for ea, eb in zip(a.explanations, b.explanations):
            np.testing.assert_array_equal(ea.query_values, eb.query_values)
            np.testing.assert_array_equal(ea.hit_values, eb.hit_values)
            assert (ea.method, ea.encoder_passes, ea.base_value, ea.full_value) == \
                   (eb.method, eb.encoder_passes, eb.base_value, eb.full_value)
        assert mine["stats"] == r["stats"] and mine["stability"] == r["stability"]
        assert mine["passes"] == r["passes"]
    assert local.summary["intervals"] == dist.summary["intervals"]
    for bar, engine in ((local_bar, "local"), (ray_bar, "ray")):
        text = bar.getvalue()
        assert f"auditing ({engine})" in text and f"{N}/{N}" in text and "<00:00" in text
        assert "border ±" in text and "object ±" in text and "stale ±" in text
    assert collection_fingerprint(rcol["db"]) == before


def test_a_driver_killed_halfway_resumes_with_every_query_once(ray_session, rcol, tmp_path):
    before = collection_fingerprint(rcol["db"])  # also closes this process's client: the driver opens the store
    out = tmp_path / "audit"
    args = [sys.executable, "-m", "qdrant_explain", "audit", "--from-collection", "--collection", "c", "--db",
            str(rcol["db"]), "-k", "3", "--players", "grid:2x3", "--budget", "32", "--seed", "3", "--engine", "ray",
            "--address", ray_session, "--workers", "2", "--threads", "1", "--out", str(out), "--quiet", "--encoder", TINY]
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_DEDUP_LOGS="0")
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = out / "queries.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and driver.poll() is None:
        if log.exists() and log.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.005)
    assert driver.poll() is None, driver.communicate()
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    done_at_kill = log.read_bytes().count(b"\n")
    assert 2 <= done_at_kill < N
    close_shared_clients()
    again = run("audit", "--from-collection", "--collection", "c", "--db", rcol["db"], "-k", 3, "--players", "grid:2x3",
                "--budget", 32, "--seed", 3, "--engine", "ray", "--workers", 2, "--threads", 1, "--out", out, "--quiet",
                "--encoder", TINY)
    assert again.exit_code == 0, again.output
    keys = [r["key"] for r in _rows(out)]
    assert len(keys) == len(set(keys)) == N
    assert f"{N - done_at_kill} queries this run, {done_at_kill} resumed" in again.stdout
    summary = json.loads((out / "audit.json").read_text())["summary"]
    assert summary["queries"] == N and summary["resumed"] == done_at_kill
    assert collection_fingerprint(rcol["db"]) == before
