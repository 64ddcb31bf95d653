"""The loader every SQL destination shares: exactly-once batches, resumable overwrites, merge and
schema evolution, written once over a destination's dialect hooks.

Exactly once: every `write` is one transaction holding the batch's rows and the stream's new
state (a row of `<namespace>._landed_state`), so a crash leaves both or neither. `finish` marks
the stream complete; for an overwrite it also swaps the staging table in, in that transaction,
so readers see the old table until the new one is whole. An overwrite loads into a staging
table; an attempt of the same run that died before `finish` is resumed into that table (its
committed batches are part of this load), any other attempt starts it over. Schema evolution
follows `connectors.destinations.sql.evolution` (see its docstring).

A destination (PostgreSQL, DuckDB; Snowflake, BigQuery, MySQL later) subclasses `SqlLoader` and
`SqlStreamLoader`, sets a `SqlDialect` and implements the connection hooks:

`SqlDialect` (`connectors.destinations.sql.dialect`: the statements' text, no connection)
    `types`, `timestamptz`, `now`  its type names (`TypeDialect`), the type of Landed's own
                         timestamps, and the transaction's time.
    `quote`, `column_list`, `param`, `cast`, `casts`, `json_from_text`, `json_to_text`
                         identifiers, placeholders and conversions.
    `create_schema`, `create_state_table`, `create_table`, `synced_at_column`, `add_column`,
    `retype_column`, `drop_not_null`, `comment_column`, `drop_table`, `rename_table`  DDL.
    `upsert_state`, `insert_select`, `merge`  the writes of a batch and of its state.
  Defaults are the spelling PostgreSQL and DuckDB share; override what differs.

`SqlLoader` (one connection into one namespace, for one sync)
    `dialect`            the `SqlDialect` instance (class attribute).
    `driver_error`       the driver's base exception (class attribute): what `transaction`
                         turns into a ConnectorError, after a rollback.
    `_translate_error(exc, stream)`  that ConnectorError (transient, permission, config...).
    `execute(sql, params)`       run one statement; return something with `fetchone`/`fetchall`.
    `_begin()`, `_commit()`, `_rollback_quietly()`  the transaction's edges (a driver that opens
                         transactions implicitly makes `_begin` a no-op).
    `close()`            release the connection (an open transaction rolls back).
    `columns_of(table)`  the table's columns from the catalog (`ExistingColumn`), None if none.
    `_ensure_unique_key(load, key)`  make sure a merge target has the unique key its upsert
                         needs, refusing (ConfigError) a table whose rows repeat the key.
    `_stream_loader(load, write_table, columns, changes)`  the destination's `SqlStreamLoader`,
                         built inside the transaction that prepared its table (so that it
                         may look at the table).
  and, where the default does not fit:
    `_open_session()`    what the connection needs before the namespace is ensured (a lock,
                         the catalog's name); nothing by default.
    `schema_name()`, `table(name)`  how names are qualified (default `"namespace"."table"`).
    `_namespace_exists()`, `_state_table_exists()`  whether the namespace / the state table
                         already exist; False by default, so that the idempotent
                         `CREATE ... IF NOT EXISTS` decides (override where creating needs a
                         privilege that an existing object does not).
    `_alter_columns(table, plan)`  retype and loosen columns in place (override where the
                         database cannot, e.g. by rebuilding the table).

`SqlStreamLoader` (one stream's batches)
    `_staged(batch, numbered=...)`  a context manager that bulk-loads the batch where one
                         statement of this transaction can read it (a temporary table filled by
                         COPY, an Arrow scan) and yields that relation's name; with `numbered`
                         it carries the batch's row order in `ROW_NUMBER`.
  and, where the default does not fit:
    `_insert(batch)`, `_merge(batch)`  the append and upsert paths (e.g. a direct COPY into the
                         target that skips the staging table when no column needs converting).
    `_write_batch(batch, state)`  the batch's rows and state in one transaction (e.g. a cheaper
                         first attempt, rolled back whole if it fails).
  Stages (for live progress, `StreamLoader.report_stage`): `write` reports `loading`, or
  `merging` for an upsert; `finish` reports `swapping` for an overwrite, `finishing` otherwise.

The hot path (`write`) builds a handful of statements per batch and does no per-row Python.
"""

