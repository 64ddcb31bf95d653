"""DuckDB destination: loads Arrow batches into a DuckDB file on the Landed server.

Exactly once: every `write` is one DuckDB transaction holding the batch's rows (scanned straight
from Arrow, with casts done by DuckDB's vectorised engine) and the stream's new state in
`<namespace>._landed_state`. `finish` marks the stream complete, and for an overwrite swaps the
staging table in within that transaction.

Files: this is a multi-tenant server, so a customer's `path` must not reach arbitrary server
files. Paths resolve under one root directory: `LANDED_DUCKDB_ROOT`, else
`$LANDED_DATA_DIR/duckdb`, else `./var/duckdb`. Relative paths are taken from the root; absolute
paths must lie inside it; `..` is refused outright and symbolic links are resolved before the
check. Only `.duckdb` files are written. Each tenant (account) has a directory of its own under
the root, so that one account can never name, test or overwrite another's file.

DuckDB lets one process write a file at a time; a file held by another process surfaces as a
retryable TransientError saying the file is in use.

Schema evolution follows `connectors.destinations._evolution`. Connections run with
TimeZone=UTC.
"""

# SQL here is built from identifiers that pass through quote_ident and from SQL type names of
# our own; every value travels as a bound parameter or through Arrow.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.destinations import _evolution as ev
from connectors.framework.base import (
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
)
from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.framework.types import MAX_ARROW_DECIMAL_PRECISION, Column

SUFFIX = ".duckdb"


# --- Files ---------------------------------------------------------------------------------
def duckdb_root() -> Path:
    """The directory every DuckDB destination file lives under (absolute, symlinks resolved)."""
    configured = os.environ.get("LANDED_DUCKDB_ROOT")
    if configured:
        root = Path(configured)
    elif os.environ.get("LANDED_DATA_DIR"):
        root = Path(os.environ["LANDED_DATA_DIR"]) / "duckdb"
    else:
        root = Path("var") / "duckdb"
    return root.expanduser().resolve()


_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tenant_root(tenant: str | None) -> Path:
    """The directory of one tenant's files (the root itself when there is no tenant, as in
    a single-user install driven without accounts)."""
    root = duckdb_root()
    if tenant is None:
        return root
    if not _TENANT.match(tenant):
        raise ConfigError("Invalid tenant name for the DuckDB directory.")
    return root / tenant


def resolve_path(raw: Any, tenant: str | None = None) -> Path:
    """The file a configured `path` names, refused (ConfigError) unless it is a `.duckdb` file
    inside the tenant's directory."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ConfigError("Set `path` to a .duckdb file name, e.g. analytics.duckdb.")
    candidate = Path(raw.strip())
    if ".." in candidate.parts:
        raise ConfigError("The DuckDB path may not contain '..'.")
    if candidate.suffix != SUFFIX or candidate.name == SUFFIX:
        raise ConfigError(f"The DuckDB path must name a file ending in {SUFFIX}.")
    root = tenant_root(tenant)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise ConfigError(
            "The DuckDB path must lie inside the server's DuckDB directory; "
            "use a relative path such as analytics.duckdb."
        )
    return resolved


def _nearest_directory(path: Path) -> Path:
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory


def _probe_writable(directory: Path) -> None:
    """Create and delete a file: the only test that also holds for root, read-only mounts
    and full quotas (os.access does not)."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".landed_probe_"):
            pass
    except OSError as exc:
        raise PermissionError_(
            f"The DuckDB directory is not writable: {exc.strerror or exc}."
        ) from exc


