"""The PostgreSQL source against the real local server, in scratch databases."""

import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psutil
import psycopg
import pytest

from connectors.framework.base import (
    AuthenticationError,
    Batch,
    ConfigError,
    PermissionError_,
    ReadRequest,
    Stream,
    StreamNotFoundError,
    UnreachableError,
)
from connectors.framework.spec import validate_config
from connectors.framework.types import schema_for
from connectors.sources.postgres import PostgresSource
from connectors.sources.postgres.errors import map_error
from tests.connectors.conftest import connect, pg_config

# --- helpers ---------------------------------------------------------------------------------


def source(db: str, **overrides: Any) -> PostgresSource:
    return PostgresSource({**pg_config(db), **overrides})


def execute(database: str, *statements: str) -> None:
    with connect(database) as conn:
        for statement in statements:
            conn.execute(statement)


def stream_named(src: PostgresSource, name: str) -> Stream:
    return next(s for s in src.discover() if s.name == name)


def read(src: PostgresSource, stream: Stream, **kwargs: Any) -> list[Batch]:
    return list(src.read(ReadRequest(stream=stream, **kwargs)))


def rows(batches: list[Batch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.records.to_pylist()]


def column(batches: list[Batch], name: str) -> list[Any]:
    return [value for batch in batches for value in batch.records.column(name).to_pylist()]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in accepted:
            conn.close()


@pytest.fixture
def limited_role(scratch_database: str) -> Iterator[str]:
    """A login role with no privileges beyond PUBLIC's (the server trusts loopback)."""
    role = f"landed_limited_{uuid.uuid4().hex[:8]}"
    execute(scratch_database, f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        execute(scratch_database, f'DROP OWNED BY "{role}"')
        execute("postgres", f'DROP ROLE IF EXISTS "{role}"')


# --- spec ------------------------------------------------------------------------------------


def test_spec() -> None:
    spec = PostgresSource.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "postgres",
        "PostgreSQL",
        "database",
        "password",
    )
    assert spec.supports_incremental and not spec.static_schema
    fields = {f.name: f for f in spec.fields}
    assert [n for n, f in fields.items() if f.required] == ["host", "database", "username"]
    assert (fields["port"].default, fields["port"].minimum, fields["port"].maximum) == (
        5432,
        1,
        65535,
    )
    assert fields["password"].secret and spec.secret_fields == ("password",)
    assert fields["schemas"].default == "public"
    assert fields["sslmode"].choices == (
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    )
    assert fields["sslmode"].default == "prefer"
    timeout = fields["connect_timeout"]
    assert (timeout.default, timeout.minimum, timeout.maximum) == (10, 1, 300)
    assert validate_config(spec, {"host": "h", "database": "d", "username": "u"}) == []


# --- discovery -------------------------------------------------------------------------------

ALL_TYPES_DDL = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE DOMAIN price AS numeric(8, 3);
CREATE DOMAIN nested_price AS price;
CREATE TABLE all_types (
    c_int2 int2,
    id bigint NOT NULL,
    c_int4 int4 NOT NULL,
    c_float4 float4,
    c_float8 float8,
    c_numeric numeric(10, 2),
    c_numeric_38 numeric(38, 10),
    c_numeric_free numeric,
    c_numeric_wide numeric(50, 5),
    c_text text,
    c_varchar varchar(10),
    c_bpchar char(4),
    c_name name,
    c_citext citext,
    c_bool bool,
    c_bytea bytea,
    c_date date,
    c_time time,
    c_timestamp timestamp,
    c_timestamptz timestamptz,
    c_json json,
    c_jsonb jsonb,
    c_uuid uuid,
    c_int_array int[],
    c_text_array text[],
    c_interval interval,
    c_inet inet,
    c_enum mood,
    c_domain_int positive_int,
    c_domain_price nested_price,
    c_timetz timetz,
    c_money money,
    updated_at timestamptz,
    PRIMARY KEY (c_int4, id)
);
"""

# column: (logical type, precision, scale, source_type)
EXPECTED_COLUMNS = {
    "c_int2": ("smallint", None, None, "smallint"),
    "id": ("bigint", None, None, "bigint"),
    "c_int4": ("integer", None, None, "integer"),
    "c_float4": ("real", None, None, "real"),
    "c_float8": ("double", None, None, "double precision"),
    "c_numeric": ("decimal", 10, 2, "numeric(10,2)"),
    "c_numeric_38": ("decimal", 38, 10, "numeric(38,10)"),
    "c_numeric_free": ("decimal", None, None, "numeric"),
    "c_numeric_wide": ("decimal", 50, 5, "numeric(50,5)"),
    "c_text": ("string", None, None, "text"),
    "c_varchar": ("string", None, None, "character varying(10)"),
    "c_bpchar": ("string", None, None, "character(4)"),
    "c_name": ("string", None, None, "name"),
    "c_citext": ("string", None, None, "citext"),
    "c_bool": ("boolean", None, None, "boolean"),
    "c_bytea": ("binary", None, None, "bytea"),
    "c_date": ("date", None, None, "date"),
    "c_time": ("time", None, None, "time without time zone"),
    "c_timestamp": ("timestamp", None, None, "timestamp without time zone"),
    "c_timestamptz": ("timestamptz", None, None, "timestamp with time zone"),
    "c_json": ("json", None, None, "json"),
    "c_jsonb": ("json", None, None, "jsonb"),
    "c_uuid": ("uuid", None, None, "uuid"),
    "c_int_array": ("json", None, None, "integer[]"),
    "c_text_array": ("json", None, None, "text[]"),
    "c_interval": ("string", None, None, "interval"),
    "c_inet": ("string", None, None, "inet"),
    "c_enum": ("string", None, None, "mood"),
    "c_domain_int": ("integer", None, None, "positive_int"),
    "c_domain_price": ("decimal", 8, 3, "nested_price"),
    "c_timetz": ("string", None, None, "time with time zone"),
    "c_money": ("string", None, None, "money"),
    "updated_at": ("timestamptz", None, None, "timestamp with time zone"),
}

ALL_TYPES_ROWS = """
INSERT INTO all_types VALUES (
    1, 1, 10, 1.5, 2.25, 12345678.91, 1234567890123456789012345678.0123456789,
    1.234567890123456789012345678901234567890123,
    123456789012345678901234567890123456789012345.12345,
    'text ✓ ünïcode', 'varchar', 'ab', 'a_name', 'CiText', true, '\\x00ff10',
    '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456',
    '2024-01-02 03:04:05.123456+02',
    '{"b": 2, "a": [1, 2]}', '{"b": 2, "a": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{1,NULL,3}', '{"x","y z",NULL}', '1 year 2 mons 3 days 04:05:06.789', '192.168.0.1/24',
    'happy', 7, 12.345, '10:00:00+02', 12.5, '2024-05-01 00:00:00+00'
), (
    NULL, 2, 10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL
), (
    -32768, 3, -7, -0.0, 'Infinity', -0.01, 0, -1e-20, 0, '', '', '', '', '', false, '\\x',
    '0001-01-01', '00:00', '1970-01-01 00:00:00', '1999-12-31 23:59:59.5-08', 'null', '[]',
    '00000000-0000-0000-0000-000000000000', '{}', '{}', '-1 days', '::1', 'sad', 1, -0.001,
    '00:00:00-12', -1.5, '2024-05-01 00:00:00+00'
);
"""

# How psycopg sees each column when the source reads it as text (its text form), or None.
TEXT_FORM = {
    "c_numeric_free": "{c}::text",
    "c_numeric_wide": "{c}::text",
    "c_citext": "{c}::text",
    "c_json": "{c}::text",
    "c_jsonb": "{c}::text",
    "c_uuid": "{c}::text",
    "c_int_array": "to_json({c})::text",
    "c_text_array": "to_json({c})::text",
    "c_interval": "{c}::text",
    "c_inet": "{c}::text",
    "c_enum": "{c}::text",
    "c_timetz": "{c}::text",
    "c_money": "{c}::text",
}


@pytest.fixture
def all_types(scratch_database: str) -> str:
    execute(scratch_database, ALL_TYPES_DDL, ALL_TYPES_ROWS)
    return scratch_database


def test_discover_maps_every_type(all_types: str) -> None:
    stream = stream_named(source(all_types), "public.all_types")
    assert stream.kind == "table"
    found = {c.name: (c.type, c.precision, c.scale, c.source_type) for c in stream.columns}
    assert list(found) == list(EXPECTED_COLUMNS)  # ordinal order
    assert found == EXPECTED_COLUMNS
    assert stream.primary_key == ("c_int4", "id")  # key order, not column order
    nullable = {c.name for c in stream.columns if not c.nullable}
    assert nullable == {"id", "c_int4"}
    assert stream.cursor_candidates == (
        "c_int2",
        "id",
        "c_int4",
        "c_numeric",
        "c_numeric_38",
        "c_numeric_free",
        "c_numeric_wide",
        "c_date",
        "c_timestamp",
        "c_timestamptz",
        "c_domain_int",
        "c_domain_price",
        "updated_at",
    )
    assert stream.default_cursor == "updated_at"
    assert stream.supports_incremental
    assert Stream.from_dict(stream.as_dict()) == stream


def test_discover_views_schemas_and_default_cursor(scratch_database: str) -> None:
    execute(
        scratch_database,
        "CREATE TABLE a (id int PRIMARY KEY, modified_at timestamp, last_modified date)",
        "CREATE VIEW a_view AS SELECT id FROM a",
        "CREATE MATERIALIZED VIEW a_mat AS SELECT id, last_modified FROM a",
        "CREATE TABLE no_cursor (name text)",
        "CREATE SCHEMA sales",
        'CREATE SCHEMA "Mixed Case"',
        "CREATE TABLE sales.orders (id int PRIMARY KEY)",
        'CREATE TABLE "Mixed Case"."Odd ""Name""" (x int)',
        "CREATE TABLE parted (id int, at date) PARTITION BY RANGE (at)",
        "CREATE TABLE parted_2024 PARTITION OF parted"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    )
    streams = {s.name: s for s in source(scratch_database).discover()}
    assert set(streams) == {"public.a", "public.a_view", "public.a_mat", "public.no_cursor",
                            "public.parted"}  # fmt: skip
    assert streams["public.a"].default_cursor == "modified_at"
    assert streams["public.a_mat"].default_cursor == "last_modified"
    assert (streams["public.a_view"].kind, streams["public.a_mat"].kind) == ("view", "view")
    assert streams["public.a_view"].primary_key == ()
    assert streams["public.no_cursor"].cursor_candidates == ()
    assert not streams["public.no_cursor"].supports_incremental
    both = source(scratch_database, schemas=" sales , Mixed Case ").discover()
    assert [s.name for s in both] == ['Mixed Case.Odd "Name"', "sales.orders"]


