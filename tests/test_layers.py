"""The package's imports point one way: errors → device/options/resample → media → models/degrade → misr → engine →
pipeline → segments/eval/bench/restore → experiment/train → cli. A cycle, an upward import or `av` outside vsr.media fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vsr"

LAYERS: list[tuple[str, ...]] = [
    ("vsr.errors",),
    ("vsr.device", "vsr.options", "vsr.resample", "vsr.tomlfile", "vsr.files", "vsr.logquiet"),
    ("vsr.media",),
    ("vsr.models", "vsr.degrade"),
    ("vsr.misr",),
    ("vsr.engine",),
    ("vsr.pipeline",),
    ("vsr.segments", "vsr.eval", "vsr.bench", "vsr.restore"),
    ("vsr.experiment", "vsr.train"),
    ("vsr.cli",),
]
"""Lowest first. A module may import from its own layer or any layer below it."""

TOP_LEVEL = {"vsr", "vsr.__main__"}
"""The public API facade and the entry point sit above every layer."""

LAZY_IMPORTS_ALLOWED = {"vsr.cli"}
"""Packages whose functions may import: the CLI loads torch and the pipeline only when a command
runs, so `vsr --help` and typo errors answer in a fraction of a second."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (use absolute vsr.… imports)"
            found.append((node.module, id(node) in top_level))
            found += [(f"{node.module}.{alias.name}", id(node) in top_level) for alias in node.names]
    return found


def layer_of(name: str) -> int | None:
    for index, packages in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in packages):
            return index
    return None


def internal_edges() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports_of(path):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def test_every_module_has_a_layer():
    unplaced = [name for name in modules() if name not in TOP_LEVEL and layer_of(name) is None]
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"


def test_no_upward_imports():
    upward = []
    for name, targets in internal_edges().items():
        if name in TOP_LEVEL:
            continue
        for target in targets:
            if target in TOP_LEVEL or layer_of(target) > layer_of(name):
                upward.append(f"{name} → {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = internal_edges()
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    edges = {n: {t for t in ts if not (t.startswith(n + ".") and modules()[n].name == "__init__.py")} for n, ts in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_only_media_imports_av():
    offenders = [
        name for name, path in modules().items()
        if not name.startswith("vsr.media") and any(t == "av" or t.startswith("av.") for t, _ in imports_of(path))
    ]
    assert not offenders, f"only vsr.media may import av: {offenders}"


def test_imports_at_module_level():
    inside = [
        f"{name}: {target}" for name, path in modules().items()
        if not any(name == p or name.startswith(p + ".") for p in LAZY_IMPORTS_ALLOWED)
        for target, at_top in imports_of(path)
        if not at_top and (target.startswith("vsr") or target in {"torch", "av", "cv2", "numpy"})
    ]
    assert not inside, "imports inside functions (move them to the top of the module):\n" + "\n".join(sorted(set(inside)))


@pytest.mark.parametrize("name", ["vsr.engine", "vsr.device"])
def test_layer_table_knows_the_new_packages(name):
    assert layer_of(name) is not None
