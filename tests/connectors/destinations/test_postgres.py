"""The PostgreSQL destination's own behaviour against the real local server, in scratch
databases: its spec and check, the direct COPY path, the namespace lock and lock timeouts. What
every destination does is in test_contract.py."""

import socket
import time
import uuid
from collections.abc import Iterator

import adbc_driver_manager
import pytest
from adbc_driver_manager import dbapi as adbc

from connectors.destinations import postgres as pg_dest
from connectors.destinations.postgres import PostgresDestination, PostgresLoader
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    StorageFullError,
    TransientError,
)
from connectors.framework.types import Column
from tests.connectors.destinations.helpers import (
    EVERY_TYPE,
    ID,
    NS,
    batch_of,
    keyed,
    load,
)
from tests.connectors.destinations.helpers import pg_rows as rows_of
from tests.pg import connect, pg_config


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture
def destination(scratch_database: str) -> PostgresDestination:
    return PostgresDestination(pg_config(scratch_database))


@pytest.fixture
def loader(destination: PostgresDestination) -> Iterator[PostgresLoader]:
    with destination.open_loader(NS) as opened:
        yield opened


@pytest.fixture
def limited_role(scratch_database: str) -> Iterator[str]:
    """A login role with no CREATE privilege on the scratch database (PostgreSQL 15
    defaults); what it comes to own there is dropped with it."""
    name = f"landed_limited_{uuid.uuid4().hex[:8]}"
    with connect("postgres") as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
    try:
        yield name
    finally:
        with connect(scratch_database) as conn:
            conn.execute(f'DROP OWNED BY "{name}" CASCADE')
        with connect("postgres") as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


# --- Spec ----------------------------------------------------------------------------------
def test_spec_describes_the_connection() -> None:
    spec = PostgresDestination.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "postgres",
        "PostgreSQL",
        "database",
        "password",
    )
    fields = {f.name: f for f in spec.fields}
    assert set(fields) == {
        "host",
        "port",
        "database",
        "username",
        "password",
        "sslmode",
        "connect_timeout",
    }
    assert fields["port"].default == 5432
    assert fields["password"].secret and not fields["password"].required
    assert fields["sslmode"].default == "prefer"
    assert fields["sslmode"].choices == pg_dest.SSL_MODES
    assert fields["connect_timeout"].default == 10


# --- Round trips ---------------------------------------------------------------------------
def test_native_columns_load_by_direct_copy(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path: binary-compatible batches never touch a staging table."""
    native = [ID] + [c for c, _ in EVERY_TYPE if c.name not in ("c_json", "c_uuid")]
    native = [c for c in native if c.name not in ("c_decimal_wide", "c_decimal_any")]

    def no_staging(*_: object) -> None:
        raise AssertionError("staged")

    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", no_staging)
    stream = loader.open_stream(load("native", "append", tuple(native)))
    stream.write(batch_of(native, [{"id": 1, "c_string": "x"}]), None)
    stream.finish(None)
    assert rows_of(scratch_database, f"SELECT id, c_string FROM {NS}.native") == [(1, "x")]


# --- Merge ---------------------------------------------------------------------------------
def test_merge_into_an_empty_table_copies_until_a_key_repeats(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load with merge costs an append: plain COPY while keys are new. The first
    repeated key rolls that batch back whole and it, and every later batch, merges."""
    staged = []
    real_stage = pg_dest.PostgresStreamLoader._stage

    def counting_stage(self, batch):
        staged.append(batch.num_rows)
        return real_stage(self, batch)

    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", counting_stage)
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a"), (2, "b")]), {"n": 1})
    stream.write(keyed([(3, "c")]), {"n": 2})
    assert staged == []
    stream.write(keyed([(2, "B"), (5, "e")]), {"n": 3})
    stream.write(keyed([(6, "f")]), {"n": 4})
    stream.finish({"n": 4})
    assert staged == [2, 1]
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.m ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
        (5, "e"),
        (6, "f"),
    ]
    assert loader.saved_states()["public.m"].state == {"n": 4}


# --- Overwrite -----------------------------------------------------------------------------
def test_overwrite_refuses_to_drop_dependent_views(
    loader: PostgresLoader, scratch_database: str
) -> None:
    first = loader.open_stream(load("ow", "overwrite"))
    first.write(keyed([(1, "a")]), None)
    first.finish(None)
    with connect(scratch_database) as conn:
        conn.execute(f"CREATE VIEW {NS}.ow_view AS SELECT id FROM {NS}.ow")
    second = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
    second.write(keyed([(2, "b")]), None)
    with pytest.raises(ConfigError, match="depend"):
        second.finish(None)
    assert rows_of(scratch_database, f"SELECT id FROM {NS}.ow_view") == [(1,)]


