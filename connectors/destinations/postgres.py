"""PostgreSQL destination: loads Arrow batches with ADBC (binary COPY from Arrow, in C++).

Exactly once, overwrite staging and swap, merge and schema evolution are the shared SQL
loader's (`connectors.destinations.sql.loader`); this module holds what is PostgreSQL's own: the
connection and its errors, the privilege check, the namespace's advisory lock, catalog reads,
the unique index a merge needs, and the bulk-load path.

Speed: a batch whose Arrow columns all match their target columns' binary formats (after
lossless Arrow casts for widened columns) is COPYed straight into the target table. Anything
else (JSON or UUID text into jsonb/uuid, decimals carried as text, values into a column the
evolution rules turned into text) is COPYed into a temporary table and moved with one
`INSERT ... SELECT col::type`, still in the batch's transaction. Merge always stages, then
upserts with `INSERT ... ON CONFLICT (key) DO UPDATE`, the last occurrence of a key in a batch
winning.

A PostgreSQL source's binary COPY data is loaded as it is, without Arrow, when the table's
columns have the types the source's values are in (`postgres_copy`). A column from a PostgreSQL
source is created with the source's own type (`Column.postgres_type`): an array column of a
batch on the Arrow path, whose values travel as JSON, is filled through the table's row type
(`PostgresDialect.casts`).

Schema evolution follows `connectors.destinations.sql.evolution` (see its docstring).

Every connection runs with TimeZone=UTC, so dates widened to timestamptz and timestamps read
as timestamptz are taken as UTC, and text forms of timestamptz values are in UTC.
"""

# SQL here is built from identifiers that pass through quote_ident and from SQL type names of
# our own; every value travels as a bound parameter or through Arrow.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, cast

import adbc_driver_postgresql.dbapi as adbc_pg
import psycopg
import psycopg.errors
import pyarrow as pa
from adbc_driver_manager import dbapi as adbc
from psycopg.conninfo import make_conninfo

from connectors.destinations import postgres_copy
from connectors.destinations.sql.dialect import SqlDialect
from connectors.destinations.sql.evolution import ExistingColumn, widens
from connectors.destinations.sql.identifiers import (
    REMOVED_MARK,
    ROW_NUMBER,
    STATE_TABLE,
    column_list,
    quote_ident,
    short_name,
    sql_literal,
    validate_namespace,
)
from connectors.destinations.sql.loader import (
    SqlLoader,
    SqlStreamLoader,
    duplicate_key_error,
)
from connectors.framework import connections
from connectors.framework.base import (
    AuthenticationError,
    CheckResult,
    ConfigError,
    ConnectorError,
    Destination,
    LoadResult,
    PermissionError_,
    SchemaChange,
    StorageFullError,
    StreamLoad,
    TransientError,
    UnreachableError,
)
from connectors.framework.connections import ConnectionPool
from connectors.framework.passthrough import CopyChunk, CopyOffer
from connectors.framework.spec import ConnectorSpec, SpecField, validate_config, with_defaults
from connectors.framework.types import ARROW_TYPES, Column, column_from_field
from connectors.sources.postgres import SSL_MODES

_BATCH_TABLE = "_landed_batch"  # the per-transaction temporary staging table


# --- Types ---------------------------------------------------------------------------------
class PostgresTypes:
    """Logical types as PostgreSQL's `format_type` spells them (so they compare as strings)."""

    text_type = "text"
    _RENDER: dict[str, str] = {
        "boolean": "boolean",
        "smallint": "smallint",
        "integer": "integer",
        "bigint": "bigint",
        "real": "real",
        "double": "double precision",
        "string": "text",
        "binary": "bytea",
        "date": "date",
        "time": "time without time zone",
        "timestamp": "timestamp without time zone",
        "timestamptz": "timestamp with time zone",
        "json": "jsonb",
        "uuid": "uuid",
    }
    _PARSE: dict[str, str] = {
        **{sql: logical for logical, sql in _RENDER.items()},
        "character varying": "string",
        "json": "json",
    }
    _NUMERIC = re.compile(r"^numeric\((\d+),(-?\d+)\)$")
    # A time or timestamp with a fractional-seconds precision: the same logical type.
    _PRECISE_TIME = re.compile(r"^(time|timestamp)\(\d\)( with(?:out)? time zone)$")
    _MAX_PRECISION = 1000

    def render(self, column: Column) -> str:
        if column.postgres_type:
            # From a PostgreSQL source: its own type (docs/syncs.md, "Types").
            return column.postgres_type
        if column.type != "decimal":
            return self._RENDER[column.type]
        if column.precision is None or not 0 < column.precision <= self._MAX_PRECISION:
            return "numeric"
        return f"numeric({column.precision},{column.scale or 0})"

    def parse(self, sql_type: str) -> Column | None:
        if sql_type == "numeric":
            return Column("", "decimal")
        match = self._NUMERIC.match(sql_type)
        if match:
            return Column("", "decimal", precision=int(match[1]), scale=int(match[2]))
        logical = self._PARSE.get(self._PRECISE_TIME.sub(r"\1\2", sql_type))
        return Column("", logical) if logical else None


