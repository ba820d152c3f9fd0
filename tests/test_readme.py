"""The README's module table names every module of the package, and nothing that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def documented_modules() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("<!-- modules:start -->")[1].split("<!-- modules:end -->")[0]
    return set(re.findall(r"^\| `(vsr/[\w/]+\.py)` \|", table, flags=re.M))


def modules_with_code() -> set[str]:
    """Every module, leaving out package `__init__.py` files that hold only a docstring."""
    found = set()
    for path in (REPO / "vsr").rglob("*.py"):
        body = ast.parse(path.read_text()).body
        code = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        if path.name != "__init__.py" or code:
            found.add(path.relative_to(REPO).as_posix())
    return found


def test_the_module_table_matches_the_package():
    documented, actual = documented_modules(), modules_with_code()
    assert not actual - documented, f"modules missing from the README's table: {sorted(actual - documented)}"
    assert not documented - actual, f"the README's table names modules that do not exist: {sorted(documented - actual)}"