def test_discover_unknown_schema_is_a_config_error(scratch_database: str) -> None:
    with pytest.raises(ConfigError, match="nope"):
        source(scratch_database, schemas="public,nope").discover()


# --- reading ---------------------------------------------------------------------------------


def test_read_round_trips_every_type(all_types: str) -> None:
    src = source(all_types)
    stream = stream_named(src, "public.all_types")
    batches = read(src, stream)
    for batch in batches:
        assert batch.records.schema.equals(schema_for(list(stream.columns)), check_metadata=True)
    selects = ", ".join(f"{TEXT_FORM.get(c, '{c}').format(c=c)} AS {c}" for c in EXPECTED_COLUMNS)
    with connect(all_types) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        expected = cur.execute(f"SELECT {selects} FROM all_types ORDER BY c_int4, id").fetchall()
    got = rows(batches)
    assert [r["id"] for r in got] == [3, 1, 2]  # ordered by the key (c_int4, id)
    for got_row, expected_row in zip(got, expected, strict=True):
        assert list(got_row) == list(EXPECTED_COLUMNS)
        for name, value in got_row.items():
            assert value == expected_row[name], (got_row["id"], name)


def test_read_text_forms_are_deterministic(all_types: str) -> None:
    src = source(all_types)
    first = rows(read(src, stream_named(src, "public.all_types"), sync_mode="full_refresh"))[1]
    assert first["c_timestamptz"].isoformat() == "2024-01-02T01:04:05.123456+00:00"
    assert first["c_int_array"] == "[1,null,3]"
    assert first["c_numeric"] == Decimal("12345678.91")
    assert first["c_bpchar"] == "ab  "  # padding kept
    assert first["c_bytea"] == b"\x00\xff\x10"


