"""``.ci/run`` fails when it cannot install Chromium (CI must not go green without the browser tests)."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _chromium_part(tmp_path: pathlib.Path) -> pathlib.Path:
    """``.ci/run`` up to (not including) the install of the package: the Chromium step only."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    stop = next(i for i, line in enumerate(lines) if line.startswith("python3 -m pip install"))
    script = tmp_path / "chromium-step.sh"
    script.write_text("\n".join(lines[:stop]) + "\necho chromium-ok\n")
    return script


def _fake(tmp_path: pathlib.Path, name: str, body: str) -> None:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run(tmp_path: pathlib.Path, chromium: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "QE_CHROMIUM": chromium}
    return subprocess.run(["bash", str(_chromium_part(tmp_path))], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)


def test_ci_fails_when_chromium_cannot_be_installed(tmp_path):
    _fake(tmp_path, "apt-get", "exit 100")
    out = _run(tmp_path, str(tmp_path / "no-chromium"))
    assert out.returncode == 1 and "could not install chromium" in out.stderr and "chromium-ok" not in out.stdout


def test_ci_fails_when_the_install_does_not_provide_chromium(tmp_path):
    _fake(tmp_path, "apt-get", "exit 0")
    out = _run(tmp_path, str(tmp_path / "no-chromium"))
    assert out.returncode == 1 and "still missing" in out.stderr


def test_ci_goes_on_when_chromium_is_there(tmp_path):
    _fake(tmp_path, "apt-get", "echo apt-get must not run >&2; exit 100")
    _fake(tmp_path, "chromium", "exit 0")
    out = _run(tmp_path, str(tmp_path / "bin" / "chromium"))
    assert out.returncode == 0 and "chromium-ok" in out.stdout and "apt-get must not run" not in out.stderr


def test_browser_tests_fail_under_ci_without_chromium(tmp_path):
    """Must show 5: with Chromium hidden, ``CI=true pytest tests/plugin/test_report_browser.py`` fails."""
    import sys

    env = {**os.environ, "CI": "true", "QE_CHROMIUM": str(tmp_path / "hidden-chromium")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                          "tests/plugin/test_report_browser.py", "-k", "every_result_page"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 1, out.stdout[-2000:]
    assert "CI must run the browser tests" in out.stdout
