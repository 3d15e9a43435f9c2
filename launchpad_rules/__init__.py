"""Quality rule grammar shared by the Django metadata (save-time checks) and the engine (run-time SQL).

Pure Python on top of sqlglot: it imports neither Django, Dagster, psycopg nor the engine.
"""

from __future__ import annotations

from launchpad_rules.expressions import (
    CHECK_TYPES,
    CHECKS_WITHOUT_COLUMN,
    ColumnRef,
    ParsedRule,
    RuleError,
    Value,
    parse_rule,
)

__all__ = ["CHECK_TYPES", "CHECKS_WITHOUT_COLUMN", "ColumnRef", "ParsedRule", "RuleError", "Value", "parse_rule"]
