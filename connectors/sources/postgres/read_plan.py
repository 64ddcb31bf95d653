"""The PostgreSQL source's read plan: the SQL of one read (composed with psycopg.sql, never
formatted with values), the statement that binds its resume values, and the state reached
after a batch. See the package docstring for why the values travel through settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from psycopg import sql

from connectors.framework.base import ReadRequest
from connectors.framework.types import MAX_ARROW_DECIMAL_PRECISION, Column, schema_for
from connectors.sources.postgres.casts import NATIVE_TEXT
from connectors.sources.postgres.catalog import PostgresColumn, PostgresRelation
from connectors.sources.sql.keyset import is_tie_safe, jsonable, order_columns, resume_values
from connectors.sources.sql.read_plan import live_order

RESUME_SETTING = "landed.resume_{}"


@dataclass(frozen=True)
class ReadPlan:
    """The SQL of one read and what is needed to turn its output into the stream's schema."""

    stream: str
    sql: str
    bind_sql: str  # binds the resume values (params) for `sql` to read back
    params: tuple[str, ...]
    schema: pa.Schema  # schema_for(request.stream.columns)
    selected: tuple[bool, ...]  # per requested column: read (True) or gone upstream (NULLs)
    key_indices: tuple[int, ...]  # output columns of the state, in order
    state_key: str | None  # "cursor", "after", or None (no resumable order)
    tie_safe: bool  # incremental without a key: batches must not split cursor ties

    @classmethod
    def build(cls, relation: PostgresRelation, request: ReadRequest) -> ReadPlan:
        stream = request.stream
        names = [c.name for c in stream.columns]
        key_names, state_key = order_columns(request)
        order = live_order(relation, stream, key_names)
        live = [relation.column(c.name) for c in stream.columns]
        expressions = [
            _select_expression(c, pg) for c, pg in zip(stream.columns, live, strict=True) if pg
        ]
        resume = resume_values(request.state, state_key, key_names, stream.name)
        # Key columns are qualified: unqualified, ORDER BY would pick the SELECT's `x::text AS x`
        # and sort by the text form rather than the values the WHERE compares.
        qualified = [sql.Identifier(relation.schema, relation.name, name) for name in key_names]
        where, params = _where_clause(
            qualified, order, resume, cursor_not_null=state_key == "cursor"
        )
        query = sql.SQL("SELECT {columns} FROM {table}{where}{order}").format(
            columns=sql.SQL(", ").join(expressions),
            table=sql.Identifier(relation.schema, relation.name),
            where=where,
            order=_order_by(qualified),
        )
        return cls(
            stream=stream.name,
            sql=query.as_string(None),
            bind_sql=_bind_sql(len(params)),
            params=params,
            schema=schema_for(list(stream.columns)),
            selected=tuple(pg is not None for pg in live),
            key_indices=tuple(names.index(name) for name in key_names),
            state_key=state_key,
            tie_safe=is_tie_safe(request, state_key, key_names),
        )

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None:
        """The state once `batch` (the rows up to its last one) is loaded."""
        if self.state_key is None or batch.num_rows == 0:
            return None
        return {self.state_key: [jsonable(batch.column(i)[-1].as_py()) for i in self.key_indices]}


def _select_expression(column: Column, live: PostgresColumn) -> sql.Composable:
    """The SELECT item for `column`: ADBC's own Arrow type where it is already the column's
    (or castable to it in Arrow, as decimals are), the text form otherwise."""
    ident = sql.Identifier(column.name)
    if column.type in ("string", "json", "uuid"):
        if live.is_array:
            return sql.SQL("to_json({0})::text AS {0}").format(ident)
        if live.base_type in NATIVE_TEXT:
            return ident
        return sql.SQL("{0}::text AS {0}").format(ident)
    if column.type == "decimal" and (
        column.precision is None or column.precision > MAX_ARROW_DECIMAL_PRECISION
    ):
        return sql.SQL("{0}::text AS {0}").format(ident)
    return ident


def _where_clause(
    qualified: list[sql.Identifier],
    order: list[PostgresColumn],
    resume: list[Any] | None,
    *,
    cursor_not_null: bool,
) -> tuple[sql.Composable, tuple[str, ...]]:
    """Rows after the resume point (and, incrementally, only rows with a cursor value)."""
    conditions: list[sql.Composable] = []
    if cursor_not_null:
        conditions.append(sql.SQL("{} IS NOT NULL").format(qualified[0]))
    params: tuple[str, ...] = ()
    if resume is not None:
        columns = sql.SQL(", ").join(qualified)
        values = sql.SQL(", ").join(_resume_parameter(c, i + 1) for i, c in enumerate(order))
        conditions.append(sql.SQL("({}) > ({})").format(columns, values))
        params = tuple(_parameter_text(v) for v in resume)
    if not conditions:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), params


def _resume_parameter(column: PostgresColumn, position: int) -> sql.Composable:
    """The resume value `position`, read back from the session and cast to the column's own
    type so the comparison is exact (bytea travels as hex)."""
    setting = sql.SQL("current_setting({})").format(sql.Literal(RESUME_SETTING.format(position)))
    if column.base_type == "bytea":
        return sql.SQL("decode({}, 'hex')").format(setting)
    return sql.SQL("{}::{}").format(setting, sql.SQL(column.source_type))


def _bind_sql(count: int) -> str:
    calls = ", ".join(
        f"set_config('{RESUME_SETTING.format(i)}', ${i}, false)" for i in range(1, count + 1)
    )
    return f"SELECT {calls}"


def _order_by(columns: list[sql.Identifier]) -> sql.Composable:
    if not columns:
        return sql.SQL("")
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(columns)


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
