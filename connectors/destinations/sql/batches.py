"""Arrow batches made ready for a SQL destination: one Arrow type per logical type, and the
row numbers a merge orders by. Vectorised throughout: Arrow casts, no per-row Python."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from connectors.framework.base import ConfigError, ConnectorError
from connectors.framework.types import column_from_field


def normalize_batch(records: pa.RecordBatch, stream: str, known: set[str]) -> pa.RecordBatch:
    """The batch with every column in its logical type's one Arrow representation (dictionary
    and view encodings decoded, other integer and time widths cast), refusing columns the
    table does not have. Vectorised: Arrow casts, no per-row Python."""
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for arrow_field, array in zip(records.schema, records.columns, strict=True):
        if arrow_field.name not in known:
            raise ConfigError(
                f"Column {arrow_field.name!r} is not among the stream's columns.", stream=stream
            )
        canonical = column_from_field(arrow_field).arrow_field()
        if array.type != canonical.type:
            try:
                array = _cast(array, canonical.type)
            except (pa.ArrowException, ValueError) as exc:
                raise ConnectorError(
                    f"Column {arrow_field.name!r} cannot be read as {canonical.type}: {exc}",
                    stream=stream,
                ) from exc
        arrays.append(array)
        fields.append(canonical)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _cast(array: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.type == target:
        return array
    # Nanoseconds (or a finer time) must truncate to the microseconds both databases keep.
    lossy_ok = pa.types.is_temporal(array.type) and pa.types.is_temporal(target)
    return pc.cast(array, target, safe=not lossy_ok)


def row_numbers(count: int) -> pa.Array:
    """0, 1, ..., count-1 as int64, computed in Arrow (no Python loop): the batch order that
    decides which of a key's duplicates in one batch wins a merge."""
    if count == 0:
        return pa.array([], pa.int64())
    ones = pc.fill_null(pa.nulls(count, pa.int64()), 1)
    return pc.subtract(pc.cumulative_sum(ones), 1)
