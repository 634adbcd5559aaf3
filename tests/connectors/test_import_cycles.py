"""No import circles inside ``qdrant_explain.connectors`` (module-level *and* function-level imports).

Run as a script to print the import graph's cycles: ``python tests/connectors/test_import_cycles.py``.
String imports (``importlib.import_module("...")``) are listed separately: they are
not static edges, but they are dependencies too.
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = "qdrant_explain.connectors"
FOLDER = ROOT / "connectors"


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(FOLDER).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def imports_of(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """(static imports of connectors modules, string imports) of one file, at any nesting level."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    static, strings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + ([f"{target}.{a.name}" for a in node.names] if not node.module or node.level else [])
            static.update(n for n in names if n.startswith(PACKAGE))
        elif isinstance(node, ast.Import):
            static.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                strings.add(node.args[0].value)
    known = {module_name(p) for p in FOLDER.rglob("*.py")}
    return {s for s in static if s in known and s != me}, {s for s in strings if s.startswith(PACKAGE)}


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(static edges, string-import edges) between connectors modules."""
    static, strings = {}, {}
    for path in sorted(FOLDER.rglob("*.py")):
        s, t = imports_of(path)
        static[module_name(path)] = s
        strings[module_name(path)] = t
    return static, strings


def find_cycles(graph: dict[str, set[str]], *, skip_package_init: bool = True) -> list[list[str]]:
    """Elementary cycles (as module lists) found by depth-first search; the package ``__init__`` is skipped
    because it only re-exports (every submodule import runs it first, by Python's rules)."""
    nodes = {n for n in graph if not (skip_package_init and n == PACKAGE)}
    cycles: list[list[str]] = []
    seen_keys: set[tuple[str, ...]] = set()

    def visit(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt not in nodes:
                continue
            if nxt == start:
                i = path.index(min(path))
                key = tuple(path[i:] + path[:i])
                if key not in seen_keys:
                    seen_keys.add(key)
                    cycles.append(list(key))
            elif nxt not in path and nxt > start:
                visit(start, nxt, path + [nxt])

    for start in sorted(nodes):
        visit(start, start, [start])
    return cycles


def test_the_graph_sees_function_level_imports():
    static, _ = import_graph()
    assert f"{PACKAGE}.clip" in static[f"{PACKAGE}.encoders"]  # module level
    assert f"{PACKAGE}.edge" in static[f"{PACKAGE}.qdrant"]  # inside a function
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_connectors():
    static, _ = import_graph()
    assert find_cycles(static) == []


def test_no_backend_imports_another_backends_private_names():
    for backend in ("client", "edge"):
        tree = ast.parse((FOLDER / f"{backend}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.module in ("client", "edge", "qdrant"):
                assert node.module != backend
                raise AssertionError(f"{backend}.py imports from .{node.module}: backends share only .collection")
            if isinstance(node, ast.ImportFrom) and node.level:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{backend}.py imports private names {private} from .{node.module}"


if __name__ == "__main__":
    graph, by_string = import_graph()
    cycles = find_cycles(graph)
    print("static cycles:", cycles or "none")
    merged = {k: graph[k] | by_string.get(k, set()) for k in graph}
    print("cycles counting importlib string imports:", find_cycles(merged) or "none")
    sys.exit(1 if cycles else 0)
