"""The DuckDB destination, on files under a temporary root."""

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from connectors.destinations import duckdb as duck
from connectors.destinations.duckdb import DuckDBDestination, DuckDBLoader
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    SavedState,
    StreamLoad,
    TransientError,
)
from connectors.framework.types import Column, schema_for

NS = "landed_raw"
PATH = "warehouse/test.duckdb"
REPO = Path(__file__).resolve().parents[2]
UTC = dt.UTC

EVERY_TYPE: list[tuple[Column, Any, str]] = [
    # (column, a value, the DuckDB type the column must get)
    (Column("c_boolean", "boolean"), True, "BOOLEAN"),
    (Column("c_smallint", "smallint"), -32768, "SMALLINT"),
    (Column("c_integer", "integer"), 2147483647, "INTEGER"),
    (Column("c_bigint", "bigint"), -9223372036854775808, "BIGINT"),
    (Column("c_real", "real"), 1.5, "FLOAT"),
    (Column("c_double", "double"), 1e308, "DOUBLE"),
    (
        Column("c_decimal", "decimal", precision=12, scale=2),
        Decimal("-1234567890.12"),
        "DECIMAL(12,2)",
    ),
    (
        Column("c_decimal_wide", "decimal", precision=50, scale=10),
        "1234567890123456789012345678901234567890.0123456789",
        "VARCHAR",
    ),
    (
        Column("c_decimal_any", "decimal"),
        "-0.000000000000000000000000000000000000000001",
        "VARCHAR",
    ),
    (Column("c_string", "string"), "h\u00e9llo, 'quoted' \"and\" \\ back", "VARCHAR"),
    (Column("c_binary", "binary"), b"\x00\xffbin", "BLOB"),
    (Column("c_date", "date"), dt.date(2024, 2, 29), "DATE"),
    (Column("c_time", "time"), dt.time(23, 59, 59, 999999), "TIME"),
    (Column("c_timestamp", "timestamp"), dt.datetime(2024, 2, 29, 12, 0, 0, 123456), "TIMESTAMP"),
    (
        Column("c_timestamptz", "timestamptz"),
        dt.datetime(2024, 2, 29, 12, 0, 0, 654321, tzinfo=UTC),
        "TIMESTAMP WITH TIME ZONE",
    ),
    (Column("c_json", "json"), '{"a": [1, 2, {"b": null}], "s": "\u00e9"}', "JSON"),
    (Column("c_uuid", "uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "UUID"),
]
ID = Column("id", "bigint", nullable=False)


def batch_of(columns: list[Column], rows: list[dict[str, Any]]) -> pa.RecordBatch:
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


def query(file: Path, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, through Arrow (DuckDB's Python rows need pytz for TIMESTAMPTZ)."""
    with duckdb.connect(str(file)) as conn:
        return conn.sql(sql).to_arrow_table().to_pylist()


def values(file: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in query(file, sql)]


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "root"
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(directory))
    monkeypatch.delenv("LANDED_DATA_DIR", raising=False)
    return directory


@pytest.fixture
def file(root: Path) -> Path:
    return root / PATH


@pytest.fixture
def destination(root: Path) -> DuckDBDestination:
    return DuckDBDestination({"path": PATH})


@pytest.fixture
def loader(destination: DuckDBDestination) -> Iterator[DuckDBLoader]:
    with destination.open_loader(NS) as opened:
        yield opened


def test_spec_describes_the_file() -> None:
    spec = DuckDBDestination.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "duckdb",
        "DuckDB",
        "file",
        "file",
    )
    assert [(f.name, f.type, f.required) for f in spec.fields] == [("path", "string", True)]


# --- Round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_every_type_round_trips(mode: str, destination: DuckDBDestination, file: Path) -> None:
    columns = [ID] + [c for c, _, _ in EVERY_TYPE]
    full = {"id": 1, **{c.name: value for c, value, _ in EVERY_TYPE}}
    with destination.open_loader(NS) as loader:
        stream = loader.open_stream(load("every", mode, tuple(columns)))
        result = stream.write(batch_of(columns, [full, {"id": 2}]), {"cursor": 2})
        stream.finish({"cursor": 2})
    assert result.rows == 2

    types = dict(
        values(
            file,
            "SELECT column_name, data_type FROM duckdb_columns() "
            f"WHERE schema_name = '{NS}' AND table_name = 'every'",
        )
    )
    assert {c.name: types[c.name] for c, _, _ in EVERY_TYPE} == {
        c.name: sql for c, _, sql in EVERY_TYPE
    }
    assert types["_landed_synced_at"] == "TIMESTAMP WITH TIME ZONE"
    first, second = query(file, f"SELECT * FROM {NS}.every ORDER BY id")
    for column, value, _ in EVERY_TYPE:
        got = first[column.name]
        if column.type == "json":
            got, value = json.loads(got), json.loads(value)
        assert got == value, column.name
        assert second[column.name] is None
    assert first["_landed_synced_at"] is not None


# --- Merge ---------------------------------------------------------------------------------
def test_merge_last_occurrence_wins_within_and_across_batches(
    destination: DuckDBDestination, file: Path
) -> None:
    with destination.open_loader(NS) as loader:
        stream = loader.open_stream(load("m", "merge"))
        stream.write(keyed([(1, "a"), (2, "b"), (1, "c"), (3, "d"), (1, "e")]), {"n": 1})
        stream.write(keyed([(2, "B"), (4, "x"), (4, "y")]), {"n": 2})
        stream.finish({"n": 2})
    assert values(file, f"SELECT id, v FROM {NS}.m ORDER BY id") == [
        (1, "e"),
        (2, "B"),
        (3, "d"),
        (4, "y"),
    ]


def test_merge_needs_a_key(loader: DuckDBLoader) -> None:
    with pytest.raises(ConfigError, match="primary key"):
        loader.open_stream(load("m", "merge", key=()))


def test_merge_into_an_appended_table(destination: DuckDBDestination, file: Path) -> None:
    with destination.open_loader(NS) as loader:
        appended = loader.open_stream(load("grow", "append"))
        appended.write(keyed([(1, "a"), (2, "b")]), None)
        appended.finish(None)
        merged = loader.open_stream(load("grow", "merge"))
        merged.write(keyed([(2, "B"), (3, "c")]), None)
        merged.finish(None)
        again = loader.open_stream(load("grow", "merge"))  # the index is found, not re-made
        again.write(keyed([(3, "C")]), None)
    assert values(file, f"SELECT id, v FROM {NS}.grow ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "C"),
    ]


def test_merge_into_a_table_with_duplicate_keys_is_refused(loader: DuckDBLoader) -> None:
    appended = loader.open_stream(load("dup", "append"))
    appended.write(keyed([(1, "a"), (1, "b")]), None)
    with pytest.raises(ConfigError, match="values of the key"):
        loader.open_stream(load("dup", "merge"))


# --- Overwrite -----------------------------------------------------------------------------
def test_overwrite_swaps_atomically(loader: DuckDBLoader, file: Path) -> None:
    first = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
    first.write(keyed([(1, "old"), (2, "old")]), None)
    first.finish(None)

    second = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
    second.write(keyed([(10, "new")]), {"page": 1})
    # A second connection of this process (another process cannot open a file being written).
    with duckdb.connect(str(file)) as reader:
        sql = f"SELECT id, v FROM {NS}.ow ORDER BY id"
        assert reader.execute(sql).fetchall() == [(1, "old"), (2, "old")]
        second.write(keyed([(11, "new")]), {"page": 2})
        assert reader.execute(sql).fetchall() == [(1, "old"), (2, "old")]
        second.finish({"page": 2})
        assert reader.execute(sql).fetchall() == [(10, "new"), (11, "new")]
        tables = reader.execute(
            f"SELECT table_name FROM duckdb_tables() WHERE schema_name = '{NS}'"
        ).fetchall()
    assert sorted(tables) == [("_landed_state",), ("ow",)]
    assert loader.saved_states()["public.ow"] == SavedState("public.ow", {"page": 2}, "run-2", True)


def test_overwrite_resumes_the_same_run_and_restarts_another(
    destination: DuckDBDestination, file: Path
) -> None:
    with destination.open_loader(NS) as loader:
        attempt = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
        attempt.write(keyed([(1, "a"), (2, "b")]), {"page": 1})
    with destination.open_loader(NS) as loader:
        resumed = loader.open_stream(load("ow", "overwrite", run_id="run-1"))
        resumed.write(keyed([(3, "c")]), {"page": 2})
        resumed.finish({"page": 2})
    assert values(file, f"SELECT id FROM {NS}.ow ORDER BY id") == [(1,), (2,), (3,)]

    with destination.open_loader(NS) as loader:
        attempt = loader.open_stream(load("ow", "overwrite", run_id="run-2"))
        attempt.write(keyed([(7, "x")]), {"page": 1})
    with destination.open_loader(NS) as loader:
        other = loader.open_stream(load("ow", "overwrite", run_id="run-3"))
        other.write(keyed([(9, "z")]), {"page": 1})
        other.finish({"page": 1})
    assert values(file, f"SELECT id FROM {NS}.ow ORDER BY id") == [(9,)]


# --- Exactly once --------------------------------------------------------------------------
def test_failed_write_commits_neither_rows_nor_state(loader: DuckDBLoader) -> None:
    columns = (ID, Column("doc", "json"))
    stream = loader.open_stream(load("docs", "append", columns))
    stream.write(batch_of(list(columns), [{"id": 1, "doc": "{}"}]), {"n": 1})
    bad = batch_of(list(columns), [{"id": 2, "doc": "[]"}, {"id": 3, "doc": "{not json"}])
    with pytest.raises(ConnectorError, match="JSON"):
        stream.write(bad, {"n": 2})
    rows = loader.connection.execute(f"SELECT id FROM {NS}.docs").fetchall()
    assert rows == [(1,)]
    assert loader.saved_states()["public.docs"].state == {"n": 1}
    stream.write(batch_of(list(columns), [{"id": 2, "doc": "[]"}]), {"n": 2})
    assert loader.saved_states()["public.docs"].state == {"n": 2}


_KILLED_WRITER = """
import os
import pyarrow as pa
from connectors.destinations.duckdb import DuckDBDestination, DuckDBLoader
from connectors.framework.base import StreamLoad
from connectors.framework.types import Column, schema_for

columns = (Column("id", "bigint"), Column("v", "string"))
schema = schema_for(list(columns))
def batch(start):
    ids = list(range(start, start + 1000))
    arrays = [pa.array(ids), pa.array([str(i) for i in ids])]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

with DuckDBDestination({{"path": {path!r}}}).open_loader({namespace!r}) as loader:
    stream = loader.open_stream(StreamLoad("s", "killed", columns, {mode!r}, "run-1", ("id",)))
    stream.write(batch(0), {{"n": 1}})
    original = DuckDBLoader.save_state
    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os._exit(17)  # rows and state are written; the commit never comes
    DuckDBLoader.save_state = save_then_die
    stream.write(batch(1000), {{"n": 2}})
"""


@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_killed_write_commits_neither_rows_nor_state(
    mode: str, destination: DuckDBDestination, file: Path
) -> None:
    script = _KILLED_WRITER.format(path=PATH, namespace=NS, mode=mode)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 17, done.stderr
    table = "_landed_stage_killed" if mode == "overwrite" else "killed"
    assert values(file, f"SELECT count(*), max(id) FROM {NS}.{table}") == [(1000, 999)]
    with destination.open_loader(NS) as loader:
        assert loader.saved_states()["s"] == SavedState("s", {"n": 1}, "run-1", False)


def test_saved_states_round_trip_and_reset(loader: DuckDBLoader) -> None:
    assert loader.saved_states() == {}
    first = loader.open_stream(load("a"))
    first.write(keyed([(1, "x")]), {"cursor": "2024-01-01", "nested": {"k": [1, None]}})
    second = loader.open_stream(load("b"))
    second.write(keyed([]), None)
    second.finish(None)
    assert loader.saved_states() == {
        "public.a": SavedState(
            "public.a", {"cursor": "2024-01-01", "nested": {"k": [1, None]}}, "run-1", False
        ),
        "public.b": SavedState("public.b", None, "run-1", True),
    }
    loader.reset_state("public.a")
    assert set(loader.saved_states()) == {"public.b"}


# --- Schema evolution ----------------------------------------------------------------------
def _changes(stream: Any) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(c.change, c.column, c.old_type, c.new_type) for c in stream.schema_changes}


def test_schema_evolution_is_recorded_and_loses_nothing(
    destination: DuckDBDestination, file: Path
) -> None:
    v1 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    v2 = (ID, Column("n", "bigint"), Column("code", "string"), Column("added", "date"))
    v3 = (ID, Column("n", "integer"), Column("code", "integer"), Column("gone", "string"))
    with destination.open_loader(NS) as loader:
        first = loader.open_stream(load("evo", "append", v1))
        assert _changes(first) == {("table_created", None, None, None)}
        first.write(batch_of(list(v1), [{"id": 1, "n": 7, "code": 42, "gone": "kept"}]), None)
        first.finish(None)

        second = loader.open_stream(load("evo", "append", v2))
        assert _changes(second) == {
            ("type_changed", "n", "INTEGER", "BIGINT"),
            ("type_changed", "code", "INTEGER", "VARCHAR"),
            ("column_added", "added", None, "DATE"),
            ("column_removed", "gone", "VARCHAR", None),
        }
        row = {"id": 2, "n": 2**40, "code": "A-7", "added": dt.date(2024, 1, 2)}
        second.write(batch_of(list(v2), [row]), None)
        second.finish(None)
        assert loader.open_stream(load("evo", "append", v2)).schema_changes == []

        third = loader.open_stream(load("evo", "append", v3))
        assert _changes(third) == {("column_removed", "added", "DATE", None)}
        third.write(batch_of(list(v3), [{"id": 3, "n": 5, "code": 9, "gone": "back"}]), None)
    assert values(file, f"SELECT id, n, code, added, gone FROM {NS}.evo ORDER BY id") == [
        (1, 7, "42", None, "kept"),
        (2, 2**40, "A-7", dt.date(2024, 1, 2), None),
        (3, 5, "9", None, "back"),
    ]


def test_merge_table_evolves_its_key_and_other_columns(
    destination: DuckDBDestination, file: Path
) -> None:
    """DuckDB cannot ALTER a key column's type (nor any column of a table with an index):
    the table is rebuilt in the transaction, its key, comments and indexes carried over."""
    v1 = (Column("id", "integer"), Column("n", "integer"), Column("gone", "string"))
    v2 = (Column("id", "bigint"), Column("n", "string"))
    with destination.open_loader(NS) as loader:
        first = loader.open_stream(load("keyed", "merge", v1))
        first.write(batch_of(list(v1), [{"id": 1, "n": 1, "gone": "g"}]), None)
        first.finish(None)
        loader.connection.execute(f"CREATE INDEX keyed_n ON {NS}.keyed (n)")

        second = loader.open_stream(load("keyed", "merge", v2))
        assert _changes(second) == {
            ("type_changed", "id", "INTEGER", "BIGINT"),
            ("type_changed", "n", "INTEGER", "VARCHAR"),
            ("column_removed", "gone", "VARCHAR", None),
        }
        second.write(batch_of(list(v2), [{"id": 1, "n": "one"}, {"id": 2**40, "n": "big"}]), None)
        second.finish(None)
        assert loader.open_stream(load("keyed", "merge", v2)).schema_changes == []
    assert values(file, f"SELECT id, n, gone FROM {NS}.keyed ORDER BY id") == [
        (1, "one", "g"),
        (2**40, "big", None),
    ]
    indexes = values(file, f"SELECT index_name FROM duckdb_indexes() WHERE schema_name = '{NS}'")
    assert indexes == [("keyed_n",)]
    keys = values(
        file,
        "SELECT constraint_column_names FROM duckdb_constraints() "
        f"WHERE schema_name = '{NS}' AND table_name = 'keyed' AND constraint_type = 'PRIMARY KEY'",
    )
    assert keys == [(["id"],)]


def test_namespace_named_like_the_file(root: Path) -> None:
    destination = DuckDBDestination({"path": "shop.duckdb"})
    with destination.open_loader("shop") as loader:
        stream = loader.open_stream(load("orders", "merge"))
        stream.write(keyed([(1, "a")]), {"n": 1})
        stream.finish({"n": 1})
        assert loader.saved_states()["public.orders"].complete
    assert values(root / "shop.duckdb", "SELECT id, v FROM shop.shop.orders") == [(1, "a")]


def test_widening_rules() -> None:
    from connectors.destinations.sql import evolution as ev

    types = duck.TYPES
    cases = [
        ("INTEGER", Column("c", "bigint"), "widen"),
        ("BIGINT", Column("c", "double"), "text"),
        ("FLOAT", Column("c", "double"), "widen"),
        ("DECIMAL(10,2)", Column("c", "decimal", precision=14, scale=4), "widen"),
        ("DECIMAL(10,2)", Column("c", "decimal"), "text"),  # unconstrained: exact text
        ("DATE", Column("c", "timestamp"), "widen"),
        ("VARCHAR", Column("c", "decimal", precision=60, scale=2), "same"),
        ("BIGINT", Column("c", "smallint"), "fits"),
        ("JSON", Column("c", "string"), "text"),
    ]
    for existing, column, expected in cases:
        assert ev.relation(existing, column, types) == expected, (existing, column)


# --- Paths ---------------------------------------------------------------------------------
def test_relative_path_resolves_under_the_root(root: Path) -> None:
    assert duck.resolve_path("a/b.duckdb") == (root / "a" / "b.duckdb").resolve()


def test_absolute_path_inside_the_root_is_accepted(root: Path) -> None:
    inside = root / "x" / "y.duckdb"
    assert duck.resolve_path(str(inside)) == inside.resolve()


@pytest.mark.parametrize(
    "path",
    [
        "../escape.duckdb",
        "a/../../escape.duckdb",
        "a/../b.duckdb",
        "/etc/passwd.duckdb",
        "/tmp/elsewhere.duckdb",
        "notes.txt",
        "noext",
        "",
        ".duckdb",
        "a\x00b.duckdb",
    ],
)
def test_path_escapes_are_refused(root: Path, path: str) -> None:
    with pytest.raises(ConfigError):
        duck.resolve_path(path)
    result = DuckDBDestination({"path": path}).check()
    assert not result.ok and result.error_type == "config_error"


def test_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError):
        duck.resolve_path("link/data.duckdb")
    with pytest.raises(ConfigError):
        DuckDBDestination({"path": "link/data.duckdb"}).open_loader(NS)
    assert list(outside.iterdir()) == []


