"""Two gates for SQL that comes from users or a language model: a parser check, then a read-only database run.

The parser gate (:func:`validate_sql`) gives readable reasons and keeps queries inside the allowed schemas; the
database gate (:func:`run_readonly`) is the real boundary: a read-only transaction on the hub's reader role, one
statement wrapped in a server-side cursor, a statement timeout, a row cap and an unconditional rollback.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import pandas as pd
import psycopg
import sqlglot
from psycopg import errors as pg_errors
from psycopg import pq
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from analytics_hub.ml.errors import AnalyticsError

DIALECT = "postgres"

# Functions refused by name (case-insensitive, whatever schema qualifies them), with why:
DENIED_FUNCTION_PREFIXES: tuple[str, ...] = (
    "pg_read_",  # pg_read_file, pg_read_binary_file: read server files
    "pg_ls_",  # pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...: list server directories
    "pg_stat_file",  # inspects server files
    "pg_file_",  # adminpack: writes, renames and deletes server files
    "pg_sleep",  # pg_sleep, pg_sleep_for, pg_sleep_until: holds a connection hostage
    "lo_",  # large objects: lo_import/lo_export move server files; lo_create/lo_unlink write
    "dblink",  # queries other databases (and can write there)
    "pg_advisory",  # advisory locks outlive the transaction and block other sessions
    "pg_try_advisory",
    "pg_logical_",  # logical decoding and WAL messages
    "pg_replication_",  # replication origins
    "pg_create_",  # replication slots, restore points
    "pg_drop_",
    "pg_copy_",
    "pg_wal_",  # WAL replay control
    "pg_switch_wal",
    "pg_backup_",  # backup control
    "pg_start_backup",
    "pg_stop_backup",
    "pg_stat_reset",  # wipes monitoring statistics
    "pg_hba_",  # server configuration files
    "pg_ident_",
    "binary_upgrade_",
    "crosstab",  # tablefunc: runs SQL passed as text, out of the parser's sight
)
DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        "set_config",  # changes settings such as statement_timeout mid-transaction
        "pg_terminate_backend",  # ends or interrupts other sessions
        "pg_cancel_backend",
        "pg_signal_backend",
        "pg_reload_conf",  # server administration
        "pg_rotate_logfile",
        "pg_promote",
        "pg_log_backend_memory_contexts",
        "pg_show_all_file_settings",
        "pg_config",
        "pg_export_snapshot",
        "pg_import_system_collations",
        "pg_stat_statements_reset",
        "pg_prewarm",
        "pg_notify",  # sends messages to listeners
        "nextval",  # advance or set sequences
        "setval",
        "loread",  # server-side large-object access
        "lowrite",
        "ts_stat",  # runs SQL passed as text
        "query_to_xml",  # *_to_xml functions run SQL passed as text or read tables named in a string
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "table_to_xml",
        "table_to_xmlschema",
        "table_to_xml_and_xmlschema",
        "schema_to_xml",
        "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
    }
)

_ALLOWED_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)
_DATA_CHANGING = {exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE"}
_DATA_CHANGING[exp.TruncateTable] = "TRUNCATE"
_STRUCTURE_CHANGING = {exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.Comment: "COMMENT"}
_PERMISSION_CHANGING = {exp.Grant: "GRANT", exp.Revoke: "REVOKE"}
_OTHER_STATEMENTS = (exp.Command, exp.Copy, exp.Set, exp.Transaction, exp.Commit, exp.Rollback, exp.Lock, exp.Into)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class UnsafeSQL(AnalyticsError):
    """The SQL was refused before it reached the database; ``sql`` is the text that was refused."""

    def __init__(self, message: str, *, detail: str = "", sql: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.sql = sql


class QueryFailed(AnalyticsError):
    """The database refused or could not finish a query; ``message`` carries its one-line reason."""


class QueryTimeout(QueryFailed):
    """The query ran longer than its time budget and the database stopped it."""


class QueryNotPermitted(QueryFailed):
    """The database refused the query for lack of permission or because the transaction is read-only."""


# ----------------------------------------------------------------------------------------------- parser gate


def validate_sql(sql: str, *, allowed_schemas: Collection[str], allowed_tables: Collection[str] | None = None) -> str:
    """Return ``sql`` normalised (PostgreSQL dialect, comments dropped) if it is one read-only query, else raise.

    Every table must be written with its schema (``schema.table``): unqualified names are refused rather than
    resolved, because the search path could silently point them at ``pg_catalog`` or another schema. Names
    of WITH queries are not tables. ``allowed_tables`` holds ``schema.table`` names (split at the first dot).
    """
    try:
        tree = _parse_one(sql)
        _check_statement_kind(tree, sql)
        _check_nodes(tree)
        _check_tables(tree, allowed_schemas, allowed_tables)
        return tree.sql(dialect=DIALECT, normalize_functions=False, comments=False)
    except UnsafeSQL as exc:
        exc.sql = sql
        raise


def _parse_one(sql: str) -> exp.Expression:
    if not sql or not sql.strip():
        raise UnsafeSQL("The query is empty.")
    try:
        parsed = sqlglot.parse(sql, read=DIALECT)
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]  # comment-only
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first['line']}, column {first['col']}" if "line" in first else ""
        reason = first.get("description") or str(exc).splitlines()[0]
        raise UnsafeSQL(f"The query could not be read as SQL: {reason}{where}.", detail=str(exc)) from exc
    except TokenError as exc:
        raise UnsafeSQL(f"The query could not be read as SQL: {exc}.", detail=str(exc)) from exc
    if not statements:
        raise UnsafeSQL("The query is empty.")
    if len(statements) > 1:
        raise UnsafeSQL(f"Only one statement is allowed; this text holds {len(statements)}.")
    return statements[0]


def _check_statement_kind(tree: exp.Expression, sql: str) -> None:
    if isinstance(tree, _ALLOWED_ROOTS):
        return
    _refuse_node(tree, keyword=_leading_keyword(sql))
    raise UnsafeSQL(f"Only SELECT queries are allowed, not {_leading_keyword(sql)}.")


def _check_nodes(tree: exp.Expression) -> None:
    """Refuse writes, locks and dangerous functions anywhere in the tree (WITH queries and subqueries included)."""
    for node in tree.walk():
        _refuse_node(node)
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_FUNCTION_PREFIXES):
                raise UnsafeSQL(f"The function {name} is not allowed.")


def _refuse_node(node: exp.Expression, *, keyword: str | None = None) -> None:
    for kinds, reason in (
        (_DATA_CHANGING, "Data-changing statements are not allowed ({})."),
        (_STRUCTURE_CHANGING, "Changing the database structure is not allowed ({})."),
        (_PERMISSION_CHANGING, "Changing permissions is not allowed ({})."),
    ):
        for kind, word in kinds.items():
            if isinstance(node, kind):
                raise UnsafeSQL(reason.format(word))
    if isinstance(node, exp.Into):
        raise UnsafeSQL("SELECT ... INTO is not allowed: it creates a new table.")
    if isinstance(node, exp.Lock):
        raise UnsafeSQL("Locking clauses such as FOR UPDATE or FOR SHARE are not allowed.")
    if isinstance(node, exp.Copy):
        raise UnsafeSQL("COPY is not allowed: it reads and writes files and programs on the database server.")
    if isinstance(node, _OTHER_STATEMENTS):
        raise UnsafeSQL(f"Only SELECT queries are allowed, not {(keyword or node.key).upper()}.")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def _leading_keyword(sql: str) -> str:
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except TokenError:
        tokens = []
    return tokens[0].text.upper() if tokens else "non-SELECT"


def _check_tables(
    tree: exp.Expression, allowed_schemas: Collection[str], allowed_tables: Collection[str] | None
) -> None:
    schemas = set(allowed_schemas)
    tables = None if allowed_tables is None else {tuple(name.split(".", 1)) for name in allowed_tables}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a function in FROM (generate_series, unnest): checked with the other functions
        name = _fold(table.this)
        db = table.args.get("db")
        if table.args.get("catalog") is not None:
            raise UnsafeSQL(f"Table {table.sql(dialect=DIALECT)} names another database; only this one can be queried.")
        if db is None:
            if _is_cte_reference(table, name):
                continue
            example = sorted(schemas)[0] if schemas else "schema"
            raise UnsafeSQL(f"Table {name} must be written with its schema, for example {example}.{name}.")
        schema = _fold(db)
        if schema not in schemas:
            allowed = ", ".join(sorted(schemas)) or "none"
            raise UnsafeSQL(f"Table {schema}.{name} is outside the schemas you may query (allowed: {allowed}).")
        if tables is not None and (schema, name) not in tables:
            raise UnsafeSQL(f"Table {schema}.{name} is not one of the tables you may query.")


def _fold(identifier: exp.Expression) -> str:
    """The name PostgreSQL resolves: quoted names exactly, unquoted ones with ASCII letters lowered."""
    if isinstance(identifier, exp.Identifier) and identifier.quoted:
        return identifier.name
    return identifier.name.translate(_ASCII_LOWER)


def _is_cte_reference(table: exp.Table, name: str) -> bool:
    """Whether an unqualified name refers to a WITH query visible at that point (PostgreSQL's scoping rules)."""
    node: exp.Expression = table
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.With):
            ctes = parent.expressions
            position = next((i for i, cte in enumerate(ctes) if cte is node), len(ctes))
            visible = ctes if parent.args.get("recursive") else ctes[:position]
            if any(_fold(cte.args["alias"].this) == name for cte in visible):
                return True
        else:
            with_ = parent.args.get("with_")
            if isinstance(with_, exp.With) and with_ is not node:
                if any(_fold(cte.args["alias"].this) == name for cte in with_.expressions):
                    return True
        node = parent
    return False


