"""The MySQL source's type mapping and casts: the logical type of a MySQL column (the table is
in docs/mysql.md), and the Arrow casts that give a driver's batch the stream's types."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.sources.sql.read_plan import column_drift

# ConnectorX's MySQL client reads DECIMAL through a 96-bit decimal with 10 fractional digits
# in Arrow; anything it could round travels as text.
NATIVE_DECIMAL_PRECISION = 28
NATIVE_DECIMAL_SCALE = 10
DATE_TYPES = frozenset({"date", "datetime", "timestamp"})
TEXT_TYPES = frozenset(
    {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
)
BINARY_TYPES = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
GEOMETRY_TYPES = frozenset(
    {
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
        "geomcollection",
    }
)


def logical_type(
    data_type: str,
    column_type: str,
    precision: int | None,
    scale: int | None,
    *,
    is_json: bool,
) -> tuple[str, int | None, int | None]:
    """(logical type, precision, scale) of a column of DATA_TYPE `data_type` (lower case) and
    COLUMN_TYPE `column_type` ("int(10) unsigned", "bit(5)", ...)."""
    t = data_type
    if t == "tinyint":
        return "smallint", None, None
    if t == "smallint":
        return ("integer" if _unsigned(column_type) else "smallint"), None, None
    if t in ("mediumint", "int", "integer"):
        wide = t != "mediumint" and _unsigned(column_type)
        return ("bigint" if wide else "integer"), None, None
    if t == "bigint":
        return ("decimal", 20, 0) if _unsigned(column_type) else ("bigint", None, None)
    if t in ("decimal", "numeric", "dec", "fixed"):
        return "decimal", precision, scale or 0
    if t == "float":
        return "real", None, None
    if t in ("double", "real", "double precision"):
        return "double", None, None
    if t == "bit":
        width = _bit_width(column_type)
        if width == 1:
            return "boolean", None, None
        return ("bigint", None, None) if width < 64 else ("decimal", 20, 0)
    if t == "year":
        return "smallint", None, None
    if t == "date":
        return "date", None, None
    if t == "datetime":
        return "timestamp", None, None
    if t == "timestamp":
        return "timestamptz", None, None
    if t == "json" or is_json:
        return "json", None, None
    if t in BINARY_TYPES:
        return "binary", None, None
    if t == "uuid":
        return "uuid", None, None
    return "string", None, None  # text, enum, set, time, geometry, inet4/6, others


def _unsigned(column_type: str) -> bool:
    return "unsigned" in column_type


def _bit_width(column_type: str) -> int:
    match = re.search(r"\((\d+)\)", column_type)
    return int(match.group(1)) if match else 1


def columnar(rows: list[tuple[Any, ...]], description: Any) -> pa.RecordBatch:
    """PyMySQL's rows as an Arrow batch of inferred types (the reader's `conform` casts them)."""
    names = [d[0] for d in description]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [pa.array(list(values)) for values in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(names))])


def cast(array: pa.Array, target: pa.Field, stream: str) -> pa.Array:
    """A driver's column as the stream's field type."""
    if array.type == target.type:
        return array
    try:
        if pa.types.is_timestamp(target.type) and pa.types.is_timestamp(array.type):
            # The session is UTC: a TIMESTAMP's wall clock is its UTC instant. Relabelling
            # (not converting) keeps the values.
            return array.cast(pa.timestamp("us")).view(target.type)
        return pc.cast(array, target.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise column_drift(target, exc, stream) from exc
