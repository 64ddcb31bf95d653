"""PostgreSQL -> PostgreSQL without the engine: the destination keeps the source's column types,
on the Arrow path and on the binary COPY pass-through, and both paths chunk, resume and load
alike (the same states, the same rows)."""

from dataclasses import replace
from typing import Any

import pytest

from connectors.destinations.postgres import PostgresDestination, PostgresLoader
from connectors.framework.base import ReadRequest, Stream, StreamLoad
from connectors.framework.passthrough import CopyRefused
from connectors.sources.postgres import PostgresSource, copy_read
from tests.connectors.test_source_postgres import ALL_TYPES_DDL, ALL_TYPES_ROWS, execute
from tests.pg import connect, pg_config

NS = "landed"
# Columns whose type is not built into PostgreSQL (an extension's, an enum): read as text.
NOT_BUILT_IN = {"c_citext", "c_enum"}
EXPECTED_POSTGRES_TYPES = {
    "c_varchar": "text",  # the text types land as text
    "c_bpchar": "text",
    "c_name": "text",
    "c_int_array": "integer[]",
    "c_text_array": "text[]",
    "c_domain_int": "integer",  # domains as their base type
    "c_domain_price": "numeric(8,3)",
    "c_numeric": "numeric(10,2)",
    "c_numeric_free": "numeric",
    "c_json": "json",
    "c_jsonb": "jsonb",
    "c_interval": "interval",
    "c_inet": "inet",
    "c_timetz": "time with time zone",
    "c_money": "money",
    "updated_at": "timestamp with time zone",
}


@pytest.fixture
def database(scratch_database: str) -> str:
    """The source's tables in `public`; the destination loads into schema `landed` of the
    same database, so that one query compares both."""
    execute(scratch_database, ALL_TYPES_DDL, ALL_TYPES_ROWS)
    return scratch_database


def discovered(database: str, name: str = "public.all_types") -> Stream:
    return next(s for s in PostgresSource(pg_config(database)).discover() if s.name == name)


def without(stream: Stream, names: set[str]) -> Stream:
    return replace(stream, columns=tuple(c for c in stream.columns if c.name not in names))


def open_writer(loader: PostgresLoader, stream: Stream, table: str, mode: str = "append") -> Any:
    return loader.open_stream(
        StreamLoad(
            stream=stream.name,
            table=table,
            columns=stream.columns,
            load_mode=mode,  # type: ignore[arg-type]
            run_id="run",
            primary_key=stream.primary_key,
        )
    )


def load(database: str, request: ReadRequest, table: str, *, path: str, mode: str = "append"):
    """Load the read into `landed.<table>` on `path`; the states committed, in order."""
    src = PostgresSource(pg_config(database))
    states = []
    with PostgresDestination(pg_config(database)).open_loader(NS) as loader:
        writer = open_writer(loader, request.stream, table, mode)
        if path == "copy":
            offer = src.copy_offer(request)
            assert writer.copy_refusal(offer) is None
            for chunk in src.read_copy(request, offer):
                writer.write_copy(chunk, chunk.state)
                states.append(chunk.state)
        else:
            for batch in src.read(request):
                writer.write(batch.records, batch.state)
                states.append(batch.state)
        writer.finish(None)
    return states


def column_types(database: str, table: str) -> dict[str, str]:
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (f"{NS}.{table}",),
        ).fetchall()
    return dict(rows)


def text_forms(database: str, table: str, names: list[str]) -> list[tuple]:
    """Every row's values in their text forms, in key order (char(n) compared unpadded)."""
    items = ", ".join(f"rtrim({n}::text)" if n == "c_bpchar" else f"{n}::text" for n in names)
    with connect(database) as conn:
        return conn.execute(f"SELECT {items} FROM {table} ORDER BY c_int4, id").fetchall()


def test_discovery_names_each_columns_postgres_type(database: str) -> None:
    types = {c.name: c.postgres_type for c in discovered(database).columns}
    assert {n: types[n] for n in EXPECTED_POSTGRES_TYPES} == EXPECTED_POSTGRES_TYPES
    assert {n for n, t in types.items() if t is None} == NOT_BUILT_IN


@pytest.mark.parametrize("path", ["arrow", "copy"])
def test_the_destination_keeps_the_source_types_and_values(database: str, path: str) -> None:
    stream = discovered(database)
    if path == "copy":
        stream = without(stream, NOT_BUILT_IN)
    load(database, ReadRequest(stream=stream, batch_rows=2), "copied", path=path)

    types = column_types(database, "copied")
    for column in stream.columns:
        assert types[column.name] == (column.postgres_type or "text"), column.name
    names = [c.name for c in stream.columns]
    assert text_forms(database, f"{NS}.copied", names) == text_forms(
        database, "public.all_types", names
    )


