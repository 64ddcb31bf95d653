"""What the SQL database sources share: reading in a stable order and resuming after the
last row delivered (keyset pagination), with the state that records that row.

A full refresh with a key is read in key order, its state `{"after": [key values]}`; an
incremental read in (cursor, key) order, its state `{"cursor": [cursor, key values]}`. An
incremental read without a key is ordered by the cursor alone and needs `TieSafeBatcher`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from connectors.framework.base import Batch, ConfigError, ReadRequest, Stream
from connectors.framework.types import Column

# Column names tried, in order, as a stream's default incremental cursor.
DEFAULT_CURSOR_NAMES = ("updated_at", "modified_at", "last_modified", "_updated_at")
# Logical types a table can be read incrementally by (ordered, compared exactly).
CURSOR_TYPES = frozenset(
    {"smallint", "integer", "bigint", "timestamp", "timestamptz", "date", "decimal"}
)


def table_stream(
    name: str, columns: tuple[Column, ...], primary_key: tuple[str, ...], kind: str
) -> Stream:
    """A table's or view's stream, with its cursor candidates and default cursor."""
    candidates = tuple(c.name for c in columns if c.type in CURSOR_TYPES)
    default = next((n for n in DEFAULT_CURSOR_NAMES if n in candidates), None)
    return Stream(
        name=name,
        columns=columns,
        primary_key=primary_key,
        cursor_candidates=candidates,
        default_cursor=default,
        supports_incremental=bool(candidates),
        kind=kind,
    )


def primary_key(request: ReadRequest) -> tuple[str, ...]:
    return tuple(request.primary_key or request.stream.primary_key)


def order_columns(request: ReadRequest) -> tuple[list[str], str | None]:
    """The columns the read is ordered (and resumed) by, and the state's key."""
    key = list(primary_key(request))
    if request.sync_mode == "incremental":
        cursor_field = request.cursor_field or request.stream.default_cursor
        if not cursor_field:
            raise ConfigError(
                "An incremental read needs a cursor field.", stream=request.stream.name
            )
        return list(dict.fromkeys([cursor_field, *key])), "cursor"
    if request.sync_mode == "full_refresh":
        return key, ("after" if key else None)
    raise ConfigError(f"Unknown sync mode '{request.sync_mode}'.", stream=request.stream.name)


def resume_values(
    state: dict[str, Any] | None, state_key: str | None, key_names: list[str], stream: str
) -> list[Any] | None:
    """The order columns' values to resume after, from a saved state; None to start over."""
    if not state or state_key is None:
        return None
    values = state.get(state_key)
    if not isinstance(values, list) or len(values) != len(key_names):
        raise ConfigError(
            f"The saved state {state!r} does not match the read's order ({', '.join(key_names)});"
            " reset the stream.",
            stream=stream,
        )
    if state_key == "cursor" and values[0] is None:
        raise ConfigError(f"The saved state {state!r} has no cursor value.", stream=stream)
    return values


def is_tie_safe(request: ReadRequest, state_key: str | None, key_names: list[str]) -> bool:
    """Whether the read's batches must not split a group of equal cursor values: an
    incremental read ordered by its cursor alone, which `TieSafeBatcher` delivers."""
    return state_key == "cursor" and len(key_names) == 1 and not primary_key(request)


def jsonable(value: Any) -> Any:
    """A state value as JSON can hold it (and the source can parse back)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def chunks(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches cut to at most `rows` rows each."""
    for batch in batches:
        size = max(1, rows)
        for offset in range(0, batch.num_rows, size):
            yield batch.slice(offset, size)


class KeysetPlan(Protocol):
    """What batching needs of a read plan: where the order columns are in a batch, whether
    ties must stay together (`is_tie_safe`), and the state reached after a batch."""

    @property
    def key_indices(self) -> tuple[int, ...]: ...

    @property
    def tie_safe(self) -> bool: ...

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None: ...


