"""The pyproject package list matches the folders, and the namespace mapping imports."""

from __future__ import annotations

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPING = {"plugin": "qdrant_explain", "connectors": "qdrant_explain.connectors", "explainers": "qdrant_explain.explainers"}


def _packages_on_disk() -> set[str]:
    found = set()
    for folder, dotted in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((dotted, *rel)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


def test_namespace_maps_three_folders():
    import qdrant_explain
    import qdrant_explain.connectors
    import qdrant_explain.explainers

    assert pathlib.Path(qdrant_explain.__file__).parent.name == "plugin"
    assert pathlib.Path(qdrant_explain.connectors.__file__).parent.name == "connectors"
    assert pathlib.Path(qdrant_explain.explainers.__file__).parent.name == "explainers"


def test_explainers_import_no_torch_or_qdrant():
    import subprocess
    import sys

    code = (
        "import sys, qdrant_explain.explainers; "
        "bad=[m for m in ('torch','qdrant_client','open_clip') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_version_and_help():
    from click.testing import CliRunner

    from qdrant_explain import __version__
    from qdrant_explain.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["--version"])
    assert out.exit_code == 0 and __version__ in out.output
    out = runner.invoke(main, ["--help"])
    assert out.exit_code == 0 and "Explain why Qdrant" in out.output


def test_built_wheel_installs_and_imports_elsewhere(tmp_path):
    """The wheel carries all three folders under one namespace (not only the editable install)."""
    import subprocess
    import sys
    import zipfile

    import shutil

    src = tmp_path / "src"  # build from a clean copy: a stale build/ folder in the checkout must not leak in
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("plugin", "connectors", "explainers"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("qdrant_explain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qdrant_explain/explainers/exact.py" in names
    assert "qdrant_explain/connectors/__init__.py" in names
    # the digits dataset ships with its data, in its own room (not in connectors/)
    for data in ("digits_cnn.pt", "ambiguous.json"):
        assert f"qdrant_explain/datasets/digits/{data}" in names
    assert not [n for n in names if n.startswith(("qdrant_explain/connectors/digits", "qdrant_explain/connectors/weights"))]
    shipped = zipfile.ZipFile(wheel).read("qdrant_explain/datasets/digits/digits_cnn.pt")
    assert shipped == (ROOT / "plugin" / "datasets" / "digits" / "digits_cnn.pt").read_bytes()
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = "import qdrant_explain.explainers as e, qdrant_explain.connectors, qdrant_explain.cli; print(e.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert str(target) in out.stdout
    code = (
        "from qdrant_explain.connectors.encoders import load_encoder; from qdrant_explain.datasets import digits; "
        "enc = load_encoder('digits-cnn', threads=1); print(enc.name, digits.WEIGHTS_PATH, digits.ambiguous_digits().sum())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    name, weights, flagged = out.stdout.split()
    assert name == "digits-cnn" and weights.startswith(str(target)) and int(flagged) > 0
