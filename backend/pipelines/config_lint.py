"""Checks a save cannot make: that the warehouse, the folders and the environment hold what the configs name.

Linted: active imports and the imports active ones switch to after their first success; active rules and
analytics configs. Checks: staging, destination and lookup tables exist (staging tables with the
``dagster_run_id`` column the loader fills); transform procedures exist as procedures taking
``(text, text[])``; monitored folders exist and can be read; the warehouse connection (``WAREHOUSE_URL``,
the one secret imports use; configs name no other) is set and answers, and no credential is written into a
config; ``depends_on`` names known imports and has no cycle; no two active imports claim the same files.

Two imports claim the same files when their folders are the same (after resolving links) and some file
name matches both patterns. Patterns are compared exactly, as ``fnmatch`` reads them (``*``, ``?``,
``[...]``, ``[!...]``), by walking both patterns side by side; the first common name is shown. Limits:
names the file watcher skips anyway (hidden and temporary files) still count, folders are compared as
paths (two mounts of one folder, or a case-insensitive file system, are not seen as the same), and nested
folders never overlap because an import reads only its folder's own files.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from psycopg import sql

from backend.pipelines import validation as v
from backend.pipelines.config_io import (
    SECTION_BY_KEY,
    SWITCH_FIELD,
    ConfigFileError,
    ConfigProblem,
    configs_export,
    dependency_cycles,
    document_parse,
    entry_label,
    entry_shape_problems,
    entry_source,
)
from backend.pipelines.models import PipelineConfig

PROCEDURE_ARGUMENTS = "(text, text[])"
_CREDENTIAL_KEY = re.compile(r"pass(word|wd)?|secret|token|api_?key|credential|private_?key", re.IGNORECASE)


@dataclass(frozen=True)
class LintReport:
    problems: tuple[ConfigProblem, ...]
    imports_checked: int


# ------------------------------------------------------------------------------------------ file patterns


@dataclass(frozen=True)
class _Token:
    """One position of a pattern: ``*`` (star), or one character out of a set (a regex for one character)."""

    star: bool = False
    matcher: re.Pattern | None = None
    candidates: tuple[str, ...] = ()


_UNUSABLE = {"/", "\0"}


def _char_token(text: str, mentioned: str) -> _Token:
    near = {chr(code) for c in mentioned for code in range(max(ord(c) - 2, 0), ord(c) + 3)}
    pool = tuple(sorted((near | {"a", "0", "_", "é"}) - _UNUSABLE))
    return _Token(matcher=re.compile(fnmatch.translate(text)), candidates=pool)


def _tokens(pattern: str) -> list[_Token]:
    """The pattern's positions, bracket expressions read exactly as ``fnmatch.translate`` reads them."""
    tokens: list[_Token] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not tokens or not tokens[-1].star:
                tokens.append(_Token(star=True))
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                tokens.append(_char_token("[[]", "["))
            else:
                tokens.append(_char_token(pattern[i - 1 : j + 1], pattern[i:j]))
                i = j + 1
        elif c == "?":
            tokens.append(_char_token("?", ""))
        else:
            tokens.append(_char_token(c, c))
    return tokens


def _common_char(a: _Token, b: _Token) -> str | None:
    for c in sorted(set(a.candidates) | set(b.candidates), key=_readable_first):
        if a.matcher.match(c) and b.matcher.match(c):
            return c
    return None


def _any_char(token: _Token) -> str | None:
    return next((c for c in sorted(token.candidates, key=_readable_first) if token.matcher.match(c)), None)


def _readable_first(c: str) -> tuple:
    return (not c.isprintable(), c not in "a0_", c)


def common_file_name(first: str, second: str) -> str | None:
    """A file name both glob patterns match (the shortest found), or None when no name can match both."""
    a, b = _tokens(first), _tokens(second)
    start, goal = (0, 0), (len(a), len(b))
    came_from: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            name = []
            while came_from[state] is not None:
                state, char = came_from[state]
                name.append(char)
            return "".join(reversed(name))
        i, j = state
        ta = a[i] if i < len(a) else None
        tb = b[j] if j < len(b) else None
        moves: list[tuple[tuple[int, int], str | None]] = []
        if ta is not None and ta.star:
            moves.append(((i + 1, j), ""))
            if tb is not None and not tb.star:
                moves.append(((i, j + 1), _any_char(tb)))
        if tb is not None and tb.star:
            moves.append(((i, j + 1), ""))
            if ta is not None and not ta.star:
                moves.append(((i + 1, j), _any_char(ta)))
        if ta is not None and tb is not None and not ta.star and not tb.star:
            moves.append(((i + 1, j + 1), _common_char(ta, tb)))
        for nxt, char in moves:
            if char is not None and nxt not in came_from:
                came_from[nxt] = (state, char)
                queue.append(nxt)
    return None


# ------------------------------------------------------------------------------------------ the warehouse


