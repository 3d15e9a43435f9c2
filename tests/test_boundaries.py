"""The seams hold: backend never imports Dagster; engines and the rule grammar import neither Django nor Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RULES = [
    ("backend", {"dagster", "dagster_graphql", "dagster_postgres", "dagster_code", "streamlit"}),
    ("dagster_code/engine", {"django", "dagster", "streamlit", "backend"}),
    ("analytics_hub/ml", {"django", "dagster", "streamlit", "backend"}),
    ("launchpad_rules", {"django", "dagster", "dagster_code", "backend", "streamlit", "psycopg"}),
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package, forbidden", RULES, ids=[r[0] for r in RULES])
def test_package_does_not_import_across_its_boundary(package, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & forbidden)
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & forbidden
    }
    assert offenders == {}


def test_only_the_bridge_sets_up_django_in_the_code_location():
    callers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "dagster_code").rglob("*.py")
        if "django.setup()" in path.read_text()
    ]
    assert callers == ["dagster_code/bridge.py"]