# --- Types ---------------------------------------------------------------------------------
class DuckDBTypes:
    """Logical types as `duckdb_columns()` spells them (so they compare as strings). Decimals
    wider than DuckDB's 38 digits, or unconstrained, are kept exactly as text."""

    text_type = "VARCHAR"
    _RENDER: dict[str, str] = {
        "boolean": "BOOLEAN",
        "smallint": "SMALLINT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "real": "FLOAT",
        "double": "DOUBLE",
        "string": "VARCHAR",
        "binary": "BLOB",
        "date": "DATE",
        "time": "TIME",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMP WITH TIME ZONE",
        "json": "JSON",
        "uuid": "UUID",
    }
    _PARSE: dict[str, str] = {
        **{sql: logical for logical, sql in _RENDER.items()},
        "REAL": "real",
        "TIMESTAMPTZ": "timestamptz",
    }
    _DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")

    def render(self, column: Column) -> str:
        if column.type != "decimal":
            return self._RENDER[column.type]
        precision, scale = column.precision, column.scale or 0
        if precision is None or not 0 < precision <= MAX_ARROW_DECIMAL_PRECISION:
            return self.text_type
        if not 0 <= scale <= precision:
            return self.text_type
        return f"DECIMAL({precision},{scale})"

    def parse(self, sql_type: str) -> Column | None:
        match = self._DECIMAL.match(sql_type)
        if match:
            return Column("", "decimal", precision=int(match[1]), scale=int(match[2]))
        logical = self._PARSE.get(sql_type)
        return Column("", logical) if logical else None


TYPES = DuckDBTypes()


# --- Errors --------------------------------------------------------------------------------
def _open_error(exc: duckdb.Error, shown: str) -> ConnectorError:
    """A failure to open the file, worded with the path as the user gave it (not the server's
    directory layout)."""
    message = str(exc)
    lowered = message.lower()
    if "lock" in lowered or "different configuration" in lowered:
        return TransientError(
            f"The DuckDB file {shown!r} is in use by another process (DuckDB allows one writer "
            "per file). Retry when it is free."
        )
    if "not a valid duckdb database" in lowered:
        return ConfigError(f"{shown!r} exists but is not a DuckDB database file.")
    if "permission denied" in lowered:
        return PermissionError_(f"The DuckDB file {shown!r} cannot be opened: permission denied.")
    return ConnectorError(f"Could not open the DuckDB file {shown!r}: {message}")


def _query_error(exc: duckdb.Error, stream: str | None) -> ConnectorError:
    # The first paragraph names the problem and the value; the rest echoes the SQL.
    message = str(exc).split("\n\n")[0].strip()
    if isinstance(exc, duckdb.TransactionException | duckdb.IOException):
        return TransientError(f"DuckDB failed for now: {message}", stream=stream)
    if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return ConfigError(message, stream=stream)
    return ConnectorError(f"DuckDB rejected the load: {message}", stream=stream)


