"""The PostgreSQL destination against the real local server, in scratch databases."""

import datetime as dt
import json
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.destinations import postgres as pg_dest
from connectors.destinations.postgres import PostgresDestination, PostgresLoader
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    SavedState,
    SchemaChange,
    StreamLoad,
    TransientError,
)
from connectors.framework.types import Column, schema_for
from tests.pg import connect, pg_config

NS = "landed_raw"
REPO = Path(__file__).resolve().parents[2]
UTC = dt.UTC

# --- Data ----------------------------------------------------------------------------------
EVERY_TYPE: list[tuple[Column, Any, str]] = [
    # (column, a value, the SQL type the column must get)
    (Column("c_boolean", "boolean"), True, "boolean"),
    (Column("c_smallint", "smallint"), -32768, "smallint"),
    (Column("c_integer", "integer"), 2147483647, "integer"),
    (Column("c_bigint", "bigint"), -9223372036854775808, "bigint"),
    (Column("c_real", "real"), 1.5, "real"),
    (Column("c_double", "double"), 1e308, "double precision"),
    (
        Column("c_decimal", "decimal", precision=12, scale=2),
        Decimal("-1234567890.12"),
        "numeric(12,2)",
    ),
    (
        Column("c_decimal_wide", "decimal", precision=50, scale=10),
        "1234567890123456789012345678901234567890.0123456789",
        "numeric(50,10)",
    ),
    (
        Column("c_decimal_any", "decimal"),
        "-0.000000000000000000000000000000000000000001",
        "numeric",
    ),
    (Column("c_string", "string"), "h\u00e9llo, 'quoted' \"and\" \\ back", "text"),
    (Column("c_binary", "binary"), b"\x00\xffbin", "bytea"),
    (Column("c_date", "date"), dt.date(2024, 2, 29), "date"),
    (Column("c_time", "time"), dt.time(23, 59, 59, 999999), "time without time zone"),
    (
        Column("c_timestamp", "timestamp"),
        dt.datetime(2024, 2, 29, 12, 0, 0, 123456),
        "timestamp without time zone",
    ),
    (
        Column("c_timestamptz", "timestamptz"),
        dt.datetime(2024, 2, 29, 12, 0, 0, 654321, tzinfo=UTC),
        "timestamp with time zone",
    ),
    (Column("c_json", "json"), '{"a": [1, 2, {"b": null}], "s": "\u00e9"}', "jsonb"),
    (Column("c_uuid", "uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid"),
]
ID = Column("id", "bigint", nullable=False)


def batch_of(columns: list[Column], rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """A record batch in the columns' Arrow types (the form sources produce)."""
    schema = schema_for(columns)
    arrays = [pa.array([row.get(f.name) for row in rows], type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def keyed(rows: list[tuple[int, str]]) -> pa.RecordBatch:
    return batch_of([ID, Column("v", "string")], [{"id": i, "v": v} for i, v in rows])


def load(
    table: str = "items",
    mode: str = "append",
    columns: tuple[Column, ...] = (ID, Column("v", "string")),
    run_id: str = "run-1",
    key: tuple[str, ...] = ("id",),
) -> StreamLoad:
    return StreamLoad(f"public.{table}", table, columns, mode, run_id, key)  # type: ignore[arg-type]


def rows_of(database: str, sql: str) -> list[tuple[Any, ...]]:
    with connect(database) as conn:
        return conn.execute(sql).fetchall()


def column_types(database: str, table: str, namespace: str = NS) -> dict[str, str]:
    rows = rows_of(
        database,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        f"WHERE attrelid = '{namespace}.{table}'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    return dict(rows)


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture
def destination(scratch_database: str) -> PostgresDestination:
    return PostgresDestination(pg_config(scratch_database))


@pytest.fixture
def loader(destination: PostgresDestination) -> Iterator[PostgresLoader]:
    with destination.open_loader(NS) as opened:
        yield opened


@pytest.fixture
def limited_role(scratch_database: str) -> Iterator[str]:
    """A login role with no CREATE privilege on the scratch database (PostgreSQL 15
    defaults); what it comes to own there is dropped with it."""
    name = f"landed_limited_{uuid.uuid4().hex[:8]}"
    with connect("postgres") as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
    try:
        yield name
    finally:
        with connect(scratch_database) as conn:
            conn.execute(f'DROP OWNED BY "{name}" CASCADE')
        with connect("postgres") as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


# --- Spec ----------------------------------------------------------------------------------
def test_spec_describes_the_connection() -> None:
    spec = PostgresDestination.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "postgres",
        "PostgreSQL",
        "database",
        "password",
    )
    fields = {f.name: f for f in spec.fields}
    assert set(fields) == {
        "host",
        "port",
        "database",
        "username",
        "password",
        "sslmode",
        "connect_timeout",
    }
    assert fields["port"].default == 5432
    assert fields["password"].secret and not fields["password"].required
    assert fields["sslmode"].default == "prefer"
    assert fields["sslmode"].choices == pg_dest.SSL_MODES
    assert fields["connect_timeout"].default == 10


# --- Round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_every_type_round_trips(mode: str, loader: PostgresLoader, scratch_database: str) -> None:
    columns = [ID] + [c for c, _, _ in EVERY_TYPE]
    full = {"id": 1, **{c.name: value for c, value, _ in EVERY_TYPE}}
    stream = loader.open_stream(load("every", mode, tuple(columns)))
    result = stream.write(batch_of(columns, [full, {"id": 2}]), {"cursor": 2})
    stream.finish({"cursor": 2})

    assert result.rows == 2 and result.bytes > 0
    types = column_types(scratch_database, "every")
    assert {c.name: types[c.name] for c, _, _ in EVERY_TYPE} == {
        c.name: sql for c, _, sql in EVERY_TYPE
    }
    assert types["_landed_synced_at"] == "timestamp with time zone"
    names = ", ".join(c.name for c, _, _ in EVERY_TYPE)
    first, second = rows_of(scratch_database, f"SELECT {names} FROM {NS}.every ORDER BY id")
    expected = []
    for column, value, _ in EVERY_TYPE:
        if column.type == "decimal" and isinstance(value, str):
            value = Decimal(value)
        elif column.type == "json":
            value = json.loads(value)
        elif column.type == "uuid":
            value = uuid.UUID(value)
        expected.append(value)
    assert list(first) == expected
    assert set(second) == {None}
    (synced,) = rows_of(
        scratch_database, f"SELECT count(*) FROM {NS}.every WHERE _landed_synced_at IS NULL"
    )
    assert synced == (0,)


def test_native_columns_load_by_direct_copy(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path: binary-compatible batches never touch a staging table."""
    native = [ID] + [c for c, _, _ in EVERY_TYPE if c.name not in ("c_json", "c_uuid")]
    native = [c for c in native if c.name not in ("c_decimal_wide", "c_decimal_any")]

    def no_staging(*_: object) -> None:
        raise AssertionError("staged")

    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", no_staging)
    stream = loader.open_stream(load("native", "append", tuple(native)))
    stream.write(batch_of(native, [{"id": 1, "c_string": "x"}]), None)
    stream.finish(None)
    assert rows_of(scratch_database, f"SELECT id, c_string FROM {NS}.native") == [(1, "x")]


# --- Merge ---------------------------------------------------------------------------------
def test_merge_last_occurrence_wins_within_and_across_batches(
    loader: PostgresLoader, scratch_database: str
) -> None:
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a"), (2, "b"), (1, "c"), (3, "d"), (1, "e")]), {"n": 1})
    stream.write(keyed([(2, "B"), (4, "x"), (4, "y")]), {"n": 2})
    stream.finish({"n": 2})
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.m ORDER BY id") == [
        (1, "e"),
        (2, "B"),
        (3, "d"),
        (4, "y"),
    ]


def test_merge_into_an_empty_table_copies_until_a_key_repeats(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load with merge costs an append: plain COPY while keys are new. The first
    repeated key rolls that batch back whole and it, and every later batch, merges."""
    staged = []
    real_stage = pg_dest.PostgresStreamLoader._stage

    def counting_stage(self, batch):
        staged.append(batch.num_rows)
        return real_stage(self, batch)

    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", counting_stage)
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a"), (2, "b")]), {"n": 1})
    stream.write(keyed([(3, "c")]), {"n": 2})
    assert staged == []
    stream.write(keyed([(2, "B"), (5, "e")]), {"n": 3})
    stream.write(keyed([(6, "f")]), {"n": 4})
    stream.finish({"n": 4})
    assert staged == [2, 1]
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.m ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
        (5, "e"),
        (6, "f"),
    ]
    assert loader.saved_states()["public.m"].state == {"n": 4}


def test_merge_updates_synced_at(loader: PostgresLoader, scratch_database: str) -> None:
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a")]), None)
    (before,) = rows_of(scratch_database, f"SELECT _landed_synced_at FROM {NS}.m")
    stream.write(keyed([(1, "b")]), None)
    (after,) = rows_of(scratch_database, f"SELECT _landed_synced_at FROM {NS}.m")
    assert after[0] > before[0]


def test_merge_needs_a_key(loader: PostgresLoader) -> None:
    with pytest.raises(ConfigError, match="primary key"):
        loader.open_stream(load("m", "merge", key=()))


def test_merge_into_a_table_with_duplicate_keys_is_refused(loader: PostgresLoader) -> None:
    appended = loader.open_stream(load("dup", "append"))
    appended.write(keyed([(1, "a"), (1, "b")]), None)
    appended.finish(None)
    with pytest.raises(ConfigError, match="duplicate values of the key"):
        loader.open_stream(load("dup", "merge"))


def test_merge_into_an_appended_table_adds_a_unique_index(
    loader: PostgresLoader, scratch_database: str
) -> None:
    appended = loader.open_stream(load("grow", "append"))
    appended.write(keyed([(1, "a"), (2, "b")]), None)
    appended.finish(None)
    merged = loader.open_stream(load("grow", "merge"))
    merged.write(keyed([(2, "B"), (3, "c")]), None)
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.grow ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]


# --- Overwrite -----------------------------------------------------------------------------
def test_overwrite_swaps_atomically(loader: PostgresLoader, scratch_database: str) -> None:
    first = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
    first.write(keyed([(1, "old"), (2, "old")]), None)
    first.finish(None)

    second = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
    second.write(keyed([(10, "new")]), {"page": 1})
    with connect(scratch_database) as reader:
        query = f"SELECT id, v FROM {NS}.ow ORDER BY id"
        assert reader.execute(query).fetchall() == [(1, "old"), (2, "old")]
        second.write(keyed([(11, "new")]), {"page": 2})
        assert reader.execute(query).fetchall() == [(1, "old"), (2, "old")]
        second.finish({"page": 2})
        assert reader.execute(query).fetchall() == [(10, "new"), (11, "new")]
    stage = rows_of(scratch_database, f"SELECT to_regclass('{NS}._landed_stage_ow')")
    assert stage == [(None,)]
    assert loader.saved_states()["public.ow"] == SavedState("public.ow", {"page": 2}, "run-2", True)


def test_overwrite_resumes_the_same_run_and_restarts_another(
    destination: PostgresDestination, scratch_database: str
) -> None:
    with destination.open_loader(NS) as loader:
        attempt = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
        attempt.write(keyed([(1, "a"), (2, "b")]), {"page": 1})
        # The attempt dies here: no finish.
    with destination.open_loader(NS) as loader:
        saved = loader.saved_states()["public.ow"]
        assert (saved.run_id, saved.complete, saved.state) == ("run-1", False, {"page": 1})
        resumed = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
        resumed.write(keyed([(3, "c")]), {"page": 2})
        resumed.finish({"page": 2})
    assert rows_of(scratch_database, f"SELECT id FROM {NS}.ow ORDER BY id") == [(1,), (2,), (3,)]

    with destination.open_loader(NS) as loader:
        attempt = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
        attempt.write(keyed([(7, "x")]), {"page": 1})
    with destination.open_loader(NS) as loader:
        other = loader.open_stream(load("ow", "overwrite", run_id="run-3"))
        other.write(keyed([(9, "z")]), {"page": 1})
        other.finish({"page": 1})
    assert rows_of(scratch_database, f"SELECT id FROM {NS}.ow ORDER BY id") == [(9,)]


def test_overwrite_refuses_to_drop_dependent_views(
    loader: PostgresLoader, scratch_database: str
) -> None:
    first = loader.open_stream(load("ow", "overwrite"))
    first.write(keyed([(1, "a")]), None)
    first.finish(None)
    with connect(scratch_database) as conn:
        conn.execute(f"CREATE VIEW {NS}.ow_view AS SELECT id FROM {NS}.ow")
    second = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
    second.write(keyed([(2, "b")]), None)
    with pytest.raises(ConfigError, match="depend"):
        second.finish(None)
    assert rows_of(scratch_database, f"SELECT id FROM {NS}.ow_view") == [(1,)]


# --- Exactly once --------------------------------------------------------------------------
def test_failed_write_commits_neither_rows_nor_state(
    loader: PostgresLoader, scratch_database: str
) -> None:
    columns = (ID, Column("doc", "json"))
    stream = loader.open_stream(load("docs", "append", columns))
    stream.write(batch_of(list(columns), [{"id": 1, "doc": "{}"}]), {"n": 1})
    bad = batch_of(list(columns), [{"id": 2, "doc": "[]"}, {"id": 3, "doc": "{not json"}])
    with pytest.raises(ConnectorError, match="json"):
        stream.write(bad, {"n": 2})
    assert rows_of(scratch_database, f"SELECT id FROM {NS}.docs") == [(1,)]
    assert loader.saved_states()["public.docs"].state == {"n": 1}
    # The connection is usable after the rollback.
    stream.write(batch_of(list(columns), [{"id": 2, "doc": "[]"}]), {"n": 2})
    assert loader.saved_states()["public.docs"].state == {"n": 2}


_KILLED_WRITER = """
import os, sys
import pyarrow as pa
from connectors.destinations.postgres import PostgresDestination, PostgresLoader
from connectors.framework.base import StreamLoad
from connectors.framework.types import Column, schema_for

config = {config!r}
columns = (Column("id", "bigint"), Column("v", "string"))
schema = schema_for(list(columns))
def batch(start):
    ids = list(range(start, start + 1000))
    arrays = [pa.array(ids), pa.array([str(i) for i in ids])]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

with PostgresDestination(config).open_loader({namespace!r}) as loader:
    stream = loader.open_stream(StreamLoad("s", "killed", columns, {mode!r}, "run-1", ("id",)))
    stream.write(batch(0), {{"n": 1}})
    original = PostgresLoader.save_state
    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os._exit(17)  # rows and state are written; the commit never comes
    PostgresLoader.save_state = save_then_die
    stream.write(batch(1000), {{"n": 2}})
"""


@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_killed_write_commits_neither_rows_nor_state(
    mode: str, destination: PostgresDestination, scratch_database: str
) -> None:
    script = _KILLED_WRITER.format(config=pg_config(scratch_database), namespace=NS, mode=mode)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 17, done.stderr
    table = "_landed_stage_killed" if mode == "overwrite" else "killed"
    assert rows_of(scratch_database, f"SELECT count(*), max(id) FROM {NS}.{table}") == [(1000, 999)]
    with destination.open_loader(NS) as loader:
        assert loader.saved_states()["s"] == SavedState("s", {"n": 1}, "run-1", False)


def test_saved_states_round_trip_and_reset(loader: PostgresLoader) -> None:
    assert loader.saved_states() == {}
    first = loader.open_stream(load("a"))
    first.write(keyed([(1, "x")]), {"cursor": "2024-01-01", "nested": {"k": [1, None]}})
    second = loader.open_stream(load("b"))
    second.write(keyed([]), None)
    second.finish(None)
    states = loader.saved_states()
    assert states == {
        "public.a": SavedState(
            "public.a", {"cursor": "2024-01-01", "nested": {"k": [1, None]}}, "run-1", False
        ),
        "public.b": SavedState("public.b", None, "run-1", True),
    }
    loader.reset_state("public.a")
    assert set(loader.saved_states()) == {"public.b"}


def test_a_state_that_is_not_json_fails_the_write_whole(
    loader: PostgresLoader, scratch_database: str
) -> None:
    stream = loader.open_stream(load("nan"))
    with pytest.raises(ConnectorError, match="not JSON"):
        stream.write(keyed([(1, "a")]), {"cursor": float("nan")})
    assert rows_of(scratch_database, f"SELECT count(*) FROM {NS}.nan") == [(0,)]


def test_unknown_batch_column_is_refused(loader: PostgresLoader) -> None:
    stream = loader.open_stream(load("items"))
    stray = batch_of([ID, Column("other", "string")], [{"id": 1, "other": "x"}])
    with pytest.raises(ConfigError, match="other"):
        stream.write(stray, None)


# --- Schema evolution ----------------------------------------------------------------------
def _changes(stream: Any) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(c.change, c.column, c.old_type, c.new_type) for c in stream.schema_changes}


def test_schema_evolution_is_recorded_and_loses_nothing(
    loader: PostgresLoader, scratch_database: str
) -> None:
    v1 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    first = loader.open_stream(load("evo", "append", v1))
    assert _changes(first) == {("table_created", None, None, None)}
    first.write(batch_of(list(v1), [{"id": 1, "n": 7, "code": 42, "gone": "kept"}]), None)
    first.finish(None)

    v2 = (ID, Column("n", "bigint"), Column("code", "string"), Column("added", "date"))
    second = loader.open_stream(load("evo", "append", v2))
    assert _changes(second) == {
        ("type_changed", "n", "integer", "bigint"),
        ("type_changed", "code", "integer", "text"),
        ("column_added", "added", None, "date"),
        ("column_removed", "gone", "text", None),
    }
    assert loader.schema_changes[-4:] == second.schema_changes
    row = {"id": 2, "n": 2**40, "code": "A-7", "added": dt.date(2024, 1, 2)}
    second.write(batch_of(list(v2), [row]), None)
    second.finish(None)
    assert rows_of(
        scratch_database, f"SELECT id, n, code, added, gone FROM {NS}.evo ORDER BY id"
    ) == [(1, 7, "42", None, "kept"), (2, 2**40, "A-7", dt.date(2024, 1, 2), None)]
    types = column_types(scratch_database, "evo")
    assert (types["n"], types["code"], types["gone"]) == ("bigint", "text", "text")

    again = loader.open_stream(load("evo", "append", v2))
    assert again.schema_changes == []  # the removal was recorded once

    # A narrower type loads into the wider column; a returning column is written again.
    v3 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    third = loader.open_stream(load("evo", "append", v3))
    assert _changes(third) == {("column_removed", "added", "date", None)}
    third.write(batch_of(list(v3), [{"id": 3, "n": 5, "code": 9, "gone": "back"}]), None)
    assert rows_of(scratch_database, f"SELECT n, code, gone FROM {NS}.evo WHERE id = 3") == [
        (5, "9", "back")
    ]


def test_merge_table_evolves_its_key_column(loader: PostgresLoader, scratch_database: str) -> None:
    v1 = (Column("id", "integer"), Column("n", "integer"))
    v2 = (Column("id", "bigint"), Column("n", "string"))
    first = loader.open_stream(load("keyed", "merge", v1))
    first.write(batch_of(list(v1), [{"id": 1, "n": 1}]), None)
    second = loader.open_stream(load("keyed", "merge", v2))
    assert _changes(second) == {
        ("type_changed", "id", "integer", "bigint"),
        ("type_changed", "n", "integer", "text"),
    }
    second.write(batch_of(list(v2), [{"id": 1, "n": "one"}, {"id": 2**40, "n": "big"}]), None)
    assert rows_of(scratch_database, f"SELECT id, n FROM {NS}.keyed ORDER BY id") == [
        (1, "one"),
        (2**40, "big"),
    ]


def test_widening_rules() -> None:
    from connectors.destinations.sql import evolution as ev

    types = pg_dest.TYPES
    cases = [
        ("smallint", Column("c", "integer"), "widen"),
        ("integer", Column("c", "double"), "widen"),
        ("bigint", Column("c", "double"), "text"),
        ("real", Column("c", "double"), "widen"),
        ("integer", Column("c", "decimal", precision=12, scale=2), "widen"),
        ("integer", Column("c", "decimal", precision=10, scale=2), "text"),
        ("numeric(10,2)", Column("c", "decimal", precision=12, scale=4), "widen"),
        ("numeric(10,2)", Column("c", "decimal"), "widen"),
        ("date", Column("c", "timestamptz"), "widen"),
        ("timestamp without time zone", Column("c", "timestamptz"), "widen"),
        ("timestamp with time zone", Column("c", "timestamp"), "fits"),
        ("timestamp with time zone", Column("c", "date"), "fits"),
        ("boolean", Column("c", "integer"), "text"),
        ("bigint", Column("c", "integer"), "fits"),
        ("text", Column("c", "json"), "fits"),
        ("jsonb", Column("c", "string"), "text"),
        ("uuid", Column("c", "uuid"), "same"),
        ("character varying(20)", Column("c", "string"), "text"),
    ]
    for existing, column, expected in cases:
        assert ev.relation(existing, column, types) == expected, (existing, column)


def test_widened_column_keeps_direct_copy(
    loader: PostgresLoader, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = (ID, Column("n", "bigint"))
    loader.open_stream(load("w", "append", wide)).finish(None)
    monkeypatch.setattr(pg_dest.PostgresStreamLoader, "_stage", lambda *_: pytest.fail("staged"))
    narrow = (ID, Column("n", "integer"))
    stream = loader.open_stream(load("w", "append", narrow))
    stream.write(batch_of(list(narrow), [{"id": 1, "n": 5}]), None)
    assert rows_of(scratch_database, f"SELECT n FROM {NS}.w") == [(5,)]


def test_overwrite_reports_changes_against_the_replaced_table(
    loader: PostgresLoader, scratch_database: str
) -> None:
    v1 = (ID, Column("a", "integer"), Column("b", "string"))
    first = loader.open_stream(load("ow", "overwrite", v1))
    first.write(batch_of(list(v1), [{"id": 1, "a": 1, "b": "x"}]), None)
    first.finish(None)
    v2 = (ID, Column("a", "string"))
    second = loader.open_stream(load("ow", "overwrite", v2, run_id="run-2"))
    assert _changes(second) == {
        ("type_changed", "a", "integer", "text"),
        ("column_removed", "b", "text", None),
    }
    second.write(batch_of(list(v2), [{"id": 2, "a": "two"}]), None)
    second.finish(None)
    assert rows_of(scratch_database, f"SELECT id, a, b FROM {NS}.ow") == [(2, "two", None)]


# --- Loader and check failures -------------------------------------------------------------
@pytest.mark.parametrize("namespace", ["", "pg_catalog", "a-b", 'x"; drop', "9lives", "a" * 64])
def test_invalid_namespace_is_refused(destination: PostgresDestination, namespace: str) -> None:
    with pytest.raises(ConfigError):
        destination.open_loader(namespace)


def test_check_succeeds(destination: PostgresDestination) -> None:
    result = destination.check()
    assert result.ok and result.permitted, result.message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_closed_port_is_unreachable_at_once(scratch_database: str) -> None:
    config = {**pg_config(scratch_database), "host": "127.0.0.1", "port": _free_port()}
    started = time.monotonic()
    result = PostgresDestination(config).check()
    assert not result.ok and result.reachable is False and result.error_type == "unreachable"
    assert time.monotonic() - started < 2


def test_check_silent_listener_fails_within_connect_timeout(scratch_database: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nothing ever answers
        config = {
            **pg_config(scratch_database),
            "host": "127.0.0.1",
            "port": silent.getsockname()[1],
            "connect_timeout": 1,
        }
        started = time.monotonic()
        result = PostgresDestination(config).check()
        elapsed = time.monotonic() - started
    assert not result.ok and result.reachable is False
    assert "connect_timeout" in result.message
    assert elapsed < 1.9


def test_open_loader_silent_listener_raises_unreachable(scratch_database: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = {**pg_config(scratch_database), "port": silent.getsockname()[1]}
        config["connect_timeout"] = 1
        with pytest.raises(ConnectorError) as raised:
            PostgresDestination(config).open_loader(NS)
    assert raised.value.retryable and raised.value.kind == "unreachable"


def test_check_missing_database_is_a_config_error(scratch_database: str) -> None:
    result = PostgresDestination(pg_config(f"{scratch_database}_missing")).check()
    assert not result.ok and result.error_type == "config_error"
    assert "does not exist" in result.message


def test_check_unknown_role_fails_authentication(scratch_database: str) -> None:
    config = {**pg_config(scratch_database), "username": f"nobody_{uuid.uuid4().hex[:8]}"}
    result = PostgresDestination(config).check()
    assert not result.ok and result.reachable is True and result.authenticated is False
    assert result.error_type == "authentication_failed"


def test_check_without_create_privilege_is_not_permitted(
    scratch_database: str, limited_role: str
) -> None:
    config = {**pg_config(scratch_database), "username": limited_role}
    result = PostgresDestination(config).check()
    assert not result.ok and result.authenticated is True and result.permitted is False
    assert "CREATE" in result.message
    with connect(scratch_database) as conn:
        leftovers = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE '_landed_check_%'"
        ).fetchall()
    assert leftovers == []


def test_check_leaves_nothing_behind(
    destination: PostgresDestination, scratch_database: str
) -> None:
    assert destination.check().ok
    schemas = rows_of(
        scratch_database, "SELECT nspname FROM pg_namespace WHERE nspname LIKE '%landed%'"
    )
    assert schemas == []


def test_check_ssl_required_by_a_server_without_ssl_is_a_config_error(
    scratch_database: str,
) -> None:
    result = PostgresDestination({**pg_config(scratch_database), "sslmode": "require"}).check()
    assert not result.ok and result.error_type == "config_error"
    assert "SSL" in result.message


def test_check_rejects_invalid_config() -> None:
    result = PostgresDestination({"host": "127.0.0.1", "database": "x"}).check()
    assert not result.ok and result.error_type == "config_error"


def test_existing_namespace_needs_no_create_privilege_on_the_database(
    scratch_database: str, limited_role: str
) -> None:
    with connect(scratch_database) as conn:
        conn.execute(f'CREATE SCHEMA {NS} AUTHORIZATION "{limited_role}"')
    config = {**pg_config(scratch_database), "username": limited_role}
    with PostgresDestination(config).open_loader(NS) as loader:
        stream = loader.open_stream(load("mine"))
        stream.write(keyed([(1, "a")]), {"n": 1})
        stream.finish({"n": 1})
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.mine") == [(1, "a")]


def test_schema_change_dataclass_is_what_is_recorded(loader: PostgresLoader) -> None:
    stream = loader.open_stream(load("fresh"))
    assert stream.schema_changes == [SchemaChange("public.fresh", "table_created")]


def test_one_loader_per_namespace_at_a_time(destination: PostgresDestination) -> None:
    with destination.open_loader(NS):
        with pytest.raises(TransientError, match="Another sync is loading"):
            destination.open_loader(NS)
        # Another namespace is free.
        with destination.open_loader(f"{NS}_other"):
            pass
    # Released with the first loader's connection.
    with destination.open_loader(NS):
        pass


def test_a_swap_blocked_by_a_readers_lock_fails_retryably(
    destination: PostgresDestination, scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_dest, "LOCK_TIMEOUT_SECONDS", 0.5)
    with destination.open_loader(NS) as loader:
        first = loader.open_stream(load("t", "overwrite", run_id="r1"))
        first.write(keyed([(1, "a")]), None)
        first.finish(None)
    with connect(scratch_database) as reader:
        reader.execute("BEGIN")
        reader.execute(f"SELECT * FROM {NS}.t")  # an analyst's open transaction
        with destination.open_loader(NS) as loader:
            second = loader.open_stream(load("t", "overwrite", run_id="r2"))
            second.write(keyed([(2, "b")]), None)
            with pytest.raises(TransientError):
                second.finish(None)
        reader.execute("ROLLBACK")
    assert rows_of(scratch_database, f"SELECT id, v FROM {NS}.t") == [(1, "a")]
