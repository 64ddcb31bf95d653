"""The MySQL source's read plan: the SQL of one read (the SELECT list in forms ConnectorX
decodes exactly, the keyset order, the resume predicate with the saved state's values written
as literals), and the state reached after a batch."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from connectors.framework.base import ConfigError, ReadRequest
from connectors.framework.types import Column, schema_for
from connectors.sources.mysql.casts import (
    BINARY_TYPES,
    DATE_TYPES,
    GEOMETRY_TYPES,
    NATIVE_DECIMAL_PRECISION,
    NATIVE_DECIMAL_SCALE,
    TEXT_TYPES,
)
from connectors.sources.mysql.catalog import MySQLColumn, MySQLRelation, quote_identifier
from connectors.sources.sql.keyset import is_tie_safe, jsonable, order_columns, resume_values
from connectors.sources.sql.read_plan import live_order

_IDENTIFIER_WORD = re.compile(r"^\w+$")


@dataclass(frozen=True)
class ReadPlan:
    """The SQL of one read and what is needed to turn its output into the stream's schema.

    The SELECT list is the stream's columns, then one hidden column per order column whose
    output value cannot serve as its resume position (an ENUM's index, a zero date's text).
    Internal batches carry the hidden columns after the stream's; `visible` drops them."""

    stream: str
    database: str
    select: str  # SELECT ... FROM ...
    conditions: tuple[str, ...]  # of every page (cursor not NULL, ...)
    order: tuple[str, ...]  # qualified order columns, in order
    order_columns: tuple[MySQLColumn, ...]
    resume: list[Any] | None  # the state's values, to start strictly after
    schema: pa.Schema  # schema_for(request.stream.columns)
    selected: tuple[bool, ...]  # per requested column: read (True) or gone upstream (NULLs)
    key_indices: tuple[int, ...]  # output columns of the state, in order
    hidden: tuple[int | None, ...]  # per order column: its hidden column's index, if any
    hidden_types: tuple[pa.DataType, ...]
    state_key: str | None  # "cursor", "after", or None (no resumable order)
    tie_safe: bool  # incremental without a key: batches must not split cursor ties

    @classmethod
    def build(cls, relation: MySQLRelation, request: ReadRequest) -> ReadPlan:
        stream = request.stream
        names = [c.name for c in stream.columns]
        key_names, state_key = order_columns(request)
        order = live_order(relation, stream, key_names)
        live = [relation.column(c.name) for c in stream.columns]
        expressions = [
            f"{_select_expression(c, my)} AS {quote_identifier(c.name)}"
            for c, my in zip(stream.columns, live, strict=True)
            if my
        ]
        if not expressions:  # every column is gone upstream: still count the rows
            expressions = ["0 AS `landed_no_columns`"]
        table = f"{quote_identifier(relation.database)}.{quote_identifier(relation.name)}"
        # Order and compare by the table's own columns: an unqualified name would resolve to
        # the SELECT list's alias, which may be an expression (a zero date read as NULL).
        qualified = [f"{table}.{quote_identifier(c.name)}" for c in order]
        hidden: list[int | None] = []
        hidden_types: list[pa.DataType] = []
        for i, (column, ident) in enumerate(zip(order, qualified, strict=True)):
            extra = _position_expression(column, ident)
            if extra is None:
                hidden.append(None)
                continue
            expression, arrow_type = extra
            hidden.append(len(stream.columns) + len(hidden_types))
            hidden_types.append(arrow_type)
            expressions.append(f"{expression} AS `landed_position_{i}`")
        resume = resume_values(request.state, state_key, key_names, stream.name)
        if resume is not None:  # parsed now: a bad state fails before anything is read
            for column, value in zip(order, resume, strict=True):
                if value is not None:  # NULL: a nullable key column's (views have no PK)
                    _literal(column, value, stream.name)
        conditions: list[str] = []
        if state_key == "cursor":
            conditions.append(f"{qualified[0]} IS NOT NULL")
            if order[0].data_type in DATE_TYPES:
                conditions.append(f"NOT {_zero_date_test(qualified[0])}")
        return cls(
            stream=stream.name,
            database=relation.database,
            select=f"SELECT {', '.join(expressions)} FROM {table}",  # noqa: S608
            conditions=tuple(conditions),
            order=tuple(qualified),
            order_columns=tuple(order),
            resume=resume,
            schema=schema_for(list(stream.columns)),
            selected=tuple(my is not None for my in live),
            key_indices=tuple(names.index(name) for name in key_names),
            hidden=tuple(hidden),
            hidden_types=tuple(hidden_types),
            state_key=state_key,
            tie_safe=is_tie_safe(request, state_key, key_names),
        )

    # --- SQL ------------------------------------------------------------------------------
    def _sql(self, extra: list[str], suffix: str = "") -> str:
        conditions = [*self.conditions, *extra]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"{self.select}{where}{suffix}"

    def unordered_sql(self) -> str:
        return self._sql([])

    def remaining_sql(self) -> str:
        """Every row the read returns, from its resume position on, in no order (to EXPLAIN)."""
        return self._sql([] if self.resume is None else [self._after(self.resume)])

    def page_sql(self, after: list[Any] | None, limit: int) -> str:
        """The next page: rows strictly after `after` (state values) in the read's order."""
        extra = [] if after is None else [self._after(after)]
        return self._sql(extra, f" ORDER BY {', '.join(self.order)} LIMIT {int(limit)}")

    def group_sql(self, cursor: Any) -> str:
        """Every row whose cursor equals `cursor` (a state value), of a read without a key."""
        literal = _literal(self.order_columns[0], cursor, self.stream)
        return self._sql([f"{self.order[0]} = {literal}"])

    def _after(self, values: list[Any]) -> str:
        """(c1, c2, ...) > (v1, v2, ...) in the order of ORDER BY c1, c2, ..., where NULL sorts
        first (as MySQL and MariaDB sort it), spelled out with a leading `c1 >= v1` that the
        range optimizer of every MySQL and MariaDB version turns into an index range."""
        literals = [
            None if v is None else _literal(c, v, self.stream)
            for c, v in zip(self.order_columns, values, strict=True)
        ]
        alternatives = []
        for i, column in enumerate(self.order):
            equal = [
                f"{self.order[j]} IS NULL" if literals[j] is None else f"{self.order[j]} = {lit}"
                for j, lit in enumerate(literals[:i])
            ]
            greater = (
                f"{column} IS NOT NULL" if literals[i] is None else f"{column} > {literals[i]}"
            )
            alternatives.append(" AND ".join([*equal, greater]))
        spelled = " OR ".join(f"({a})" for a in alternatives)
        if literals[0] is None:
            return f"({spelled})"
        return f"{self.order[0]} >= {literals[0]} AND ({spelled})"

    # --- batches --------------------------------------------------------------------------
    def visible(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """An internal batch without its hidden columns."""
        if batch.num_columns == len(self.schema):
            return batch
        return pa.RecordBatch.from_arrays(batch.columns[: len(self.schema)], schema=self.schema)

    def state_values(self, batch: pa.RecordBatch) -> list[Any]:
        """The resume position after the last row of the internal batch `batch`."""
        values = []
        for output, hidden in zip(self.key_indices, self.hidden, strict=True):
            value = batch.column(hidden)[-1].as_py() if hidden is not None else None
            if value is None:
                value = batch.column(output)[-1].as_py()
            values.append(jsonable(value))
        return values

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None:
        """The state once the internal batch `batch` (the rows up to its last one) is loaded."""
        if self.state_key is None or batch.num_rows == 0:
            return None
        return {self.state_key: self.state_values(batch)}


def _position_expression(column: MySQLColumn, ident: str) -> tuple[str, pa.DataType] | None:
    """The hidden SELECT item giving an order column's resume position where its output value
    cannot: ENUM and SET sort (and compare with a number) by their index, not their label;
    a zero or invalid date reads as NULL but sorts, and resumes, as its text."""
    if column.data_type in ("enum", "set"):
        return f"{ident} + 0", pa.int64()
    if column.data_type in DATE_TYPES:
        return f"IF({_zero_date_test(ident)}, CAST({ident} AS CHAR), NULL)", pa.string()
    return None


def _zero_date_test(expression: str) -> str:
    """True for '0000-00-00', dates with a zero year, month or day, and invalid dates a server
    with ALLOW_INVALID_DATES keeps ('2023-02-30'), which no calendar holds (nor Python, Arrow's
    consumers or PostgreSQL): these are read as NULL. False for NULL. Date arithmetic is NULL
    for exactly those (DAYNAME would not do: MariaDB names the day of '2023-02-30'), and costs
    next to nothing, where testing the parts one by one doubled the time of a read."""
    return f"({expression} IS NOT NULL AND {_valid_date(expression)} IS NULL)"


def _valid_date(expression: str) -> str:
    """`expression` itself when it is a real date (or date-time: its type and fraction are
    kept), else NULL."""
    return f"{expression} + INTERVAL 0 DAY"


def _select_expression(column: Column, live: MySQLColumn) -> str:
    """The SELECT item for `column`, in a form ConnectorX decodes exactly (see the package
    docstring); the reader's `conform` casts it to the column's Arrow type. Decided by the
    live column (a DECIMAL widened since discovery travels as text rather than rounded)."""
    ident = quote_identifier(live.name)
    t = live.data_type
    if t in DATE_TYPES:
        return _valid_date(ident)
    if column.type == "decimal":
        if t == "bit":
            return f"CAST({ident} + 0 AS CHAR)"
        if (
            t == "decimal"
            and live.precision is not None
            and live.precision <= NATIVE_DECIMAL_PRECISION
            and (live.scale or 0) <= NATIVE_DECIMAL_SCALE
        ):
            return ident
        return f"CAST({ident} AS CHAR)"
    if t == "bit":
        return f"CAST({ident} AS UNSIGNED)"
    if t in GEOMETRY_TYPES:
        return f"ST_AsText({ident})"
    if t in BINARY_TYPES and live.column_type == "binary(0)":
        # A view's `NULL AS x` has type NULL (shown as binary(0)), which ConnectorX cannot
        # decode at all; the cast gives it a type.
        return f"CAST({ident} AS BINARY)"
    if t == "json":  # MySQL's binary JSON: its text, in UTF-8
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"
    if column.type in ("string", "json", "uuid") and t not in TEXT_TYPES and not live.is_json:
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"  # time, uuid, inet6, ...
    return ident


_RAW_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?$")


def _literal(column: MySQLColumn, value: Any, stream: str) -> str:
    """`value` (from a saved state) as a SQL literal of `column`'s type. Every value is parsed
    into its type and formatted anew, text and bytes as hexadecimal: nothing of the state
    reaches the SQL as it was written."""
    t = column.data_type
    try:
        if value is None:
            raise ValueError("null")
        if isinstance(value, list | dict):
            raise TypeError("not a scalar")
        if t in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
            return str(int(value))
        if t == "bit":  # a BIT(1) state holds true/false, a wider one a number (or its text)
            return str(int(value)) if isinstance(value, bool | int) else str(int(str(value)))
        if t in ("enum", "set"):  # the index (or bitmask); a label from an older state
            return str(_enum_position(column, value))
        if t in ("double", "real"):
            # Python's shortest round-trip form, which the server reads as the same DOUBLE:
            # a plain-digit literal is cut to 65 digits (1e308) and about 38 decimals (5e-324
            # would compare as 0).
            number = float(value)
            if not math.isfinite(number):
                raise ValueError("not finite")
            return repr(number)
        if t in ("decimal", "numeric", "float"):
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not finite")
            return format(number, "f")
        if t in DATE_TYPES and isinstance(value, str) and _RAW_DATE.match(value):
            # The server's own text of a date (a zero or invalid date's, which only compares
            # as text): digits and separators only.
            return f"'{value}'"
        if t == "date":
            return f"DATE'{date.fromisoformat(str(value)).isoformat()}'"
        if t in ("datetime", "timestamp"):
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is not None:  # timestamptz states are UTC, as is the session
                moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
            return f"TIMESTAMP'{moment.isoformat(sep=' ', timespec='microseconds')}'"
        if t in BINARY_TYPES:
            return f"X'{bytes.fromhex(str(value)).hex()}'"
        text = str(value).encode("utf-8").hex()
        charset, collation = column.charset or "utf8mb4", column.collation
        converted = f"CONVERT(_utf8mb4 X'{text}' USING {_word(charset)})"
        return f"{converted} COLLATE {_word(collation)}" if collation else converted
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ConfigError(
            f"The saved state value {value!r} is not a valid {column.column_type} for column "
            f"'{column.name}'; reset the stream.",
            stream=stream,
        ) from exc


def _enum_position(column: MySQLColumn, value: Any) -> int:
    """An ENUM's 1-based index or a SET's bitmask, from a number or from label(s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("negative")
        return value
    labels = [
        label.replace("''", "'")
        for label in re.findall(
            r"'((?:[^']|'')*)'", column.column_type[column.column_type.find("(") :]
        )
    ]
    text = str(value)
    if column.data_type == "enum":
        # Labels compare case-insensitively in the usual collations; an exact match first.
        if text in labels:
            return labels.index(text) + 1
        lowered = [label.lower() for label in labels]
        if text.lower() in lowered:
            return lowered.index(text.lower()) + 1
        if text == "":
            return 0  # the error value '' of a non-strict insert
        raise ValueError("unknown label")
    mask = 0
    for part in filter(None, text.split(",")):
        if part not in labels:
            raise ValueError("unknown label")
        mask |= 1 << labels.index(part)
    return mask


def _word(name: str) -> str:
    """A character set or collation name (from information_schema), checked to be one."""
    if not _IDENTIFIER_WORD.match(name):
        raise ValueError(f"unexpected name {name!r}")
    return name