# --- Destination ---------------------------------------------------------------------------
class DuckDBDestination(Destination):
    spec = ConnectorSpec(
        type="duckdb",
        display_name="DuckDB",
        description="Load into a DuckDB file on the Landed server, one schema per namespace.",
        category="file",
        auth_method="file",
        fields=(
            SpecField(
                "path",
                "string",
                "The .duckdb file, relative to the server's DuckDB directory.",
                required=True,
            ),
        ),
        tags=("sql", "file", "embedded"),
    )

    @classmethod
    def config_issues(
        cls, config: dict[str, Any], *, tenant: str | None = None
    ) -> list[ConfigIssue]:
        if "path" not in config:
            return []  # the spec reports it missing
        try:
            resolve_path(config["path"], tenant)
        except ConfigError as exc:
            return [ConfigIssue("path", exc.message, "value_error")]
        return []

    def check(self) -> CheckResult:
        """The path lies inside the root, its directory is writable, and the file (when it
        exists) opens as a DuckDB database. Nothing is created."""
        try:
            path = resolve_path(self.config.get("path"), self.tenant)
            _probe_writable(_nearest_directory(path))
            if path.exists():
                self._open(path, read_only=True).close()
        except ConnectorError as exc:
            return CheckResult.failure(exc)
        return CheckResult.success(f"The DuckDB file {self.config['path']!r} can be written.")

    def open_loader(self, namespace: str) -> DuckDBLoader:
        namespace = ev.validate_namespace(namespace)
        path = resolve_path(self.config.get("path"), self.tenant)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PermissionError_(
                f"Cannot create the directory of {self.config['path']!r}: {exc.strerror or exc}."
            ) from exc
        return DuckDBLoader(self._open(path, read_only=False), namespace)

    def _open(self, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            connection.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            raise _open_error(exc, str(self.config.get("path"))) from exc
        return connection


# --- Loader --------------------------------------------------------------------------------
class DuckDBLoader(Loader):
    """One DuckDB connection (and so the file's write lock) for one sync, into one schema."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace
        self.schema_changes: list[SchemaChange] = []
        # The name a batch is registered under; unique, as registrations are per connection.
        self.view = f"_landed_batch_{uuid.uuid4().hex[:12]}"
        try:
            # Names are qualified with the catalog (the file's stem): a namespace named like
            # the file would otherwise be an ambiguous reference.
            (self.catalog,) = connection.execute("SELECT current_database()").fetchone()
            self._ensure_namespace()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, releasing the file (an open transaction rolls back)."""
        with suppress(duckdb.Error):
            self.connection.close()

    # SQL helpers.
    def table(self, name: str) -> str:
        return f"{ev.quote_ident(self.catalog)}.{ev.qualified(self.namespace, name)}"

    @contextmanager
    def transaction(self, stream: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """Commit what the block did, or roll it all back and raise a ConnectorError."""
        self.connection.begin()
        try:
            yield self.connection
            self.connection.commit()
        except duckdb.Error as exc:
            self._rollback_quietly()
            raise _query_error(exc, stream) from exc
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        # A failure means nothing was open, or the connection is gone; the caller's error
        # says why.
        with suppress(duckdb.Error):
            self.connection.rollback()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyConnection:
        return self.connection.execute(sql, list(params) if params else None)

    def _ensure_namespace(self) -> None:
        with self.transaction():
            schema = f"{ev.quote_ident(self.catalog)}.{ev.quote_ident(self.namespace)}"
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table(ev.STATE_TABLE)} ("
                "stream VARCHAR PRIMARY KEY, state JSON, run_id VARCHAR, "
                "complete BOOLEAN NOT NULL DEFAULT false, "
                "updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
            )

    def columns_of(self, table: str) -> list[ev.ExistingColumn] | None:
        """The table's columns from the catalog, or None when there is no such table.
        (DuckDB identifiers are case-insensitive, so names are compared lower-cased.)"""
        rows = self.execute(
            "SELECT column_name, data_type, is_nullable, coalesce(comment, '') = $3 "
            "FROM duckdb_columns() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower($1) AND lower(table_name) = lower($2) "
            "ORDER BY column_index",
            (self.namespace, table, ev.REMOVED_MARK),
        ).fetchall()
        return [ev.ExistingColumn(*row) for row in rows] or None

    def _catalog_filter(self) -> str:
        return (
            "database_name = current_database() AND lower(schema_name) = lower($1) "
            "AND lower(table_name) = lower($2)"
        )

    def _index_sql(self, table: str) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the table's indexes (constraints excluded)."""
        return self.execute(
            f"SELECT index_name, sql FROM duckdb_indexes() WHERE {self._catalog_filter()}",
            (self.namespace, table),
        ).fetchall()

    def _keys(self, table: str) -> list[tuple[str, list[str]]]:
        """(constraint type, columns) of the table's PRIMARY KEY and UNIQUE constraints."""
        return self.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            f"WHERE {self._catalog_filter()} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            (self.namespace, table),
        ).fetchall()

    # State.
    def save_state(
        self, stream: str, state: dict[str, Any] | None, run_id: str, complete: bool
    ) -> None:
        """Upsert the stream's state row, inside the caller's transaction."""
        document = ev.state_document(state, stream)
        self.execute(
            f"INSERT INTO {self.table(ev.STATE_TABLE)} "
            "(stream, state, run_id, complete, updated_at) "
            "VALUES ($1, CAST($2 AS JSON), $3, $4, current_timestamp) "
            "ON CONFLICT (stream) DO UPDATE SET state = EXCLUDED.state, "
            "run_id = EXCLUDED.run_id, complete = EXCLUDED.complete, "
            "updated_at = EXCLUDED.updated_at",
            (stream, document, run_id, complete),
        )

    def saved_states(self) -> dict[str, SavedState]:
        with self.transaction():
            rows = self.execute(
                "SELECT stream, CAST(state AS VARCHAR), run_id, complete "
                f"FROM {self.table(ev.STATE_TABLE)}"
            ).fetchall()
        return {
            stream: SavedState(stream, json.loads(state) if state else None, run_id, complete)
            for stream, state, run_id, complete in rows
        }

    def reset_state(self, stream: str) -> None:
        with self.transaction(stream):
            self.execute(f"DELETE FROM {self.table(ev.STATE_TABLE)} WHERE stream = $1", (stream,))

    # Streams.
    def open_stream(self, load: StreamLoad) -> DuckDBStreamLoader:
        ev.validate_load(load)
        ev.quote_ident(load.table)
        with self.transaction(load.stream):
            if load.load_mode == "overwrite":
                write_table, changes = self._prepare_overwrite(load)
            else:
                write_table, changes = load.table, self._prepare_table(load)
            columns = {c.name: c.sql_type for c in self.columns_of(write_table) or []}
        self.schema_changes.extend(changes)
        return DuckDBStreamLoader(self, load, write_table, columns, changes)

    def _prepare_table(self, load: StreamLoad) -> list[SchemaChange]:
        """Create or evolve an append/merge target; for merge, make sure a unique index on
        the key exists (ON CONFLICT needs one)."""
        key = load.primary_key if load.load_mode == "merge" else ()
        existing = self.columns_of(load.table)
        if existing is None:
            plan = ev.plan_replacement(load.stream, None, load.columns, TYPES)
            self._create_table(load.table, plan.columns, key)
            return plan.changes
        evolution = ev.plan_evolution(load.stream, existing, load.columns, TYPES, key)
        self._apply_evolution(load.table, evolution)
        if ev.SYNCED_AT not in {c.name for c in existing}:
            self.execute(
                f"ALTER TABLE {self.table(load.table)} ADD COLUMN "
                f"{ev.quote_ident(ev.SYNCED_AT)} TIMESTAMPTZ DEFAULT current_timestamp"
            )
        if key:
            self._ensure_unique(load, key)
        return evolution.changes

    def _prepare_overwrite(self, load: StreamLoad) -> tuple[str, list[SchemaChange]]:
        """Keep the staging table of an unfinished attempt of the same run, else start an
        empty one. Changes are reported against the table the swap will replace."""
        stage = ev.stage_table_name(load.table)
        plan = ev.plan_replacement(load.stream, self.columns_of(load.table), load.columns, TYPES)
        staged = self.columns_of(stage)
        if staged is not None and self._resumable(load):
            self._apply_evolution(
                stage, ev.plan_evolution(load.stream, staged, load.columns, TYPES)
            )
            return stage, plan.changes
        if staged is not None:
            self.execute(f"DROP TABLE {self.table(stage)}")
        self._create_table(stage, plan.columns, ())
        self._set_removed(stage, plan.removed, True)
        return stage, plan.changes

    def _resumable(self, load: StreamLoad) -> bool:
        row = self.execute(
            f"SELECT run_id, complete FROM {self.table(ev.STATE_TABLE)} WHERE stream = $1",
            (load.stream,),
        ).fetchone()
        return row is not None and row[0] == load.run_id and not row[1]

    def _create_table(self, table: str, columns: list[tuple[str, str]], key: Sequence[str]) -> None:
        parts = [f"{ev.quote_ident(name)} {sql}" for name, sql in columns]
        parts.append(f"{ev.quote_ident(ev.SYNCED_AT)} TIMESTAMPTZ DEFAULT current_timestamp")
        if key:
            parts.append(f"PRIMARY KEY ({ev.column_list(key)})")
        self.execute(f"CREATE TABLE {self.table(table)} ({', '.join(parts)})")

    def _apply_evolution(self, table: str, plan: ev.EvolutionPlan) -> None:
        target = self.table(table)
        for name, sql in plan.add:
            self.execute(f"ALTER TABLE {target} ADD COLUMN {ev.quote_ident(name)} {sql}")
        if plan.retype or plan.drop_not_null:
            if self._alter_blocked(table, plan):
                self._rebuild(table, dict(plan.retype), set(plan.drop_not_null))
            else:
                self._alter_columns(target, plan)
        self._set_removed(table, plan.mark_removed, True)
        self._set_removed(table, plan.unmark_removed, False)

    def _alter_columns(self, target: str, plan: ev.EvolutionPlan) -> None:
        for name, sql in plan.retype:
            column = ev.quote_ident(name)
            self.execute(
                f"ALTER TABLE {target} ALTER COLUMN {column} "
                f"SET DATA TYPE {sql} USING CAST({column} AS {sql})"
            )
        for name in plan.drop_not_null:
            self.execute(f"ALTER TABLE {target} ALTER COLUMN {ev.quote_ident(name)} DROP NOT NULL")

    def _alter_blocked(self, table: str, plan: ev.EvolutionPlan) -> bool:
        """DuckDB refuses to alter a column's type or nullability while the table has an
        index, and the type of a key column at all."""
        if self._index_sql(table):
            return True
        touched = {name.lower() for name, _ in plan.retype} | {
            n.lower() for n in plan.drop_not_null
        }
        return any(touched & {c.lower() for c in columns} for _, columns in self._keys(table))

    def _rebuild(self, table: str, retype: dict[str, str], loosen: set[str]) -> None:
        """Copy the table into a new one with the changed column types and nullability, keys,
        defaults, comments and indexes carried over, then put it in the old one's place; all
        in the caller's transaction. Used where DuckDB cannot ALTER in place."""
        columns = self.execute(
            "SELECT column_name, data_type, is_nullable, column_default, comment "
            f"FROM duckdb_columns() WHERE {self._catalog_filter()} ORDER BY column_index",
            (self.namespace, table),
        ).fetchall()
        indexes = self._index_sql(table)
        keys = [(kind, cols) for kind, cols in self._keys(table) if not loosen & set(cols)]
        parts = []
        for name, sql_type, nullable, default, _ in columns:
            part = f"{ev.quote_ident(name)} {retype.get(name, sql_type)}"
            if not nullable and name not in loosen:
                part += " NOT NULL"
            if default is not None:
                part += f" DEFAULT {default}"
            parts.append(part)
        parts += [f"{kind} ({ev.column_list(cols)})" for kind, cols in keys]
        interim = ev.short_name("_landed_rebuild_", table)
        names = [name for name, *_ in columns]
        casts = ", ".join(
            f"CAST({ev.quote_ident(n)} AS {retype[n]})" if n in retype else ev.quote_ident(n)
            for n in names
        )
        self.execute(f"CREATE TABLE {self.table(interim)} ({', '.join(parts)})")
        self.execute(
            f"INSERT INTO {self.table(interim)} ({ev.column_list(names)}) "
            f"SELECT {casts} FROM {self.table(table)}"
        )
        self.execute(f"DROP TABLE {self.table(table)}")
        self.execute(f"ALTER TABLE {self.table(interim)} RENAME TO {ev.quote_ident(table)}")
        for _, create in indexes:
            self.execute(create)
        for name, _, _, _, comment in columns:
            if comment:
                self.execute(
                    f"COMMENT ON COLUMN {self.table(table)}.{ev.quote_ident(name)} "
                    f"IS {ev.sql_literal(comment)}"
                )

    def _set_removed(self, table: str, names: Sequence[str], removed: bool) -> None:
        comment = ev.sql_literal(ev.REMOVED_MARK) if removed else "NULL"
        for name in names:
            self.execute(
                f"COMMENT ON COLUMN {self.table(table)}.{ev.quote_ident(name)} IS {comment}"
            )

    def _ensure_unique(self, load: StreamLoad, key: Sequence[str]) -> None:
        """A primary key on the key columns (ON CONFLICT needs one), unless the table has a
        matching key. A table whose primary key is on other columns gets a unique index
        instead (DuckDB allows one primary key)."""
        wanted = {k.lower() for k in key}
        existing = self._keys(load.table)
        if any({c.lower() for c in cols} == wanted for _, cols in existing):
            return
        index = ev.short_name("_landed_key_", f"{load.table}_{'_'.join(key)}")
        if any(name.lower() == index.lower() for name, _ in self._index_sql(load.table)):
            return
        if any(kind == "PRIMARY KEY" for kind, _ in existing):
            statement = (
                f"CREATE UNIQUE INDEX {ev.quote_ident(index)} "
                f"ON {self.table(load.table)} ({ev.column_list(key)})"
            )
        else:
            statement = (
                f"ALTER TABLE {self.table(load.table)} ADD PRIMARY KEY ({ev.column_list(key)})"
            )
        try:
            self.execute(statement)
        except duckdb.ConstraintException as exc:
            raise ConfigError(
                f"Table {load.table!r} holds duplicate or missing values of the key "
                f"({', '.join(key)}), so it cannot be merged into; run an overwrite first.",
                stream=load.stream,
            ) from exc


