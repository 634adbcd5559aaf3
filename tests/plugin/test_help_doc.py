"""docs/help.md is the ``--help`` of every command, so the docs cannot drift.

Regenerate it with ``python tests/plugin/test_help_doc.py``.
"""

from __future__ import annotations

import pathlib

from click.testing import CliRunner

from qdrant_explain.cli import main

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "help.md"
COMMANDS = ("index", "search", "explain", "compare", "audit", "demo")


def render_help() -> str:
    runner = CliRunner()
    parts = ["# qdrant-explain --help\n", "Generated from the CLI by `python tests/plugin/test_help_doc.py`; "
             "a test checks it is current.\n"]
    for args in [[]] + [[c] for c in COMMANDS]:
        out = runner.invoke(main, [*args, "--help"], prog_name="qdrant-explain", terminal_width=100)
        assert out.exit_code == 0, out.output
        title = " ".join(["qdrant-explain", *args])
        parts.append(f"\n## `{title}`\n\n```text\n{out.output.rstrip()}\n```\n")
    return "".join(parts)


def test_help_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == render_help(), "docs/help.md is stale: run python tests/plugin/test_help_doc.py"


if __name__ == "__main__":
    DOC.write_text(render_help(), encoding="utf-8")
    print(f"wrote {DOC}")