def test_both_paths_chunk_and_resume_alike(database: str) -> None:
    execute(
        database,
        "CREATE TABLE events (id bigint PRIMARY KEY, tags text[], at timestamptz NOT NULL)",
        "CREATE INDEX events_at ON events (at, id)",
        "INSERT INTO events SELECT g, ARRAY['t' || g % 3, NULL], "
        "timestamptz '2026-01-01' + make_interval(secs => g / 4) FROM generate_series(1, 50) g",
    )
    stream = discovered(database, "public.events")
    for request in (
        ReadRequest(stream=stream, batch_rows=7),
        ReadRequest(stream=stream, sync_mode="incremental", cursor_field="at", batch_rows=7),
    ):
        arrow = load(database, request, "by_arrow", path="arrow")
        copy = load(database, request, "by_copy", path="copy")
        assert copy == arrow and len(copy) == 8  # 7 full chunks and one of 1 row
        middle = replace(request, state=copy[3])
        assert load(database, middle, "resumed", path="copy") == arrow[4:]
    with connect(database) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM landed.by_copy), (SELECT count(*) FROM landed.resumed)"
        ).fetchone()
    assert counts == (100, 22 + 22)  # each loaded twice; resumed after 4 of 8 chunks, twice
    assert text_forms_of_tags(database, "landed.by_copy") == text_forms_of_tags(
        database, "landed.by_arrow"
    )


def test_a_chunk_whose_last_row_cannot_be_decoded_asks_the_server(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(
        database,
        "CREATE TABLE keyed (k numeric(6,2) PRIMARY KEY, v text)",
        "INSERT INTO keyed SELECT g / 4.0, 'v' || g FROM generate_series(1, 30) g",
    )
    request = ReadRequest(stream=discovered(database, "public.keyed"), batch_rows=8)
    decoded = load(database, request, "decoded", path="copy")
    assert decoded[0] == {"after": ["2.00"]} and len(decoded) == 4
    monkeypatch.setattr(copy_read, "last_key", lambda *args: None)
    assert load(database, request, "asked", path="copy") == decoded


def text_forms_of_tags(database: str, table: str) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(f"SELECT id, tags::text, at FROM {table} ORDER BY id, at").fetchall()


def test_a_merged_chunk_keeps_the_last_version_of_a_key(database: str) -> None:
    execute(
        database,
        "CREATE TABLE versions (k int NOT NULL, v int, at timestamptz NOT NULL)",
        "CREATE INDEX versions_at ON versions (at, k)",
        "INSERT INTO versions SELECT g % 5, g, timestamptz '2026-01-01' + make_interval(secs => g)"
        " FROM generate_series(1, 40) g",
    )
    stream = replace(discovered(database, "public.versions"), primary_key=("k",))
    request = ReadRequest(
        stream=stream, sync_mode="incremental", cursor_field="at", primary_key=("k",), batch_rows=9
    )
    load(database, request, "latest", path="copy", mode="merge")
    with connect(database) as conn:
        rows = conn.execute("SELECT k, v FROM landed.latest ORDER BY k").fetchall()
    assert rows == [(0, 40), (1, 36), (2, 37), (3, 38), (4, 39)]


def test_the_source_refuses_what_chunks_cannot_carry(database: str) -> None:
    execute(
        database,
        "CREATE TABLE loose (id int, at timestamptz)",
        "CREATE TABLE unindexed (id int PRIMARY KEY, at timestamptz)",
    )
    src = PostgresSource(pg_config(database))
    cases = {
        "no primary key": ReadRequest(stream=discovered(database, "public.loose")),
        "no index": ReadRequest(
            stream=discovered(database, "public.unindexed"),
            sync_mode="incremental",
            cursor_field="at",
        ),
        "not built in": ReadRequest(stream=discovered(database)),
    }
    reasons = {}
    for case, request in cases.items():
        with pytest.raises(CopyRefused) as refused:
            src.copy_offer(request)
        reasons[case] = refused.value.reason
    assert "no primary key" in reasons["no primary key"]
    assert "No index begins with the read's order (at, id)" in reasons["no index"]
    assert "c_citext" in reasons["not built in"]


def test_the_destination_refuses_a_table_of_other_types(database: str) -> None:
    """A table an earlier version created (tags as jsonb) keeps its type by the evolution
    rules; its chunks go through Arrow, which converts the values."""
    execute(
        database,
        "CREATE TABLE tagged (id int PRIMARY KEY, tags text[])",
        "INSERT INTO tagged VALUES (1, '{a,b}'), (2, NULL)",
        f"CREATE SCHEMA {NS}",
        f"CREATE TABLE {NS}.tagged (id integer PRIMARY KEY, tags jsonb)",
    )
    stream = discovered(database, "public.tagged")
    request = ReadRequest(stream=stream)
    offer = PostgresSource(pg_config(database)).copy_offer(request)
    with PostgresDestination(pg_config(database)).open_loader(NS) as loader:
        writer = open_writer(loader, stream, "tagged")
        assert writer.copy_refusal(offer) == (
            "Column 'tags' is jsonb in the destination and text[] in the source: its values "
            "are converted on the Arrow path."
        )
        assert writer.schema_changes == []
    load(database, request, "tagged", path="arrow")
    with connect(database) as conn:
        assert conn.execute(f"SELECT id, tags FROM {NS}.tagged ORDER BY id").fetchall() == [
            (1, ["a", "b"]),
            (2, None),
        ]
