"""The seams hold: backend never imports Dagster; engines and the rule grammar import neither Django nor Dagster.

The pure engine (``dagster_code.engine``) is a library: the web app may use it (pre-flight runs the
real engine code path), but nothing else of the code location.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (package, forbidden top-level packages, modules allowed although under a forbidden package)
RULES = [
    (
        "backend",
        {"dagster", "dagster_graphql", "dagster_postgres", "dagster_code", "streamlit"},
        ("dagster_code.engine",),
    ),
    ("dagster_code/engine", {"django", "dagster", "streamlit", "backend"}, ()),
    ("analytics_hub/ml", {"django", "dagster", "streamlit", "backend"}, ()),
    ("launchpad_rules", {"django", "dagster", "dagster_code", "backend", "streamlit", "psycopg"}, ()),
]


def _imports(path: Path) -> set[str]:
    """Full names of the modules ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(node.module if alias.name == "*" else f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _forbidden(module: str, forbidden: set[str], allowed: tuple[str, ...]) -> bool:
    if any(module == a or module.startswith(f"{a}.") for a in allowed):
        return False
    return module.split(".")[0] in forbidden


def _offending(path: Path, forbidden: set[str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(m for m in _imports(path) if _forbidden(m, forbidden, allowed))


@pytest.mark.parametrize("package, forbidden, allowed", RULES, ids=[r[0] for r in RULES])
def test_package_does_not_import_across_its_boundary(package, forbidden, allowed):
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in (ROOT / package).rglob("*.py")
        if (found := _offending(path, forbidden, allowed))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source, offending",
    [
        ("from dagster_code.engine.quality import evaluate_rules", []),
        ("import dagster_code.engine.preflight", []),
        ("from dagster_code import engine", []),
        ("from dagster_code import factory", ["dagster_code.factory"]),
        ("from dagster_code.engineering import x", ["dagster_code.engineering.x"]),
        ("from dagster_code.factory import *", ["dagster_code.factory"]),
        ("import dagster_code.checks", ["dagster_code.checks"]),
        ("import dagster", ["dagster"]),
        (
            "from dagster_graphql import DagsterGraphQLClient",
            ["dagster_graphql.DagsterGraphQLClient"],
        ),
    ],
)
def test_backend_may_import_the_engine_and_nothing_else_of_the_code_location(tmp_path, source, offending):
    module = tmp_path / "m.py"
    module.write_text(source + "\n")
    backend_forbidden, backend_allowed = RULES[0][1], RULES[0][2]
    assert _offending(module, backend_forbidden, backend_allowed) == offending


def test_only_the_bridge_sets_up_django_in_the_code_location():
    callers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "dagster_code").rglob("*.py")
        if "django.setup()" in path.read_text()
    ]
    assert callers == ["dagster_code/bridge.py"]