# --- Schema evolution ----------------------------------------------------------------------
def test_widened_column_keeps_direct_copy(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = (ID, Column("n", "bigint"))
    loader.open_stream(load("w", "append", wide)).finish(None)
    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", lambda *_: pytest.fail("staged"))
    narrow = (ID, Column("n", "integer"))
    stream = loader.open_stream(load("w", "append", narrow))
    stream.write(batch_of(list(narrow), [{"id": 1, "n": 5}]), None)
    assert rows_of(scratch_database, f"SELECT n FROM {NS}.w") == [(5,)]


# --- Loader and check failures -------------------------------------------------------------
def test_check_succeeds(destination: PostgresDestination) -> None:
    result = destination.check()
    assert result.ok and result.permitted, result.message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_closed_port_is_unreachable_at_once(scratch_database: str) -> None:
    config = {**pg_config(scratch_database), "host": "127.0.0.1", "port": _free_port()}
    started = time.monotonic()
    result = PostgresDestination(config).check()
    assert not result.ok and result.reachable is False and result.error_type == "unreachable"
    assert time.monotonic() - started < 2


def test_check_silent_listener_fails_within_connect_timeout(scratch_database: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nothing ever answers
        config = {
            **pg_config(scratch_database),
            "host": "127.0.0.1",
            "port": silent.getsockname()[1],
            "connect_timeout": 1,
        }
        started = time.monotonic()
        result = PostgresDestination(config).check()
        elapsed = time.monotonic() - started
    assert not result.ok and result.reachable is False
    assert "connect_timeout" in result.message
    assert elapsed < 1.9


def test_open_loader_silent_listener_raises_unreachable(scratch_database: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = {**pg_config(scratch_database), "port": silent.getsockname()[1]}
        config["connect_timeout"] = 1
        with pytest.raises(ConnectorError) as raised:
            PostgresDestination(config).open_loader(NS)
    assert raised.value.retryable and raised.value.kind == "unreachable"


def test_check_missing_database_is_a_config_error(scratch_database: str) -> None:
    result = PostgresDestination(pg_config(f"{scratch_database}_missing")).check()
    assert not result.ok and result.error_type == "config_error"
    assert "does not exist" in result.message


def test_check_unknown_role_fails_authentication(scratch_database: str) -> None:
    config = {**pg_config(scratch_database), "username": f"nobody_{uuid.uuid4().hex[:8]}"}
    result = PostgresDestination(config).check()
    assert not result.ok and result.reachable is True and result.authenticated is False
    assert result.error_type == "authentication_failed"


def test_check_without_create_privilege_is_not_permitted(
    scratch_database: str, limited_role: str
) -> None:
    config = {**pg_config(scratch_database), "username": limited_role}
    result = PostgresDestination(config).check()
    assert not result.ok and result.authenticated is True and result.permitted is False
    assert "CREATE" in result.message
    with connect(scratch_database) as conn:
        leftovers = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE '_landed_check_%'"
        ).fetchall()
    assert leftovers == []


def test_check_leaves_nothing_behind(
    destination: PostgresDestination, scratch_database: str
) -> None:
    assert destination.check().ok
    schemas = rows_of(
        scratch_database, "SELECT nspname FROM pg_namespace WHERE nspname LIKE '%landed%'"
    )
    assert schemas == []


def test_check_ssl_required_by_a_server_without_ssl_is_a_config_error(
    scratch_database: str,
) -> None:
    result = PostgresDestination({**pg_config(scratch_database), "sslmode": "require"}).check()
    assert not result.ok and result.error_type == "config_error"
    assert "SSL" in result.message


def test_check_rejects_invalid_config() -> None:
    result = PostgresDestination({"host": "127.0.0.1", "database": "x"}).check()
    assert not result.ok and result.error_type == "config_error"


def test_existing_namespace_needs_no_create_privilege_on_the_database(
    scratch_database: str, limited_role: str
) -> None:
    with connect(scratch_database) as conn:
        conn.execute(f'CREATE SCHEMA {NS} AUTHORIZATION "{limited_role}"')
    config = {**pg_config(scratch_database), "username": limited_role}
    with PostgresDestination(config).open_loader(NS) as loader:
        stream = loader.open_stream(load("mine"))
        stream.write(keyed([(1, "a")]), {"n": 1})
        stream.finish({"n": 1})
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.mine") == [(1, "a")]


def test_one_loader_per_namespace_at_a_time(destination: PostgresDestination) -> None:
    with destination.open_loader(NS):
        with pytest.raises(TransientError, match="Another sync is loading"):
            destination.open_loader(NS)
        # Another namespace is free.
        with destination.open_loader(f"{NS}_other"):
            pass
    # Released with the first loader's connection.
    with destination.open_loader(NS):
        pass


def test_a_swap_blocked_by_a_readers_lock_fails_retryably(
    destination: PostgresDestination, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_dest, "LOCK_TIMEOUT_SECONDS", 0.5)
    with destination.open_loader(NS) as loader:
        first = loader.open_stream(load("t", "overwrite", run_id="r1"))
        first.write(keyed([(1, "a")]), None)
        first.finish(None)
    with connect(scratch_database) as reader:
        reader.execute("BEGIN")
        reader.execute(f"SELECT * FROM {NS}.t")  # an analyst's open transaction
        with destination.open_loader(NS) as loader:
            second = loader.open_stream(load("t", "overwrite", run_id="r2"))
            second.write(keyed([(2, "b")]), None)
            with pytest.raises(TransientError):
                second.finish(None)
        reader.execute("ROLLBACK")
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.t") == [(1, "a")]


# --- Lost connections and a full disk ------------------------------------------------------
def test_a_connection_terminated_mid_load_is_a_retryable_lost_connection(
    destination: PostgresDestination, scratch_database: str
) -> None:
    """The server ends the loader's session between two batches (as a shutdown does): the
    next write fails as retryable, saying the connection was lost, and the destination keeps
    the first batch with its state."""
    loader = destination.open_loader(NS)
    try:
        stream = loader.open_stream(load("t"))
        stream.write(keyed([(1, "a")]), {"after": 1})
        with connect(scratch_database) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'landed'"
            )
        with pytest.raises(TransientError, match="Lost the connection") as raised:
            stream.write(keyed([(2, "b")]), {"after": 2})
        assert raised.value.retryable and raised.value.stream == "public.t"
        assert "terminating connection" in raised.value.message or "closed" in raised.value.message
    finally:
        loader.close()
    with destination.open_loader(NS) as again:
        assert again.saved_states()["public.t"].state == {"after": 1}
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.t") == [(1, "a")]


def _adbc_error(message: str, sqlstate: str | None = None) -> adbc.Error:
    """An error as ADBC raises it (the tests above show which texts it sends)."""
    return adbc.OperationalError(
        message,
        status_code=adbc_driver_manager.AdbcStatusCode.IO,
        vendor_code=None,
        sqlstate=sqlstate,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # As ADBC passed them on when the server was stopped mid-load (no SQLSTATE).
        (
            "IO: [libpq] Failed to execute query 'SELECT CURRENT_SCHEMA()': FATAL:  terminating "
            "connection due to administrator command\nserver closed the connection unexpectedly"
            "\n\tThis probably means the server terminated abnormally\n",
            "terminating connection due to administrator command",
        ),
        (
            "IO: Failed to prepare query: server closed the connection unexpectedly\n\tThis "
            "probably means the server terminated abnormally\n\nQuery was: INSERT INTO x",
            "server closed the connection unexpectedly",
        ),
        (
            "IO: [libpq] Failed to execute COPY statement: could not send data to server: "
            "Broken pipe\n",
            "could not send data to server: Broken pipe",
        ),
    ],
)
def test_lost_connections_are_retryable_whatever_the_driver_sends(text: str, reason: str) -> None:
    error = pg_dest._query_error(_adbc_error(text), "public.t")
    assert isinstance(error, TransientError) and error.retryable
    assert error.message.startswith("Lost the connection to the destination PostgreSQL server")
    assert error.message.endswith(f": {reason}.")


def test_a_full_disk_on_the_server_is_not_retried() -> None:
    error = pg_dest._query_error(
        _adbc_error(
            "IO: [libpq] Failed to execute COPY statement: PGRES_FATAL_ERROR ERROR:  could not "
            'extend file "base/16384/16385": No space left on device\n. SQLSTATE: 53100',
            "53100",
        ),
        "public.t",
    )
    assert isinstance(error, StorageFullError) and not error.retryable
    assert error.kind == "storage_full" and "disk is full" in error.message