# SQL here is built from identifiers that pass through the dialect's `quote` and from SQL type
# names of our own; every value travels as a bound parameter or through Arrow.
# ruff: noqa: S608

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from connectors.destinations.sql.batches import normalize_batch
from connectors.destinations.sql.dialect import SqlDialect
from connectors.destinations.sql.evolution import (
    EvolutionPlan,
    ExistingColumn,
    plan_evolution,
    plan_replacement,
)
from connectors.destinations.sql.identifiers import (
    REMOVED_MARK,
    RESERVED_COLUMNS,
    STATE_TABLE,
    SYNCED_AT,
    quote_ident,
    stage_table_name,
)
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    Loader,
    LoadResult,
    SavedState,
    SchemaChange,
    StreamLoad,
    StreamLoader,
)


class Rows(Protocol):
    """What a driver's `execute` returns: the statement's rows, read once."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


# --- Loads and states ----------------------------------------------------------------------
def validate_load(load: StreamLoad) -> None:
    """Refuse a load the loader cannot honour: no columns, reserved or repeated names, a merge
    without a key, or a key column that is not loaded."""
    names = [c.name for c in load.columns]
    if not names:
        raise ConfigError("A stream needs at least one column.", stream=load.stream)
    for name in names:
        quote_ident(name)
        if name in RESERVED_COLUMNS:
            raise ConfigError(f"Column name {name!r} is reserved by Landed.", stream=load.stream)
    if len(set(names)) != len(names):
        raise ConfigError("Column names must be unique.", stream=load.stream)
    if load.load_mode == "merge" and not load.primary_key:
        raise ConfigError("Merge needs a primary key.", stream=load.stream)
    missing = [k for k in load.primary_key if k not in names]
    if missing:
        raise ConfigError(
            f"Primary key column(s) {', '.join(missing)} are not among the stream's columns.",
            stream=load.stream,
        )


def state_document(state: dict[str, Any] | None, stream: str) -> str | None:
    """The state as strict JSON text (NaN and Infinity refused: the databases' JSON types
    reject them, and a state must read back as it was written)."""
    if state is None:
        return None
    try:
        return json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConnectorError(f"The stream state is not JSON: {exc}", stream=stream) from exc


def duplicate_key_error(load: StreamLoad, key: Sequence[str], problem: str) -> ConfigError:
    """The refusal of a merge into a table whose rows break the key (`problem` says how)."""
    return ConfigError(
        f"Table {load.table!r} holds {problem} of the key ({', '.join(key)}), so it cannot be "
        "merged into; run an overwrite first.",
        stream=load.stream,
    )


# --- Loader --------------------------------------------------------------------------------
class SqlLoader(Loader):
    """One connection into one namespace (schema) for one sync. Writes of all its streams go
    through this connection, one transaction at a time."""

    dialect: ClassVar[SqlDialect]
    driver_error: ClassVar[type[Exception]]

    def __init__(self, connection: Any, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace
        self.schema_changes: list[SchemaChange] = []
        try:
            self._open_session()
            self._ensure_namespace()
        except BaseException:
            self.close()
            raise

    # Connection hooks.
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement in the current transaction."""

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback_quietly(self) -> None:
        """Roll back, ignoring a failure: the caller's error says what went wrong."""

    @abstractmethod
    def _translate_error(self, exc: Exception, stream: str | None) -> ConnectorError:
        """A failed statement (a `driver_error`) as the ConnectorError a user can act on."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; an open transaction is rolled back."""

    @abstractmethod
    def columns_of(self, table: str) -> list[ExistingColumn] | None:
        """The table's columns from the catalog, or None when there is no such table."""

    @abstractmethod
    def _ensure_unique_key(self, load: StreamLoad, key: Sequence[str]) -> None:
        """A unique key on `key` for the merge's upsert, created unless the table has one."""

    def _open_session(self) -> None:
        """Whatever the connection needs before the namespace is ensured."""

    def _namespace_exists(self) -> bool:
        return False

    def _state_table_exists(self) -> bool:
        return False

    # Lifetime.
    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # SQL helpers.
    def schema_name(self) -> str:
        return self.dialect.quote(self.namespace)

    def table(self, name: str) -> str:
        return f"{self.schema_name()}.{self.dialect.quote(name)}"

    @contextmanager
    def transaction(self, stream: str | None = None) -> Iterator[None]:
        """Commit what the block did, or roll it all back and raise a ConnectorError."""
        try:
            self._begin()
        except self.driver_error as exc:
            # A connection the database has given up on refuses even to begin (DuckDB, after
            # a checkpoint met a full disk): the user gets the same words as for a statement,
            # not the driver's exception.
            raise self._translate_error(exc, stream) from exc
        try:
            yield
            self._commit()
        except self.driver_error as exc:
            self._rollback_quietly()
            raise self._translate_error(exc, stream) from exc
        except BaseException:
            self._rollback_quietly()
            raise

    def _ensure_namespace(self) -> None:
        """Create the schema and the state table when missing."""
        with self.transaction():
            if not self._namespace_exists():
                self.execute(self.dialect.create_schema(self.schema_name()))
            if not self._state_table_exists():
                self.execute(self.dialect.create_state_table(self.table(STATE_TABLE)))

    # State.
    def save_state(
        self, stream: str, state: dict[str, Any] | None, run_id: str, complete: bool
    ) -> None:
        """Upsert the stream's state row, inside the caller's transaction."""
        document = state_document(state, stream)
        self.execute(
            self.dialect.upsert_state(self.table(STATE_TABLE)),
            (stream, document, run_id, complete),
        )

    def saved_states(self) -> dict[str, SavedState]:
        with self.transaction():
            rows = self.execute(
                f"SELECT stream, {self.dialect.json_to_text('state')}, run_id, complete "
                f"FROM {self.table(STATE_TABLE)}"
            ).fetchall()
        return {
            stream: SavedState(stream, json.loads(state) if state else None, run_id, complete)
            for stream, state, run_id, complete in rows
        }

    def reset_state(self, stream: str) -> None:
        with self.transaction(stream):
            self.execute(
                f"DELETE FROM {self.table(STATE_TABLE)} WHERE stream = {self.dialect.param(1)}",
                (stream,),
            )

    # Streams.
    def open_stream(self, load: StreamLoad) -> SqlStreamLoader:
        validate_load(load)
        self.dialect.quote(load.table)
        with self.transaction(load.stream):
            if load.load_mode == "overwrite":
                write_table, changes = self._prepare_overwrite(load)
            else:
                write_table, changes = load.table, self._prepare_table(load)
            columns = {c.name: c.sql_type for c in self.columns_of(write_table) or []}
            stream_loader = self._stream_loader(load, write_table, columns, changes)
        self.schema_changes.extend(changes)
        return stream_loader

    @abstractmethod
    def _stream_loader(
        self,
        load: StreamLoad,
        write_table: str,
        columns: dict[str, str],
        changes: list[SchemaChange],
    ) -> SqlStreamLoader:
        """The stream's loader, writing into `write_table` whose columns are `columns`."""

    def _prepare_table(self, load: StreamLoad) -> list[SchemaChange]:
        """Create or evolve an append/merge target; for merge, make sure a unique key on the
        key columns exists (the upsert needs one)."""
        key = load.primary_key if load.load_mode == "merge" else ()
        types = self.dialect.types
        existing = self.columns_of(load.table)
        if existing is None:
            plan = plan_replacement(load.stream, None, load.columns, types)
            self._create_table(load.table, plan.columns, key)
            return plan.changes
        evolution = plan_evolution(load.stream, existing, load.columns, types, key)
        self._apply_evolution(load.table, evolution)
        if SYNCED_AT not in {c.name for c in existing}:
            self.execute(
                self.dialect.add_column(
                    self.table(load.table), SYNCED_AT, self.dialect.synced_at_column()
                )
            )
        if key:
            self._ensure_unique_key(load, key)
        return evolution.changes

    def _prepare_overwrite(self, load: StreamLoad) -> tuple[str, list[SchemaChange]]:
        """Keep the staging table of an unfinished attempt of the same run (its committed
        batches are part of this load), else start an empty one. Changes are reported against
        the table the swap will replace."""
        types = self.dialect.types
        stage = stage_table_name(load.table)
        plan = plan_replacement(load.stream, self.columns_of(load.table), load.columns, types)
        staged = self.columns_of(stage)
        if staged is not None and self._resumable(load):
            self._apply_evolution(stage, plan_evolution(load.stream, staged, load.columns, types))
            return stage, plan.changes
        if staged is not None:
            self.execute(self.dialect.drop_table(self.table(stage)))
        self._create_table(stage, plan.columns, ())
        self._set_removed(stage, plan.removed, True)
        return stage, plan.changes

    def _resumable(self, load: StreamLoad) -> bool:
        row = self.execute(
            f"SELECT run_id, complete FROM {self.table(STATE_TABLE)} "
            f"WHERE stream = {self.dialect.param(1)}",
            (load.stream,),
        ).fetchone()
        return row is not None and row[0] == load.run_id and not row[1]

    def _create_table(self, table: str, columns: list[tuple[str, str]], key: Sequence[str]) -> None:
        self.execute(self.dialect.create_table(self.table(table), columns, key))

    def _apply_evolution(self, table: str, plan: EvolutionPlan) -> None:
        target = self.table(table)
        for name, sql in plan.add:
            self.execute(self.dialect.add_column(target, name, sql))
        if plan.retype or plan.drop_not_null:
            self._alter_columns(table, plan)
        self._set_removed(table, plan.mark_removed, True)
        self._set_removed(table, plan.unmark_removed, False)

    def _alter_columns(self, table: str, plan: EvolutionPlan) -> None:
        """Retype, then loosen, the plan's columns in place."""
        target = self.table(table)
        for name, sql in plan.retype:
            self.execute(self.dialect.retype_column(target, name, sql))
        for name in plan.drop_not_null:
            self.execute(self.dialect.drop_not_null(target, name))

    def _set_removed(self, table: str, names: Sequence[str], removed: bool) -> None:
        comment = REMOVED_MARK if removed else None
        for name in names:
            self.execute(self.dialect.comment_column(self.table(table), name, comment))


