"""The data flows one way and so do imports: stage packages never reach into the app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("ingest", {"app", "clustering", "fastapi", "sqlmodel", "sqlalchemy", "starlette"}),
        ("clustering", {"app", "fastapi", "sqlmodel", "sqlalchemy", "starlette"}),
    ],
)
def test_stage_packages_are_pure_libraries(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(n & forbidden) for p, n in imports_of(package).items() if n & forbidden
    }
    assert offenders == {}


def test_routes_hold_no_queries() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "app" / "api").rglob("*.py") if "select(" in p.read_text()]
    assert offenders == []


def test_no_dumping_ground_modules() -> None:
    banned = {"utils", "helpers", "common", "misc", "core"}
    offenders = [
        str(p.relative_to(REPO))
        for package in ("app", "ingest", "clustering")
        for p in (REPO / package).rglob("*.py")
        if p.stem in banned
    ]
    assert offenders == []