def test_numeric_nan_reads_as_null(scratch_database: str) -> None:
    execute(
        scratch_database,
        "CREATE TABLE n (id int PRIMARY KEY, v numeric(6, 2))",
        "INSERT INTO n VALUES (1, 'NaN'), (2, 1.5)",
    )
    src = source(scratch_database)
    assert column(read(src, stream_named(src, "public.n")), "v") == [None, Decimal("1.50")]


@pytest.fixture
def numbers(scratch_database: str) -> str:
    execute(
        scratch_database,
        "CREATE TABLE numbers (a int, b text, payload text, PRIMARY KEY (a, b))",
        "INSERT INTO numbers SELECT g / 3, 'k' || (g % 3), md5(g::text)"
        " FROM generate_series(0, 999) g ORDER BY random()",
    )
    return scratch_database


def test_batches_respect_batch_rows(numbers: str) -> None:
    src = source(numbers)
    stream = stream_named(src, "public.numbers")
    batches = read(src, stream, batch_rows=64)
    assert sum(b.records.num_rows for b in batches) == 1000
    assert all(0 < b.records.num_rows <= 64 for b in batches)
    assert all(b.bytes_read == b.records.nbytes > 0 for b in batches)


def test_full_refresh_resumes_after_the_state(numbers: str) -> None:
    src = source(numbers)
    stream = stream_named(src, "public.numbers")
    batches = read(src, stream, batch_rows=90)
    keys = [(r["a"], r["b"]) for r in rows(batches)]
    assert keys == sorted(keys) and len(set(keys)) == 1000
    for position, batch in enumerate(batches):
        last = batch.records.to_pylist()[-1]
        assert batch.state == {"after": [last["a"], last["b"]]}
        rest = read(src, stream, batch_rows=90, state=batch.state)
        assert rows(rest) == rows(batches[position + 1 :])