class _Warehouse:
    """What the warehouse holds, asked once per name: tables with their columns, procedures with their kinds."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._columns: dict[str, frozenset[str] | None] = {}

    def columns(self, table: str) -> frozenset[str] | None:
        """The table's columns; None when there is no such table."""
        if table not in self._columns:
            qualified = sql.Identifier(*v.identifier_parts(table)).as_string(self.conn)
            oid = self.conn.execute("SELECT to_regclass(%s)::oid", (qualified,)).fetchone()[0]
            rows = self.conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (oid,)
            ).fetchall()
            self._columns[table] = frozenset(r[0] for r in rows) if oid is not None else None
        return self._columns[table]

    def procedure_problem(self, name: str) -> str | None:
        """Why ``CALL name(run_id, tables_to_truncate)`` would fail to find its procedure; None when it would not."""
        qualified = sql.Identifier(*v.identifier_parts(name)).as_string(self.conn)
        found = self.conn.execute(
            "SELECT p.prokind FROM pg_proc AS p WHERE p.oid = to_regprocedure(%s)", (qualified + PROCEDURE_ARGUMENTS,)
        ).fetchone()
        if found is not None:
            return None if found[0] == "p" else f"{name}{PROCEDURE_ARGUMENTS} is a function; it must be a procedure."
        *schema, proc = v.identifier_parts(name)
        others = self.conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
            "WHERE p.proname = %s AND n.nspname = ANY (coalesce(%s::text[], current_schemas(false)::text[])) "
            "ORDER BY 1",
            (proc, list(schema) or None),
        ).fetchall()
        if others:
            shown = ", ".join(r[0] for r in others)
            return f"the warehouse has {shown} but no {name}{PROCEDURE_ARGUMENTS}."
        return f"the warehouse has no procedure {name}{PROCEDURE_ARGUMENTS}."


def _connect_warehouse(source: str) -> tuple[psycopg.Connection | None, list[ConfigProblem]]:
    url = getattr(settings, "WAREHOUSE_URL", "")
    if not url:
        message = "WAREHOUSE_URL is not set, so imports cannot reach the warehouse; tables were not checked."
        return None, [ConfigProblem(source, message=message)]
    try:
        return psycopg.connect(url, connect_timeout=5, application_name="launchpad-lint", autocommit=True), []
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"the warehouse (WAREHOUSE_URL) did not answer ({reason}); tables were not checked."
        return None, [ConfigProblem(source, message=message)]


# ------------------------------------------------------------------------------------------ the checks


@dataclass(frozen=True)
class _Item:
    """One entry of the document with where it came from, so every problem names its file, entry and field."""

    section: str
    where: str
    label: str
    record: dict[str, Any]

    def problem(self, field: str, message: str) -> ConfigProblem:
        return ConfigProblem(self.where, self.label, field, message)


def _items(document: dict[str, Any], source: str, from_file: bool, problems: list) -> dict[str, list[_Item]]:
    """The document's entries; in a file, entries of the wrong shape are reported and left out of the checks."""
    items: dict[str, list[_Item]] = {}
    for key, section in SECTION_BY_KEY.items():
        items[key] = []
        for index, record in enumerate(document.get(key) or []):
            shape = entry_shape_problems(section, index, record, source) if from_file else []
            if shape:
                problems.extend(shape)
            elif from_file:
                items[key].append(_Item(key, entry_source(source, record), entry_label(section, index, record), record))
            else:
                label = f"{section.noun} {section.describe(section.key_of(record))}"
                items[key].append(_Item(key, source, label, record))
    return items


def _in_scope(imports: list[_Item]) -> list[_Item]:
    """Active imports, and the imports they switch to after a first success (those become active by themselves)."""
    active = [i for i in imports if i.record.get("is_active", True)]
    targets = {i.record.get(SWITCH_FIELD) for i in active}
    return [i for i in imports if i in active or i.record["import_name"] in targets]


def _check_table(wh: _Warehouse, item: _Item, field: str, columns: tuple[str, ...] = ()) -> list[ConfigProblem]:
    table = item.record.get(field) or ""
    try:
        known = wh.columns(table)
    except ValidationError as exc:
        return [item.problem(field, exc.messages[0])]
    if known is None:
        return [item.problem(field, f"{table} does not exist in the warehouse.")]
    missing = [c for c in columns if c and c not in known]
    return [item.problem(field, f"{table} has no column {', '.join(missing)}.")] if missing else []


