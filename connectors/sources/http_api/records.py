"""Records out of JSON bodies, and into Arrow.

Column inference (from a sample of records, at discovery): for each top-level field, the kinds
of its non-null values decide: only booleans -> boolean; only integers (within int64) ->
bigint; integers and floats -> double; only text -> string; objects or lists, alone or mixed
with anything -> json; other mixes (text and numbers, say) -> string; only nulls -> string.
Nested objects are not flattened: each stays one json column (flattening makes the column set
depend on which records were sampled). A stream's declared `columns` win over inference.

Conversion (at read): a column is built in one go from the batch's values; only when the
values do not fit its type (a number sent as text, a string where an object was sampled) are
they converted one by one: json columns hold any value as JSON text, string columns hold text
as is and anything else as JSON text, numeric and boolean columns accept numbers and their
text forms, date/time columns ISO 8601 text. Integer columns take whole numbers only (2, 2.0,
"2"): 1.5 is refused, never cut to 1; float columns refuse booleans, and real (float32) refuses
a value beyond its range rather than storing infinity. A value that fits none of that is a
ConnectorError naming the stream, the column and the value (the sync fails instead of loading
wrong data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from connectors.framework.base import ConnectorError
from connectors.framework.types import Column, arrow_module, arrow_type_for, schema_for

if TYPE_CHECKING:
    import pyarrow as pa

_INT64 = (-(2**63), 2**63 - 1)
_INTEGER_TYPES = {"smallint", "integer", "bigint"}
_FLOAT_TYPES = {"real", "double"}
_TEMPORAL_TYPES = {"date", "timestamp", "timestamptz"}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_FLOAT32_MAX = 3.4028234663852886e38
_INT_BOUNDS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": _INT64,
}


Path = tuple[str | int, ...]  # a path into a JSON document: keys and list indexes


def value_at(document: Any, path: Path) -> Any:
    """The value at `path` (keys of objects, indexes of lists), or None where it stops."""
    current = document
    for part in path:
        if isinstance(current, dict):
            current = current.get(str(part))
        elif isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return current


_MISSING = object()


def select_records(
    body: Any, selector: tuple[str | int, ...], *, where: str, stream: str
) -> list[dict[str, Any]]:
    """The records the selector points at: a list of objects (or one object). A null there
    means no records; a selector that leads nowhere is an error, not an empty page, so that a
    mistyped selector does not load nothing silently."""
    current: Any = body
    for part in selector:
        if isinstance(current, dict) and str(part) in current:
            current = current[str(part)]
        elif isinstance(current, list) and str(part).lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING or current is None:
            break
    if current is _MISSING:
        shown = ".".join(str(p) for p in selector)
        raise ConnectorError(
            f"{where}: the record_selector '{shown}' matches nothing in the response.",
            stream=stream,
        )
    if current is None:
        return []
    if isinstance(current, dict):
        return [current]
    if isinstance(current, list) and all(isinstance(item, dict) for item in current):
        return current
    raise ConnectorError(
        f"{where}: the record_selector must lead to a list of objects; found "
        f"{type(current).__name__}{' items' if isinstance(current, list) else ''}.",
        stream=stream,
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if _INT64[0] <= value <= _INT64[1] else "string"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict | list):
        return "json"
    return "string"


def infer_type(values: Iterable[Any]) -> str:
    kinds = {_kind(v) for v in values if v is not None}
    if not kinds:
        return "string"
    if len(kinds) == 1:
        return kinds.pop()
    if "json" in kinds:
        return "json"
    if kinds == {"bigint", "double"}:
        return "double"
    return "string"


def infer_columns(
    records: list[dict[str, Any]], declared: dict[str, str], required: Iterable[str]
) -> list[Column]:
    """Columns in the order fields first appear (then declared and required ones no sampled
    record had, typed as declared or as text)."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    names.update(dict.fromkeys(declared))
    names.update(dict.fromkeys(required))
    columns = []
    for name in names:
        kind = declared.get(name) or infer_type(r.get(name) for r in records)
        columns.append(Column(name, kind, nullable=True, source_type="json"))
    return columns


def to_record_batch(
    records: list[dict[str, Any]], columns: tuple[Column, ...], *, stream: str
) -> pa.RecordBatch:
    """The records as one Arrow batch of the stream's columns (fields absent: null; fields no
    column names: dropped)."""
    arrays = [_array([r.get(c.name) for r in records], c, stream=stream) for c in columns]
    pa = arrow_module()
    return pa.RecordBatch.from_arrays(arrays, schema=schema_for(list(columns)))


def _array(values: list[Any], column: Column, *, stream: str) -> pa.Array:
    pa = arrow_module()
    kind = column.type
    arrow = arrow_type_for(kind, column.precision, column.scale)
    if kind == "json":
        return pa.array([None if v is None else _json(v) for v in values], arrow)
    if kind in _TEMPORAL_TYPES:
        texts = [_temporal_text(v, column, stream) for v in values]
        try:
            return pa.array(texts, pa.string()).cast(arrow)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _unfit(column, stream, str(exc)) from exc
    if _fits(values, kind):
        try:
            return pa.array(values, arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    # Some value does not fit as it is: convert one by one (the slow path, taken only then).
    converted = [_convert(v, column, stream) for v in values]
    try:
        # Python ints into a narrower integer type are range-checked: out of range raises.
        return pa.array(converted, arrow)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise _unfit(column, stream, _first_unfit(converted, column, str(exc))) from exc


def _fits(values: list[Any], kind: str) -> bool:
    """Whether Arrow may build the column from `values` as they are. Arrow alone would cut
    1.5 to 1 in an integer column, take True as 1.0 in a float one and make 1e39 infinite in a
    real one: values like those go the slow way, which refuses them."""
    if kind in _INTEGER_TYPES:
        return all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values)
    if kind in _FLOAT_TYPES:
        return all(v is None or _finite_float(v, kind) is not None for v in values)
    return True


def _finite_float(value: Any, kind: str) -> float | None:
    """`value` as a float of the column's width, or None when it is not a number or does not
    fit (beyond float32's range for real, an int beyond any float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if kind == "real" and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        return None
    return number


def _first_unfit(values: list[Any], column: Column, reason: str) -> str:
    """The value Arrow refused, when one can be told (an int out of a smallint's range)."""
    bounds = _INT_BOUNDS.get(column.type)
    if bounds is not None:
        for value in values:
            if isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
                return f"{value} is out of range for {column.type}"
    return reason


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _convert(value: Any, column: Column, stream: str) -> Any:
    if value is None:
        return None
    kind = column.type
    if kind == "string" or kind == "uuid":
        return value if isinstance(value, str) else _json(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    elif kind in _INTEGER_TYPES:
        number = _number(value)
        # Whole numbers only (2.0 and "2" are 2): a fraction is never cut.
        if isinstance(number, int):
            return number
        if isinstance(number, float) and number.is_integer():
            return int(number)
    elif kind in _FLOAT_TYPES:
        number = _finite_float(_number(value), kind)
        if number is not None:
            return number
    raise _unfit(column, stream, f"{_json(value)[:80]} is not a {kind}")


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _temporal_text(value: Any, column: Column, stream: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _unfit(column, stream, f"{_json(value)[:80]} is not ISO 8601 text")


def _unfit(column: Column, stream: str, reason: str) -> ConnectorError:
    return ConnectorError(
        f"Stream '{stream}': a value of column '{column.name}' ({column.type}) cannot be "
        f"loaded: {reason}. Declare the column's type in the stream's columns (json or string "
        "take anything).",
        stream=stream,
    )
