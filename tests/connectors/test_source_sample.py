"""The sample source: deterministic, sized, resumable, incremental by (updated_at, id)."""

import itertools
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors.framework.base import (
    Batch,
    ConfigError,
    ReadRequest,
    Stream,
    StreamNotFoundError,
)
from connectors.framework.spec import validate_config
from connectors.framework.types import schema_for
from connectors.sources.sample import SampleSource, static_streams

STREAMS = {stream.name: stream for stream in static_streams()}
MULTIPLIERS = {"customers": 1, "orders": 3, "events": 10}


def read(source: SampleSource, stream: str, **kwargs) -> list[Batch]:
    return list(source.read(ReadRequest(stream=STREAMS[stream], **kwargs)))


def table(batches: list[Batch]) -> pa.Table:
    return pa.Table.from_batches([b.records for b in batches])


def ids(batches: list[Batch]) -> list[int]:
    return [i for batch in batches for i in batch.records.column("id").to_pylist()]


def test_spec() -> None:
    spec = SampleSource.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "sample",
        "Sample data",
        "sample",
        "none",
    )
    assert spec.static_schema and spec.supports_incremental
    size = spec.field_named("size")
    assert (size.default, size.minimum, size.maximum) == (1000, 1, 10_000_000)
    assert spec.field_named("seed").default == 42
    assert validate_config(spec, {}) == []
    assert validate_config(spec, {"size": 0})[0].field == "size"


def test_check_always_succeeds() -> None:
    assert SampleSource({}).check().ok


def test_discover_is_the_static_schema() -> None:
    streams = SampleSource({"size": 3}).discover()
    assert [s.as_dict() for s in streams] == [s.as_dict() for s in static_streams()]
    assert [s.name for s in streams] == ["customers", "orders", "events"]
    for stream in streams:
        assert stream.primary_key == ("id",)
        assert stream.cursor_candidates == ("id", "updated_at")
        assert stream.default_cursor == "updated_at"
        assert Stream.from_dict(stream.as_dict()) == stream
    amount = STREAMS["orders"].column("amount")
    assert (amount.type, amount.precision, amount.scale) == ("decimal", 12, 2)
    assert STREAMS["events"].column("payload").type == "json"


@pytest.mark.parametrize("stream", ["customers", "orders", "events"])
def test_batches_have_the_stream_schema(stream: str) -> None:
    expected = schema_for(list(STREAMS[stream].columns))
    for batch in read(SampleSource({"size": 25}), stream, batch_rows=40):
        assert batch.records.schema.equals(expected, check_metadata=True)
        assert batch.bytes_read == batch.records.nbytes > 0


@pytest.mark.parametrize("stream", ["customers", "orders", "events"])
def test_sizes_and_batch_bound(stream: str) -> None:
    batches = read(SampleSource({"size": 37}), stream, batch_rows=10)
    count = 37 * MULTIPLIERS[stream]
    assert ids(batches) == list(range(1, count + 1))
    assert all(0 < b.records.num_rows <= 10 for b in batches)


def test_same_size_and_seed_same_data() -> None:
    first = table(read(SampleSource({"size": 50, "seed": 7}), "events", batch_rows=64))
    again = table(read(SampleSource({"size": 50, "seed": 7}), "events", batch_rows=33))
    other = table(read(SampleSource({"size": 50, "seed": 8}), "events", batch_rows=64))
    assert first.equals(again)
    assert not first.equals(other)


def test_values_are_plausible_and_related() -> None:
    source = SampleSource({"size": 200})
    customers = table(read(source, "customers"))
    orders = table(read(source, "orders"))
    events = table(read(source, "events"))
    assert len(set(customers.column("email").to_pylist())) == 200
    for child in (orders, events):
        customer_ids = child.column("customer_id")
        assert pc.min(customer_ids).as_py() >= 1 and pc.max(customer_ids).as_py() <= 200
    amounts = orders.column("amount").to_pylist()
    assert all(1 <= a < 1000 and a.as_tuple().exponent == -2 for a in amounts)
    assert set(orders.column("currency").to_pylist()) <= {"USD", "EUR", "GBP"}
    assert all(isinstance(json.loads(p), dict) for p in events.column("payload").to_pylist())
    assert pc.all(pc.less_equal(customers["created_at"], customers["updated_at"])).as_py()
    assert pc.all(pc.less_equal(events["occurred_at"], events["updated_at"])).as_py()