def _warehouse_problems(wh: _Warehouse, items: dict[str, list[_Item]], imports: list[_Item]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for item in imports:
        problems += _check_table(wh, item, "staging_table", ("dagster_run_id",))
        problems += _check_table(wh, item, "destination_table")
        procedure = item.record.get("transform_procedure")
        if procedure:
            try:
                reason = wh.procedure_problem(procedure)
            except ValidationError as exc:
                reason = exc.messages[0]
            if reason:
                problems.append(item.problem("transform_procedure", reason))
    for item in items["quality_rules"]:
        if item.record.get("is_active", True):
            problems += _check_table(wh, item, "target_table")
    for item in items["enrichment_rules"]:
        if item.record.get("is_active", True):
            problems += _check_table(wh, item, "target_staging_table")
            problems += _check_table(wh, item, "lookup_table")
    for item in items["analytics"]:
        if item.record.get("is_active", True):
            columns = (item.record.get("date_column") or "", item.record.get("value_column") or "")
            problems += _check_table(wh, item, "target_table", columns)
    return problems


def _folder_problems(imports: list[_Item]) -> list[ConfigProblem]:
    problems = []
    for item in imports:
        folder = item.record.get("monitored_directory") or ""
        if not folder:
            continue
        path = Path(folder)
        if not path.exists():
            problems.append(item.problem("monitored_directory", f"{folder} does not exist."))
        elif not path.is_dir():
            problems.append(item.problem("monitored_directory", f"{folder} is not a folder."))
        elif not os.access(path, os.R_OK | os.X_OK):
            problems.append(item.problem("monitored_directory", f"{folder} cannot be read by this user."))
    return problems


def _credential_paths(value: Any, prefix: str) -> list[str]:
    """Keys (as ``a.b``) under which a credential-looking name holds a written-out value."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}"
            if _CREDENTIAL_KEY.search(str(key)) and isinstance(inner, str | int) and str(inner):
                found.append(path)
            found += _credential_paths(inner, path)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _credential_paths(inner, f"{prefix}[{index}]")
    return found


def _secret_problems(items: dict[str, list[_Item]]) -> list[ConfigProblem]:
    """Secrets come from the environment: a config that writes one out leaks it into exports and history."""
    advice = "looks like a credential written into the config; keep secrets in the environment, not in configs."
    problems = [
        item.problem(path, advice)
        for item in items["imports"]
        for path in _credential_paths(item.record.get("scraper_config") or {}, "scraper_config")
    ]
    for item in items["analytics"]:
        url = item.record.get("alert_webhook_url") or ""
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", url, re.IGNORECASE):
            problems.append(item.problem("alert_webhook_url", "holds a password; " + advice.split("; ", 1)[1]))
    return problems


def _dependency_problems(imports: list[_Item], from_file: bool) -> list[ConfigProblem]:
    by_name = {i.record["import_name"]: i for i in imports if isinstance(i.record.get("import_name"), str)}
    edges = {name: list(i.record.get("depends_on") or []) for name, i in by_name.items()}
    problems = []
    if from_file:
        stored = set(PipelineConfig.objects.values_list("import_name", flat=True))
        for name, item in by_name.items():
            for dep in edges[name]:
                if dep not in by_name and dep not in stored:
                    problems.append(item.problem("depends_on", f"{dep} is neither in the file nor in the database."))
    for cycle in dependency_cycles(edges, start_from=list(by_name)):
        problems.append(
            by_name[cycle[0]].problem("depends_on", f"these dependencies form a cycle: {' -> '.join(cycle)}.")
        )
    return problems


def _overlap_problems(imports: list[_Item]) -> list[ConfigProblem]:
    """Two active imports in one folder whose patterns can match the same file name."""
    by_folder: dict[str, list[_Item]] = {}
    for item in imports:
        folder = item.record.get("monitored_directory") or ""
        if folder and item.record.get("is_active", True):
            by_folder.setdefault(os.path.realpath(folder), []).append(item)
    problems = []
    for members in by_folder.values():
        for index, later in enumerate(members):
            for earlier in members[:index]:
                first, second = earlier.record["file_pattern"], later.record["file_pattern"]
                name = common_file_name(first, second)
                if name is not None:
                    message = (
                        f"claims the same files as {earlier.label} in {later.record['monitored_directory']}: "
                        f"'{second}' and '{first}' both match e.g. {name}."
                    )
                    problems.append(later.problem("file_pattern", message))
    return problems


def configs_lint(document: dict[str, Any], source: str, *, from_file: bool) -> LintReport:
    """Every problem with the document that the warehouse, the file system or the environment reveals."""
    problems: list[ConfigProblem] = []
    items = _items(document, source, from_file, problems)
    imports = _in_scope(items["imports"])
    conn, connect_problems = _connect_warehouse(source)
    problems += connect_problems
    if conn is not None:
        with conn:
            problems += _warehouse_problems(_Warehouse(conn), items, imports)
    problems += _folder_problems(imports)
    problems += _secret_problems(items)
    problems += _dependency_problems(items["imports"], from_file)
    problems += _overlap_problems(imports)
    return LintReport(tuple(problems), len(imports))


def configs_lint_database() -> LintReport:
    return configs_lint(configs_export(), "database", from_file=False)


def configs_lint_file(text: str, source: str) -> LintReport:
    """Lint a YAML document; a file that does not parse reports why (import_configs --dry-run checks each row)."""
    try:
        document = document_parse(text, source)
    except ConfigFileError as exc:
        return LintReport(exc.problems, 0)
    return configs_lint(document, source, from_file=True)
