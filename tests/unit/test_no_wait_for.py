"""No ``asyncio.wait_for`` in the server: on Python 3.11 it returns the awaited result when a cancel arrives in
the loop turn in which that result does, and the cancelled task goes on (a core stopped then waited for its KPI
scheduler for ever: ``tests/unit/core/test_cancel_on_wake.py``). ``asyncio.timeout`` passes every cancel on."""

from __future__ import annotations

import ast
from pathlib import Path

import esc_netconf


def _wait_for_calls(source: Path) -> list[int]:
    tree = ast.parse(source.read_text(), filename=str(source))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "wait_for" and isinstance(node.value, ast.Name) \
                and node.value.id == "asyncio":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio" \
                and any(alias.name == "wait_for" for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_the_server_never_uses_asyncio_wait_for() -> None:
    package = Path(esc_netconf.__file__).parent
    found = {str(path.relative_to(package)): lines for path in sorted(package.rglob("*.py"))
             if (lines := _wait_for_calls(path))}
    assert found == {}


def test_the_check_sees_both_spellings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\nfrom asyncio import wait_for\nasync def f(x):\n"
                      "    await asyncio.wait_for(x, 1)\n")
    assert sorted(_wait_for_calls(sample)) == [2, 4]
