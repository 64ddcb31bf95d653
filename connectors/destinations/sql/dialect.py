"""The SQL a destination's dialect spells differently: the text half of the loader's hooks.

`SqlDialect` turns what the shared loader (`connectors.destinations.sql.loader`) does into
statements. It is stateless and never touches a connection: it takes already-qualified table
names and returns SQL text. The defaults are the spelling PostgreSQL and DuckDB share (ANSI
double-quoted identifiers and `CAST`, `$1` numbered parameters, `INSERT ... ON CONFLICT` upserts,
`DISTINCT ON`); a destination overrides only what its database spells otherwise. A
warehouse without `ON CONFLICT` (Snowflake, BigQuery) overrides `upsert_state` and `merge` with
a `MERGE` statement; one with other parameters (MySQL's `%s`) overrides `param`.

Type names come from the dialect's `types` (`connectors.destinations.sql.evolution.TypeDialect`),
spelled as the database's catalog reports them, so that schema evolution compares them as strings.
"""

# SQL here is built from identifiers that pass through `quote` and from SQL type names of our
# own; every value travels as a bound parameter or through Arrow.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connectors.destinations.sql.evolution import TypeDialect
from connectors.destinations.sql.identifiers import ROW_NUMBER, SYNCED_AT, quote_ident, sql_literal
from connectors.framework.types import Column


class SqlDialect:
    """How one database spells the loader's statements. Subclasses set `types`, `timestamptz`
    and, where it differs, `now`."""

    types: TypeDialect
    # The type of Landed's own timestamps (`_landed_synced_at`, the state's `updated_at`).
    timestamptz: str
    # The load's timestamp, as the database spells the transaction's start time.
    now: str = "current_timestamp"

    # --- Names and expressions -------------------------------------------------------------
    def quote(self, name: str) -> str:
        """An identifier, quoted (refusing empty names and NUL)."""
        return quote_ident(name)

    def column_list(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def param(self, position: int) -> str:
        """The placeholder of the statement's `position`-th bound parameter (from 1)."""
        return f"${position}"

    def cast(self, expression: str, sql_type: str) -> str:
        return f"CAST({expression} AS {sql_type})"

    def json_from_text(self, expression: str) -> str:
        """JSON text (a bound parameter) as a value of the state table's JSON column."""
        return self.cast(expression, self.types.render(Column("", "json")))

    def json_to_text(self, expression: str) -> str:
        """A JSON column's value as text, to be parsed by Python."""
        return self.cast(expression, self.types.text_type)

    def casts(
        self, names: Sequence[str], sql_types: Mapping[str, str], *, row_type: str | None = None
    ) -> str:
        """The select list that converts staged columns to the target columns' types.
        `row_type` is the table written into (a dialect may convert through its row type)."""
        return ", ".join(
            f"{self.cast(self.quote(n), sql_types[n])} AS {self.quote(n)}" for n in names
        )

    # --- DDL -------------------------------------------------------------------------------
    def create_schema(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {schema}"

    def create_state_table(self, table: str) -> str:
        """The table holding each stream's state, committed with the stream's rows."""
        text, timestamptz = self.types.text_type, self.timestamptz
        json, boolean = (self.types.render(Column("", t)) for t in ("json", "boolean"))
        return (
            f"CREATE TABLE IF NOT EXISTS {table} ("
            f"stream {text} PRIMARY KEY, state {json}, run_id {text}, "
            f"complete {boolean} NOT NULL DEFAULT false, "
            f"updated_at {timestamptz} NOT NULL DEFAULT {self.now})"
        )

    def synced_at_column(self) -> str:
        """The type and default of the audit column every Landed table has."""
        return f"{self.timestamptz} DEFAULT {self.now}"

    def create_table(
        self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str]
    ) -> str:
        parts = [f"{self.quote(name)} {sql}" for name, sql in columns]
        parts.append(f"{self.quote(SYNCED_AT)} {self.synced_at_column()}")
        if key:
            parts.append(f"PRIMARY KEY ({self.column_list(key)})")
        return f"CREATE TABLE {table} ({', '.join(parts)})"

    def add_column(self, table: str, column: str, sql_type: str) -> str:
        return f"ALTER TABLE {table} ADD COLUMN {self.quote(column)} {sql_type}"

    def retype_column(self, table: str, column: str, sql_type: str) -> str:
        """Change a column's type in place, converting every value."""
        quoted = self.quote(column)
        return (
            f"ALTER TABLE {table} ALTER COLUMN {quoted} "
            f"SET DATA TYPE {sql_type} USING {self.cast(quoted, sql_type)}"
        )

    def drop_not_null(self, table: str, column: str) -> str:
        return f"ALTER TABLE {table} ALTER COLUMN {self.quote(column)} DROP NOT NULL"

    def comment_column(self, table: str, column: str, comment: str | None) -> str:
        """Set (or, for None, clear) a column's comment: where the removed mark is kept."""
        text = sql_literal(comment) if comment is not None else "NULL"
        return f"COMMENT ON COLUMN {table}.{self.quote(column)} IS {text}"

    def drop_table(self, table: str, *, if_exists: bool = False) -> str:
        return f"DROP TABLE {'IF EXISTS ' if if_exists else ''}{table}"

    def rename_table(self, table: str, new_name: str) -> str:
        """Rename within the table's schema (`new_name` is unqualified)."""
        return f"ALTER TABLE {table} RENAME TO {self.quote(new_name)}"

    # --- Writes ----------------------------------------------------------------------------
    def upsert_state(self, table: str) -> str:
        """Insert or replace a stream's state row; parameters: stream, state as JSON text,
        run id, complete."""
        p = self.param
        return (
            f"INSERT INTO {table} (stream, state, run_id, complete, updated_at) "
            f"VALUES ({p(1)}, {self.json_from_text(p(2))}, {p(3)}, {p(4)}, {self.now}) "
            "ON CONFLICT (stream) DO UPDATE SET state = EXCLUDED.state, "
            "run_id = EXCLUDED.run_id, complete = EXCLUDED.complete, "
            "updated_at = EXCLUDED.updated_at"
        )

    def insert_select(
        self, table: str, names: Sequence[str], sql_types: Mapping[str, str], source: str
    ) -> str:
        """Append every staged row, converted to the target's column types."""
        return (
            f"INSERT INTO {table} ({self.column_list(names)}) "
            f"SELECT {self.casts(names, sql_types, row_type=table)} FROM {source}"
        )

    def merge(
        self,
        table: str,
        names: Sequence[str],
        sql_types: Mapping[str, str],
        key: Sequence[str],
        source: str,
        *,
        convert: bool = True,
    ) -> str:
        """Upsert the staged rows by `key`. `source` carries the batch's row order in
        `ROW_NUMBER`; of the rows sharing a key, the last one wins (DISTINCT ON keeps the
        highest row number), and the audit column is set to the load's time. Without
        `convert`, the staged columns already have the target's types."""
        keys = self.column_list(key)
        columns = self.column_list(names)
        synced = self.quote(SYNCED_AT)
        updates = [
            f"{self.quote(n)} = EXCLUDED.{self.quote(n)}"
            for n in [*names, SYNCED_AT]
            if n not in key
        ]
        return (
            f"INSERT INTO {table} ({columns}, {synced}) "
            f"SELECT DISTINCT ON ({keys}) {columns}, {self.now} FROM ("
            f"SELECT {self.casts(names, sql_types, row_type=table) if convert else columns}, "
            f"{ROW_NUMBER} "
            f"FROM {source}) AS b "
            f"ORDER BY {keys}, {ROW_NUMBER} DESC "
            f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(updates)}"
        )
