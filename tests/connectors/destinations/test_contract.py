"""The contract every SQL destination keeps, run against each one (PostgreSQL on the real local
server in a scratch database, DuckDB in a file under a temporary root): every type round-trips,
merge keeps the last occurrence, overwrite swaps atomically and resumes only its own run, a
batch's rows and state commit together or not at all (even when the process is killed), states
round-trip, and the schema evolves without losing a value.

A destination added later joins by adding a `DestinationUnderTest` to `helpers.py` and its name
to the `dest` fixture."""

import datetime as dt
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.destinations import duckdb as duck
from connectors.destinations import postgres as pg_dest
from connectors.destinations.sql import evolution as ev
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    Loader,
    SavedState,
    SchemaChange,
)
from connectors.framework.types import Column
from tests.connectors.destinations.helpers import (
    EVERY_TYPE,
    ID,
    NS,
    DestinationUnderTest,
    DuckDBUnderTest,
    PostgresUnderTest,
    batch_of,
    keyed,
    load,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["postgres", "duckdb"])
def dest(request: pytest.FixtureRequest) -> DestinationUnderTest:
    if request.param == "postgres":
        return PostgresUnderTest(request.getfixturevalue("scratch_database"))
    return DuckDBUnderTest(request.getfixturevalue("duckdb_root"))


@pytest.fixture
def loader(dest: DestinationUnderTest) -> Iterator[Loader]:
    with dest.destination.open_loader(NS) as opened:
        yield opened


# --- Round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_every_type_round_trips(mode: str, dest: DestinationUnderTest, loader: Loader) -> None:
    columns = [ID] + [c for c, _ in EVERY_TYPE]
    full = {"id": 1, **{c.name: value for c, value in EVERY_TYPE}}
    stream = loader.open_stream(load("every", mode, tuple(columns)))
    result = stream.write(batch_of(columns, [full, {"id": 2}]), {"cursor": 2})
    stream.finish({"cursor": 2})

    assert result.rows == 2 and result.bytes > 0
    types = dest.column_types("every")
    assert {c.name: types[c.name] for c, _ in EVERY_TYPE} == dest.every_type_sql
    assert types["_landed_synced_at"] == dest.sql_types["timestamptz"]
    names = ", ".join(c.name for c, _ in EVERY_TYPE)
    first, second = dest.rows(f"SELECT {names} FROM {NS}.every ORDER BY id")
    read = [dest.read_value(c, got) for (c, _), got in zip(EVERY_TYPE, first, strict=True)]
    assert read == [dest.expected_value(c, value) for c, value in EVERY_TYPE]
    assert set(second) == {None}
    (synced,) = dest.rows(f"SELECT count(*) FROM {NS}.every WHERE _landed_synced_at IS NULL")
    assert synced == (0,)


# --- Merge ---------------------------------------------------------------------------------
def test_merge_last_occurrence_wins_within_and_across_batches(
    dest: DestinationUnderTest, loader: Loader
) -> None:
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a"), (2, "b"), (1, "c"), (3, "d"), (1, "e")]), {"n": 1})
    stream.write(keyed([(2, "B"), (4, "x"), (4, "y")]), {"n": 2})
    stream.finish({"n": 2})
    assert dest.rows(f"SELECT id, v FROM {NS}.m ORDER BY id") == [
        (1, "e"),
        (2, "B"),
        (3, "d"),
        (4, "y"),
    ]


def test_merge_updates_synced_at(dest: DestinationUnderTest, loader: Loader) -> None:
    stream = loader.open_stream(load("m", "merge"))
    stream.write(keyed([(1, "a")]), None)
    (before,) = dest.rows(f"SELECT _landed_synced_at FROM {NS}.m")
    stream.write(keyed([(1, "b")]), None)
    (after,) = dest.rows(f"SELECT _landed_synced_at FROM {NS}.m")
    assert after[0] > before[0]


def test_merge_needs_a_key(loader: Loader) -> None:
    with pytest.raises(ConfigError, match="primary key"):
        loader.open_stream(load("m", "merge", key=()))


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "unfinished"])
def test_merge_into_a_table_with_duplicate_keys_is_refused(
    finished: bool, dest: DestinationUnderTest, loader: Loader
) -> None:
    appended = loader.open_stream(load("dup", "append"))
    appended.write(keyed([(1, "a"), (1, "b")]), None)
    if finished:
        appended.finish(None)
    with pytest.raises(ConfigError, match=dest.duplicate_key_error):
        loader.open_stream(load("dup", "merge"))


