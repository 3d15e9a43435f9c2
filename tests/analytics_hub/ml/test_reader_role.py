"""The hub's reader role: created idempotently, reads exactly its schemas, and can write nothing permanent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import keyring
import psycopg
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from analytics_hub.ml.reader_role import (
    READER_PASSWORD_SECRET,
    ReaderRoleError,
    ensure_reader_role,
    reader_conninfo,
    reader_password,
)
from analytics_hub.ml.secrets import resolve_secret
from tests.analytics_hub.conftest import drop_role


@pytest.fixture
def orders(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """``<schema>.orders`` with three rows, created by the admin before the role exists."""
    name = sql.Identifier(warehouse_schema, "orders")
    warehouse.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, amount numeric)").format(name))
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES (1, 10), (2, 20), (3, 30)").format(name))
    return f"{warehouse_schema}.orders"


@pytest.fixture
def throwaway_role(warehouse_url: str) -> Iterator[str]:
    """A role name nobody uses yet, dropped (with anything granted to it) after the test."""
    role = f"lp_tmp_{uuid.uuid4().hex[:12]}"
    try:
        yield role
    finally:
        drop_role(warehouse_url, role)


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def _table_names(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema]).fetchall()
    return [row[0] for row in rows]


def test_ensure_reader_role_is_idempotent_with_safe_attributes_and_defaults(warehouse, warehouse_schema, orders):
    role = f"lp_tmp_{uuid.uuid4().hex[:12]}"
    try:
        ensure_reader_role(warehouse, role=role, schemas=[warehouse_schema])
        ensure_reader_role(warehouse, role=role, schemas=[warehouse_schema])

        rows = warehouse.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls,"
            " rolconfig FROM pg_roles WHERE rolname = %s",
            [role],
        ).fetchall()
        assert len(rows) == 1
        *attributes, config = rows[0]
        assert attributes == [True, False, False, False, False, False, False]
        assert sorted(config) == [
            "default_transaction_read_only=on",
            "idle_in_transaction_session_timeout=60s",
            "statement_timeout=30s",
        ]
        grants = warehouse.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CONNECT'),"
            " has_schema_privilege(%s, %s, 'USAGE'), has_schema_privilege(%s, %s, 'CREATE')",
            [role, role, warehouse_schema, role, warehouse_schema],
        ).fetchone()
        assert grants == (True, True, False)
    finally:
        warehouse.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        warehouse.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_reader_selects_in_granted_schema_and_is_denied_elsewhere(orders, other_schema, reader):
    assert reader.execute(f"SELECT id, amount FROM {orders} ORDER BY id").fetchall() == [(1, 10), (2, 20), (3, 30)]

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for schema"):
        reader.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(other_schema, "vault")))


def test_reader_transactions_are_read_only_by_default(warehouse, orders, reader):
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.execute(f"DELETE FROM {orders}")

    assert warehouse.execute(f"SELECT count(*) FROM {orders}").fetchone() == (3,)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {orders} VALUES (4, 40)",
        "UPDATE {orders} SET amount = 0",
        "DELETE FROM {orders}",
        "TRUNCATE {orders}",
        "ALTER TABLE {orders} ADD COLUMN hacked int",
        "DROP TABLE {orders}",
    ],
)
def test_reader_cannot_write_even_after_turning_read_only_off(warehouse, orders, reader, statement):
    reader.execute("SET default_transaction_read_only = off")

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(statement.format(orders=orders))

    assert warehouse.execute(f"SELECT id, amount FROM {orders} ORDER BY id").fetchall() == [(1, 10), (2, 20), (3, 30)]
    columns = warehouse.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = %s ORDER BY 1",
        [orders],
    ).fetchall()
    assert columns == [("amount",), ("id",)]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE {schema}.planted (a int)",
        "CREATE TABLE public.planted (a int)",
        "CREATE VIEW {schema}.planted AS SELECT 1 AS a",
        "CREATE SCHEMA planted",
    ],
)
def test_reader_cannot_create_permanent_objects(warehouse, warehouse_schema, orders, reader, statement):
    reader.execute("SET default_transaction_read_only = off")

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(statement.format(schema=warehouse_schema))

    assert _table_names(warehouse, warehouse_schema) == ["orders"]
    assert warehouse.execute("SELECT count(*) FROM pg_class WHERE relname = 'planted'").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'planted'").fetchone() == (0,)


def test_table_created_later_by_the_admin_is_readable(reader, warehouse, warehouse_schema):
    later = sql.Identifier(warehouse_schema, "created_later")
    warehouse.execute(sql.SQL("CREATE TABLE {} AS SELECT 7 AS n").format(later))

    assert reader.execute(sql.SQL("SELECT n FROM {}").format(later)).fetchall() == [(7,)]


def test_ensure_revokes_write_grants_and_memberships_given_earlier(
    warehouse, warehouse_url, warehouse_schema, orders, throwaway_role
):
    ident = sql.Identifier(throwaway_role)
    warehouse.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(ident))
    warehouse.execute(sql.SQL("GRANT INSERT, DELETE ON {} TO {}").format(sql.Identifier(*orders.split(".")), ident))
    warehouse.execute(sql.SQL("GRANT pg_write_all_data TO {}").format(ident))

    ensure_reader_role(warehouse, role=throwaway_role, schemas=[warehouse_schema])

    privileges = warehouse.execute(
        "SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'DELETE'),"
        " has_table_privilege(%s, %s, 'SELECT'), (SELECT rolcreatedb FROM pg_roles WHERE rolname = %s)",
        [throwaway_role, orders] * 3 + [throwaway_role],
    ).fetchone()
    assert privileges == (False, False, True, False)
    members = warehouse.execute(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        [throwaway_role],
    ).fetchone()
    assert members == (0,)


def test_schema_writable_by_public_fails_closed_without_creating_the_role(warehouse, warehouse_schema, throwaway_role):
    warehouse.execute(sql.SQL("GRANT CREATE ON SCHEMA {} TO PUBLIC").format(sql.Identifier(warehouse_schema)))

    with pytest.raises(ReaderRoleError) as caught:
        ensure_reader_role(warehouse, role=throwaway_role, schemas=[warehouse_schema])

    assert caught.value.message == (
        f"The reader role {throwaway_role} would not be read-only: it can create objects in schema "
        f"{warehouse_schema} (REVOKE CREATE ... FROM PUBLIC)."
    )
    assert not _role_exists(warehouse, throwaway_role)


def test_missing_schema_is_reported_and_no_role_is_created(warehouse, throwaway_role):
    with pytest.raises(ReaderRoleError) as caught:
        ensure_reader_role(warehouse, role=throwaway_role, schemas=["no_such_schema_x"])

    assert caught.value.message == f"The schema no_such_schema_x does not exist in database {warehouse.info.dbname}."
    assert not _role_exists(warehouse, throwaway_role)


def test_admin_without_createrole_gets_a_plain_error(warehouse, warehouse_url, warehouse_schema, throwaway_role):
    warehouse.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(throwaway_role)))
    target = f"lp_tmp_{uuid.uuid4().hex[:12]}"
    conninfo = reader_conninfo(warehouse_url, role=throwaway_role, password=None)

    with psycopg.connect(conninfo, autocommit=True) as weak_admin, pytest.raises(ReaderRoleError) as caught:
        ensure_reader_role(weak_admin, role=target, schemas=[warehouse_schema])

    assert caught.value.message.startswith(f"The database account {throwaway_role} may not create or change")
    assert caught.value.detail.startswith("InsufficientPrivilege")
    assert not _role_exists(warehouse, target)


def test_password_is_stored_hashed_and_never_in_plain_text(warehouse, warehouse_schema, throwaway_role):
    password = "s3cr'et; DROP ROLE postgres --"

    ensure_reader_role(warehouse, role=throwaway_role, schemas=[warehouse_schema], password=password)

    (stored,) = warehouse.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [throwaway_role]).fetchone()
    assert stored.startswith("SCRAM-SHA-256$")
    assert password not in stored
    assert _role_exists(warehouse, "postgres")

    ensure_reader_role(warehouse, role=throwaway_role, schemas=[warehouse_schema])
    (kept,) = warehouse.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [throwaway_role]).fetchone()
    assert kept == stored


def test_invalid_role_name_is_refused_before_touching_the_server(warehouse, warehouse_schema):
    with pytest.raises(ReaderRoleError, match="must be 1 to 63 bytes and not start with pg_"):
        ensure_reader_role(warehouse, role="pg_sneaky", schemas=[warehouse_schema])

    assert not _role_exists(warehouse, "pg_sneaky")


def test_reader_conninfo_keeps_the_server_and_replaces_the_login():
    admin_url = "postgresql://admin:adminpw@db.example:6543/warehouse?sslmode=require"

    without = conninfo_to_dict(reader_conninfo(admin_url, role="hub_reader", password=None))
    with_password = conninfo_to_dict(reader_conninfo(admin_url, role="hub_reader", password="p w'd"))

    assert without == {
        "host": "db.example",
        "port": "6543",
        "dbname": "warehouse",
        "sslmode": "require",
        "user": "hub_reader",
    }
    assert with_password == {**without, "password": "p w'd"}


class _MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self, values: dict[tuple[str, str], str] | None = None, *, fail: bool = False) -> None:
        super().__init__()
        self.values = dict(values or {})
        self.fail = fail

    def get_password(self, service: str, username: str) -> str | None:
        if self.fail:
            raise KeyringLocked("the keyring is locked")
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[_MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = _MemoryKeyring({("launchpad", READER_PASSWORD_SECRET): "from-keyring"})
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_secret_comes_from_the_environment_first(monkeypatch, memory_keyring):
    monkeypatch.setenv(READER_PASSWORD_SECRET, "from-env")

    assert resolve_secret(READER_PASSWORD_SECRET) == "from-env"
    assert reader_password() == "from-env"


def test_secret_falls_back_to_the_keyring_when_the_variable_is_unset_or_empty(monkeypatch, memory_keyring):
    monkeypatch.delenv(READER_PASSWORD_SECRET, raising=False)
    assert reader_password() == "from-keyring"

    monkeypatch.setenv(READER_PASSWORD_SECRET, "")
    assert reader_password() == "from-keyring"


def test_secret_missing_everywhere_or_keyring_failing_is_none(monkeypatch, memory_keyring):
    monkeypatch.delenv("LAUNCHPAD_SOMETHING_ELSE", raising=False)
    assert resolve_secret("LAUNCHPAD_SOMETHING_ELSE") is None

    monkeypatch.delenv(READER_PASSWORD_SECRET, raising=False)
    memory_keyring.fail = True
    assert reader_password() is None
