"""The package boundaries of docs/architecture.md hold: no upward import, no import cycle, and
Settings read only by the wiring package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "storage", "bot", "adapters", "learning", "app")
# what each package may import, besides itself
MAY_IMPORT = {
    "engine": set(),
    "storage": {"engine"},
    "bot": {"engine", "storage"},
    "adapters": {"bot", "engine"},
    "learning": {"engine", "storage"},
    "app": {"engine", "storage", "bot", "adapters", "learning"},
}


def modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Project modules imported anywhere in the file (lazy imports inside functions count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in out if name.split(".")[0] in PACKAGES}


MODULES = modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_package_imports_a_higher_one(name):
    pkg = name.split(".")[0]
    bad = {imp for imp in imports_of(MODULES[name]) if imp.split(".")[0] not in MAY_IMPORT[pkg] | {pkg}}
    assert not bad, f"{name} imports {sorted(bad)}; {pkg}/ may import only {sorted(MAY_IMPORT[pkg])}"


def test_no_import_cycle_between_modules():
    graph = {
        name: {imp for imp in imports_of(path) if imp in MODULES and imp != name} for name, path in MODULES.items()
    }
    # top-level imports only would be stricter; lazy imports inside functions count as edges too
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(MODULES[m].name == "__init__.py" for m in cycle[:-1]):
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def test_settings_are_read_only_by_the_wiring_package():
    readers = sorted(
        name for name, path in MODULES.items() if "get_settings(" in path.read_text() and not name.startswith("app")
    )
    assert readers == [], f"get_settings() called outside app/: {readers}"