def test_resume_compares_keys_read_as_text_by_their_own_type(scratch_database: str) -> None:
    """An enum key travels as text but sorts in declaration order: ordering and resuming must
    both use the enum, not its text."""
    execute(
        scratch_database,
        "CREATE TYPE size AS ENUM ('small', 'medium', 'large')",
        "CREATE TABLE shirts (size size, n int, PRIMARY KEY (size, n))",
        "INSERT INTO shirts SELECT s, n FROM unnest(enum_range(NULL::size)) s,"
        " generate_series(1, 5) n ORDER BY random()",
    )
    src = source(scratch_database)
    stream = stream_named(src, "public.shirts")
    batches = read(src, stream, batch_rows=4)
    assert [(r["size"], r["n"]) for r in rows(batches)] == [
        (size, n) for size in ("small", "medium", "large") for n in range(1, 6)
    ]
    for position, batch in enumerate(batches):
        rest = read(src, stream, batch_rows=4, state=batch.state)
        assert rows(rest) == rows(batches[position + 1 :])


def test_full_refresh_without_a_key_has_no_state(numbers: str) -> None:
    execute(numbers, "CREATE VIEW numbers_view AS SELECT a, payload FROM numbers")
    src = source(numbers)
    batches = read(src, stream_named(src, "public.numbers_view"), batch_rows=300)
    assert sum(b.records.num_rows for b in batches) == 1000
    assert [b.state for b in batches] == [None] * 4


@pytest.fixture
def ticks(scratch_database: str) -> str:
    """Rows whose cursor values come in groups of ten (ties), inserted out of order."""
    execute(
        scratch_database,
        """CREATE TABLE ticks (
            id int PRIMARY KEY, at timestamptz, at_local timestamp, day date,
            amount numeric(10, 2), n bigint)""",
        """INSERT INTO ticks SELECT g,
            '2024-01-01 00:00:00.123456+00'::timestamptz + (g / 10) * interval '1.000001 second',
            '2024-01-01 00:00:00.654321'::timestamp + (g / 10) * interval '1 minute',
            date '2024-01-01' + g / 10, (g / 10) * 0.01, g / 10
           FROM generate_series(1, 95) g ORDER BY random()""",
        "INSERT INTO ticks (id) VALUES (1000), (1001)",  # NULL cursors: never read
    )
    return scratch_database


@pytest.mark.parametrize("cursor", ["at", "at_local", "day", "amount", "n"])
def test_incremental_breaks_ties_with_the_key(ticks: str, cursor: str) -> None:
    src = source(ticks)
    stream = stream_named(src, "public.ticks")
    batches = read(src, stream, sync_mode="incremental", cursor_field=cursor, batch_rows=7)
    ids = column(batches, "id")
    assert sorted(ids) == list(range(1, 96))  # no loss, no duplicates, no NULL cursor
    for batch in batches:
        last = batch.records.to_pylist()[-1]
        assert batch.state["cursor"][1] == last["id"]
    for position, batch in enumerate(batches):
        rest = read(src, stream, sync_mode="incremental", cursor_field=cursor, state=batch.state)
        assert column(rest, "id") == ids[7 * (position + 1) :]


