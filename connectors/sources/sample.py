"""Sample source: three related streams of deterministic, generated data.

It lets a user try a sync without a database of their own, and it gives the tests of the
pipeline and of destinations a source of any size that needs no server. Every value is a pure
function of (row id, size, seed): the rows are computed column by column with pyarrow.compute
on whole id ranges (a vectorized splitmix64 hash stands in for a random generator), so a batch
of a million rows costs no Python per row, and any batch can be generated on its own, which
is what makes resuming from a state cheap.

`updated_at` increases strictly with `id`, so ordering by (updated_at, id) is ordering by id and
incremental reads by `updated_at` work as they would on a real table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.framework.base import (
    Batch,
    CheckResult,
    ConfigError,
    ReadRequest,
    Source,
    Stream,
    StreamNotFoundError,
)
from connectors.framework.spec import ConnectorSpec, SpecField, with_defaults
from connectors.framework.types import Column, schema_for

MAX_SIZE = 10_000_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_EPOCH_US = int((EPOCH - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
# Each stream's updated_at values spread over one year, whatever its size.
_SPAN_US = 365 * 24 * 3600 * 1_000_000
_HOUR_US = 3600 * 1_000_000
_MASK64 = (1 << 64) - 1

_FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Hedy", "Ivan",
    "John", "Katherine", "Ken", "Linus", "Margaret", "Niklaus", "Radia", "Sophie", "Tim",
    "Yukihiro",
)  # fmt: skip
_LAST_NAMES = (
    "Allen", "Backus", "Cerf", "Dijkstra", "Engelbart", "Hamilton", "Hopper", "Johnson", "Kay",
    "Knuth", "Lamarr", "Liskov", "Lovelace", "McCarthy", "Perlman", "Ritchie", "Shannon",
    "Thompson", "Torvalds", "Wirth",
)  # fmt: skip
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "JP", "BR", "CA", "IN", "AU")
_CURRENCIES = ("USD", "EUR", "GBP")
_STATUSES = ("pending", "paid", "shipped", "delivered", "refunded", "cancelled")
_EVENT_TYPES = ("page_view", "click", "add_to_cart", "checkout", "signup", "logout")
_PAGES = ("home", "pricing", "docs", "blog", "cart", "account", "search", "product")


# --- streams -------------------------------------------------------------------------------
def _ts(name: str) -> Column:
    return Column(name, "timestamptz", nullable=False, source_type="timestamptz")


def _col(name: str, logical: str, **extra: Any) -> Column:
    return Column(name, logical, nullable=False, source_type=logical, **extra)


_CUSTOMERS = (
    _col("id", "bigint"),
    _col("name", "string"),
    _col("email", "string"),
    _col("country", "string"),
    _ts("created_at"),
    _ts("updated_at"),
)
_ORDERS = (
    _col("id", "bigint"),
    _col("customer_id", "bigint"),
    _col("amount", "decimal", precision=12, scale=2),
    _col("currency", "string"),
    _col("status", "string"),
    _ts("ordered_at"),
    _ts("updated_at"),
)
_EVENTS = (
    _col("id", "bigint"),
    _col("customer_id", "bigint"),
    _col("type", "string"),
    _col("payload", "json"),
    _ts("occurred_at"),
    _ts("updated_at"),
)


def _stream(name: str, columns: tuple[Column, ...]) -> Stream:
    return Stream(
        name=name,
        columns=columns,
        primary_key=("id",),
        cursor_candidates=("id", "updated_at"),
        default_cursor="updated_at",
        kind="table",
    )


def static_streams() -> list[Stream]:
    """The sample streams, the same for every configuration (served without credentials)."""
    return [
        _stream("customers", _CUSTOMERS),
        _stream("orders", _ORDERS),
        _stream("events", _EVENTS),
    ]


# --- vectorized generation -------------------------------------------------------------------
def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value & _MASK64, pa.uint64())


def _hash(ids: pa.Array, seed: int, salt: int) -> pa.Array:
    """splitmix64 of (id, seed, salt), element-wise; uint64 arithmetic wraps like the C one."""
    offset = (seed * 0x100000001B3 + salt) * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15
    z = pc.add(pc.cast(ids, pa.uint64()), _u64(offset))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(30))), _u64(0xBF58476D1CE4E5B9))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(27))), _u64(0x94D049BB133111EB))
    return pc.bit_wise_xor(z, pc.shift_right(z, _u64(31)))


def _below(ids: pa.Array, seed: int, salt: int, bound: int) -> pa.Array:
    """A pseudo-random int64 in [0, bound) per id."""
    z = pc.shift_right(_hash(ids, seed, salt), _u64(11))  # 53 bits: no overflow below
    bound_scalar = _u64(bound)
    remainder = pc.subtract(z, pc.multiply(pc.divide(z, bound_scalar), bound_scalar))
    return pc.cast(remainder, pa.int64())


def _pick(ids: pa.Array, seed: int, salt: int, choices: tuple[str, ...]) -> pa.Array:
    return pc.take(pa.array(choices, pa.string()), _below(ids, seed, salt, len(choices)))


def _step_us(count: int) -> int:
    return max(1, _SPAN_US // max(count, 1))


def _updated_at_us(ids: pa.Array, seed: int, count: int, salt: int) -> pa.Array:
    """Microseconds since 1970: strictly increasing with id (the jitter stays below one step)."""
    step = _step_us(count)
    base = pc.add(pc.multiply(pc.subtract(ids, 1), step), _EPOCH_US)
    return pc.add(base, _below(ids, seed, salt, step))


def _timestamps(micros: pa.Array) -> pa.Array:
    return pc.cast(micros, pa.timestamp("us", tz="UTC"))


def _before(updated_us: pa.Array, ids: pa.Array, seed: int, salt: int, span_us: int) -> pa.Array:
    return _timestamps(pc.subtract(updated_us, _below(ids, seed, salt, span_us)))


def _text(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


# Salts of each stream's updated_at, so that the streams' timestamps are independent.
_CUSTOMERS_SALT, _ORDERS_SALT, _EVENTS_SALT = 1, 2, 3


def _customers(ids: pa.Array, size: int, seed: int, count: int) -> list[pa.Array]:
    first = _pick(ids, seed, 10, _FIRST_NAMES)
    last = _pick(ids, seed, 11, _LAST_NAMES)
    email = pc.binary_join_element_wise(
        pc.utf8_lower(first), ".", pc.utf8_lower(last), ".", _text(ids), "@example.com", ""
    )
    updated = _updated_at_us(ids, seed, count, _CUSTOMERS_SALT)
    return [
        ids,
        pc.binary_join_element_wise(first, last, " "),
        email,
        _pick(ids, seed, 12, _COUNTRIES),
        _before(updated, ids, seed, 13, 30 * 24 * _HOUR_US),
        _timestamps(updated),
    ]


def _orders(ids: pa.Array, size: int, seed: int, count: int) -> list[pa.Array]:
    cents = pc.add(_below(ids, seed, 20, 99_900), 100)  # 1.00 .. 999.99
    amount = pc.multiply(
        pc.cast(cents, pa.decimal128(19, 0)), pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))
    )
    updated = _updated_at_us(ids, seed, count, _ORDERS_SALT)
    return [
        ids,
        pc.add(_below(ids, seed, 21, size), 1),
        pc.cast(amount, pa.decimal128(12, 2)),
        _pick(ids, seed, 22, _CURRENCIES),
        _pick(ids, seed, 23, _STATUSES),
        _before(updated, ids, seed, 24, 7 * 24 * _HOUR_US),
        _timestamps(updated),
    ]


def _events(ids: pa.Array, size: int, seed: int, count: int) -> list[pa.Array]:
    payload = pc.binary_join_element_wise(
        '{"page": "/',
        _pick(ids, seed, 31, _PAGES),
        '", "duration_ms": ',
        _text(_below(ids, seed, 32, 60_000)),
        ', "session": ',
        _text(_below(ids, seed, 33, 1_000_000)),
        "}",
        "",
    )
    updated = _updated_at_us(ids, seed, count, _EVENTS_SALT)
    return [
        ids,
        pc.add(_below(ids, seed, 30, size), 1),
        _pick(ids, seed, 34, _EVENT_TYPES),
        payload,
        _before(updated, ids, seed, 35, _HOUR_US),
        _timestamps(updated),
    ]


@dataclass(frozen=True)
class _Generator:
    stream: Stream
    multiplier: int  # rows per customer
    salt: int  # of updated_at
    columns: Callable[[pa.Array, int, int, int], list[pa.Array]]


_GENERATORS = {
    g.stream.name: g
    for g in (
        _Generator(static_streams()[0], 1, _CUSTOMERS_SALT, _customers),
        _Generator(static_streams()[1], 3, _ORDERS_SALT, _orders),
        _Generator(static_streams()[2], 10, _EVENTS_SALT, _events),
    )
}


def _id_range(start: int, stop: int) -> pa.Array:
    """int64 ids start..stop-1, built without a Python loop."""
    ones = pa.repeat(pa.scalar(1, pa.int64()), stop - start)
    return pc.add(pc.cumulative_sum(ones), start - 1)


# --- source ----------------------------------------------------------------------------------
class SampleSource(Source):
    """Customers, their orders and their events; `size` customers, 3x orders, 10x events."""

    spec = ConnectorSpec(
        type="sample",
        display_name="Sample data",
        description="Deterministic generated customers, orders and events, to try Landed.",
        category="sample",
        auth_method="none",
        supports_incremental=True,
        static_schema=True,
        fields=(
            SpecField(
                "size",
                "integer",
                "Number of customers (orders are 3x, events 10x).",
                default=1000,
                minimum=1,
                maximum=MAX_SIZE,
            ),
            SpecField(
                "seed",
                "integer",
                "Seed of the generator: same seed, same data.",
                default=42,
                minimum=0,
                maximum=2**32 - 1,
            ),
        ),
    )

    def check(self) -> CheckResult:
        return CheckResult.success("Sample data is always available.")

    def discover(self) -> list[Stream]:
        return static_streams()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """Rows in id order, which is also (updated_at, id) order.

        State: incremental `{"cursor": [cursor value, id]}` (just `[id]` when the cursor is
        `id`), full refresh `{"after": [id]}`; a read resumes right after the state's row.
        """
        generator, size, seed, count = self._stream(request)
        cursor = self._cursor(request)
        first = _first_id(request, cursor, seed, count, generator.salt)
        schema = schema_for(list(generator.stream.columns))
        step = max(1, request.batch_rows)
        for start in range(first, count + 1, step):
            ids = _id_range(start, min(start + step, count + 1))
            records = pa.RecordBatch.from_arrays(
                generator.columns(ids, size, seed, count), schema=schema
            )
            yield Batch(records, _state(cursor, records), bytes_read=records.nbytes)

    def estimate_rows(self, request: ReadRequest) -> int | None:
        """Exact: the ids after the request's state."""
        generator, _, seed, count = self._stream(request)
        first = _first_id(request, self._cursor(request), seed, count, generator.salt)
        return count - first + 1

    def _stream(self, request: ReadRequest) -> tuple[_Generator, int, int, int]:
        """The stream's generator, the size and seed, and the stream's row count."""
        generator = _GENERATORS.get(request.stream.name)
        if generator is None:
            raise StreamNotFoundError(
                f"The sample source has no stream '{request.stream.name}'.",
                stream=request.stream.name,
            )
        size, seed = self._size_and_seed()
        return generator, size, seed, size * generator.multiplier

    def _size_and_seed(self) -> tuple[int, int]:
        config = with_defaults(self.spec, self.config)
        try:
            size, seed = int(config["size"]), int(config["seed"])
        except (TypeError, ValueError) as exc:
            raise ConfigError("size and seed must be integers.") from exc
        if not 1 <= size <= MAX_SIZE:
            raise ConfigError(f"size must be between 1 and {MAX_SIZE}.")
        return size, seed

    @staticmethod
    def _cursor(request: ReadRequest) -> str | None:
        if request.sync_mode != "incremental":
            return None
        cursor = request.cursor_field or request.stream.default_cursor or "updated_at"
        if cursor not in ("id", "updated_at"):
            raise ConfigError(
                f"'{cursor}' cannot be a cursor; use updated_at or id.", stream=request.stream.name
            )
        return cursor


