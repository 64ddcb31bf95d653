"""PostgreSQL destination: loads Arrow batches with ADBC (binary COPY from Arrow, in C++).

Exactly once: every `write` is one transaction holding the batch's rows and the stream's new
state (a row of `<namespace>._landed_state`), so a crash leaves both or neither. `finish` marks
the stream complete; for an overwrite it also swaps the staging table in, in that transaction.

Speed: a batch whose Arrow columns all match their target columns' binary formats (after
lossless Arrow casts for widened columns) is COPYed straight into the target table. Anything
else (JSON or UUID text into jsonb/uuid, decimals carried as text, values into a column the
evolution rules turned into text) is COPYed into a temporary table and moved with one
`INSERT ... SELECT col::type`, still in the batch's transaction. Merge always stages, then
upserts with `INSERT ... ON CONFLICT (key) DO UPDATE`, the last occurrence of a key in a batch
winning.

Schema evolution follows `connectors.destinations._evolution` (see its docstring).

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa
from adbc_driver_manager import dbapi as adbc
from psycopg.conninfo import make_conninfo

from connectors.destinations import _evolution as ev
from connectors.framework.base import (
    AuthenticationError,
    CheckResult,
    ConfigError,
    ConnectorError,
    Destination,
    Loader,
    LoadResult,
    PermissionError_,
    SavedState,
    SchemaChange,
    StreamLoad,
    StreamLoader,
    TransientError,
    UnreachableError,
)
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
    _MAX_PRECISION = 1000

    def render(self, column: Column) -> str:
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
        logical = self._PARSE.get(sql_type)
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


def _is_unique_violation(exc: BaseException | None) -> bool:
    return isinstance(exc, adbc.Error) and (exc.sqlstate or "") == "23505"


def _query_error(exc: adbc.Error, stream: str | None = None) -> ConnectorError:
    """A failed statement as a ConnectorError, by SQLSTATE."""
    state = (exc.sqlstate or "").upper()
    message = _server_message(exc)
    if state in _TRANSIENT_STATES or state.startswith("53") or "server closed" in message:
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
        namespace = ev.validate_namespace(namespace)
        return PostgresLoader(_connect(self._settings()), namespace)

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


def _probe_privileges(connection: adbc.Connection, config: dict[str, Any]) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cursor.fetchone()
        if in_recovery:
            raise PermissionError_("The server is a read-only standby; connect to the primary.")
        probe = ev.quote_ident(f"_landed_check_{uuid.uuid4().hex[:12]}")
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
class PostgresLoader(Loader):
    """One ADBC connection into one namespace (schema) for one sync. Writes of all its
    streams go through this connection, one transaction at a time."""

    def __init__(self, connection: adbc.Connection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace
        self.schema_changes: list[SchemaChange] = []
        self.cursor = connection.cursor()  # the one cursor all statements of this loader use
        try:
            self._lock_namespace()
            self._ensure_namespace()
        except BaseException:
            self.close()
            raise

    def _lock_namespace(self) -> None:
        """One loader per namespace at a time, held for the connection's life: a worker taken
        for dead (it stopped beating, yet still runs) cannot commit batches beside the retry
        that resumed from the saved state, which would load them twice."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                (f"landed:{self.namespace}",),
            )
            locked = cursor.fetchone()[0]
        if not locked:
            raise TransientError(
                f"Another sync is loading into schema {self.namespace!r} right now; "
                "this one is retried when it is done."
            )

    # Context manager and lifetime.
    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back by the server."""
        with suppress(adbc.Error):
            self.cursor.close()
        with suppress(adbc.Error):
            self.connection.close()

    # SQL helpers.
    def table(self, name: str) -> str:
        return ev.qualified(self.namespace, name)

    @contextmanager
    def transaction(self, stream: str | None = None) -> Iterator[adbc.Cursor]:
        """Commit what the block did, or roll it all back and raise a ConnectorError."""
        try:
            yield self.cursor
            self.connection.commit()
        except adbc.Error as exc:
            _rollback_quietly(self.connection)
            raise _query_error(exc, stream) from exc
        except BaseException:
            _rollback_quietly(self.connection)
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only statement, in its own (then closed) transaction."""
        with self.transaction() as cursor:
            cursor.execute(sql, tuple(params) if params else None)
            return cursor.fetchall()

    def _ensure_namespace(self) -> None:
        """Create the schema and the state table when missing. Existence is checked first:
        PostgreSQL checks CREATE privileges even for `IF NOT EXISTS`, and a user may have
        been given an existing schema without the right to create one."""
        schema = ev.quote_ident(self.namespace)
        with self.transaction() as cursor:
            cursor.execute("SELECT to_regnamespace($1) IS NOT NULL", (schema,))
            if not cursor.fetchone()[0]:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if not self.relation_exists(ev.STATE_TABLE):
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table(ev.STATE_TABLE)} ("
                    "stream text PRIMARY KEY, state jsonb, run_id text, "
                    "complete boolean NOT NULL DEFAULT false, "
                    "updated_at timestamptz NOT NULL DEFAULT now())"
                )

    def relation_exists(self, table: str) -> bool:
        self.cursor.execute("SELECT to_regclass($1) IS NOT NULL", (self.table(table),))
        return bool(self.cursor.fetchone()[0])

    def columns_of(self, table: str) -> list[ev.ExistingColumn] | None:
        """The table's columns from the catalog, or None when there is no such table."""
        if not self.relation_exists(table):
            return None
        self.cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "coalesce(col_description(a.attrelid, a.attnum), '') = $2 "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (self.table(table), ev.REMOVED_MARK),
        )
        return [ev.ExistingColumn(*row) for row in self.cursor.fetchall()]

    def unique_keys_of(self, table: str) -> list[set[str]]:
        """Column sets of the table's plain, immediate unique indexes: what ON CONFLICT uses."""
        self.cursor.execute(
            "SELECT (SELECT json_agg(a.attname) FROM pg_attribute a "
            "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))::text "
            "FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique "
            "AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL",
            (self.table(table),),
        )
        return [set(json.loads(row[0])) for row in self.cursor.fetchall()]

    # State.
    def save_state(
        self, stream: str, state: dict[str, Any] | None, run_id: str, complete: bool
    ) -> None:
        """Upsert the stream's state row, inside the caller's transaction."""
        document = ev.state_document(state, stream)
        self.cursor.execute(
            f"INSERT INTO {self.table(ev.STATE_TABLE)} "
            "(stream, state, run_id, complete, updated_at) "
            "VALUES ($1, $2::jsonb, $3, $4, now()) ON CONFLICT (stream) DO UPDATE SET "
            "state = EXCLUDED.state, run_id = EXCLUDED.run_id, "
            "complete = EXCLUDED.complete, updated_at = EXCLUDED.updated_at",
            (stream, document, run_id, complete),
        )

    def saved_states(self) -> dict[str, SavedState]:
        rows = self.query(
            f"SELECT stream, state::text, run_id, complete FROM {self.table(ev.STATE_TABLE)}"
        )
        return {
            stream: SavedState(stream, json.loads(state) if state else None, run_id, complete)
            for stream, state, run_id, complete in rows
        }

    def reset_state(self, stream: str) -> None:
        with self.transaction(stream) as cursor:
            cursor.execute(f"DELETE FROM {self.table(ev.STATE_TABLE)} WHERE stream = $1", (stream,))

    # Streams.
    def open_stream(self, load: StreamLoad) -> PostgresStreamLoader:
        ev.validate_load(load)
        ev.quote_ident(load.table)
        with self.transaction(load.stream):
            if load.load_mode == "overwrite":
                write_table, changes = self._prepare_overwrite(load)
            else:
                write_table, changes = load.table, self._prepare_table(load)
            columns = {c.name: c.sql_type for c in self.columns_of(write_table) or []}
            empty = load.load_mode == "merge" and self._is_empty(write_table)
        self.schema_changes.extend(changes)
        loader = PostgresStreamLoader(self, load, write_table, columns, changes)
        loader.insert_while_unique = empty
        return loader

    def _is_empty(self, table: str) -> bool:
        self.cursor.execute(f"SELECT NOT EXISTS (SELECT FROM {self.table(table)})")
        return bool(self.cursor.fetchone()[0])

    def _prepare_table(self, load: StreamLoad) -> list[SchemaChange]:
        """Create or evolve an append/merge target; for merge, make sure a unique index on
        the key exists (ON CONFLICT needs one)."""
        key = load.primary_key if load.load_mode == "merge" else ()
        existing = self.columns_of(load.table)
        if existing is None:
            plan = ev.plan_replacement(load.stream, None, load.columns, TYPES)
            self._create_table(load.table, plan.columns, key)
            return plan.changes
        plan = ev.plan_evolution(load.stream, existing, load.columns, TYPES, key)
        self._apply_evolution(load.table, plan)
        if ev.SYNCED_AT not in {c.name for c in existing}:
            self.cursor.execute(
                f"ALTER TABLE {self.table(load.table)} ADD COLUMN "
                f"{ev.quote_ident(ev.SYNCED_AT)} timestamptz DEFAULT now()"
            )
        if key and set(key) not in self.unique_keys_of(load.table):
            self._create_unique_index(load, key)
        return plan.changes

    def _prepare_overwrite(self, load: StreamLoad) -> tuple[str, list[SchemaChange]]:
        """Keep the staging table of an unfinished attempt of the same run (its committed
        batches are part of this load), else start an empty one. Changes are reported against
        the table the swap will replace."""
        stage = ev.stage_table_name(load.table)
        existing = self.columns_of(load.table)
        plan = ev.plan_replacement(load.stream, existing, load.columns, TYPES)
        staged = self.columns_of(stage)
        if staged is not None and self._resumable(load):
            self._apply_evolution(
                stage, ev.plan_evolution(load.stream, staged, load.columns, TYPES)
            )
            return stage, plan.changes
        if staged is not None:
            self.cursor.execute(f"DROP TABLE {self.table(stage)}")
        self._create_table(stage, plan.columns, ())
        self._set_removed(stage, plan.removed, True)
        return stage, plan.changes

    def _resumable(self, load: StreamLoad) -> bool:
        self.cursor.execute(
            f"SELECT run_id, complete FROM {self.table(ev.STATE_TABLE)} WHERE stream = $1",
            (load.stream,),
        )
        row = self.cursor.fetchone()
        return row is not None and row[0] == load.run_id and not row[1]

    def _create_table(self, table: str, columns: list[tuple[str, str]], key: Sequence[str]) -> None:
        parts = [f"{ev.quote_ident(name)} {sql}" for name, sql in columns]
        parts.append(f"{ev.quote_ident(ev.SYNCED_AT)} timestamptz DEFAULT now()")
        if key:
            parts.append(f"PRIMARY KEY ({', '.join(ev.quote_ident(k) for k in key)})")
        self.cursor.execute(f"CREATE TABLE {self.table(table)} ({', '.join(parts)})")

    def _apply_evolution(self, table: str, plan: ev.EvolutionPlan) -> None:
        target = self.table(table)
        for name, sql in plan.add:
            self.cursor.execute(f"ALTER TABLE {target} ADD COLUMN {ev.quote_ident(name)} {sql}")
        for name, sql in plan.retype:
            column = ev.quote_ident(name)
            self.cursor.execute(
                f"ALTER TABLE {target} ALTER COLUMN {column} TYPE {sql} USING {column}::{sql}"
            )
        for name in plan.drop_not_null:
            self.cursor.execute(
                f"ALTER TABLE {target} ALTER COLUMN {ev.quote_ident(name)} DROP NOT NULL"
            )
        self._set_removed(table, plan.mark_removed, True)
        self._set_removed(table, plan.unmark_removed, False)

    def _set_removed(self, table: str, names: Sequence[str], removed: bool) -> None:
        comment = ev.sql_literal(ev.REMOVED_MARK) if removed else "NULL"
        for name in names:
            self.cursor.execute(
                f"COMMENT ON COLUMN {self.table(table)}.{ev.quote_ident(name)} IS {comment}"
            )

    def _create_unique_index(self, load: StreamLoad, key: Sequence[str]) -> None:
        """Named after table and key, so that a changed key gets an index of its own."""
        index = ev.quote_ident(ev.short_name("_landed_key_", f"{load.table}_{'_'.join(key)}"))
        columns = ", ".join(ev.quote_ident(k) for k in key)
        try:
            self.cursor.execute(
                f"CREATE UNIQUE INDEX {index} ON {self.table(load.table)} ({columns})"
            )
        except adbc.Error as exc:
            if exc.sqlstate != "23505":
                raise
            raise ConfigError(
                f"Table {load.table!r} holds duplicate values of the key ({', '.join(key)}), so "
                "it cannot be merged into; run an overwrite first.",
                stream=load.stream,
            ) from exc