TYPES = PostgresTypes()

# How long a load waits for a table lock before the attempt fails as retryable.
LOCK_TIMEOUT_SECONDS = 300.0

# The Arrow type binary COPY writes into a column of each logical type (decimal: any decimal128;
# json and uuid: none, their text must be cast by the server).
_COPY_ARROW: dict[str, pa.DataType] = {
    logical: arrow for logical, arrow in ARROW_TYPES.items() if logical not in ("json", "uuid")
}
# Widenings Arrow performs exactly and fast, so that a widened column still loads by direct COPY.
_ARROW_WIDENABLE = frozenset(
    {"smallint", "integer", "bigint", "real", "double", "date", "timestamp", "timestamptz"}
)


# --- Errors --------------------------------------------------------------------------------
_AUTH_HINTS = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "pg_hba.conf",
    'role "',
)
_TRANSIENT_HINTS = (
    "too many clients",
    "starting up",
    "shutting down",
    "in recovery mode",
    "not yet accepting connections",
    "remaining connection slots",
)
_SSL_HINTS = ("does not support ssl", "certificate", "sslmode", "ssl was required")
_TRANSIENT_STATES = {
    "08000", "08001", "08003", "08004", "08006",  # connection lost
    "40001", "40P01", "55P03",  # serialization failure, deadlock, lock not available
    "57P01", "57P02", "57P03",  # admin/crash shutdown, cannot connect now
}  # fmt: skip


def _server_message(exc: BaseException) -> str:
    """The server's (or libpq's) words from an ADBC error, without the driver's wrapping."""
    text = str(exc)
    match = re.search(r"(?:ERROR|FATAL):\s+(.*)", text)
    if match:
        return match[1].strip()
    text = re.sub(r"^[A-Z_]+: (?:\[libpq\] )?(?:Failed to connect: )?", "", text.strip())
    return re.split(r"\n|\. SQLSTATE", text)[0].strip()


def _connect_error(exc: BaseException, config: dict[str, Any]) -> ConnectorError:
    """A failed connection attempt as the error a user can act on. libpq reports these
    without a SQLSTATE, so the message decides."""
    message = _server_message(exc)
    lowered = message.lower()
    where = f"{config['host']}:{config['port']}"
    if 'database "' in lowered and "does not exist" in lowered:
        return ConfigError(f"Database {config['database']!r} does not exist on {where}.")
    if any(hint in lowered for hint in _AUTH_HINTS):
        return AuthenticationError(f"Authentication as {config['username']!r} failed: {message}")
    if any(hint in lowered for hint in _SSL_HINTS):
        return ConfigError(f"SSL setup failed (sslmode {config['sslmode']}): {message}")
    if any(hint in lowered for hint in _TRANSIENT_HINTS):
        return TransientError(f"The server at {where} refused connections for now: {message}")
    if "timeout expired" in lowered:
        return UnreachableError(
            f"No answer from {where} within {config['connect_timeout']}s (connect_timeout)."
        )
    return UnreachableError(f"Could not connect to {where}: {message}")


# How libpq words a connection that broke under a statement: the server shut down (fast or
# immediate), restarted, crashed, or the network dropped it. ADBC often passes these on without
# a SQLSTATE (the server had no chance to send one, or sent a FATAL that reaches us as text
# only), so the words decide; SQLSTATE class 08 and 57P01-57P03 say the same when present.
_CONNECTION_LOST_HINTS = (
    "server closed the connection",
    "terminating connection due to",  # administrator command; crash of another process
    "no connection to the server",
    "connection to server was lost",
    "could not send data to server",
    "could not receive data from server",
    "ssl connection has been closed unexpectedly",
    "ssl syscall error",
    "connection reset by peer",
    "broken pipe",
)
_SQLSTATE_IN_TEXT = re.compile(r"SQLSTATE: ([0-9A-Z]{5})")


