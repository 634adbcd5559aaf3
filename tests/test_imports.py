"""The import rules between the rooms of the package, read from the source with ``ast``.

Rooms: ``explainers/`` (``qdrant_explain.explainers``, numpy only), ``connectors/``
(``qdrant_explain.connectors``: Qdrant, encoders, images) and ``plugin/`` (everything
else under ``qdrant_explain``: the API, the CLI, reports, and ``qdrant_explain.datasets``).
Dependencies point one way: plugin -> connectors -> explainers (plugin may also import
explainers directly); a dataset imports explainers and connectors, never the rest of plugin.

Every import counts: module level, inside functions and methods, under ``try`` or ``if``,
relative ones resolved against the importing module, and ``importlib.import_module`` /
``__import__`` calls with a literal name. An import edge goes to the most specific module
it names (``from qdrant_explain.connectors.encoders import load_encoder`` -> the
``encoders`` module); executing a parent package's ``__init__`` on the way is not an edge.
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass


ROOT = pathlib.Path(__file__).resolve().parents[1]

ROOMS = {"plugin": "qdrant_explain", "connectors": "qdrant_explain.connectors", "explainers": "qdrant_explain.explainers"}
"""Source folder -> the dotted package it installs as (pyproject's ``package-dir``)."""

FORBIDDEN_ROOMS = {"explainers": {"connectors", "plugin", "datasets"}, "connectors": {"plugin", "datasets"}, "datasets": {"plugin"}}
"""Room -> rooms it must not import (``datasets`` is the part of plugin under ``qdrant_explain.datasets``)."""

FORBIDDEN_EXTERNAL = {"explainers": {"torch", "qdrant_client", "qdrant_edge", "open_clip"}}
"""Room -> third-party top-level packages it must not import."""


@dataclass(frozen=True)
class ImportEdge:
    """One import statement: ``importer`` imports ``target`` (a dotted name) at ``path:line``."""

    importer: str
    target: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.target}"


# --------------------------------------------------------------------------- reading the source