def test_incremental_reads_only_newer_rows(ticks: str) -> None:
    src = source(ticks)
    stream = stream_named(src, "public.ticks")
    state = read(src, stream, sync_mode="incremental", cursor_field="at")[-1].state
    assert state["cursor"][1] == 95  # the largest id of the last group
    execute(
        ticks,
        # The cursor value of the last row read with a larger id is new; with a smaller id it
        # sorts before the state and is not read (the cursor contract: values only grow).
        "INSERT INTO ticks (id, at) SELECT 200, at FROM ticks WHERE id = 95",
        "INSERT INTO ticks (id, at) SELECT 0, at FROM ticks WHERE id = 95",
        "UPDATE ticks SET at = at + interval '1 hour' WHERE id = 3",
        "UPDATE ticks SET at = '2024-06-01 00:00:00+00' WHERE id = 1000",
    )
    newer = read(src, stream, sync_mode="incremental", cursor_field="at", state=state)
    assert column(newer, "id") == [200, 3, 1000]
    again = read(src, stream, sync_mode="incremental", cursor_field="at", state=newer[-1].state)
    assert again == []


def test_incremental_without_a_key_never_splits_a_tie(ticks: str) -> None:
    execute(ticks, "CREATE VIEW ticks_view AS SELECT id, n FROM ticks")
    src = source(ticks)
    stream = stream_named(src, "public.ticks_view")
    assert stream.primary_key == ()
    batches = read(src, stream, sync_mode="incremental", cursor_field="n", batch_rows=25)
    assert sorted(column(batches, "id")) == list(range(1, 96))
    assert all(b.records.num_rows <= 25 for b in batches)
    for before, after in itertools.pairwise(batches):
        assert before.records.column("n")[-1] != after.records.column("n")[0]
    for position, batch in enumerate(batches):
        assert batch.state == {"cursor": [batch.records.column("n")[-1].as_py()]}
        rest = read(src, stream, sync_mode="incremental", cursor_field="n", state=batch.state)
        assert sorted(column(rest, "id")) == sorted(column(batches[position + 1 :], "id"))


def test_incremental_without_a_key_and_huge_ties_repeats_but_never_loses(ticks: str) -> None:
    execute(ticks, "CREATE VIEW ticks_view AS SELECT id, n FROM ticks")
    src = source(ticks)
    stream = stream_named(src, "public.ticks_view")
    batches = read(src, stream, sync_mode="incremental", cursor_field="n", batch_rows=4)
    ids = column(batches, "id")
    assert sorted(ids) == list(range(1, 96))
    assert all(b.records.num_rows <= 4 for b in batches)
    delivered: list[int] = []
    for batch in batches:
        delivered += batch.records.column("id").to_pylist()
        rest = read(src, stream, sync_mode="incremental", cursor_field="n", state=batch.state)
        resumed = column(rest, "id")
        assert set(ids) - set(delivered) <= set(resumed)  # nothing lost
        assert len(resumed) < len(ids) - len(delivered) + 10  # repeats within one group only
    assert batches[-1].state == {"cursor": [9]}


def test_a_resumed_keyless_read_inside_a_huge_tie_keeps_its_starting_position(
    ticks: str,
) -> None:
    """Batches inside a group of equal cursor values bigger than a batch carry the position
    the read started from, never None (which would send the next sync back to the start)."""
    execute(ticks, "CREATE VIEW ticks_view AS SELECT id, n FROM ticks")
    src = source(ticks)
    stream = stream_named(src, "public.ticks_view")
    start = {"cursor": [3]}
    batches = read(
        src, stream, sync_mode="incremental", cursor_field="n", batch_rows=4, state=start
    )
    assert all(b.state is not None for b in batches)
    assert batches[0].state == start  # the first group (n = 4) is bigger than a batch
    assert batches[-1].state == {"cursor": [9]}