def _sqlstate(exc: adbc.Error) -> str:
    """The error's SQLSTATE, from the driver's field or, failing that, its text."""
    if exc.sqlstate:
        return exc.sqlstate.upper()
    match = _SQLSTATE_IN_TEXT.search(str(exc))
    return match[1] if match else ""


def _connection_lost(exc: adbc.Error, state: str) -> str | None:
    """Why the connection broke (libpq's words, without the driver's framing), or None when
    it did not."""
    # The whole text: the FATAL line and libpq's own words can both be there.
    for line in str(exc).splitlines():
        lowered = line.lower()
        for hint in _CONNECTION_LOST_HINTS:
            at = lowered.find(hint)
            if at >= 0:
                return line[at:].strip()
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return _server_message(exc)
    return None


def _is_unique_violation(exc: BaseException | None) -> bool:
    return isinstance(exc, adbc.Error) and (exc.sqlstate or "") == "23505"


def _query_error(exc: adbc.Error | psycopg.Error, stream: str | None = None) -> ConnectorError:
    """A failed statement as a ConnectorError, by SQLSTATE."""
    state = _sqlstate(exc)
    message = _server_message(exc)
    lost = _connection_lost(exc, state)
    if lost:
        # Retryable: the batch in flight was not committed (or, if its commit reached the
        # server, its state was committed with it), so the retry resumes exactly from the
        # destination's state. Worded for the user, who sees it in the job's error.
        return TransientError(
            "Lost the connection to the destination PostgreSQL server (it shut down or "
            f"restarted, or the network dropped the connection): {lost}.",
            stream=stream,
        )
    if state == "53100":
        # disk_full: the server's operator must free space (as for a DuckDB file's disk);
        # retrying within minutes would only fail again. The rest of class 53 (out of
        # memory, too many connections) passes on its own and is retried.
        return StorageFullError(
            f"The destination PostgreSQL server's disk is full: {message}. Batches committed "
            "before it stay; free space on the server, then sync again: the sync resumes from "
            "the last committed batch.",
            stream=stream,
        )
    lowered = message.lower()
    if (
        state in _TRANSIENT_STATES
        or state.startswith("53")
        or any(hint in lowered for hint in _TRANSIENT_HINTS)
    ):
        return TransientError(f"PostgreSQL failed for now: {message}", stream=stream)
    if state in ("42501", "25006"):
        return PermissionError_(f"Permission denied: {message}", stream=stream)
    if state == "2BP01":
        return ConfigError(
            f"{message}. Landed does not drop objects that depend on a table it replaces; "
            "drop them (or use append or merge).",
            stream=stream,
        )
    if state in ("3D000", "3F000", "42P01", "42703", "42P16"):
        return ConfigError(message, stream=stream)
    return ConnectorError(f"PostgreSQL rejected the load: {message}", stream=stream)


# --- Destination ---------------------------------------------------------------------------
class PostgresDestination(Destination):
    spec = ConnectorSpec(
        type="postgres",
        display_name="PostgreSQL",
        description="Load into PostgreSQL tables, one schema per destination namespace.",
        category="database",
        auth_method="password",
        host_field="host",
        fields=(
            SpecField("host", "string", "Host name or IP address of the server.", required=True),
            SpecField("port", "integer", "TCP port.", default=5432, minimum=1, maximum=65535),
            SpecField("database", "string", "Database to load into.", required=True),
            SpecField("username", "string", "User to connect as.", required=True),
            SpecField("password", "secret", "The user's password (empty for trust or peer)."),
            SpecField(
                "sslmode",
                "enum",
                "TLS mode, as libpq's sslmode.",
                default="prefer",
                choices=SSL_MODES,
            ),
            SpecField(
                "connect_timeout",
                "integer",
                "Seconds to wait for the server when connecting.",
                default=10,
                minimum=1,
                maximum=300,
            ),
        ),
        tags=("sql", "adbc"),
    )

    def check(self) -> CheckResult:
        """Connect within connect_timeout, then prove the user may create a schema, a table
        and a temporary table, in a transaction that is rolled back (nothing left behind)."""
        try:
            config = self._settings()
            connection = _connect(config)
        except ConnectorError as exc:
            return CheckResult.failure(exc)
        try:
            _probe_privileges(connection, config)
        except ConnectorError as exc:
            return CheckResult.failure(exc)
        finally:
            connection.close()
        return CheckResult.success(
            f"Connected to {config['database']!r} as {config['username']!r}; tables can be created."
        )

    def open_loader(self, namespace: str) -> PostgresLoader:
        namespace = validate_namespace(namespace)
        config = self._settings()
        reuse = (_target(config), _conninfo(config))
        try:
            connection = _LOADER_CONNECTIONS.acquire(*reuse)
        except adbc.Error as exc:
            raise _connect_error(exc, config) from exc
        return PostgresLoader(connection, namespace, conninfo=_conninfo(config), reuse=reuse)

    def _settings(self) -> dict[str, Any]:
        issues = validate_config(self.spec, self.config)
        if issues:
            issue = issues[0]
            raise ConfigError(f"Invalid {issue.field or 'config'}: {issue.msg}")
        return {**with_defaults(self.spec, self.config), "hostaddr": self.hostaddr}


