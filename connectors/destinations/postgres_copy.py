"""The PostgreSQL destination's pass-through path: loading a PostgreSQL source's binary COPY
chunks as they are (`connectors.framework.passthrough`), with the same exactly-once rule and
load modes as its Arrow batches.

ADBC takes Arrow only, so these loads go through a psycopg connection of the loader's own,
opened on the first chunk. Each chunk is one transaction on it holding the rows and the
stream's state: `COPY table (columns) FROM STDIN (FORMAT binary)` for an append, an overwrite's
staging table and a merge into a table that started empty; for a merge, a temporary table of
the target's column types, then the shared loader's upsert (the last occurrence of a key in a
chunk winning, as chunks are read in order). The loader's other work (the table's DDL,
`finish` and its swap) stays on the ADBC connection, whose transactions are all committed
before a chunk is written.

The data is valid only for columns of exactly the types the source's values are in:
`refusal` checks the table written into (numeric precision may be wider: numeric's binary
format carries its own scale).
"""

# SQL here is built from identifiers that pass through quote_ident and from SQL type names
# read from the catalog; every value travels as a bound parameter or in the COPY data.

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from connectors.destinations.sql.dialect import SqlDialect
from connectors.destinations.sql.identifiers import (
    ROW_NUMBER,
    STATE_TABLE,
    column_list,
    quote_ident,
)
from connectors.destinations.sql.loader import state_document
from connectors.framework.passthrough import CopyChunk, CopyOffer

STAGE_TABLE = "_landed_copy_batch"  # the per-transaction temporary table of a merged chunk


def refusal(offer: CopyOffer, columns: Mapping[str, str]) -> str | None:
    """Why the table whose columns are `columns` (name -> SQL type) cannot take `offer`'s
    binary data as it is; None when it can."""
    for column in offer.columns:
        target = columns.get(column.name)
        if target is None:
            return f"Column {column.name!r} is not in the destination table."
        if target == column.postgres_type or _both_numeric(target, column.postgres_type):
            continue
        return (
            f"Column {column.name!r} is {target} in the destination and "
            f"{column.postgres_type} in the source: its values are converted on the Arrow path."
        )
    return None


def _both_numeric(a: str, b: str) -> bool:
    return a.split("(")[0] == "numeric" and b.split("(")[0] == "numeric"


def connect(conninfo: str) -> psycopg.Connection[Any]:
    """A raw-cursor connection (`$1` placeholders, as the dialect writes them), in autocommit
    mode: each chunk opens its own transaction."""
    return psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.RawCursor)


class CopyWriter:
    """Writes one stream's chunks into `table` (qualified) through `conn`."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        dialect: SqlDialect,
        *,
        schema: str,
        table: str,
        columns: Mapping[str, str],
        stream: str,
        run_id: str,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.schema = schema
        self.table = table
        self.columns = columns
        self.stream = stream
        self.run_id = run_id

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self.conn.transaction():
            yield self.conn

    def insert(self, chunk: CopyChunk, names: Sequence[str], state: dict[str, Any] | None) -> None:
        """The chunk appended to the table, with the state, in one transaction."""
        with self.transaction() as conn:
            self._copy(conn, self.table, names, chunk.data)
            self._save_state(conn, state)

    def merge(
        self,
        chunk: CopyChunk,
        names: Sequence[str],
        key: Sequence[str],
        state: dict[str, Any] | None,
    ) -> None:
        """The chunk upserted by `key` through a temporary table, with the state, in one
        transaction."""
        stage = f"pg_temp.{quote_ident(STAGE_TABLE)}"
        definitions = [f"{quote_ident(n)} {self.columns[n]}" for n in names]
        definitions.append(f"{ROW_NUMBER} bigint GENERATED ALWAYS AS IDENTITY")
        with self.transaction() as conn:
            conn.execute(
                f"CREATE TEMPORARY TABLE {quote_ident(STAGE_TABLE)} "
                f"({', '.join(definitions)}) ON COMMIT DROP"
            )
            self._copy(conn, stage, names, chunk.data)
            conn.execute(
                self.dialect.merge(self.table, names, self.columns, key, stage, convert=False)
            )
            self._save_state(conn, state)

    def _copy(
        self,
        conn: psycopg.Connection[Any],
        table: str,
        names: Sequence[str],
        data: bytes | bytearray,
    ) -> None:
        statement = f"COPY {table} ({column_list(names)}) FROM STDIN (FORMAT binary)"
        with conn.cursor().copy(statement) as copy:
            copy.write(data)

    def _save_state(self, conn: psycopg.Connection[Any], state: dict[str, Any] | None) -> None:
        conn.execute(
            self.dialect.upsert_state(f"{self.schema}.{quote_ident(STATE_TABLE)}"),
            (self.stream, state_document(state, self.stream), self.run_id, False),
        )
