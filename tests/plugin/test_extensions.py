"""Issue 12, must-show 3: an extension package outside the project's folders adds an estimator, an
encoder family and a collection backend, and each works through explain_pair, SearchExplainer and
the CLI without any project file edited.

The extension (tests/extensions/qe_example_ext) is used in fresh processes so that its
registrations never leak into the other tests' registries.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXT = ROOT / "tests" / "extensions"
PROJECT_FOLDERS = ("plugin", "connectors", "explainers")


def _env(tmp_path: pathlib.Path, *, plugins: bool = True) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(EXT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["QDRANT_EXPLAIN_HOME"] = str(tmp_path / "home")
    env.pop("QDRANT_EXPLAIN_PLUGINS", None)
    if plugins:
        env["QDRANT_EXPLAIN_PLUGINS"] = "qe_example_ext"
    return env


def _cli(tmp_path, *args, plugins=True):
    return subprocess.run([sys.executable, "-m", "qdrant_explain", *map(str, args)], capture_output=True, text=True,
                          env=_env(tmp_path, plugins=plugins), timeout=300)


@pytest.fixture
def photos(tmp_path):
    """Four 48x48 colour-block images: two reds, a green, a blue."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, colour in (("red1", (200, 30, 30)), ("red2", (190, 40, 35)), ("green", (30, 200, 30)),
                         ("blue", (30, 30, 200))):
        img = np.clip(rng.normal(colour, 25, (48, 48, 3)), 0, 255).astype(np.uint8)
        img[:16, :16] = (240, 240, 240)  # a white corner in every image
        Image.fromarray(img).save(folder / f"{name}.png")
    return folder


def test_the_extension_lives_outside_the_project_folders():
    for f in (EXT / "qe_example_ext").glob("*.py"):
        assert not any(part in PROJECT_FOLDERS for part in f.relative_to(ROOT).parts[:1])
    files = {f.name for f in (EXT / "qe_example_ext").glob("*.py")} - {"__init__.py"}
    assert files == {"estimator.py", "encoder.py", "backend.py"}  # one file each (docs/extending.md)


def test_python_api_explain_game_explain_pair_and_search_explainer(tmp_path, photos):
    script = textwrap.dedent(f"""
        import json, numpy as np
        import qe_example_ext  # registers leave-one-in, colorhist:, jsondir
        from qdrant_explain import SearchExplainer, explain_pair
        from qdrant_explain.connectors import index_folder, list_backends, list_encoders
        from qdrant_explain.explainers import explain_game, list_estimators

        out = {{"methods": list_estimators(), "backends": list_backends(), "encoders": list_encoders()}}
        w = np.array([0.5, -1.0, 2.0, 0.25])
        g = explain_game(lambda Z: Z @ w + 3.0 * Z[:, 0] * Z[:, 1], 4, method="leave-one-in")
        out["game"] = g.values.tolist()
        pair = explain_pair({str(photos / "red1.png")!r}, {str(photos / "red2.png")!r}, "colorhist:4",
                            method="leave-one-in", players="grid:2x2", side="query")
        out["pair"] = dict(method=pair.method, encoder=pair.encoder, passes=pair.encoder_passes,
                           values=pair.query_values.tolist(), full=pair.full_value, base=pair.base_value)
        report = index_folder({str(photos)!r}, "ext", path={str(tmp_path / "db")!r}, backend="jsondir",
                              encoder="colorhist:4", progress=False)
        out["indexed"] = report.added
        ex = SearchExplainer.open("ext", path={str(tmp_path / "db")!r}, backend="jsondir", encoder="colorhist:4")
        hits = ex.search({str(photos / "red1.png")!r}, limit=2)
        why = ex.explain({str(photos / "red1.png")!r}, hits[1], method="leave-one-in", players="grid:2x2")
        out["search"] = [str(h.payload.get("path")) for h in hits]
        out["why"] = dict(method=why.method, score=why.score, full=why.full_value, n=len(why.query_values))
        print(json.dumps(out))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=300)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "leave-one-in" in out["methods"] and "jsondir" in out["backends"]
    assert any(e.startswith("colorhist:") for e in out["encoders"])
    np.testing.assert_allclose(out["game"], [0.5, -1.0, 2.0, 0.25])  # v({i}) - v(empty), the pair term unseen
    pair = out["pair"]
    assert pair["method"] == "leave-one-in" and pair["encoder"] == "colorhist:4"
    assert pair["passes"] == (4 + 2) + 1 and len(pair["values"]) == 4  # n + 2 query masks, the hit once
    assert out["indexed"] == 4
    assert out["search"][0] == "red1.png" and out["search"][1] == "red2.png"
    why = out["why"]
    assert why["method"] == "leave-one-in" and why["n"] == 4
    assert why["full"] == pytest.approx(why["score"], abs=1e-6)  # the game's full value is the backend's score


def test_cli_index_search_explain_with_the_extension(tmp_path, photos):
    db = tmp_path / "db"
    common = ["--collection", "ext", "--db", db, "--backend", "jsondir", "--encoder", "colorhist:4"]
    done = _cli(tmp_path, "index", photos, *common, "--quiet")
    assert done.returncode == 0, done.stderr
    found = _cli(tmp_path, "search", photos / "red1.png", *common, "-k", "2", "--json", "-", "--quiet")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    hits = hits["hits"] if isinstance(hits, dict) else hits
    assert hits[0]["payload"]["path"] == "red1.png"
    second = hits[1]["id"]
    why = _cli(tmp_path, "explain", photos / "red1.png", "--point-id", second, *common, "--method", "leave-one-in",
               "--players", "grid:2x2", "--json", "-", "--quiet")
    assert why.returncode == 0, why.stderr
    got = json.loads(why.stdout)
    assert got["method"] == "leave-one-in" and got["encoder"] == "colorhist:4"
    assert got["full_value"] == pytest.approx(got["score"], abs=1e-6)


def test_without_the_extension_its_names_are_refused_clearly(tmp_path, photos):
    db = tmp_path / "db"
    r = _cli(tmp_path, "index", photos, "--collection", "x", "--db", db, "--backend", "jsondir", plugins=False)
    assert r.returncode == 2 and "jsondir" in r.stderr and "client" in r.stderr
    r = _cli(tmp_path, "explain", photos / "red1.png", "--image", photos / "red2.png", "--encoder", "colorhist:4",
             plugins=False)
    assert r.returncode == 1 and "colorhist:4" in r.stderr and "Traceback" not in r.stderr
    r = _cli(tmp_path, "explain", photos / "red1.png", "--image", photos / "red2.png", "--method", "leave-one-in",
             plugins=False)
    assert r.returncode == 2 and "leave-one-in" in r.stderr


def test_a_plugin_that_fails_to_import_is_named(tmp_path):
    env = _env(tmp_path)
    env["QDRANT_EXPLAIN_PLUGINS"] = "qe_no_such_extension"
    r = subprocess.run([sys.executable, "-m", "qdrant_explain", "search", "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 1
    assert "QDRANT_EXPLAIN_PLUGINS" in r.stderr and "qe_no_such_extension" in r.stderr and "Traceback" not in r.stderr


def test_plugin_modules_parses_the_variable():
    from qdrant_explain.plugins import plugin_modules

    assert plugin_modules({"QDRANT_EXPLAIN_PLUGINS": " a, b ,,a "}) == ["a", "b"]
    assert plugin_modules({}) == []
