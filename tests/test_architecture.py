"""The house rules of design.md §2, checked on the source: four floors with imports going one way
(``prover`` → ``benchmarks`` → ``search`` → ``lean_bridge``), no cycle between modules, no big
rooms.

Imports are read from the syntax tree, so an import inside a function (the usual way to hide a
cycle or an upward dependency) counts like one at the top of a module.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Lower number = lower floor. A module may import its own floor or a lower one.
FLOORS = {"lean_bridge": 0, "search": 1, "benchmarks": 2, "prover": 3}
# The fake REPL is a stand-alone stand-in for Lean: it imports no project package, and anything
# may start it.
STANDALONE = {"lean_fake"}
PACKAGES = set(FLOORS) | STANDALONE
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in sorted(PACKAGES)
            for path in sorted((REPO_ROOT / package).rglob("*.py"))}


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lives in (``a.b.c`` may be module ``a.b`` + name)."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != name:
                found.add(resolved)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def package_edges(graph: dict[str, set[str]]) -> Counter[tuple[str, str]]:
    """Distinct module-to-module imports between different packages, counted per pair."""
    return Counter((a.split(".")[0], b.split(".")[0]) for a, targets in graph.items()
                   for b in targets if a.split(".")[0] != b.split(".")[0])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_imports_go_down_the_floors_only():
    graph = import_graph()
    upward = sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets
                    if a.split(".")[0] in FLOORS and b.split(".")[0] in FLOORS
                    and FLOORS[b.split(".")[0]] > FLOORS[a.split(".")[0]])
    assert upward == []


def test_the_fake_repl_imports_no_project_package():
    graph = import_graph()
    leaks = sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets
                   if a.split(".")[0] in STANDALONE and b.split(".")[0] != a.split(".")[0])
    assert leaks == []
    # ...and nothing below the application's test doubles starts it by import.
    users = sorted(a for a, targets in graph.items() for b in targets
                   if b.split(".")[0] in STANDALONE and a.split(".")[0] in {"lean_bridge", "search"})
    assert users == []


def test_no_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_module_over_the_size_limit():
    big = {name: n for name, path in project_modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_the_walker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    # The checks above are only as good as the walker: a lazy import inside a function and a
    # relative import must both show up as edges, and a cycle through them must be found.
    root = tmp_path
    (root / "lean_bridge").mkdir()
    (root / "lean_bridge" / "__init__.py").write_text("")
    (root / "lean_bridge" / "a.py").write_text("def f():\n    from search.b import g\n")
    (root / "search").mkdir()
    (root / "search" / "__init__.py").write_text("")
    (root / "search" / "b.py").write_text("from ..lean_bridge import a\nfrom . import c\n")
    (root / "search" / "c.py").write_text("import search.b\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", root)
    graph = import_graph()
    assert graph["lean_bridge.a"] == {"search.b"}
    assert graph["search.b"] == {"lean_bridge.a", "search.c"}
    assert cycles(graph) == [["lean_bridge.a", "search.b", "search.c"]]
    assert package_edges(graph) == {("lean_bridge", "search"): 1, ("search", "lean_bridge"): 1}


if __name__ == "__main__":  # prints the numbers the closing note reports
    g = import_graph()
    for (a, b), n in sorted(package_edges(g).items()):
        print(f"{a:12s} -> {b:12s} {n}")
    for c in cycles(g):
        print("cycle:", " ".join(c))
