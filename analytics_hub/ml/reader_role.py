"""The hub's dedicated read-only database role: created and tightened idempotently, and how to log in as it.

The role may connect, use the listed schemas and SELECT their tables (also tables the admin creates there
later), and nothing else: it is not a superuser, cannot create databases, roles or objects in any schema,
belongs to no other role, and starts every transaction read-only with a statement timeout. ``TEMP`` on the
database is granted to PUBLIC by PostgreSQL's defaults and is left alone (revoking it from PUBLIC would change
every role on the server); temporary objects die with the session, so nothing permanent can be written.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.secrets import resolve_secret

DEFAULT_ROLE = "launchpad_hub_reader"
READER_PASSWORD_SECRET = "LAUNCHPAD_HUB_READER_PASSWORD"
ROLE_STATEMENT_TIMEOUT = "30s"
ROLE_IDLE_IN_TRANSACTION_TIMEOUT = "60s"

_ATTRIBUTES = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS")
_WRITE_PRIVILEGES = "INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"

_MEMBERSHIPS = """
    SELECT g.rolname FROM pg_catalog.pg_auth_members AS m
    JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
    JOIN pg_catalog.pg_roles AS u ON u.oid = m.member
    WHERE u.rolname = %s ORDER BY 1
"""
_CREATABLE_SCHEMAS = """
    SELECT nspname FROM pg_catalog.pg_namespace
    WHERE pg_catalog.has_schema_privilege(%s, oid, 'CREATE') ORDER BY 1
"""
_WRITABLE_TABLES = """
    SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')  -- pg_settings is "updatable" by design: SET
      AND pg_catalog.has_table_privilege(%s, c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')
    ORDER BY 1 LIMIT 5
"""


class ReaderRoleError(AnalyticsError):
    """The reader role could not be created or made safe."""


def reader_password() -> str | None:
    """The reader role's password (``LAUNCHPAD_HUB_READER_PASSWORD``, environment or keyring); None on trust auth."""
    return resolve_secret(READER_PASSWORD_SECRET)


def ensure_reader_role(
    admin_conn: psycopg.Connection,
    *,
    role: str = DEFAULT_ROLE,
    schemas: Collection[str],
    password: str | None = None,
) -> None:
    """Create or tighten ``role`` so it can read exactly ``schemas`` of the current database and write nothing.

    Safe to run again (and concurrently). ``password=None`` leaves an existing password unchanged; a given
    password is hashed on the client, so it never appears in server logs. Raises :class:`ReaderRoleError`
    when the admin lacks the rights, a schema is missing, or the role could still write afterwards.
    """
    _check_role_name(role)
    schemas = sorted(set(schemas))
    ident = sql.Identifier(role)
    try:
        with admin_conn.transaction():
            _check_schemas_exist(admin_conn, schemas)
            _create_or_alter_role(admin_conn, role, password)
            for group in [row[0] for row in admin_conn.execute(_MEMBERSHIPS, [role])]:
                admin_conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident))
            for setting, value in (
                ("default_transaction_read_only", "on"),
                ("statement_timeout", ROLE_STATEMENT_TIMEOUT),
                ("idle_in_transaction_session_timeout", ROLE_IDLE_IN_TRANSACTION_TIMEOUT),
            ):
                admin_conn.execute(
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(ident, sql.Identifier(setting), sql.Literal(value))
                )
            database = sql.Identifier(admin_conn.info.dbname)
            admin_conn.execute(sql.SQL("REVOKE CREATE, TEMPORARY ON DATABASE {} FROM {}").format(database, ident))
            admin_conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, ident))
            if admin_conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public'").fetchone():
                admin_conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(ident))
            for schema in schemas:
                _grant_read(admin_conn, schema, ident)
            _check_cannot_write(admin_conn, role)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ReaderRoleError(
            f"The database account {admin_conn.info.user} may not create or change the reader role {role}. "
            "Run this as a superuser or as a role with CREATEROLE that owns the schemas.",
            detail=_detail(exc),
        ) from exc
    except psycopg.Error as exc:
        raise ReaderRoleError(f"The reader role {role} could not be set up.", detail=_detail(exc)) from exc


def reader_conninfo(admin_url: str, *, role: str = DEFAULT_ROLE, password: str | None) -> str:
    """A conninfo string for the same server and database as ``admin_url``, logged in as ``role``."""
    params = conninfo_to_dict(admin_url)
    params.pop("password", None)
    params["user"] = role
    if password:
        params["password"] = password
    return make_conninfo(**params)


def _check_role_name(role: str) -> None:
    if not role or len(role.encode()) > 63 or role.lower().startswith("pg_"):
        raise ReaderRoleError(
            f"{role!r} cannot be used as the reader role name: it must be 1 to 63 bytes and not start with pg_."
        )


def _check_schemas_exist(conn: psycopg.Connection, schemas: list[str]) -> None:
    found = {
        row[0] for row in conn.execute("SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)", [schemas])
    }
    missing = [schema for schema in schemas if schema not in found]
    if missing:
        raise ReaderRoleError(f"The schema {', '.join(missing)} does not exist in database {conn.info.dbname}.")


def _create_or_alter_role(conn: psycopg.Connection, role: str, password: str | None) -> None:
    ident = sql.Identifier(role)
    secret = sql.SQL("")
    if password is not None:
        hashed = conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()
        secret = sql.SQL(" PASSWORD {}").format(sql.Literal(hashed))
    exists = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [role]).fetchone()
    if not exists:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {} WITH {}{}").format(ident, _ATTRIBUTES, secret))
            return
        except psycopg.errors.DuplicateObject:
            pass  # created by a concurrent call since we looked: tighten it like an existing role
    conn.execute(sql.SQL("ALTER ROLE {} WITH {}{}").format(ident, _ATTRIBUTES, secret))


def _grant_read(conn: psycopg.Connection, schema: str, role: sql.Identifier) -> None:
    """USAGE and SELECT only, for today's tables and (as default privileges of the admin) tomorrow's."""
    ident = sql.Identifier(schema)
    writes = sql.SQL(_WRITE_PRIVILEGES)
    for statement in (
        "REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "REVOKE {writes} ON ALL TABLES IN SCHEMA {schema} FROM {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE {writes} ON TABLES FROM {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
    ):
        conn.execute(sql.SQL(statement).format(schema=ident, role=role, writes=writes))


def _check_cannot_write(conn: psycopg.Connection, role: str) -> None:
    """Fail closed when grants to PUBLIC or memberships we could not revoke still let the role write."""
    problems = []
    if conn.execute(_MEMBERSHIPS, [role]).fetchall():
        problems.append("it is still a member of other roles")
    creatable = [row[0] for row in conn.execute(_CREATABLE_SCHEMAS, [role])]
    if creatable:
        problems.append(f"it can create objects in schema {', '.join(creatable)} (REVOKE CREATE ... FROM PUBLIC)")
    if conn.execute("SELECT pg_catalog.has_database_privilege(%s, current_database(), 'CREATE')", [role]).fetchone()[0]:
        problems.append("it can create schemas in this database")
    writable = [row[0] for row in conn.execute(_WRITABLE_TABLES, [role])]
    if writable:
        problems.append(f"it can change tables such as {', '.join(writable)} (granted to PUBLIC)")
    if problems:
        raise ReaderRoleError(
            f"The reader role {role} would not be read-only: {'; '.join(problems)}.", detail="; ".join(problems)
        )


def _detail(exc: psycopg.Error) -> str:
    return f"{type(exc).__name__} (SQLSTATE {exc.sqlstate}): {exc}"