def _state(cursor: str | None, records: pa.RecordBatch) -> dict[str, Any]:
    """The state once `records` are loaded: its last row's (cursor, id), or its last id."""
    last_id = records.column(0)[-1].as_py()
    if cursor is None:
        return {"after": [last_id]}
    if cursor == "id":
        return {"cursor": [last_id]}
    updated_at = records.column(records.num_columns - 1)[-1].as_py()
    return {"cursor": [updated_at.isoformat(), last_id]}


def _first_id(request: ReadRequest, cursor: str | None, seed: int, count: int, salt: int) -> int:
    """The first id after the request's state (1 without a state)."""
    if not request.state:
        return 1
    key = "cursor" if cursor else "after"
    values = request.state.get(key)
    expected = 2 if cursor == "updated_at" else 1
    if not isinstance(values, list) or len(values) != expected:
        raise ConfigError(
            f"The saved state {request.state!r} does not fit this read; reset the stream.",
            stream=request.stream.name,
        )
    try:
        if cursor == "updated_at":
            micros, after_id = _micros(values[0]), int(values[1])
            return _first_after_timestamp(micros, after_id, seed, count, salt)
        return int(values[0]) + 1
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"The saved state {request.state!r} is not valid; reset the stream.",
            stream=request.stream.name,
        ) from exc


def _micros(iso: str) -> int:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _first_after_timestamp(micros: int, after_id: int, seed: int, count: int, salt: int) -> int:
    """The smallest id whose (updated_at, id) is greater than (micros, after_id): a binary search
    over ids, valid because updated_at increases with id."""
    low, high = 1, count + 1  # the answer lies in [low, high]; count + 1 means "none left"
    while low < high:
        middle = (low + high) // 2
        probe = pa.array([middle], pa.int64())
        updated = _updated_at_us(probe, seed, count, salt)[0].as_py()
        if (updated, middle) > (micros, after_id):
            high = middle
        else:
            low = middle + 1
    return low