def _conninfo(config: dict[str, Any]) -> str:
    """libpq connection string. TCP keepalives let a dead server surface in about a minute
    instead of hanging a load for the kernel's two hours."""
    params: dict[str, Any] = {
        "host": config["host"],
        "port": str(config["port"]),
        "dbname": config["database"],
        "user": config["username"],
        "sslmode": config["sslmode"],
        "connect_timeout": str(config["connect_timeout"]),
        "application_name": "landed",
        # A lock the load needs (an ALTER, the overwrite's swap) held by someone's long query
        # fails the attempt after a while (retried later) instead of hanging it unseen.
        "options": f"-c TimeZone=UTC -c lock_timeout={int(LOCK_TIMEOUT_SECONDS * 1000)}",
        "keepalives": "1",
        "keepalives_idle": "30",
        "keepalives_interval": "10",
        "keepalives_count": "3",
    }
    if config.get("password"):
        params["password"] = config["password"]
    if config.get("hostaddr"):
        params["hostaddr"] = config["hostaddr"]
    return make_conninfo(**params)


def _connect(config: dict[str, Any]) -> adbc.Connection:
    """An ADBC connection with autocommit off: each transaction is ours to commit."""
    try:
        return adbc_pg.connect(_conninfo(config), autocommit=False)
    except adbc.Error as exc:
        raise _connect_error(exc, config) from exc


def _target(config: dict[str, Any]) -> tuple[str, str, str, str]:
    """What a connection connects to, without its credentials and options."""
    return ("postgres", config["host"], str(config["port"]), config["database"])


def _probe(connection: adbc.Connection) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()
    connection.rollback()


def _reset(connection: adbc.Connection) -> None:
    """A loader's connection back to a fresh session: its transaction rolled back, the
    namespace's advisory lock released (temporary tables are dropped at commit already)."""
    connection.rollback()
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT pg_advisory_unlock_all()")
        cursor.fetchall()
    finally:
        cursor.close()
    connection.commit()


# A worker's loaders reuse their connections across syncs (see connectors.framework.connections):
# an ADBC connection loads the server's type catalog as it opens.
_LOADER_CONNECTIONS: ConnectionPool[adbc.Connection] = connections.register(
    ConnectionPool(
        connect=lambda conninfo: adbc_pg.connect(conninfo, autocommit=False),
        probe=_probe,
        reset=_reset,
        close=lambda connection: connection.close(),
    )
)


def _probe_privileges(connection: adbc.Connection, config: dict[str, Any]) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cursor.fetchone()
        if in_recovery:
            raise PermissionError_("The server is a read-only standby; connect to the primary.")
        probe = quote_ident(f"_landed_check_{uuid.uuid4().hex[:12]}")
        cursor.execute(f"CREATE SCHEMA {probe}")
        cursor.execute(f"CREATE TABLE {probe}.probe (id integer)")
        cursor.execute("CREATE TEMPORARY TABLE _landed_probe (id integer)")
    except adbc.Error as exc:
        error = _query_error(exc)
        if isinstance(error, PermissionError_):
            error = PermissionError_(
                f"User {config['username']!r} may not create tables in "
                f"{config['database']!r}: {_server_message(exc)}. Landed needs the CREATE and "
                "TEMPORARY privileges on the database (or CREATE on an existing namespace schema)."
            )
        raise error from exc
    finally:
        _rollback_quietly(connection)
        cursor.close()