def discover_modules(root: pathlib.Path = ROOT) -> dict[str, tuple[pathlib.Path, bool]]:
    """Dotted module name -> (file, is_package) for every ``.py`` file of the three rooms."""
    modules: dict[str, tuple[pathlib.Path, bool]] = {}
    for folder, dotted in ROOMS.items():
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root / folder).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            parts = rel[:-1] if is_package else rel
            name = ".".join((dotted, *parts))
            if name in modules:  # e.g. plugin/connectors/ would shadow the connectors room
                raise ValueError(f"{path} and {modules[name][0]} both install as {name}.")
            modules[name] = (path, is_package)
    return modules


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        raise ValueError(f"{module}: relative import of level {level} goes above the top-level package.")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _literal_import_call(node: ast.Call) -> tuple[str, str | None] | None:
    """(name, package expression) of ``import_module("x")`` / ``importlib.import_module("x")`` / ``__import__("x")``."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None  # a computed name: not knowable from the source
    package = None
    if called == "import_module" and len(node.args) > 1 and isinstance(node.args[1], ast.Name):
        package = node.args[1].id
    return first.value, package


def raw_imports(source: str, module: str, is_package: bool) -> list[tuple[list[str], int]]:
    """Every import in ``source`` as (candidate dotted names, line), relative names made absolute.

    ``from X import a, b`` gives one entry per name with candidates ``[X.a, X]``: the first
    that is a known module is the target. ``import X.Y`` gives ``[X.Y]``.
    """
    found: list[tuple[list[str], int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(([alias.name], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node.level, node.module) if node.level else node.module
            for alias in node.names:
                found.append(([base] if alias.name == "*" else [f"{base}.{alias.name}", base], node.lineno))
        elif isinstance(node, ast.Call) and (call := _literal_import_call(node)) is not None:
            name, package = call
            if name.startswith("."):
                if package not in ("__name__", "__package__"):
                    continue  # relative to a package we cannot see from here
                level = len(name) - len(name.lstrip("."))
                # import_module anchors a relative name at `package`: __name__ is the module itself
                anchor_is_package = True if package == "__name__" else is_package
                name = _resolve_relative(module, anchor_is_package, level, name.lstrip(".") or None)
            found.append(([name], node.lineno))
    return found


def _target(candidates: list[str], modules: dict) -> str:
    """The most specific known module among the candidates, else the name itself (third-party)."""
    for name in candidates:
        probe = name
        while probe:
            if probe in modules:
                return probe
            probe = probe.rpartition(".")[0]
    return candidates[-1]


def import_edges(modules: dict[str, tuple[pathlib.Path, bool]] | None = None) -> list[ImportEdge]:
    """Every import of every module of the three rooms, targets resolved (see the module docstring)."""
    modules = discover_modules() if modules is None else modules
    edges = []
    for name, (path, is_package) in modules.items():
        rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        for candidates, line in raw_imports(path.read_text(), name, is_package):
            edges.append(ImportEdge(name, _target(candidates, modules), rel, line))
    return edges


# --------------------------------------------------------------------------- the rules


def room_of(module: str) -> str | None:
    """``explainers``, ``connectors``, ``datasets`` or ``plugin`` for a module of the package, else None."""
    if module == "qdrant_explain.explainers" or module.startswith("qdrant_explain.explainers."):
        return "explainers"
    if module == "qdrant_explain.connectors" or module.startswith("qdrant_explain.connectors."):
        return "connectors"
    if module == "qdrant_explain.datasets" or module.startswith("qdrant_explain.datasets."):
        return "datasets"
    if module == "qdrant_explain" or module.startswith("qdrant_explain."):
        return "plugin"
    return None


def direction_violations(edges: list[ImportEdge]) -> list[ImportEdge]:
    """The edges that break :data:`FORBIDDEN_ROOMS` or :data:`FORBIDDEN_EXTERNAL`."""
    bad = []
    for edge in edges:
        source, target = room_of(edge.importer), room_of(edge.target)
        if target is not None and target != source and target in FORBIDDEN_ROOMS.get(source, ()):
            bad.append(edge)
        elif target is None and edge.target.split(".")[0] in FORBIDDEN_EXTERNAL.get(source, ()):
            bad.append(edge)
    return bad


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The import circles of ``graph`` as strongly connected components (Tarjan, iterative).

    Only components that hold a cycle are returned: two or more modules, or one module
    importing itself. Sorted by size, then members, so the output is deterministic.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(frozenset(component))
    return sorted(components, key=lambda c: (len(c), sorted(c)))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle ``[a, b, ..., a]`` through each component of :func:`strongly_connected`.

    A module importing itself gives ``[a, a]``. Sorted by length, then names.
    """
    return sorted((_shortest_cycle(graph, comp) for comp in strongly_connected(graph)), key=lambda c: (len(c), c))


def _shortest_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child in component and child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its component")  # unreachable for a real component