class PostgresStreamLoader(StreamLoader):
    """Writes one stream's batches, each with its state in one transaction."""

    def __init__(
        self,
        loader: PostgresLoader,
        load: StreamLoad,
        write_table: str,
        columns: dict[str, str],
        changes: list[SchemaChange],
    ) -> None:
        self.loader = loader
        self.load = load
        self.write_table = write_table  # the target, or the overwrite's staging table
        self.columns = columns  # name -> SQL type of the table written into
        self.schema_changes = list(changes)
        self._finished = False
        # A merge into a table that started empty first loads with plain COPY: with no row
        # to update that is the same result at the cost of an append, and the key's unique
        # index rejects the batch if a key repeats. From the first repeat on, batches merge.
        self.insert_while_unique = False

    def write(self, records: pa.RecordBatch, state: dict[str, Any] | None) -> LoadResult:
        self._check_open()
        batch = ev.normalize_batch(records, self.load.stream, set(self.columns))
        if self.insert_while_unique and batch.num_rows:
            try:
                with self.loader.transaction(self.load.stream):
                    self._insert(batch)
                    self.loader.save_state(
                        self.load.stream, state, self.load.run_id, complete=False
                    )
                return LoadResult(rows=records.num_rows, bytes=records.nbytes)
            except ConnectorError as exc:
                if not _is_unique_violation(exc.__cause__):
                    raise
                # Rolled back whole; merge this batch and the rest.
                self.insert_while_unique = False
        with self.loader.transaction(self.load.stream):
            if batch.num_rows:
                if self.load.load_mode == "merge":
                    self._merge(batch)
                else:
                    self._insert(batch)
            self.loader.save_state(self.load.stream, state, self.load.run_id, complete=False)
        return LoadResult(rows=records.num_rows, bytes=records.nbytes)

    def finish(self, state: dict[str, Any] | None) -> None:
        """Mark the stream complete; an overwrite swaps its staging table in, in the same
        transaction, so readers see the old table until the new one is whole."""
        self._check_open()
        loader = self.loader
        with loader.transaction(self.load.stream) as cursor:
            if self.load.load_mode == "overwrite":
                cursor.execute(f"DROP TABLE IF EXISTS {loader.table(self.load.table)}")
                cursor.execute(
                    f"ALTER TABLE {loader.table(self.write_table)} "
                    f"RENAME TO {ev.quote_ident(self.load.table)}"
                )
            loader.save_state(self.load.stream, state, self.load.run_id, complete=True)
        self._finished = True

    def _check_open(self) -> None:
        if self._finished:
            raise ConfigError("The stream is already finished.", stream=self.load.stream)

    # Loading paths.
    def _insert(self, batch: pa.RecordBatch) -> None:
        direct = self._direct(batch)
        cursor = self.loader.cursor
        if direct is not None:
            cursor.adbc_ingest(
                self.write_table, direct, mode="append", db_schema_name=self.loader.namespace
            )
            return
        self._stage(batch)
        names = batch.schema.names
        cursor.execute(
            f"INSERT INTO {self.loader.table(self.write_table)} ({ev.column_list(names)}) "
            f"SELECT {self._casts(names)} FROM pg_temp.{_BATCH_TABLE}"
        )

    def _merge(self, batch: pa.RecordBatch) -> None:
        """Upsert by key. DISTINCT ON keeps, per key, the row with the highest batch row
        number: the last occurrence wins."""
        self._stage(batch)
        names = batch.schema.names
        key = ev.column_list(self.load.primary_key)
        synced = ev.quote_ident(ev.SYNCED_AT)
        updates = [
            f"{ev.quote_ident(n)} = EXCLUDED.{ev.quote_ident(n)}"
            for n in [*names, ev.SYNCED_AT]
            if n not in self.load.primary_key
        ]
        columns = ev.column_list(names)
        self.loader.cursor.execute(
            f"INSERT INTO {self.loader.table(self.write_table)} ({columns}, {synced}) "
            f"SELECT DISTINCT ON ({key}) {columns}, now() FROM ("
            f"SELECT {self._casts(names)}, {ev.ROW_NUMBER} FROM pg_temp.{_BATCH_TABLE}) AS b "
            f"ORDER BY {key}, {ev.ROW_NUMBER} DESC "
            f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"
        )

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
        columns = [f"{ev.quote_ident(f.name)} {_stage_type(f)}" for f in batch.schema]
        columns.append(f"{ev.ROW_NUMBER} bigint GENERATED ALWAYS AS IDENTITY")
        cursor = self.loader.cursor
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_BATCH_TABLE} ({', '.join(columns)}) ON COMMIT DROP"
        )
        cursor.adbc_ingest(_BATCH_TABLE, batch, mode="append", temporary=True)

    def _casts(self, names: Sequence[str]) -> str:
        return ", ".join(
            f"{ev.quote_ident(n)}::{self.columns[n]} AS {ev.quote_ident(n)}" for n in names
        )


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
    if {source.type, target.type} <= _ARROW_WIDENABLE and ev.widens(source, target):
        return array.cast(wanted)
    return None