def test_dropped_column_reads_as_nulls_and_missing_table_is_not_found(numbers: str) -> None:
    src = source(numbers)
    stream = stream_named(src, "public.numbers")
    execute(numbers, "ALTER TABLE numbers DROP COLUMN payload")
    batches = read(src, stream)
    assert batches[0].records.schema.equals(schema_for(list(stream.columns)), check_metadata=True)
    assert set(column(batches, "payload")) == {None}
    execute(numbers, "DROP TABLE numbers")
    with pytest.raises(StreamNotFoundError) as caught:
        read(src, stream)
    assert caught.value.stream == "public.numbers"


def test_state_that_does_not_fit_is_a_config_error(numbers: str) -> None:
    src = source(numbers)
    stream = stream_named(src, "public.numbers")
    with pytest.raises(ConfigError):
        read(src, stream, state={"after": [1]})
    with pytest.raises(ConfigError):
        read(src, stream, sync_mode="incremental", cursor_field="nope")


def test_memory_stays_bounded_on_a_resumed_read(scratch_database: str) -> None:
    """200k rows of ~1 KB (~200 MB through the wire): resumed reads bind parameters, which
    ADBC would buffer whole; the source must still stream them in driver-sized batches."""
    execute(
        scratch_database,
        "CREATE UNLOGGED TABLE wide (id int PRIMARY KEY, pad text)",
        "INSERT INTO wide SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 200000) g",
    )
    src = source(scratch_database)
    stream = stream_named(src, "public.wide")
    process = psutil.Process(os.getpid())
    baseline = process.memory_info().rss
    peak, count, batches = baseline, 0, 0
    for batch in src.read(ReadRequest(stream=stream, state={"after": [0]}, batch_rows=10**7)):
        count += batch.records.num_rows
        batches += 1
        peak = max(peak, process.memory_info().rss)
    assert count == 200_000
    assert batches > 5  # the driver's batches (~16 MB), not one 200 MB result
    assert peak - baseline < 120 * 2**20


def test_read_rate_is_driver_speed(scratch_database: str) -> None:
    """A sanity floor only (CI machines vary); the report measures the real rate."""
    execute(
        scratch_database,
        "CREATE TABLE fast AS SELECT g::bigint AS id, g::int AS a, g * 0.5 AS b,"
        " (g % 100)::numeric(10, 2) AS c, md5(g::text) AS d, now() AS e"
        " FROM generate_series(1, 200000) g",
        "ALTER TABLE fast ADD PRIMARY KEY (id)",
    )
    src = source(scratch_database)
    stream = stream_named(src, "public.fast")
    started = time.perf_counter()
    assert sum(b.records.num_rows for b in read(src, stream)) == 200_000
    assert time.perf_counter() - started < 5


# --- check and errors ------------------------------------------------------------------------


def test_check_succeeds(all_types: str) -> None:
    result = source(all_types).check()
    assert result.ok, result.message
    assert (result.reachable, result.authenticated, result.permitted) == (True, True, True)


def test_unknown_schema_is_a_config_error(scratch_database: str) -> None:
    result = source(scratch_database, schemas="public, nope").check()
    assert not result.ok and result.error_type == "config_error"
    assert "nope" in result.message


def test_unknown_role_is_an_authentication_error(scratch_database: str) -> None:
    result = source(scratch_database, username="landed_no_such_role").check()
    assert not result.ok and result.error_type == "authentication_failed"
    assert (result.reachable, result.authenticated) == (True, False)
    with pytest.raises(AuthenticationError):
        source(scratch_database, username="landed_no_such_role").discover()


def test_auth_messages_are_told_apart_without_sqlstate() -> None:
    """Connection failures carry no SQLSTATE: the server's message decides."""
    fatal = 'connection failed: connection to server at "h" failed: FATAL:  {}'
    cases = {
        'password authentication failed for user "u"': "authentication_failed",
        'role "u" does not exist': "authentication_failed",
        'no pg_hba.conf entry for host "1.2.3.4", user "u", database "d"': "authentication_failed",
        'database "d" does not exist': "config_error",
        'permission denied for database "d"': "permission_denied",
        "Connection refused": "unreachable",
    }
    for message, kind in cases.items():
        assert map_error(psycopg.OperationalError(fatal.format(message))).kind == kind, message


def test_unknown_database_is_a_config_error(scratch_database: str) -> None:
    result = source(scratch_database, database="landed_no_such_database").check()
    assert not result.ok and result.error_type == "config_error"


