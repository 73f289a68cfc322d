"""The package map holds: imports only go down (search → trainable → losses; the shared
``trainable.common`` imports only losses besides itself), no module-level import cycle, and every
module imports (so a moved module leaves no stale import behind)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("losses", "trainable", "search")
# What each package may import of ours; trainable.common is shared by the trial and the driver.
ALLOWED = {
    "losses": ("losses",),
    "trainable.common": ("trainable.common", "losses"),
    "trainable": ("trainable", "losses"),
    "search": ("search", "trainable", "losses"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    """Our modules ``path`` imports (``from x import y`` counts ``x.y`` when that is a module);
    TYPE_CHECKING blocks never run, so they are skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


def _owner(module: str) -> str:
    return "trainable.common" if module.startswith("trainable.common") else module.split(".")[0]


def test_imports_only_go_down_the_package_map():
    upward = [
        f"{module} imports {target}"
        for module, path in MODULES.items()
        for target in _imports(path, module_level_only=False)
        if not target.startswith(ALLOWED[_owner(module)])
    ]
    assert not upward, "\n".join(upward)


def test_no_module_level_import_cycle():
    graph = {m: _imports(p, module_level_only=True) - {m} for m, p in MODULES.items()}
    # a package's __init__ is imported with each of its modules: not an edge of a cycle
    graph = {m: {t for t in targets if not m.startswith(f"{t}.")} for m, targets in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" → ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"search.report.__main__"}))
def test_every_module_imports(module):
    importlib.import_module(module)
