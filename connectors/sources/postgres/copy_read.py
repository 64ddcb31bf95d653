"""Reading a PostgreSQL stream as binary COPY chunks, for a PostgreSQL destination that loads
them as they are (`connectors.framework.passthrough`).

Each chunk is one `COPY (SELECT ... WHERE (order) > (last) AND (order) <= (bound) ORDER BY
order) TO STDOUT (FORMAT binary)`: bounded by keys, so that the state after it is a resume
point, as the Arrow read's states are (the same `{"after": [...]}` / `{"cursor": [...]}`, so a
read resumed on either path goes on from a state the other wrote). The bound is the order
columns of the chunk's last row, read first by an index-only scan of `batch_rows` index entries
(`SELECT order ... ORDER BY order OFFSET n - 1 LIMIT 1`; for the last, partial chunk, the
read's last row), which is why an offer needs an index that leads with the order columns.
Every chunk of a read runs in one REPEATABLE READ transaction: the read sees one snapshot, as
the Arrow path's single query does.

The resume and bound values travel as session settings, read back with `current_setting()`
cast to each column's type, as for the Arrow path (see the package docstring): no value is
ever formatted into SQL.

The data is read with libpq's non-blocking `PQgetCopyData`, one call per row and no decoding,
waiting on the socket (which releases the GIL) between network reads.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.errors import error_from_result

from connectors.framework.base import ReadRequest
from connectors.framework.passthrough import CopyChunk, CopyColumn, CopyOffer, CopyRefused
from connectors.sources.postgres.catalog import PostgresColumn, PostgresRelation
from connectors.sources.postgres.read_plan import (
    RESUME_SETTING,
    _parameter_text,
    _resume_parameter,
    _where_clause,
)
from connectors.sources.sql.keyset import is_tie_safe, jsonable, order_columns, resume_values
from connectors.sources.sql.read_plan import live_order

BOUND_SETTING = "landed.bound_{}"

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

    def bound_sql(self, resumed: bool, *, last: bool = False) -> bytes:
        """The order columns of the next chunk's last row: the `batch_rows`-th row after the
        resume point (an index-only scan of that many entries); with `last`, the read's
        last row (the final, partial chunk). No row: nothing there."""
        keys = sql.SQL(", ").join(self.qualified)
        if last:
            order = sql.SQL(", ").join(sql.SQL("{} DESC").format(k) for k in self.qualified)
            skip = sql.SQL("")
        else:
            order, skip = keys, sql.SQL(" OFFSET {}").format(sql.Literal(self.batch_rows - 1))
        query = sql.SQL("SELECT {keys} FROM {table}{where} ORDER BY {order}{skip} LIMIT 1").format(
            keys=keys, table=self._table(), where=self._after(resumed), order=order, skip=skip
        )
        return query.as_bytes(None)

    def copy_sql(self, resumed: bool) -> bytes:
        """The chunk's rows, after the last chunk's bound up to this one's, in order."""
        bound = sql.SQL(", ").join(
            _resume_parameter(c, i + 1, BOUND_SETTING) for i, c in enumerate(self.order)
        )
        upto = sql.SQL("({}) <= ({})").format(sql.SQL(", ").join(self.qualified), bound)
        # `_after` is empty for the first chunk of a read with no cursor condition.
        joiner = " AND " if resumed or self.cursor_not_null else " WHERE "
        where = self._after(resumed) + sql.SQL(joiner) + upto
        query = sql.SQL(
            "COPY (SELECT {columns} FROM {table}{where} ORDER BY {keys}) TO STDOUT (FORMAT binary)"
        ).format(
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
            table=self._table(),
            where=where,
            keys=sql.SQL(", ").join(self.qualified),
        )
        return query.as_bytes(None)


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


def read_chunks(
    conn: psycopg.Connection[Any], plan: CopyReadPlan, request: ReadRequest
) -> Iterator[CopyChunk]:
    """The read's chunks, each with the state after it, in one snapshot. `conn` is not in
    autocommit mode; the caller closes it."""
    resume = resume_values(request.state, plan.state_key, [c.name for c in plan.order], plan.stream)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute("SET TIME ZONE 'UTC'")
    while True:
        resumed = resume is not None
        if resume is not None:
            _bind(conn, RESUME_SETTING, resume)
        bound = conn.execute(plan.bound_sql(resumed)).fetchone()
        if bound is None:
            bound = conn.execute(plan.bound_sql(resumed, last=True)).fetchone()
            if bound is None:
                break
        values = [jsonable(v) for v in bound]
        _bind(conn, BOUND_SETTING, values)
        data, rows = copy_out(conn, plan.copy_sql(resumed))
        yield CopyChunk(data=data, rows=rows, state={plan.state_key: values}, columns=plan.columns)
        resume = values
    conn.rollback()  # read only: nothing to keep


def _bind(conn: psycopg.Connection[Any], setting: str, values: list[Any]) -> None:
    """Set the session's `setting` values (1..n) to the text forms of `values`."""
    calls = sql.SQL(", ").join(
        sql.SQL("set_config({}, %s, false)").format(sql.Literal(setting.format(i + 1)))
        for i in range(len(values))
    )
    conn.execute(sql.SQL("SELECT ") + calls, [_parameter_text(v) for v in values])


def copy_out(conn: psycopg.Connection[Any], statement: bytes) -> tuple[bytes, int]:
    """Run `COPY ... TO STDOUT` and return its data, whole, and its row count."""
    pgconn = conn.pgconn
    pgconn.send_query(statement)  # raises OperationalError when it cannot be sent
    result = _next_result(pgconn)
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        _raise_result(conn, result)
    parts: list[Any] = []
    get_copy_data = pgconn.get_copy_data
    while True:
        size, data = get_copy_data(1)
        if size > 0:
            parts.append(data)
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
    return b"".join(parts), int(rows or 0)


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