def _rollback_quietly(connection: adbc.Connection) -> None:
    # A failure here means the connection is broken; the caller's error says why.
    with suppress(adbc.Error):
        connection.rollback()


# --- Loader --------------------------------------------------------------------------------
class PostgresDialect(SqlDialect):
    types = TYPES
    timestamptz = "timestamptz"
    now = "now()"

    def cast(self, expression: str, sql_type: str) -> str:
        return f"{expression}::{sql_type}"

    def casts(
        self, names: Sequence[str], sql_types: Mapping[str, str], *, row_type: str | None = None
    ) -> str:
        """As the default, except that an array column (created with a PostgreSQL source's
        own type, say `integer[]`) is filled from the JSON its values travel as in Arrow:
        `jsonb_populate_record` turns a JSON array, nested or not, into the column's array
        type through the table's row type."""
        if row_type is None:
            return super().casts(names, sql_types)
        items = []
        for name in names:
            quoted, sql_type = self.quote(name), sql_types[name]
            if sql_type.endswith("]"):
                document = f"jsonb_build_object({sql_literal(name)}, {quoted}::jsonb)"
                value = f"(jsonb_populate_record(NULL::{row_type}, {document})).{quoted}"
            else:
                value = self.cast(quoted, sql_type)
            items.append(f"{value} AS {quoted}")
        return ", ".join(items)

    def retype_column(self, table: str, column: str, sql_type: str) -> str:
        quoted = self.quote(column)
        return (
            f"ALTER TABLE {table} ALTER COLUMN {quoted} "
            f"TYPE {sql_type} USING {self.cast(quoted, sql_type)}"
        )


