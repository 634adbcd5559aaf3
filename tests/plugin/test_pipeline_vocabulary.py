"""The CLI, README and docs/help.md take their method and baseline words from the vocabulary."""

from __future__ import annotations

import pathlib
import re

import click
import pytest

from qdrant_explain.cli import main
from qdrant_explain.explainers.vocabulary import BASELINES, BUDGET_MEANING, list_methods

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORDERS = {1: "side", 2: "joint"}


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _option(command: str, name: str) -> click.Option:
    return next(p for p in main.commands[command].params if p.name == name)


def test_cli_method_choices_are_the_vocabulary():
    every = set(list_methods(1, "side")) | set(list_methods(2, "joint"))
    for command in ("explain", "compare"):
        assert set(_option(command, "method").type.choices) == every
    assert tuple(_option("search", "explain_method").type.choices) == list_methods(1, "side")


@pytest.mark.parametrize("order", [1, 2])
def test_readme_command_line_lists_every_method_per_order(order):
    text = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## Command line", "### `--json` fields")
    bullet = _flat(text[text.index("- `--method`") :].split("\n- ")[0])
    one, two = bullet.split("order 2", 1)
    part = one.split("order 1", 1)[1] if order == 1 else two.split(".", 1)[0]
    named = set(re.findall(r"`([a-z-]+)`", part))
    assert named == set(list_methods(order, ORDERS[order])), bullet


@pytest.mark.parametrize("order", [1, 2])
def test_help_doc_lists_every_method_per_order(order):
    text = _flat(_section((ROOT / "docs" / "help.md").read_text(encoding="utf-8"), "## `qdrant-explain explain`",
                          "## `qdrant-explain compare`"))
    part = text.split(f"Order {order}:" if order == 1 else "order 2:", 1)[1].split(";" if order == 1 else ".", 1)[0]
    assert {m.strip() for m in part.split(",")} == set(list_methods(order, ORDERS[order]))


def test_readme_and_help_name_every_baseline_and_what_budget_counts():
    readme = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    help_doc = _flat((ROOT / "docs" / "help.md").read_text(encoding="utf-8"))
    for name in BASELINES:
        assert f"`{name}`" in readme, name
        assert f"{name}:" in help_doc or f"{name} " in help_doc, name
    assert _flat(BUDGET_MEANING) in help_doc
    assert "per explained side at order 1" in readme
