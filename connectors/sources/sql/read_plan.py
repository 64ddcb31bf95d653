"""What the read plans of the SQL sources share: the checks of a read's order columns against
the live catalog, and turning a driver's batch into the stream's requested columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pyarrow as pa

from connectors.framework.base import ConfigError, ConnectorError, Stream
from connectors.sources.sql.catalog import ColumnT, Relation


def live_order(relation: Relation[ColumnT], stream: Stream, key_names: list[str]) -> list[ColumnT]:
    """The live columns a read is ordered by, in order: each must be one of the stream's
    columns and still exist upstream."""
    names = [c.name for c in stream.columns]
    order: list[ColumnT] = []
    for name in key_names:
        if name not in names:
            raise ConfigError(
                f"Column '{name}' is not among the stream's columns.", stream=stream.name
            )
        live_column = relation.column(name)
        if live_column is None:
            raise ConfigError(
                f"Column '{name}' no longer exists in {stream.name}; refresh the schema.",
                stream=stream.name,
            )
        order.append(live_column)
    return order


class ConformPlan(Protocol):
    """What conforming a driver's batch needs of a read plan."""

    @property
    def stream(self) -> str: ...

    @property
    def schema(self) -> pa.Schema: ...  # schema_for(request.stream.columns)

    @property
    def selected(self) -> tuple[bool, ...]: ...  # per requested column: read, or gone upstream


# (driver's array, the stream's field, stream name) -> the array as the field's type
Cast = Callable[[pa.Array, pa.Field, str], pa.Array]


def requested_arrays(raw: pa.RecordBatch, plan: ConformPlan, cast: Cast) -> list[pa.Array]:
    """The requested columns of the driver's batch `raw`, each cast to the stream's type, and
    columns gone upstream filled with NULLs. Vectorized, column by column."""
    arrays: list[pa.Array] = []
    raw_columns = iter(raw.columns)
    for target, selected in zip(plan.schema, plan.selected, strict=True):
        if not selected:
            arrays.append(pa.nulls(raw.num_rows, target.type))
            continue
        arrays.append(cast(next(raw_columns), target, plan.stream))
    return arrays


def column_drift(target: pa.Field, exc: Exception, stream: str) -> ConnectorError:
    """The error of a column whose values no longer cast to the type discovered for it."""
    return ConnectorError(
        f"Column '{target.name}' no longer reads as {target.type} ({exc}); refresh the schema.",
        stream=stream,
    )