class PostgresLoader(SqlLoader):
    """One ADBC connection into one namespace (schema) for one sync. Writes of all its
    streams go through this connection, one transaction at a time."""

    dialect = PostgresDialect()
    driver_error = adbc.Error

    def __init__(
        self,
        connection: adbc.Connection,
        namespace: str,
        *,
        conninfo: str | None = None,
        reuse: tuple[Hashable, str] | None = None,
    ) -> None:
        # Where `close` hands the connection back to (target, connection string), if taken
        # from the worker's pool; closed otherwise.
        self._reuse = reuse
        self.cursor = connection.cursor()  # the one cursor all statements of this loader use
        # Where the pass-through path connects (`postgres_copy`), on its first chunk.
        self.conninfo = conninfo
        self._copy_connection: psycopg.Connection[Any] | None = None
        super().__init__(connection, namespace)

    def copy_connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection binary COPY chunks are loaded through (ADBC takes Arrow
        only), opened once."""
        if self._copy_connection is None:
            if self.conninfo is None:
                raise ConfigError("This loader has no connection for binary COPY.")
            try:
                self._copy_connection = postgres_copy.connect(self.conninfo)
            except psycopg.Error as exc:
                raise _query_error(exc) from exc
        return self._copy_connection

    def _open_session(self) -> None:
        self._lock_namespace()

    def _lock_namespace(self) -> None:
        """One loader per namespace at a time, held for the connection's life: a worker taken
        for dead (it stopped beating, yet still runs) cannot commit batches beside the retry
        that resumed from the saved state, which would load them twice."""
        with self.transaction():
            locked = self.execute(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                (f"landed:{self.namespace}",),
            ).fetchone()[0]
        if not locked:
            raise TransientError(
                f"Another sync is loading into schema {self.namespace!r} right now; "
                "this one is retried when it is done."
            )

    # Connection hooks.
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the server), or hand it
        back to the worker's pool, rolled back and its lock released. The pass-through's own
        connection is closed either way."""
        if self._copy_connection is not None:
            with suppress(psycopg.Error):
                self._copy_connection.close()
        with suppress(adbc.Error):
            self.cursor.close()
        if self._reuse is not None:
            _LOADER_CONNECTIONS.release(*self._reuse, self.connection)
            return
        with suppress(adbc.Error):
            self.connection.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> adbc.Cursor:
        self.cursor.execute(sql, tuple(params) if params else None)
        return self.cursor

    def _begin(self) -> None:
        """Nothing to do: with autocommit off, the first statement opens the transaction."""

    def _commit(self) -> None:
        self.connection.commit()

    def _rollback_quietly(self) -> None:
        _rollback_quietly(self.connection)

    def _translate_error(self, exc: Exception, stream: str | None) -> ConnectorError:
        return _query_error(cast(adbc.Error, exc), stream)

    # Catalog.
    def _namespace_exists(self) -> bool:
        """Checked before creating: PostgreSQL checks CREATE privileges even for `IF NOT
        EXISTS`, and a user may have been given an existing schema without the right to
        create one."""
        row = self.execute("SELECT to_regnamespace($1) IS NOT NULL", (self.schema_name(),))
        return bool(row.fetchone()[0])

    def _state_table_exists(self) -> bool:
        return self.relation_exists(STATE_TABLE)

    def relation_exists(self, table: str) -> bool:
        row = self.execute("SELECT to_regclass($1) IS NOT NULL", (self.table(table),))
        return bool(row.fetchone()[0])

    def columns_of(self, table: str) -> list[ExistingColumn] | None:
        """The table's columns from the catalog, or None when there is no such table."""
        if not self.relation_exists(table):
            return None
        rows = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "coalesce(col_description(a.attrelid, a.attnum), '') = $2 "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (self.table(table), REMOVED_MARK),
        )
        return [ExistingColumn(*row) for row in rows.fetchall()]

    def unique_keys_of(self, table: str) -> list[set[str]]:
        """Column sets of the table's plain, immediate unique indexes: what ON CONFLICT uses."""
        rows = self.execute(
            "SELECT (SELECT json_agg(a.attname) FROM pg_attribute a "
            "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))::text "
            "FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique "
            "AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL",
            (self.table(table),),
        )
        return [set(json.loads(row[0])) for row in rows.fetchall()]

    # Streams.
    def _stream_loader(
        self,
        load: StreamLoad,
        write_table: str,
        columns: dict[str, str],
        changes: list[SchemaChange],
    ) -> PostgresStreamLoader:
        loader = PostgresStreamLoader(self, load, write_table, columns, changes)
        loader.insert_while_unique = load.load_mode == "merge" and self._is_empty(write_table)
        return loader

    def _is_empty(self, table: str) -> bool:
        row = self.execute(f"SELECT NOT EXISTS (SELECT FROM {self.table(table)})")
        return bool(row.fetchone()[0])

    def _ensure_unique_key(self, load: StreamLoad, key: Sequence[str]) -> None:
        if set(key) not in self.unique_keys_of(load.table):
            self._create_unique_index(load, key)

    def _create_unique_index(self, load: StreamLoad, key: Sequence[str]) -> None:
        """Named after table and key, so that a changed key gets an index of its own."""
        index = quote_ident(short_name("_landed_key_", f"{load.table}_{'_'.join(key)}"))
        try:
            self.execute(
                f"CREATE UNIQUE INDEX {index} ON {self.table(load.table)} ({column_list(key)})"
            )
        except adbc.Error as exc:
            if exc.sqlstate != "23505":
                raise
            raise duplicate_key_error(load, key, "duplicate values") from exc