class SqlStreamLoader(StreamLoader):
    """Writes one stream's batches, each with its state in one transaction."""

    def __init__(
        self,
        loader: SqlLoader,
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

    @abstractmethod
    def _staged(self, batch: pa.RecordBatch, *, numbered: bool) -> AbstractContextManager[str]:
        """The batch bulk-loaded where this transaction's next statement can read it; yields
        the name to read it by (with `numbered`, carrying `ROW_NUMBER`)."""

    def write(self, records: pa.RecordBatch, state: dict[str, Any] | None) -> LoadResult:
        self._check_open()
        self.report_stage("merging" if self.load.load_mode == "merge" else "loading")
        batch = normalize_batch(records, self.load.stream, set(self.columns))
        self._write_batch(batch, state)
        return LoadResult(rows=records.num_rows, bytes=records.nbytes)

    def _write_batch(self, batch: pa.RecordBatch, state: dict[str, Any] | None) -> None:
        loader = self.loader
        with loader.transaction(self.load.stream):
            if batch.num_rows:
                if self.load.load_mode == "merge":
                    self._merge(batch)
                else:
                    self._insert(batch)
            loader.save_state(self.load.stream, state, self.load.run_id, complete=False)

    def finish(self, state: dict[str, Any] | None) -> None:
        """Mark the stream complete; an overwrite swaps its staging table in, in the same
        transaction, so readers see the old table until the new one is whole."""
        self._check_open()
        overwrite = self.load.load_mode == "overwrite"
        self.report_stage("swapping" if overwrite else "finishing")
        loader = self.loader
        dialect = loader.dialect
        with loader.transaction(self.load.stream):
            if overwrite:
                loader.execute(dialect.drop_table(loader.table(self.load.table), if_exists=True))
                loader.execute(
                    dialect.rename_table(loader.table(self.write_table), self.load.table)
                )
            loader.save_state(self.load.stream, state, self.load.run_id, complete=True)
        self._finished = True

    def _check_open(self) -> None:
        if self._finished:
            raise ConfigError("The stream is already finished.", stream=self.load.stream)

    # Loading paths.
    def _insert(self, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        with self._staged(batch, numbered=False) as source:
            self.loader.execute(
                self.loader.dialect.insert_select(
                    self.loader.table(self.write_table), names, self.columns, source
                )
            )

    def _merge(self, batch: pa.RecordBatch) -> None:
        """Upsert by key, the last occurrence of a key in the batch winning."""
        names = batch.schema.names
        with self._staged(batch, numbered=True) as source:
            self.loader.execute(
                self.loader.dialect.merge(
                    self.loader.table(self.write_table),
                    names,
                    self.columns,
                    self.load.primary_key,
                    source,
                )
            )