class DuckDBStreamLoader(StreamLoader):
    """Writes one stream's batches, each with its state in one transaction."""

    def __init__(
        self,
        loader: DuckDBLoader,
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

    def write(self, records: pa.RecordBatch, state: dict[str, Any] | None) -> LoadResult:
        if self._finished:
            raise ConfigError("The stream is already finished.", stream=self.load.stream)
        batch = ev.normalize_batch(records, self.load.stream, set(self.columns))
        loader = self.loader
        with loader.transaction(self.load.stream):
            if batch.num_rows:
                if self.load.load_mode == "merge":
                    self._merge(batch)
                else:
                    self._insert(batch)
            loader.save_state(self.load.stream, state, self.load.run_id, complete=False)
        return LoadResult(rows=records.num_rows, bytes=records.nbytes)

    def finish(self, state: dict[str, Any] | None) -> None:
        """Mark the stream complete; an overwrite swaps its staging table in, in the same
        transaction, so readers see the old table until the new one is whole."""
        if self._finished:
            raise ConfigError("The stream is already finished.", stream=self.load.stream)
        loader = self.loader
        with loader.transaction(self.load.stream):
            if self.load.load_mode == "overwrite":
                loader.execute(f"DROP TABLE IF EXISTS {loader.table(self.load.table)}")
                loader.execute(
                    f"ALTER TABLE {loader.table(self.write_table)} "
                    f"RENAME TO {ev.quote_ident(self.load.table)}"
                )
            loader.save_state(self.load.stream, state, self.load.run_id, complete=True)
        self._finished = True

    def _insert(self, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        with self._registered(batch) as view:
            self.loader.execute(
                f"INSERT INTO {self.loader.table(self.write_table)} ({ev.column_list(names)}) "
                f"SELECT {self._casts(names)} FROM {view}"
            )

    def _merge(self, batch: pa.RecordBatch) -> None:
        """Upsert by key. DISTINCT ON keeps, per key, the row with the highest batch row
        number: the last occurrence wins (DuckDB also refuses to update a row twice in one
        statement, so the batch must be free of duplicates anyway)."""
        names = batch.schema.names
        numbered = batch.append_column(ev.ROW_NUMBER, ev.row_numbers(batch.num_rows))
        key = ev.column_list(self.load.primary_key)
        synced = ev.quote_ident(ev.SYNCED_AT)
        updates = [
            f"{ev.quote_ident(n)} = EXCLUDED.{ev.quote_ident(n)}"
            for n in [*names, ev.SYNCED_AT]
            if n not in self.load.primary_key
        ]
        with self._registered(numbered) as view:
            self.loader.execute(
                f"INSERT INTO {self.loader.table(self.write_table)} "
                f"({ev.column_list(names)}, {synced}) "
                f"SELECT DISTINCT ON ({key}) {ev.column_list(names)}, current_timestamp FROM ("
                f"SELECT {self._casts(names)}, {ev.ROW_NUMBER} FROM {view}) AS b "
                f"ORDER BY {key}, {ev.ROW_NUMBER} DESC "
                f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"
            )

    @contextmanager
    def _registered(self, batch: pa.RecordBatch) -> Iterator[str]:
        """The batch as a view DuckDB scans in place (zero-copy Arrow)."""
        view = self.loader.view
        self.loader.connection.register(view, batch)
        try:
            yield ev.quote_ident(view)
        finally:
            # An aborted transaction refuses this; the next register replaces the view.
            with suppress(duckdb.Error):
                self.loader.connection.unregister(view)

    def _casts(self, names: Sequence[str]) -> str:
        return ", ".join(
            f"CAST({ev.quote_ident(n)} AS {self.columns[n]}) AS {ev.quote_ident(n)}" for n in names
        )
