"""Reading a PostgreSQL stream as binary COPY chunks, for a PostgreSQL destination that loads
them as they are (`connectors.framework.passthrough`).

Each chunk is one `COPY (SELECT ... WHERE (order) > (last) ORDER BY order LIMIT n) TO STDOUT
(FORMAT binary)`: bounded by keys, so that the state after it is a resume point, as the Arrow
read's states are (the same `{"after": [...]}` / `{"cursor": [...]}`, so a read resumed on
either path goes on from a state the other wrote). The chunk's last key is decoded from its
last row (psycopg's binary loaders, on the order columns of one row: no per-row Python); data
framed otherwise than expected asks the server instead. An index that leads with the read's
order keeps each chunk an index range scan rather than a sort of the rest of the table, which
is why an offer needs one. Every chunk of a read runs in one REPEATABLE READ transaction: the
read sees one snapshot, as the Arrow path's single query does.

The resume values travel as session settings, read back with `current_setting()` cast to each
column's type, as for the Arrow path (see the package docstring): no value is ever formatted
into SQL.

The data is read with libpq's non-blocking `PQgetCopyData`, one call per row and no decoding,
waiting on the socket (which releases the GIL) between network reads.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.errors import error_from_result

from connectors.framework.base import ConnectorError, ReadRequest
from connectors.framework.passthrough import CopyChunk, CopyColumn, CopyOffer, CopyRefused
from connectors.sources.postgres.catalog import PostgresColumn, PostgresRelation
from connectors.sources.postgres.read_plan import (
    RESUME_SETTING,
    _parameter_text,
    _where_clause,
)
from connectors.sources.sql.keyset import is_tie_safe, jsonable, order_columns, resume_values
from connectors.sources.sql.read_plan import live_order

# Whether a valid, non-partial btree index begins with the given columns, in order.
_ORDER_INDEX_SQL = """
SELECT EXISTS (
    SELECT FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = to_regclass(%(table)s) AND i.indisvalid AND i.indpred IS NULL
      AND am.amname = 'btree'
      AND (i.indkey::int2[])[0:cardinality(%(columns)s::text[]) - 1] = ARRAY(
          SELECT a.attnum FROM unnest(%(columns)s::text[]) WITH ORDINALITY AS k(name, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = k.name
          ORDER BY k.ord)::int2[]
)
"""


@dataclass(frozen=True)
class CopyReadPlan:
    """The statements of a chunked COPY read, and how its states are written."""

    stream: str
    relation: PostgresRelation
    order: tuple[PostgresColumn, ...]
    qualified: tuple[sql.Identifier, ...]  # the order columns, qualified by the table
    columns: tuple[str, ...]  # the offer's columns, in COPY order
    state_key: str
    cursor_not_null: bool
    batch_rows: int

    @classmethod
    def build(
        cls, relation: PostgresRelation, request: ReadRequest, offer: CopyOffer
    ) -> CopyReadPlan:
        key_names, state_key = order_columns(request)
        if state_key is None:
            raise CopyRefused(
                "The stream has no primary key: chunks of its rows have no key to resume after."
            )
        return cls(
            stream=request.stream.name,
            relation=relation,
            order=tuple(live_order(relation, request.stream, key_names)),
            qualified=tuple(
                sql.Identifier(relation.schema, relation.name, name) for name in key_names
            ),
            columns=tuple(offer.names),
            state_key=state_key,
            cursor_not_null=state_key == "cursor",
            batch_rows=max(1, request.batch_rows),
        )

    def _table(self) -> sql.Composable:
        return sql.Identifier(self.relation.schema, self.relation.name)

    def _after(self, resumed: bool) -> sql.Composable:
        where, _ = _where_clause(
            list(self.qualified),
            list(self.order),
            [None] * len(self.order) if resumed else None,
            cursor_not_null=self.cursor_not_null,
        )
        return where

    @property
    def key_positions(self) -> tuple[int, ...]:
        """Where the order columns are among the COPY data's columns."""
        return tuple(self.columns.index(c.name) for c in self.order)

    def copy_sql(self, resumed: bool) -> bytes:
        """The next chunk: at most `batch_rows` rows after the resume point, in order."""
        query = sql.SQL(
            "COPY (SELECT {columns} FROM {table}{where} ORDER BY {keys} LIMIT {rows}) "
            "TO STDOUT (FORMAT binary)"
        ).format(
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
            table=self._table(),
            where=self._after(resumed),
            keys=sql.SQL(", ").join(self.qualified),
            rows=sql.Literal(self.batch_rows),
        )
        return query.as_bytes(None)

    def last_key_sql(self, resumed: bool, rows: int) -> bytes:
        """The order columns of the chunk's last row (its `rows`-th), from the server: for
        data whose last row cannot be read (see `last_key`)."""
        keys = sql.SQL(", ").join(self.qualified)
        query = sql.SQL("SELECT {keys} FROM {table}{where} ORDER BY {keys} OFFSET {skip} LIMIT 1")
        return query.format(
            keys=keys, table=self._table(), where=self._after(resumed), skip=sql.Literal(rows - 1)
        ).as_bytes(None)


def copy_offer(
    conn: psycopg.Connection[Any], relation: PostgresRelation, request: ReadRequest
) -> CopyOffer:
    """The stream as binary COPY data, or CopyRefused saying why the Arrow path reads it."""
    stream = request.stream
    key_names, state_key = order_columns(request)
    if state_key is None:
        raise CopyRefused(
            "The stream has no primary key: chunks of its rows have no key to resume after."
        )
    if is_tie_safe(request, state_key, key_names):
        raise CopyRefused(
            "An incremental read without a primary key keeps equal cursor values together, "
            "which chunks bounded by key cannot."
        )
    columns: list[CopyColumn] = []
    for column in stream.columns:
        live = relation.column(column.name)
        if live is None:
            raise CopyRefused(f"Column {column.name!r} no longer exists upstream.")
        if live.postgres_type is None:
            raise CopyRefused(
                f"Column {column.name!r} is of type {live.source_type}, which is not built into "
                "PostgreSQL: it is read as text."
            )
        if live.postgres_type != column.postgres_type:
            raise CopyRefused(f"Column {column.name!r} changed type since it was discovered.")
        columns.append(CopyColumn(column.name, live.postgres_type))
    live_order(relation, stream, key_names)  # the order columns exist (ConfigError if not)
    table = sql.Identifier(relation.schema, relation.name).as_string(conn)
    indexed = conn.execute(_ORDER_INDEX_SQL, {"table": table, "columns": key_names}).fetchone()
    if not indexed or not indexed[0]:
        raise CopyRefused(
            f"No index begins with the read's order ({', '.join(key_names)}): every chunk "
            "would scan the table."
        )
    return CopyOffer(stream=stream.name, columns=tuple(columns))


def snapshot_connection(conninfo: str) -> psycopg.Connection[Any]:
    """A connection whose statements all run in one read-only REPEATABLE READ transaction
    (the catalog reads of a read's plan included): one snapshot for the whole read."""
    conn = psycopg.connect(conninfo, autocommit=False)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def read_chunks(
    conn: psycopg.Connection[Any], plan: CopyReadPlan, request: ReadRequest
) -> Iterator[CopyChunk]:
    """The read's chunks, each with the state after it, on a `snapshot_connection` (which
    the caller closes)."""
    resume = resume_values(request.state, plan.state_key, [c.name for c in plan.order], plan.stream)
    conn.execute("SET TIME ZONE 'UTC'")
    loaders = _key_loaders(conn, plan.order)
    while True:
        resumed = resume is not None
        if resume is not None:
            _bind(conn, RESUME_SETTING, resume)
        out = copy_out(conn, plan.copy_sql(resumed))
        rows = out.rows
        if rows == 0:
            break
        key = last_key(out.tail, plan.key_positions, loaders)
        if key is None:
            key = conn.execute(plan.last_key_sql(resumed, rows)).fetchone()
            if key is None:
                raise ConnectorError(
                    "The chunk's last row is gone from the read's snapshot.", stream=plan.stream
                )
        values = [jsonable(v) for v in key]
        yield CopyChunk(
            data=out.data, rows=rows, state={plan.state_key: values}, columns=plan.columns
        )
        if rows < plan.batch_rows:  # the last chunk
            break
        resume = values
    conn.rollback()  # read only: nothing to keep


# Binary COPY framing: the file header starts the data, a field count of -1 ends it.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TRAILER = b"\xff\xff"
_HEADER_FIXED = len(_SIGNATURE) + 8  # the signature, flags and the extension's length

Loader = Callable[[Any], Any]


def _key_loaders(conn: psycopg.Connection[Any], order: tuple[PostgresColumn, ...]) -> list[Loader]:
    """psycopg's binary loader of each order column's base type (a missing one: the last key
    is asked of the server)."""
    loaders: list[Loader] = []
    for column in order:
        loader = conn.adapters.get_loader(column.base_oid, pq.Format.BINARY)
        if loader is None:
            return []
        loaders.append(loader(column.base_oid, conn).load)
    return loaders


def last_key(
    tail: list[Any], positions: tuple[int, ...], loaders: list[Loader]
) -> list[Any] | None:
    """The order columns of the data's last row, decoded from its binary form; None when the
    data is not framed as expected (the server sends each row as a message of its own, the file
    header with the first and the trailer alone) or a column has no loader."""
    if not tail or not loaders:
        return None
    last = bytes(tail[-1])
    if last == _TRAILER:
        if len(tail) < 2:
            return None
        last = bytes(tail[-2])
    if last.startswith(_SIGNATURE) and len(last) >= _HEADER_FIXED:
        extension = int.from_bytes(last[_HEADER_FIXED - 4 : _HEADER_FIXED], "big")
        last = last[_HEADER_FIXED + extension :]
    fields = _fields(last)
    if fields is None and last.endswith(_TRAILER):
        fields = _fields(last[: -len(_TRAILER)])
    if fields is None or max(positions) >= len(fields):
        return None
    values = []
    for position, load in zip(positions, loaders, strict=True):
        field = fields[position]
        if field is None:  # a key column is never NULL; this is not the row we think
            return None
        values.append(load(field))
    return values


def _fields(row: bytes) -> list[bytes | None] | None:
    """The fields of one binary COPY tuple that `row` holds exactly, or None."""
    if len(row) < 2:
        return None
    count = int.from_bytes(row[:2], "big", signed=True)
    offset, fields = 2, []
    for _ in range(max(count, 0)):
        if offset + 4 > len(row):
            return None
        size = int.from_bytes(row[offset : offset + 4], "big", signed=True)
        offset += 4
        if size < 0:
            fields.append(None)
            continue
        fields.append(row[offset : offset + size])
        offset += size
    return fields if count >= 0 and offset == len(row) else None


def _bind(conn: psycopg.Connection[Any], setting: str, values: list[Any]) -> None:
    """Set the session's `setting` values (1..n) to the text forms of `values`."""
    calls = sql.SQL(", ").join(
        sql.SQL("set_config({}, %s, false)").format(sql.Literal(setting.format(i + 1)))
        for i in range(len(values))
    )
    conn.execute(sql.SQL("SELECT ") + calls, [_parameter_text(v) for v in values])


@dataclass
class CopyOut:
    """The output of one `COPY ... TO STDOUT`: its data, the last two messages the server sent
    (where the last row is: see `last_key`) and its row count."""

    data: bytearray
    tail: list[Any]
    rows: int


def copy_out(conn: psycopg.Connection[Any], statement: bytes) -> CopyOut:
    """Run `COPY ... TO STDOUT` and collect its output. Each message is copied into one buffer
    at once: holding a million message objects until the end would cost far more (the garbage
    collector walks them over and over) than the copy."""
    pgconn = conn.pgconn
    pgconn.send_query(statement)  # raises OperationalError when it cannot be sent
    result = _next_result(pgconn)
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        _raise_result(conn, result)
    data = bytearray()
    previous: Any = None
    latest: Any = None
    get_copy_data = pgconn.get_copy_data
    while True:
        size, message = get_copy_data(1)
        if size > 0:
            data += message
            previous, latest = latest, message
        elif size == 0:  # nothing buffered: wait for the server, releasing the GIL
            _wait_readable(pgconn)
            pgconn.consume_input()
        elif size == -1:
            break
        else:
            raise psycopg.OperationalError(pgconn.get_error_message())
    result = _next_result(pgconn)
    rows = result.command_tuples if result is not None else None
    if result is None or result.status != pq.ExecStatus.COMMAND_OK:
        _raise_result(conn, result)
    while _next_result(pgconn) is not None:
        pass
    tail = [m for m in (previous, latest) if m is not None]
    return CopyOut(data=data, tail=tail, rows=int(rows or 0))


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """The next result, waiting for it on the socket rather than blocking in libpq."""
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            return pgconn.get_result()
        _wait_readable(pgconn)


def _wait_readable(pgconn: pq.abc.PGconn) -> None:
    select.select([pgconn.socket], [], [])


def _raise_result(conn: psycopg.Connection[Any], result: pq.abc.PGresult | None) -> None:
    while conn.pgconn.get_result() is not None:  # leave the connection ready to roll back
        pass
    if result is None:
        raise psycopg.OperationalError(conn.pgconn.get_error_message())
    raise error_from_result(result, encoding=conn.info.encoding)
