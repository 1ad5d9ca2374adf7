"""No import circle anywhere in the package (counting lazy and TYPE_CHECKING imports): ``app`` wires
everything, nothing it wires imports it back, and each layer can be read alone."""

from __future__ import annotations

import ast
from pathlib import Path

import esc_netconf

PACKAGE = Path(esc_netconf.__file__).resolve().parent
EDGE = ("esc_netconf.app", "esc_netconf.domain", "esc_netconf.options", "esc_netconf.rest", "esc_netconf.ssh",
        "esc_netconf.cli", "esc_netconf.limits", "esc_netconf.auth_throttle", "esc_netconf.addresses",
        "esc_netconf.private_files", "esc_netconf.users")


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its text.

    ``from pkg import sub`` of a submodule is an edge to ``pkg.sub`` alone, as ``from pkg.sub import x`` is:
    either form runs ``pkg/__init__`` first, and counting that for one form only made a package that
    re-exports its own modules look like a circle with each of them."""
    files = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = {f"{node.module}.{alias.name}" for alias in node.names}
                targets.update(named)
                if not named <= files.keys():  # a name defined in the module itself, not a submodule
                    targets.add(node.module)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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


def test_no_import_circle_anywhere() -> None:
    assert cycles(import_graph()) == []


def test_no_import_circle_touches_the_composition_root_or_the_edge() -> None:
    at_the_edge = [c for c in cycles(import_graph()) if any(m.startswith(EDGE) for m in c)]
    assert at_the_edge == []


def test_only_the_command_imports_the_application() -> None:
    importers = sorted(name for name, targets in import_graph().items() if "esc_netconf.app" in targets)
    assert importers == ["esc_netconf.cli.serve"]


def test_the_checker_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_tells_a_submodule_from_a_name_of_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import A\n")
    (package / "a.py").write_text("from pkg import b\nA = 1\n")  # a submodule: no edge to the package
    (package / "b.py").write_text("X = 1\n")
    (package / "c.py").write_text("from pkg import A\n")  # a name of the package's own
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set(), "pkg.c": {"pkg"}}
    (package / "b.py").write_text("from pkg import A\n")
    assert cycles(import_graph(package)) == [["pkg", "pkg.a", "pkg.b"]]