def keyset_batches(
    plan: KeysetPlan,
    internal: Iterable[pa.RecordBatch],
    batch_rows: int,
    start: dict[str, Any] | None,
    deliver: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
) -> Iterator[Batch]:
    """The read's batches, each with the state reached after it, from `internal` batches in
    the read's order (`start` is the state the read resumed from). `deliver` shapes the rows
    a batch carries out, as for `TieSafeBatcher`."""
    if plan.tie_safe:
        yield from TieSafeBatcher(plan, batch_rows, start, deliver=deliver).batches(internal)
        return
    for batch in internal:
        records = deliver(batch) if deliver is not None else batch
        yield Batch(records, plan.state_after(batch), bytes_read=records.nbytes)


class TieSafeBatcher:
    """Batches of an incremental read without a key, whose state only ever advances past a
    complete group of equal cursor values: resuming with `cursor > state` would otherwise skip
    the rest of a group split between two batches.

    The trailing group of each slice is held back until a larger cursor value (or the end of
    the stream) shows it is complete. A group bigger than a batch is delivered as it comes, its
    batches keeping the previous state: an interruption then repeats rows instead of losing
    any. At most about two batches' worth of rows is ever held. `deliver` shapes the rows a
    batch carries out (a source may drop columns it read only to compute states).
    """

    def __init__(
        self,
        plan: KeysetPlan,
        batch_rows: int,
        start: dict[str, Any] | None = None,
        deliver: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    ) -> None:
        self.plan = plan
        self.batch_rows = batch_rows
        self.cursor_index = plan.key_indices[0]
        self.deliver = deliver or (lambda rows: rows)
        # Until a group completes, the safe position is where the read started.
        self.safe_state: dict[str, Any] | None = start
        self.held: list[pa.RecordBatch] = []
        self.held_value: pa.Scalar | None = None

    def batches(self, pieces: Iterable[pa.RecordBatch]) -> Iterator[Batch]:
        for piece in pieces:
            yield from self._feed(piece)
        yield from self._release(complete=True)

    def _batch(self, rows: pa.RecordBatch, state: dict[str, Any] | None) -> Batch:
        records = self.deliver(rows)
        return Batch(records, state, bytes_read=records.nbytes)

    def _feed(self, piece: pa.RecordBatch) -> Iterator[Batch]:
        if self.held_value is not None:
            continuing = self._count_equal(piece, self.held_value)
            if continuing:
                self.held.append(piece.slice(0, continuing))
                piece = piece.slice(continuing)
            if piece.num_rows == 0:  # the held group may go on in the next slice
                if sum(p.num_rows for p in self.held) > self.batch_rows:
                    yield from self._release(complete=False)
                return
            yield from self._release(complete=True)
        self.held_value = piece.column(self.cursor_index)[-1]
        tail = self._count_equal(piece, self.held_value)
        head = piece.slice(0, piece.num_rows - tail)
        if head.num_rows:
            self.safe_state = self.plan.state_after(head)
            yield self._batch(head, self.safe_state)
        self.held = [piece.slice(piece.num_rows - tail)]

    def _release(self, *, complete: bool) -> Iterator[Batch]:
        """Deliver the held rows, re-cut into full batches (held slices can be small). When the
        group is complete the last batch carries the group's state; otherwise all but the last
        slice go out, keeping the previous state."""
        release = self.held if complete else self.held[:-1]
        self.held = [] if complete else self.held[-1:]
        if not release:
            return
        rows = pa.concat_batches(release) if len(release) > 1 else release[0]
        parts = list(chunks([rows], self.batch_rows))
        for i, part in enumerate(parts):
            state = self.safe_state
            if complete and i == len(parts) - 1:
                state = self.safe_state = self.plan.state_after(part)
            yield self._batch(part, state)

    def _count_equal(self, piece: pa.RecordBatch, value: pa.Scalar) -> int:
        """Rows equal to `value`: a prefix or a suffix of the sorted slice."""
        return pc.sum(pc.equal(piece.column(self.cursor_index), value)).as_py() or 0