def test_closed_port_is_unreachable_quickly() -> None:
    started = time.monotonic()
    result = source("postgres", port=free_port()).check()
    assert result.error_type == "unreachable" and result.reachable is False
    assert time.monotonic() - started < 1
    with pytest.raises(UnreachableError):
        source("postgres", port=free_port()).discover()


@pytest.mark.parametrize("timeout", [1, 2])
def test_silent_server_fails_within_connect_timeout(silent_listener: int, timeout: int) -> None:
    """psycopg (like libpq before PostgreSQL 17) treats a timeout below 2 s as 2 s."""
    bound = max(timeout, 2) + 0.75
    started = time.monotonic()
    result = source("postgres", port=silent_listener, connect_timeout=timeout).check()
    assert result.error_type == "unreachable", result.message
    assert time.monotonic() - started < bound
    stream = Stream(name="public.x", columns=())
    started = time.monotonic()
    with pytest.raises(UnreachableError):
        read(source("postgres", port=silent_listener, connect_timeout=timeout), stream)
    assert time.monotonic() - started < bound


def test_schema_without_usage_or_tables_without_select(
    scratch_database: str, limited_role: str
) -> None:
    execute(
        scratch_database,
        "CREATE SCHEMA private",
        "CREATE TABLE private.secret (id int)",
        "CREATE SCHEMA shared",
        "CREATE TABLE shared.hidden (id int)",
        "CREATE TABLE shared.visible (id int, secret text)",
        f'GRANT USAGE ON SCHEMA shared TO "{limited_role}"',
    )
    limited = source(scratch_database, username=limited_role, schemas="private")
    result = limited.check()
    assert result.error_type == "permission_denied", result.message
    assert (result.reachable, result.authenticated, result.permitted) == (True, True, False)
    with pytest.raises(PermissionError_):
        limited.discover()

    shared = source(scratch_database, username=limited_role, schemas="shared")
    assert shared.check().error_type == "permission_denied"
    execute(scratch_database, f'GRANT SELECT (id) ON shared.visible TO "{limited_role}"')
    result = shared.check()
    assert result.ok and "1 without SELECT" in result.message
    streams = shared.discover()
    assert [(s.name, [c.name for c in s.columns]) for s in streams] == [("shared.visible", ["id"])]
    execute(scratch_database, "INSERT INTO shared.visible VALUES (1, 's')")
    assert rows(read(shared, streams[0])) == [{"id": 1}]


# --- estimates -------------------------------------------------------------------------------
def test_the_estimate_is_the_planners_from_the_start_or_after_a_cursor(
    scratch_database: str,
) -> None:
    execute(
        scratch_database,
        "CREATE TABLE big (id int PRIMARY KEY, at timestamptz NOT NULL)",
        "CREATE TABLE empty (id int PRIMARY KEY)",
        "INSERT INTO big SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute'"
        " FROM generate_series(1, 20000) g",
        "ANALYZE big",
        "CREATE VIEW big_view AS SELECT id, at FROM big WHERE id % 2 = 0",
    )
    src = source(scratch_database)
    big = stream_named(src, "public.big")
    assert src.estimate_rows(ReadRequest(stream=big)) == 20000  # pg_class.reltuples

    incremental = {"sync_mode": "incremental", "cursor_field": "at"}
    state = read(src, big, batch_rows=15000, **incremental)[0].state  # 5,000 rows left
    estimate = src.estimate_rows(ReadRequest(stream=big, state=state, **incremental))
    assert 4000 <= estimate <= 6000  # the column's histogram, no scan
    resumed = src.estimate_rows(ReadRequest(stream=big, state={"after": [19000]}))
    assert 500 <= resumed <= 1500

    # Never analyzed and empty on disk: nothing to read (not the planner's guess of pages).
    assert src.estimate_rows(ReadRequest(stream=stream_named(src, "public.empty"))) == 0
    view = src.estimate_rows(ReadRequest(stream=stream_named(src, "public.big_view")))
    assert 0 < view <= 20000  # the planner's guess at the view's filter


def test_an_estimate_of_a_stream_gone_upstream_is_unknown(scratch_database: str) -> None:
    execute(scratch_database, "CREATE TABLE t (id int PRIMARY KEY)")
    src = source(scratch_database)
    stream = stream_named(src, "public.t")
    execute(scratch_database, "DROP TABLE t")
    assert src.estimate_rows(ReadRequest(stream=stream)) is None