def test_root_falls_back_to_data_dir_then_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANDED_DUCKDB_ROOT", raising=False)
    monkeypatch.setenv("LANDED_DATA_DIR", str(tmp_path / "data"))
    assert duck.duckdb_root() == (tmp_path / "data" / "duckdb").resolve()
    monkeypatch.delenv("LANDED_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert duck.duckdb_root() == (tmp_path / "var" / "duckdb").resolve()


def test_open_loader_creates_parent_directories(destination: DuckDBDestination, file: Path) -> None:
    assert not file.parent.exists()
    with destination.open_loader(NS):
        pass
    assert file.exists()


# --- Check and locking ---------------------------------------------------------------------
def test_check_succeeds_and_creates_nothing(destination: DuckDBDestination, root: Path) -> None:
    root.mkdir(parents=True)
    result = destination.check()
    assert result.ok, result.message
    assert list(root.iterdir()) == []


def test_check_opens_an_existing_file(destination: DuckDBDestination, file: Path) -> None:
    with destination.open_loader(NS):
        pass
    assert destination.check().ok


def test_check_refuses_a_file_that_is_not_duckdb(
    destination: DuckDBDestination, file: Path
) -> None:
    file.parent.mkdir(parents=True)
    file.write_text("not a database")
    result = destination.check()
    assert not result.ok and result.error_type == "config_error"
    assert "not a DuckDB" in result.message


# Opens the DuckDB file for writing, says so, and holds it until killed.
_HOLDER = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def held_file(file: Path) -> Iterator[Path]:
    """The file, held open for writing by another process."""
    file.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield file
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_file_in_use_is_a_retryable_clear_error(
    destination: DuckDBDestination, held_file: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match="in use") as raised:
        destination.open_loader(NS)
    assert raised.value.retryable
    assert PATH in raised.value.message and str(held_file.parent) not in raised.value.message
    result = destination.check()
    assert not result.ok and result.error_type == "transient" and "in use" in result.message
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("namespace", ["", "pg_catalog", "a-b", 'x"; drop', "a" * 64])
def test_invalid_namespace_is_refused(destination: DuckDBDestination, namespace: str) -> None:
    with pytest.raises(ConfigError):
        destination.open_loader(namespace)