def test_merge_into_an_appended_table_adds_a_unique_key(
    dest: DestinationUnderTest, loader: Loader
) -> None:
    appended = loader.open_stream(load("grow", "append"))
    appended.write(keyed([(1, "a"), (2, "b")]), None)
    appended.finish(None)
    merged = loader.open_stream(load("grow", "merge"))
    merged.write(keyed([(2, "B"), (3, "c")]), None)
    assert dest.rows(f"SELECT id, v FROM {NS}.grow ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]
    merged.finish(None)
    again = loader.open_stream(load("grow", "merge"))  # the key is found, not re-made
    again.write(keyed([(3, "C")]), None)
    assert dest.rows(f"SELECT id, v FROM {NS}.grow ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "C"),
    ]


# --- Stages --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("append", [("loading", 0), ("finishing", 3)]),
        ("merge", [("merging", 0), ("finishing", 3)]),
        # Reported before the swap: readers still see the old copy.
        ("overwrite", [("loading", 1), ("swapping", 1)]),
    ],
)
def test_a_load_reports_each_stage_once_as_it_begins(
    mode: str, expected: list[tuple[str, int]], dest: DestinationUnderTest, loader: Loader
) -> None:
    if mode == "overwrite":
        old = loader.open_stream(load("staged", "overwrite", run_id="run-0"))
        old.write(keyed([(100, "old")]), None)
        old.finish(None)
    stream = loader.open_stream(load("staged", mode))
    seen: list[tuple[str, int]] = []
    with dest.reader() as read:
        count = f"SELECT count(*) FROM {NS}.staged"
        stream.stage_listener = lambda stage: seen.append((stage, read(count)[0][0]))
        for page in range(3):
            stream.write(keyed([(page, "v")]), {"page": page})
        stream.finish({"page": 2})
        assert read(count) == [(3,)]
    assert seen == expected


# --- Overwrite -----------------------------------------------------------------------------
def test_overwrite_swaps_atomically(dest: DestinationUnderTest, loader: Loader) -> None:
    first = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
    first.write(keyed([(1, "old"), (2, "old")]), None)
    first.finish(None)

    second = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
    second.write(keyed([(10, "new")]), {"page": 1})
    with dest.reader() as read:
        query = f"SELECT id, v FROM {NS}.ow ORDER BY id"
        assert read(query) == [(1, "old"), (2, "old")]
        second.write(keyed([(11, "new")]), {"page": 2})
        assert read(query) == [(1, "old"), (2, "old")]
        second.finish({"page": 2})
        assert read(query) == [(10, "new"), (11, "new")]
    # The staging table is gone, swapped in.
    assert dest.tables() == ["_landed_state", "ow"]
    assert loader.saved_states()["public.ow"] == SavedState("public.ow", {"page": 2}, "run-2", True)


def test_overwrite_resumes_the_same_run_and_restarts_another(dest: DestinationUnderTest) -> None:
    destination = dest.destination
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
    assert dest.rows(f"SELECT id FROM {NS}.ow ORDER BY id") == [(1,), (2,), (3,)]

    with destination.open_loader(NS) as loader:
        attempt = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
        attempt.write(keyed([(7, "x")]), {"page": 1})
    with destination.open_loader(NS) as loader:
        other = loader.open_stream(load("ow", "overwrite", run_id="run-3"))
        other.write(keyed([(9, "z")]), {"page": 1})
        other.finish({"page": 1})
    assert dest.rows(f"SELECT id FROM {NS}.ow ORDER BY id") == [(9,)]


def test_overwrite_reports_changes_against_the_replaced_table(
    dest: DestinationUnderTest, loader: Loader
) -> None:
    types = dest.sql_types
    v1 = (ID, Column("a", "integer"), Column("b", "string"))
    first = loader.open_stream(load("ow", "overwrite", v1))
    first.write(batch_of(list(v1), [{"id": 1, "a": 1, "b": "x"}]), None)
    first.finish(None)
    v2 = (ID, Column("a", "string"))
    second = loader.open_stream(load("ow", "overwrite", v2, run_id="run-2"))
    assert _changes(second) == {
        ("type_changed", "a", types["integer"], types["text"]),
        ("column_removed", "b", types["text"], None),
    }
    second.write(batch_of(list(v2), [{"id": 2, "a": "two"}]), None)
    second.finish(None)
    assert dest.rows(f"SELECT id, a, b FROM {NS}.ow") == [(2, "two", None)]