def module_graph(edges: list[ImportEdge]) -> dict[str, set[str]]:
    """Importer -> imported modules, for imports between modules of the package only."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set())
        if room_of(edge.target) is not None:
            graph[edge.importer].add(edge.target)
    return graph


def describe(graph: dict[str, set[str]], edges: list[ImportEdge]) -> str:
    """The circles of ``graph``, one per line: each step with the file and line of its import.

    A component larger than its shortest cycle also lists all its members.
    """
    where = {}
    for edge in edges:
        where.setdefault((edge.importer, edge.target), f"{edge.path}:{edge.line}")
    lines = []
    for component in strongly_connected(graph):
        cycle = _shortest_cycle(graph, component)
        steps = " ; ".join(f"{a} -> {b} ({where.get((a, b), '?')})" for a, b in zip(cycle, cycle[1:]))
        extra = "" if len(component) == len(set(cycle)) else f"  [component of {len(component)}: {', '.join(sorted(component))}]"
        lines.append(steps + extra)
    return "\n".join(lines)


# --------------------------------------------------------------------------- the tests on the package


def test_every_room_is_read():
    modules = discover_modules()
    rooms = {room_of(name) for name in modules}
    assert rooms == {"explainers", "connectors", "plugin", "datasets"}
    assert "qdrant_explain.datasets.digits.cnn" in modules and "qdrant_explain.connectors.encoders" in modules
    assert len(import_edges(modules)) > 100


def test_imports_point_one_way():
    bad = direction_violations(import_edges())
    assert not bad, "imports against the direction plugin -> connectors -> explainers:\n" + "\n".join(map(str, bad))


NAMED_BY_STRING = {
    ("qdrant_explain.connectors.encoders", "qdrant_explain.datasets.digits"): (
        "_BUILTIN_MODULES, the encoders' hook list: load_encoder imports the package on the first "
        "lookup so that it registers 'digits-cnn' through the public register_encoder"
    ),
}
"""(module, module it names in a string) pairs against the direction, each with why it is allowed."""


def modules_named_by_string(modules: dict[str, tuple[pathlib.Path, bool]] | None = None) -> list[ImportEdge]:
    """String constants that are exactly the dotted name of a module of the package (``"x.y"`` or ``"x.y:attr"``)."""
    import re

    modules = discover_modules() if modules is None else modules
    found = []
    for name, (path, _) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(r"(qdrant_explain(?:\.\w+)+)(?::[\w.]+)?", node.value)
                if match and match.group(1) in modules and match.group(1) != name:
                    found.append(ImportEdge(name, match.group(1), str(path.relative_to(ROOT)), node.lineno))
    return found


def test_lower_rooms_name_upper_modules_only_where_listed():
    """A module named in a string (an import hook, a spec) counts as an import for the direction rules."""
    bad = [e for e in direction_violations(modules_named_by_string()) if (e.importer, e.target) not in NAMED_BY_STRING]
    assert not bad, "modules named by string against the direction:\n" + "\n".join(map(str, bad))
    stale = set(NAMED_BY_STRING) - {(e.importer, e.target) for e in modules_named_by_string()}
    assert not stale, f"NAMED_BY_STRING lists pairs the source no longer has; remove them: {sorted(stale)}"


KNOWN_CIRCLES = (
    frozenset({"qdrant_explain.connectors.clip", "qdrant_explain.connectors.encoders"}),
    frozenset({"qdrant_explain.connectors.edge", "qdrant_explain.connectors.qdrant"}),
)
"""The circles on main when this test was written, all in files other branches are rewriting."""


def test_no_new_import_circles():
    """Every circle left is (part of) a known one: a new circle fails now, whatever the xfail below says."""
    edges = import_edges()
    graph = module_graph(edges)
    new = [c for c in strongly_connected(graph) if not any(c <= known for known in KNOWN_CIRCLES)]
    assert not new, "new import circle(s):\n" + describe({m: graph[m] & set().union(*new) for m in set().union(*new)}, edges)


def test_no_import_circles():
    edges = import_edges()
    graph = module_graph(edges)
    assert not strongly_connected(graph), f"{len(strongly_connected(graph))} import circle(s):\n" + describe(graph, edges)


def test_datasets_add_no_circle_and_sit_above_connectors_and_explainers():
    edges = import_edges()
    graph = module_graph(edges)
    assert not [c for c in strongly_connected(graph) if any(room_of(m) == "datasets" for m in c)], describe(graph, edges)
    targets = {room_of(e.target) for e in edges if room_of(e.importer) == "datasets"}
    assert targets <= {"datasets", "connectors", "explainers", None}
    assert "connectors" in targets  # it registers its encoder through the public register_encoder
    assert not [e for e in edges if room_of(e.target) == "datasets" and room_of(e.importer) != "datasets"]


# --------------------------------------------------------------------------- the checker itself


SAMPLE = '''
import numpy as np
from . import sibling
from .. import package_level_name
from ..connectors.encoders import load_encoder

def late():
    from qdrant_explain.connectors import qdrant
    import importlib
    importlib.import_module("qdrant_explain.report")
    return importlib.import_module(".lazy", __package__)

class K:
    def method(self):
        try:
            import torch
        except ImportError:
            pass
'''


def test_reader_finds_module_function_method_relative_and_literal_dynamic_imports():
    found = raw_imports(SAMPLE, "qdrant_explain.explainers.games", is_package=False)
    names = {tuple(c) for c, _ in found}
    assert ("numpy",) in names and ("torch",) in names
    assert ("qdrant_explain.explainers.sibling", "qdrant_explain.explainers") in names
    assert ("qdrant_explain.package_level_name", "qdrant_explain") in names
    assert ("qdrant_explain.connectors.encoders.load_encoder", "qdrant_explain.connectors.encoders") in names
    assert ("qdrant_explain.connectors.qdrant", "qdrant_explain.connectors") in names
    assert ("qdrant_explain.report",) in names and ("qdrant_explain.explainers.lazy",) in names
    # in a package's __init__, "." is the package itself
    inside = raw_imports("from .a import b", "qdrant_explain.explainers", is_package=True)
    assert inside == [(["qdrant_explain.explainers.a.b", "qdrant_explain.explainers.a"], 1)]


def test_direction_rules_flag_each_wrong_way(tmp_path):
    modules = {
        "qdrant_explain.explainers.games": (tmp_path / "g.py", False),
        "qdrant_explain.connectors.encoders": (tmp_path / "e.py", False),
        "qdrant_explain.connectors.qdrant": (tmp_path / "q.py", False),
        "qdrant_explain.pair": (tmp_path / "p.py", False),
        "qdrant_explain.datasets.digits": (tmp_path / "d.py", True),
    }
    (tmp_path / "g.py").write_text("def f():\n    from qdrant_explain.connectors.encoders import load_encoder\n    import torch.nn\n")
    (tmp_path / "e.py").write_text("import numpy\nfrom qdrant_explain.explainers import games\n")
    (tmp_path / "q.py").write_text("from qdrant_explain import pair\nfrom qdrant_explain.datasets import digits\n")
    (tmp_path / "p.py").write_text("from qdrant_explain.connectors import qdrant\nfrom qdrant_explain.datasets import digits\n")
    (tmp_path / "d.py").write_text("from qdrant_explain.connectors.encoders import register_encoder\nfrom qdrant_explain import pair\n")
    bad = {(e.importer, e.target) for e in direction_violations(import_edges(modules))}
    assert bad == {
        ("qdrant_explain.explainers.games", "qdrant_explain.connectors.encoders"),
        ("qdrant_explain.explainers.games", "torch.nn"),
        ("qdrant_explain.connectors.qdrant", "qdrant_explain.pair"),
        ("qdrant_explain.connectors.qdrant", "qdrant_explain.datasets.digits"),
        ("qdrant_explain.datasets.digits", "qdrant_explain.pair"),
    }


def test_cycle_finder_reports_each_circle_once():
    graph = {
        "a": {"b"},
        "b": {"c", "a"},
        "c": {"a"},
        "d": {"d"},
        "e": {"f"},
        "f": set(),
        "x": {"y"},
        "y": {"x"},
    }
    assert find_cycles(graph) == [["d", "d"], ["a", "b", "a"], ["x", "y", "x"]]
    assert strongly_connected(graph) == [frozenset("d"), frozenset("xy"), frozenset("abc")]
    assert find_cycles({"e": {"f"}, "f": set()}) == []
    text = describe(graph, [ImportEdge("b", "a", "b.py", 3)])
    assert "a -> b (?) ; b -> a (b.py:3)  [component of 3: a, b, c]" in text
