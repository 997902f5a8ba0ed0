"""The architecture rules of the developers' guide, checked on the source.

Data flows one way (manifest -> plan -> render -> runtime): ``manifest/`` imports only itself and
``expressions/``; ``expressions/`` (Argo's languages) imports only itself; neither imports Airflow.
Modules stay small enough to have one job (about 600 lines).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_argo_provider"
ALLOWED = {
    "manifest": {"manifest", "expressions"},
    "expressions": {"expressions"},
}
MAX_LINES = 600
SIZED = ("manifest", "expressions", "events")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (at any level, also inside functions), as dotted names."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


@pytest.mark.parametrize("sub", sorted(ALLOWED))
def test_imports_follow_the_data_flow(sub: str) -> None:
    wrong = []
    for path in _modules(sub):
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] == "airflow":
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: imports Airflow ({module})")
            elif parts[0] == "airflow_argo_provider" and (len(parts) < 2 or parts[1] not in ALLOWED[sub]):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: imports {module}")
    assert not wrong, f"{sub}/ may import only {sorted(ALLOWED[sub])}:\n" + "\n".join(wrong)


def test_the_checker_sees_relative_and_nested_imports(tmp_path: Path) -> None:
    """The rule above could pass by reading nothing: make sure it reads what it must."""
    imports = dict((m, line) for line, m in _imports(PACKAGE / "manifest" / "check.py"))
    assert "airflow_argo_provider.manifest.loader" in imports
    relative = [m for _, m in _imports(PACKAGE / "expressions" / "__init__.py")]
    assert "airflow_argo_provider.expressions.errors" in relative


@pytest.mark.parametrize("sub", SIZED)
def test_modules_have_one_job_each(sub: str) -> None:
    long = [
        f"{path.relative_to(PACKAGE)}: {n} lines"
        for path in _modules(sub)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(long)