# --- Exactly once --------------------------------------------------------------------------
def test_failed_write_commits_neither_rows_nor_state(
    dest: DestinationUnderTest, loader: Loader
) -> None:
    columns = (ID, Column("doc", "json"))
    stream = loader.open_stream(load("docs", "append", columns))
    stream.write(batch_of(list(columns), [{"id": 1, "doc": "{}"}]), {"n": 1})
    bad = batch_of(list(columns), [{"id": 2, "doc": "[]"}, {"id": 3, "doc": "{not json"}])
    with pytest.raises(ConnectorError, match=dest.bad_json_error):
        stream.write(bad, {"n": 2})
    assert dest.rows(f"SELECT id FROM {NS}.docs") == [(1,)]
    assert loader.saved_states()["public.docs"].state == {"n": 1}
    # The connection is usable after the rollback.
    stream.write(batch_of(list(columns), [{"id": 2, "doc": "[]"}]), {"n": 2})
    assert loader.saved_states()["public.docs"].state == {"n": 2}


# Writes one batch, then dies between writing the second batch's rows and state and their
# commit, by replacing the loader class's save_state.
_KILLED_WRITER = """
import os
import pyarrow as pa
from {module} import {destination_class} as Destination
from connectors.framework.base import StreamLoad
from connectors.framework.types import Column, schema_for

columns = (Column("id", "bigint"), Column("v", "string"))
schema = schema_for(list(columns))
def batch(start):
    ids = list(range(start, start + 1000))
    arrays = [pa.array(ids), pa.array([str(i) for i in ids])]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

with Destination({config!r}).open_loader({namespace!r}) as loader:
    stream = loader.open_stream(StreamLoad("s", "killed", columns, {mode!r}, "run-1", ("id",)))
    stream.write(batch(0), {{"n": 1}})
    loader_class = type(loader)
    original = loader_class.save_state
    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os._exit(17)  # rows and state are written; the commit never comes
    loader_class.save_state = save_then_die
    stream.write(batch(1000), {{"n": 2}})
"""


@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_killed_write_commits_neither_rows_nor_state(mode: str, dest: DestinationUnderTest) -> None:
    destination_class = type(dest.destination)
    script = _KILLED_WRITER.format(
        module=destination_class.__module__,
        destination_class=destination_class.__name__,
        config=dest.destination.config,
        namespace=NS,
        mode=mode,
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 17, done.stderr
    table = "_landed_stage_killed" if mode == "overwrite" else "killed"
    assert dest.rows(f"SELECT count(*), max(id) FROM {NS}.{table}") == [(1000, 999)]
    with dest.destination.open_loader(NS) as loader:
        assert loader.saved_states()["s"] == SavedState("s", {"n": 1}, "run-1", False)


def test_saved_states_round_trip_and_reset(loader: Loader) -> None:
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
    dest: DestinationUnderTest, loader: Loader
) -> None:
    stream = loader.open_stream(load("nan"))
    with pytest.raises(ConnectorError, match="not JSON"):
        stream.write(keyed([(1, "a")]), {"cursor": float("nan")})
    assert dest.rows(f"SELECT count(*) FROM {NS}.nan") == [(0,)]


def test_unknown_batch_column_is_refused(loader: Loader) -> None:
    stream = loader.open_stream(load("items"))
    stray = batch_of([ID, Column("other", "string")], [{"id": 1, "other": "x"}])
    with pytest.raises(ConfigError, match="other"):
        stream.write(stray, None)


# --- Schema evolution ----------------------------------------------------------------------
def _changes(stream: Any) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(c.change, c.column, c.old_type, c.new_type) for c in stream.schema_changes}