# --------------------------------------------------------------------------------------------- database gate


def run_readonly(conn: psycopg.Connection, sql: str, *, max_rows: int, timeout_s: float) -> pd.DataFrame:
    """Run one query in a read-only transaction that is always rolled back; at most ``max_rows`` rows come back.

    ``conn`` should be logged in as the hub's reader role and must not be inside a transaction (autocommit or
    idle). ``df.attrs["truncated"]`` says whether more rows existed. The statement runs through a server-side
    cursor, so PostgreSQL itself refuses anything but a single SELECT/VALUES (no second statement, no
    data-changing WITH, no SELECT INTO), and only the rows kept cross the network.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, not {max_rows}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, not {timeout_s}")
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise QueryFailed(
            "The database connection is busy or closed, so the query was not run.",
            detail=f"closed={conn.closed} transaction_status={conn.info.transaction_status.name}",
        )
    timeout_ms = max(1, math.ceil(timeout_s * 1000))
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true),"
                " set_config('idle_in_transaction_session_timeout', %s, true)",
                [str(timeout_ms), str(timeout_ms), str(timeout_ms + 5000)],
            )
            with conn.cursor(name="launchpad_hub_query") as cur:
                cur.execute(sql)
                columns = [column.name for column in cur.description or ()]
                rows = cur.fetchmany(max_rows + 1)
    except psycopg.Error as exc:
        raise _database_error(exc, timeout_s) from exc
    finally:
        _release_session_locks(conn)
    frame = pd.DataFrame(rows[:max_rows], columns=columns)
    frame.attrs["truncated"] = len(rows) > max_rows
    frame.attrs["max_rows"] = max_rows
    return frame


def run_safe_query(
    conn: psycopg.Connection,
    sql: str,
    *,
    allowed_schemas: Collection[str],
    allowed_tables: Collection[str] | None = None,
    max_rows: int,
    timeout_s: float,
) -> tuple[str, pd.DataFrame]:
    """Both gates: validate ``sql``, then run the normalised text read-only; returns ``(normalised_sql, frame)``."""
    normalised = validate_sql(sql, allowed_schemas=allowed_schemas, allowed_tables=allowed_tables)
    return normalised, run_readonly(conn, normalised, max_rows=max_rows, timeout_s=timeout_s)


def _release_session_locks(conn: psycopg.Connection) -> None:
    """Drop session-level advisory locks a query may have taken: unlike everything else they survive a rollback."""
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock_all()")
    except psycopg.OperationalError:
        pass  # the connection is gone, and its locks with it


def _database_error(exc: psycopg.Error, timeout_s: float) -> QueryFailed:
    reason = _one_line(exc)
    detail = f"{type(exc).__name__} (SQLSTATE {exc.sqlstate}): {exc}"
    if isinstance(exc, pg_errors.QueryCanceled):
        return QueryTimeout(f"The query ran longer than {timeout_s:g} seconds and was stopped.", detail=detail)
    if isinstance(exc, pg_errors.LockNotAvailable):
        return QueryTimeout(
            f"The query waited longer than {timeout_s:g} seconds for data another job was changing and was stopped.",
            detail=detail,
        )
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return QueryNotPermitted(f"The reader account is not allowed to do this: {reason}.", detail=detail)
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return QueryNotPermitted(f"Queries here can only read data: {reason}.", detail=detail)
    if "multiple commands" in reason:
        return QueryNotPermitted("Only one statement is allowed.", detail=detail)
    if "data-modifying" in reason:
        return QueryNotPermitted("Data-changing statements are not allowed.", detail=detail)
    if exc.sqlstate is None or isinstance(exc, psycopg.OperationalError):
        return QueryFailed("The connection to the database was lost while the query ran.", detail=detail)
    return QueryFailed(f"The database could not run the query: {reason}.", detail=detail)


def _one_line(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary if exc.diag else None
    text = primary or (str(exc).splitlines() or [type(exc).__name__])[0]
    return text.rstrip(".")