@pytest.mark.parametrize("stream", ["customers", "orders", "events"])
def test_updated_at_increases_strictly_with_id(stream: str) -> None:
    updated = table(read(SampleSource({"size": 500}), stream)).column("updated_at").to_pylist()
    assert all(a < b for a, b in itertools.pairwise(updated))


def test_generation_scales_without_per_row_python() -> None:
    """A million events in one batch: only feasible this fast when vectorized."""
    batches = read(SampleSource({"size": 100_000}), "events", batch_rows=1_000_000)
    assert [b.records.num_rows for b in batches] == [1_000_000]


def test_full_refresh_resumes_after_the_state() -> None:
    source = SampleSource({"size": 30})
    batches = read(source, "orders", batch_rows=8)
    assert [b.state for b in batches] == [{"after": [8 * (i + 1)]} for i in range(11)] + [
        {"after": [90]}
    ]
    for position, batch in enumerate(batches):
        rest = read(source, "orders", batch_rows=8, state=batch.state)
        assert ids(rest) == ids(batches[position + 1 :])


def test_incremental_state_and_resume() -> None:
    source = SampleSource({"size": 40})
    batches = read(source, "customers", sync_mode="incremental", batch_rows=15)
    whole = table(batches)
    for batch in batches:
        updated_at, last_id = batch.state["cursor"]
        assert last_id == batch.records.column("id")[-1].as_py()
        assert datetime.fromisoformat(updated_at) == batch.records.column("updated_at")[-1].as_py()
    for position, batch in enumerate(batches):
        rest = read(source, "customers", sync_mode="incremental", state=batch.state)
        assert ids(rest) == ids(batches[position + 1 :])
    # A cursor between two rows resumes at the next one, whatever id the state names.
    fifth = whole.column("updated_at")[4].as_py()
    rest = read(
        source, "customers", sync_mode="incremental", state={"cursor": [fifth.isoformat(), 0]}
    )
    assert ids(rest)[0] == 5
    rest = read(
        source, "customers", sync_mode="incremental", state={"cursor": [fifth.isoformat(), 5]}
    )
    assert ids(rest)[0] == 6


def test_incremental_from_the_end_reads_nothing_and_by_id_works() -> None:
    source = SampleSource({"size": 10})
    last = read(source, "events", sync_mode="incremental")[-1].state
    assert read(source, "events", sync_mode="incremental", state=last) == []
    by_id = read(source, "events", sync_mode="incremental", cursor_field="id", batch_rows=60)
    assert [b.state for b in by_id] == [{"cursor": [60]}, {"cursor": [100]}]
    rest = read(
        source, "events", sync_mode="incremental", cursor_field="id", state={"cursor": [97]}
    )
    assert ids(rest) == [98, 99, 100]


def test_bad_requests() -> None:
    source = SampleSource({"size": 10})
    unknown = Stream(name="nope", columns=())
    with pytest.raises(StreamNotFoundError):
        list(source.read(ReadRequest(stream=unknown)))
    with pytest.raises(ConfigError):
        read(source, "orders", sync_mode="incremental", cursor_field="amount")
    with pytest.raises(ConfigError):
        read(source, "orders", sync_mode="incremental", state={"cursor": ["x"]})
    with pytest.raises(ConfigError):
        read(SampleSource({"size": 0}), "orders")


# --- estimates -------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", ["customers", "events"])
def test_the_estimate_is_exact_from_the_start_and_from_a_state(stream: str) -> None:
    source = SampleSource({"size": 37})
    for kwargs in ({}, {"sync_mode": "incremental", "cursor_field": "updated_at"}):
        request = ReadRequest(stream=STREAMS[stream], batch_rows=50, **kwargs)
        batches = list(source.read(request))
        assert source.estimate_rows(request) == 37 * MULTIPLIERS[stream]
        for position, batch in enumerate(batches):
            rest = ReadRequest(stream=STREAMS[stream], batch_rows=50, state=batch.state, **kwargs)
            expected = sum(b.records.num_rows for b in batches[position + 1 :])
            assert source.estimate_rows(rest) == expected