class PostgresStreamLoader(SqlStreamLoader):
    """Writes one stream's batches, each with its state in one transaction."""

    loader: PostgresLoader

    def __init__(
        self,
        loader: PostgresLoader,
        load: StreamLoad,
        write_table: str,
        columns: dict[str, str],
        changes: list[SchemaChange],
    ) -> None:
        super().__init__(loader, load, write_table, columns, changes)
        # A merge into a table that started empty first loads with plain COPY: with no row
        # to update that is the same result at the cost of an append, and the key's unique
        # index rejects the batch if a key repeats. From the first repeat on, batches merge.
        self.insert_while_unique = False

    def _write_batch(self, batch: pa.RecordBatch, state: dict[str, Any] | None) -> None:
        if self.insert_while_unique and batch.num_rows:
            try:
                with self.loader.transaction(self.load.stream):
                    self._insert(batch)
                    self.loader.save_state(
                        self.load.stream, state, self.load.run_id, complete=False
                    )
                return
            except ConnectorError as exc:
                if not _is_unique_violation(exc.__cause__):
                    raise
                # Rolled back whole; merge this batch and the rest.
                self.insert_while_unique = False
        super()._write_batch(batch, state)

    # Binary COPY pass-through (postgres_copy).
    def copy_refusal(self, offer: CopyOffer) -> str | None:
        if self.loader.conninfo is None:
            return "The destination's loader has no connection for binary COPY."
        return postgres_copy.refusal(offer, self.columns)

    def write_copy(self, chunk: CopyChunk, state: dict[str, Any] | None) -> LoadResult:
        """The chunk and `state` in one transaction, as `write` loads a batch: appended
        (append, overwrite's staging table, a merge into a table that started empty, until a
        key repeats) or upserted by key."""
        self._check_open()
        merge = self.load.load_mode == "merge"
        self.report_stage("merging" if merge else "loading")
        names = list(chunk.columns)
        writer = self._copy_writer()
        try:
            if self.insert_while_unique or not merge:
                try:
                    writer.insert(chunk, names, state)
                    return LoadResult(rows=chunk.rows, bytes=len(chunk.data))
                except psycopg.errors.UniqueViolation:
                    if not self.insert_while_unique:
                        raise
                    self.insert_while_unique = False  # rolled back whole; merge from now on
            writer.merge(chunk, names, self.load.primary_key, state)
        except psycopg.Error as exc:
            raise _query_error(exc, self.load.stream) from exc
        return LoadResult(rows=chunk.rows, bytes=len(chunk.data))

    def _copy_writer(self) -> postgres_copy.CopyWriter:
        return postgres_copy.CopyWriter(
            self.loader.copy_connection(),
            self.loader.dialect,
            schema=self.loader.schema_name(),
            table=self.loader.table(self.write_table),
            columns=self.columns,
            stream=self.load.stream,
            run_id=self.load.run_id,
        )

    # Loading paths.
    def _insert(self, batch: pa.RecordBatch) -> None:
        """Straight into the target by binary COPY when every column can go as it is;
        otherwise through the staging table and a converting INSERT ... SELECT."""
        direct = self._direct(batch)
        if direct is None:
            super()._insert(batch)
            return
        self.loader.cursor.adbc_ingest(
            self.write_table, direct, mode="append", db_schema_name=self.loader.namespace
        )

    @contextmanager
    def _staged(self, batch: pa.RecordBatch, *, numbered: bool) -> Iterator[str]:
        # The staging table numbers every row (an identity column), numbered or not.
        self._stage(batch)
        yield f"pg_temp.{_BATCH_TABLE}"

    def _direct(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The batch as binary COPY can write it into the table (lossless Arrow casts
        applied), or None when some column needs the server to convert it."""
        arrays = []
        for arrow_field, array in zip(batch.schema, batch.columns, strict=True):
            direct = _copy_array(arrow_field, array, self.columns[arrow_field.name])
            if direct is None:
                return None
            arrays.append(direct)
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

    def _stage(self, batch: pa.RecordBatch) -> None:
        """COPY the batch into a temporary table (dropped at commit or rollback), with its
        row order numbered by an identity column."""
        columns = [f"{quote_ident(f.name)} {_stage_type(f)}" for f in batch.schema]
        columns.append(f"{ROW_NUMBER} bigint GENERATED ALWAYS AS IDENTITY")
        cursor = self.loader.cursor
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_BATCH_TABLE} ({', '.join(columns)}) ON COMMIT DROP"
        )
        cursor.adbc_ingest(_BATCH_TABLE, batch, mode="append", temporary=True)


def _stage_type(arrow_field: pa.Field) -> str:
    """The staging column type that holds an Arrow column as binary COPY writes it."""
    if pa.types.is_string(arrow_field.type):
        return "text"
    if pa.types.is_decimal(arrow_field.type):
        return "numeric"
    return TYPES.render(column_from_field(arrow_field))


def _copy_array(arrow_field: pa.Field, array: pa.Array, target_sql: str) -> pa.Array | None:
    """`array` in the Arrow type binary COPY writes into `target_sql`, or None."""
    target = TYPES.parse(target_sql)
    if target is None:
        return None
    if target.type == "decimal":
        return array if pa.types.is_decimal(array.type) else None
    wanted = _COPY_ARROW.get(target.type)
    if wanted is None:
        return None
    if array.type == wanted:
        return array
    source = column_from_field(arrow_field)
    if {source.type, target.type} <= _ARROW_WIDENABLE and widens(source, target):
        return array.cast(wanted)
    return None