def test_schema_evolution_is_recorded_and_loses_nothing(
    dest: DestinationUnderTest, loader: Loader
) -> None:
    types = dest.sql_types
    v1 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    first = loader.open_stream(load("evo", "append", v1))
    assert _changes(first) == {("table_created", None, None, None)}
    first.write(batch_of(list(v1), [{"id": 1, "n": 7, "code": 42, "gone": "kept"}]), None)
    first.finish(None)

    v2 = (ID, Column("n", "bigint"), Column("code", "string"), Column("added", "date"))
    second = loader.open_stream(load("evo", "append", v2))
    assert _changes(second) == {
        ("type_changed", "n", types["integer"], types["bigint"]),
        ("type_changed", "code", types["integer"], types["text"]),
        ("column_added", "added", None, types["date"]),
        ("column_removed", "gone", types["text"], None),
    }
    assert loader.schema_changes[-4:] == second.schema_changes
    row = {"id": 2, "n": 2**40, "code": "A-7", "added": dt.date(2024, 1, 2)}
    second.write(batch_of(list(v2), [row]), None)
    second.finish(None)
    assert dest.rows(f"SELECT id, n, code, added, gone FROM {NS}.evo ORDER BY id") == [
        (1, 7, "42", None, "kept"),
        (2, 2**40, "A-7", dt.date(2024, 1, 2), None),
    ]
    column_types = dest.column_types("evo")
    assert (column_types["n"], column_types["code"], column_types["gone"]) == (
        types["bigint"],
        types["text"],
        types["text"],
    )

    again = loader.open_stream(load("evo", "append", v2))
    assert again.schema_changes == []  # the removal was recorded once

    # A narrower type loads into the wider column; a returning column is written again.
    v3 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    third = loader.open_stream(load("evo", "append", v3))
    assert _changes(third) == {("column_removed", "added", types["date"], None)}
    third.write(batch_of(list(v3), [{"id": 3, "n": 5, "code": 9, "gone": "back"}]), None)
    assert dest.rows(f"SELECT n, code, gone FROM {NS}.evo WHERE id = 3") == [(5, "9", "back")]
    assert dest.rows(f"SELECT id, n, code, added, gone FROM {NS}.evo ORDER BY id") == [
        (1, 7, "42", None, "kept"),
        (2, 2**40, "A-7", dt.date(2024, 1, 2), None),
        (3, 5, "9", None, "back"),
    ]


def test_merge_table_evolves_its_key_column(dest: DestinationUnderTest, loader: Loader) -> None:
    types = dest.sql_types
    v1 = (Column("id", "integer"), Column("n", "integer"))
    v2 = (Column("id", "bigint"), Column("n", "string"))
    first = loader.open_stream(load("keyed", "merge", v1))
    first.write(batch_of(list(v1), [{"id": 1, "n": 1}]), None)
    second = loader.open_stream(load("keyed", "merge", v2))
    assert _changes(second) == {
        ("type_changed", "id", types["integer"], types["bigint"]),
        ("type_changed", "n", types["integer"], types["text"]),
    }
    second.write(batch_of(list(v2), [{"id": 1, "n": "one"}, {"id": 2**40, "n": "big"}]), None)
    assert dest.rows(f"SELECT id, n FROM {NS}.keyed ORDER BY id") == [
        (1, "one"),
        (2**40, "big"),
    ]


def test_schema_change_dataclass_is_what_is_recorded(loader: Loader) -> None:
    stream = loader.open_stream(load("fresh"))
    assert stream.schema_changes == [SchemaChange("public.fresh", "table_created")]


# (existing SQL type, loaded column, what loading it needs) in each destination's spelling.
WIDENING_CASES: dict[str, tuple[ev.TypeDialect, list[tuple[str, Column, ev.Relation]]]] = {
    "postgres": (
        pg_dest.TYPES,
        [
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
        ],
    ),
    "duckdb": (
        duck.TYPES,
        [
            ("INTEGER", Column("c", "bigint"), "widen"),
            ("BIGINT", Column("c", "double"), "text"),
            ("FLOAT", Column("c", "double"), "widen"),
            ("DECIMAL(10,2)", Column("c", "decimal", precision=14, scale=4), "widen"),
            ("DECIMAL(10,2)", Column("c", "decimal"), "text"),  # unconstrained: exact text
            ("DATE", Column("c", "timestamp"), "widen"),
            ("VARCHAR", Column("c", "decimal", precision=60, scale=2), "same"),
            ("BIGINT", Column("c", "smallint"), "fits"),
            ("JSON", Column("c", "string"), "text"),
        ],
    ),
}


@pytest.mark.parametrize("destination", sorted(WIDENING_CASES))
def test_widening_rules(destination: str) -> None:
    types, cases = WIDENING_CASES[destination]
    for existing, column, expected in cases:
        assert ev.relation(existing, column, types) == expected, (existing, column)


# --- Namespaces ----------------------------------------------------------------------------
@pytest.mark.parametrize("namespace", ["", "pg_catalog", "a-b", 'x"; drop', "9lives", "a" * 64])
def test_invalid_namespace_is_refused(dest: DestinationUnderTest, namespace: str) -> None:
    with pytest.raises(ConfigError):
        dest.destination.open_loader(namespace)
