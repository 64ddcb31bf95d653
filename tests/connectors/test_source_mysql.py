"""The MySQL/MariaDB source against the real MariaDB server on 127.0.0.1:3306."""

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from connectors.framework.base import ReadRequest, Stream
from connectors.sources.mysql import MySQLSource
from tests.mariadb import config, run, scratch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def db() -> Iterator[str]:
    """A scratch database for this module, dropped afterwards."""
    with scratch() as name:
        yield name


@pytest.fixture(scope="module")
def seeded(db: str) -> str:
    run(
        db,
        # Permissive, so that the zero dates a legacy server holds can be inserted.
        "SET SESSION sql_mode = ''",
        """
        CREATE TABLE every_type (
            id INT PRIMARY KEY,
            ti TINYINT, tiu TINYINT UNSIGNED, b1 TINYINT(1), si SMALLINT, siu SMALLINT UNSIGNED,
            mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
            bi BIGINT, biu BIGINT UNSIGNED,
            d12 DECIMAL(12, 2), d20 DECIMAL(20, 15), d38 DECIMAL(38, 0), d65 DECIMAL(65, 30),
            f FLOAT, db DOUBLE,
            c CHAR(3), vc VARCHAR(20), tx TEXT, e ENUM('small', 'large'), st SET('a', 'b'),
            bn BINARY(4), vb VARBINARY(8), bl BLOB,
            bit1 BIT(1), bit9 BIT(9), bit64 BIT(64),
            dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
            js JSON, g POINT
        )
        """,
        """
        INSERT INTO every_type VALUES (
            1, -128, 255, 1, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
            -9223372036854775808, 18446744073709551615,
            -1234567890.12, 12345.123456789012345, 99999999999999999999999999999999999999,
            '-12345678901234567890123456789012345.123456789012345678901234567891',
            1.5, -2.25e300,
            'ab', 'it''s \\\\ "quoted"', 'héllo wörld ✓', 'large', 'a,b',
            X'00000001', X'00FF00', X'000102030000FF',
            b'1', b'100000001', b'1111111111111111111111111111111111111111111111111111111111111111',
            '2024-02-29', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.654321',
            '-838:59:59.000000', 2155, '{"k": [1, 2.5, null, "x"]}', POINT(1.5, -2)
        )
        """,
        """
        INSERT INTO every_type (id, ti, tiu, bi, biu, d65, dt, dtm, ts, tm, y, bit64) VALUES (
            2, 127, 0, 9223372036854775807, 0, '0.000000000000000000000000000001',
            '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '838:59:59', 1901,
            b'0'
        )
        """,
        "INSERT INTO every_type (id, dt, dtm) VALUES (3, '2020-00-15', '2020-05-00 10:00:00')",
        "INSERT INTO every_type (id) VALUES (4)",
        "CREATE VIEW big_orders AS SELECT id, d12 AS amount FROM every_type WHERE d12 < 0",
        """
        CREATE TABLE events (
            id BIGINT NOT NULL, region VARCHAR(10) NOT NULL,
            updated_at DATETIME NOT NULL, note TEXT,
            PRIMARY KEY (region, id)
        )
        """,
        # 60 rows, 10 cursor values with 6 rows each (ties), keys across two regions.
        """
        INSERT INTO events
        SELECT seq, IF(seq % 2 = 0, 'eu', 'us'),
               TIMESTAMP'2026-01-01 00:00:00' + INTERVAL (seq % 10) HOUR, CONCAT('n', seq)
        FROM seq_1_to_60
        """,
        "CREATE TABLE nokey (v INT, updated_at DATE)",
        """
        INSERT INTO nokey SELECT seq, DATE'2026-01-01' + INTERVAL (seq DIV 7) DAY
        FROM seq_1_to_50
        """,
        "CREATE TABLE texts (code VARCHAR(20) PRIMARY KEY, n INT) COLLATE utf8mb4_general_ci",
        """
        INSERT INTO texts VALUES ('a''b', 1), ('Ä', 2), ('b\\\\', 3), ('c"', 4), ('ß', 5),
            ('zz', 6), ('émile', 7), ('👍', 8), ('0', 9), ('', 10)
        """,
    )
    return db


def source(database: str, **extra) -> MySQLSource:
    return MySQLSource(config(database, **extra))


def stream_named(src: MySQLSource, name: str) -> Stream:
    return next(s for s in src.discover() if s.name == name)


def read_all(src: MySQLSource, request: ReadRequest) -> tuple[pa.Table, list]:
    batches = list(src.read(request))
    states = [b.state for b in batches]
    if not batches:
        return pa.table({}), states
    return pa.Table.from_batches([b.records for b in batches]), states


# --- check -----------------------------------------------------------------------------------
def test_check_succeeds(seeded):
    result = source(seeded).check()
    assert result.ok, result.message
    assert "tables and views" in result.message


def test_check_bad_password_is_authentication(seeded):
    result = source(seeded, password="definitely-wrong").check()
    assert not result.ok
    assert result.error_type == "authentication_failed"
    assert (result.reachable, result.authenticated) == (True, False)


def test_check_closed_port_is_unreachable(seeded):
    result = source(seeded, port=free_port(), connect_timeout=3).check()
    assert not result.ok
    assert result.error_type == "unreachable" and result.reachable is False


def test_check_unknown_database_is_config(seeded):
    result = source(f"{seeded}_missing").check()
    assert not result.ok and result.error_type == "config_error"
    assert f"{seeded}_missing" in result.message


def test_check_and_read_as_a_limited_user(seeded):
    """A user with SELECT on one table only, and a password that needs URL escaping; a user
    without any privilege on the database is refused as permission_denied."""
    user, password = f"landed_{uuid.uuid4().hex[:8]}", "p@ss:/w%rd?#"
    stranger = f"landed_{uuid.uuid4().hex[:8]}"
    run(
        seeded,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON `{seeded}`.`events` TO '{user}'@'%'",
        f"CREATE USER '{stranger}'@'%' IDENTIFIED BY 'x'",
    )
    try:
        limited = MySQLSource({**config(seeded), "username": user, "password": password})
        assert limited.check().ok
        streams = limited.discover()
        assert [s.name for s in streams] == [f"{seeded}.events"]
        table, _ = read_all(limited, ReadRequest(stream=streams[0]))
        assert table.num_rows == 60

        denied = MySQLSource({**config(seeded), "username": stranger, "password": "x"}).check()
        assert denied.error_type == "permission_denied"
        assert (denied.reachable, denied.authenticated, denied.permitted) == (True, True, False)
    finally:
        run(seeded, f"DROP USER '{user}'@'%'", f"DROP USER '{stranger}'@'%'")


def test_hostaddr_is_where_it_connects(seeded):
    """The checked address is used, not the name (which here does not even resolve)."""
    src = MySQLSource(config(seeded, host="mysql.invalid"), hostaddr="127.0.0.1")
    assert src.check().ok
    stream = stream_named(src, f"{seeded}.events")
    table, _ = read_all(src, ReadRequest(stream=stream))
    assert table.num_rows == 60


# --- discover --------------------------------------------------------------------------------
def test_discover_tables_views_keys_and_cursors(seeded):
    streams = {s.name: s for s in source(seeded).discover()}
    assert set(streams) == {
        f"{seeded}.{t}" for t in ("every_type", "big_orders", "events", "nokey", "texts")
    }
    events = streams[f"{seeded}.events"]
    assert events.kind == "table"
    assert events.primary_key == ("region", "id")
    assert events.default_cursor == "updated_at"
    assert set(events.cursor_candidates) == {"id", "updated_at"}
    view = streams[f"{seeded}.big_orders"]
    assert view.kind == "view" and view.primary_key == ()
    assert streams[f"{seeded}.nokey"].primary_key == ()


EXPECTED_TYPES = {
    "id": ("integer", None, None),
    "ti": ("smallint", None, None),
    "tiu": ("smallint", None, None),
    "b1": ("smallint", None, None),
    "si": ("smallint", None, None),
    "siu": ("integer", None, None),
    "mi": ("integer", None, None),
    "miu": ("integer", None, None),
    "i": ("integer", None, None),
    "iu": ("bigint", None, None),
    "bi": ("bigint", None, None),
    "biu": ("decimal", 20, 0),
    "d12": ("decimal", 12, 2),
    "d20": ("decimal", 20, 15),
    "d38": ("decimal", 38, 0),
    "d65": ("decimal", 65, 30),
    "f": ("real", None, None),
    "db": ("double", None, None),
    "c": ("string", None, None),
    "vc": ("string", None, None),
    "tx": ("string", None, None),
    "e": ("string", None, None),
    "st": ("string", None, None),
    "bn": ("binary", None, None),
    "vb": ("binary", None, None),
    "bl": ("binary", None, None),
    "bit1": ("boolean", None, None),
    "bit9": ("bigint", None, None),
    "bit64": ("decimal", 20, 0),
    "dt": ("date", None, None),
    "dtm": ("timestamp", None, None),
    "ts": ("timestamptz", None, None),
    "tm": ("string", None, None),
    "y": ("smallint", None, None),
    "js": ("json", None, None),
    "g": ("string", None, None),
}


def test_discover_maps_every_type(seeded):
    stream = stream_named(source(seeded), f"{seeded}.every_type")
    got = {c.name: (c.type, c.precision, c.scale) for c in stream.columns}
    assert got == EXPECTED_TYPES
    assert stream.column("biu").source_type == "bigint(20) unsigned"


# --- read: types -----------------------------------------------------------------------------
def test_read_every_type_exactly(seeded):
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.every_type")
    table, states = read_all(src, ReadRequest(stream=stream))
    assert table.schema.names == [c.name for c in stream.columns]
    assert table.schema == pa.schema([c.arrow_field() for c in stream.columns])
    rows = {r["id"]: r for r in table.to_pylist()}
    full = rows[1]
    assert full == {
        "id": 1,
        "ti": -128,
        "tiu": 255,
        "b1": 1,
        "si": -32768,
        "siu": 65535,
        "mi": -8388608,
        "miu": 16777215,
        "i": -2147483648,
        "iu": 4294967295,
        "bi": -9223372036854775808,
        "biu": Decimal("18446744073709551615"),
        "d12": Decimal("-1234567890.12"),
        "d20": Decimal("12345.123456789012345"),
        "d38": Decimal("99999999999999999999999999999999999999"),
        # Wider than Arrow's decimal128: exact text (rounded by the server to its 30 places).
        "d65": "-12345678901234567890123456789012345.123456789012345678901234567891",
        "f": 1.5,
        "db": -2.25e300,
        "c": "ab",
        "vc": 'it\'s \\ "quoted"',
        "tx": "héllo wörld ✓",
        "e": "large",
        "st": "a,b",
        "bn": b"\x00\x00\x00\x01",
        "vb": b"\x00\xff\x00",
        "bl": b"\x00\x01\x02\x03\x00\x00\xff",
        "bit1": True,
        "bit9": 257,
        "bit64": Decimal("18446744073709551615"),
        "dt": date(2024, 2, 29),
        "dtm": datetime(2024, 2, 29, 23, 59, 59, 123456),
        "ts": datetime(2024, 2, 29, 23, 59, 59, 654321, tzinfo=UTC),
        "tm": "-838:59:59.000000",
        "y": 2155,
        "js": '{"k": [1, 2.5, null, "x"]}',
        "g": "POINT(1.5 -2)",
    }
    # Zero dates (and dates with a zero part) are NULL; extremes of the other types survive.
    second = rows[2]
    assert (second["dt"], second["dtm"], second["ts"]) == (None, None, None)
    assert (second["ti"], second["tiu"], second["bi"], second["biu"]) == (
        127,
        0,
        9223372036854775807,
        Decimal(0),
    )
    assert second["d65"] == "0.000000000000000000000000000001"
    assert (second["tm"], second["y"], second["bit64"]) == ("838:59:59.000000", 1901, Decimal(0))
    assert (rows[3]["dt"], rows[3]["dtm"]) == (None, None)
    assert all(v is None for k, v in rows[4].items() if k != "id")
    assert states[-1] == {"after": [4]}


def test_timestamp_is_an_instant_and_datetime_a_wall_clock(seeded):
    """TIMESTAMP values are stored as instants and read in UTC whatever the writer's zone;
    DATETIME values are read exactly as written."""
    run(
        seeded,
        "CREATE TABLE zones (id INT PRIMARY KEY, ts TIMESTAMP NULL, dtm DATETIME)",
        "SET time_zone = '+05:30'",
        "INSERT INTO zones VALUES (1, '2026-06-01 12:00:00', '2026-06-01 12:00:00')",
    )
    try:
        src = source(seeded)
        table, _ = read_all(src, ReadRequest(stream=stream_named(src, f"{seeded}.zones")))
        row = table.to_pylist()[0]
        assert row["ts"] == datetime(2026, 6, 1, 6, 30, tzinfo=UTC)
        assert row["dtm"] == datetime(2026, 6, 1, 12, 0)
        assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    finally:
        run(seeded, "DROP TABLE zones")


# --- read: full refresh ----------------------------------------------------------------------
def test_full_refresh_batches_and_resumes_in_key_order(seeded):
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.events")
    request = ReadRequest(stream=stream, batch_rows=7)
    batches = list(src.read(request))
    assert [b.records.num_rows for b in batches] == [7] * 8 + [4]
    keys = [(r["region"], r["id"]) for b in batches for r in b.records.to_pylist()]
    assert keys == sorted(keys) and len(set(keys)) == 60
    third = batches[2].state
    assert third == {"after": list(keys[20])}

    resumed, _ = read_all(src, ReadRequest(stream=stream, batch_rows=7, state=third))
    assert [(r["region"], r["id"]) for r in resumed.to_pylist()] == keys[21:]


def test_full_refresh_resumes_after_text_keys(seeded):
    """Text keys with quotes, backslashes and non-ASCII resume in the column's collation."""
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.texts")
    table, states = read_all(src, ReadRequest(stream=stream, batch_rows=3))
    codes = [r["code"] for r in table.to_pylist()]
    assert len(codes) == 10
    for state in states[:-1]:
        rest, _ = read_all(src, ReadRequest(stream=stream, state=state))
        position = codes.index(state["after"][0])
        assert [r["code"] for r in rest.to_pylist()] == codes[position + 1 :]


def test_full_refresh_without_key_has_no_state(seeded):
    src = source(seeded)
    table, states = read_all(
        src, ReadRequest(stream=stream_named(src, f"{seeded}.nokey"), batch_rows=20)
    )
    assert table.num_rows == 50 and states == [None, None, None]


def test_view_reads(seeded):
    src = source(seeded)
    table, _ = read_all(src, ReadRequest(stream=stream_named(src, f"{seeded}.big_orders")))
    assert table.to_pylist() == [{"id": 1, "amount": Decimal("-1234567890.12")}]


# --- read: incremental -----------------------------------------------------------------------
def test_incremental_orders_by_cursor_then_key_and_resumes_strictly_after(seeded):
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.events")
    request = ReadRequest(
        stream=stream, sync_mode="incremental", cursor_field="updated_at", batch_rows=4
    )
    table, states = read_all(src, request)
    rows = [(r["updated_at"], r["region"], r["id"]) for r in table.to_pylist()]
    assert rows == sorted(rows) and len(rows) == 60
    # Cursor ties are cut between batches: the key makes the resume point exact.
    middle = states[4]
    assert middle == {"cursor": [rows[19][0].isoformat(), rows[19][1], rows[19][2]]}
    rest, _ = read_all(src, ReadRequest(**{**request.__dict__, "state": middle}))
    assert [(r["updated_at"], r["region"], r["id"]) for r in rest.to_pylist()] == rows[20:]

    # Nothing new: nothing read. A new row and an updated one: exactly those.
    assert read_all(src, ReadRequest(**{**request.__dict__, "state": states[-1]}))[0] == pa.table(
        {}
    )
    run(
        seeded,
        "INSERT INTO events VALUES (61, 'eu', '2026-02-01 00:00:00', 'new')",
        "UPDATE events SET note = 'changed', updated_at = '2026-02-01 00:00:00' WHERE id = 5",
    )
    try:
        new, _ = read_all(src, ReadRequest(**{**request.__dict__, "state": states[-1]}))
        assert [(r["id"], r["note"]) for r in new.to_pylist()] == [(61, "new"), (5, "changed")]
    finally:
        run(
            seeded,
            "DELETE FROM events WHERE id = 61",
            "UPDATE events SET note = 'n5', updated_at = '2026-01-01 05:00:00' WHERE id = 5",
        )


def test_incremental_skips_null_and_zero_date_cursors(seeded):
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.every_type")
    request = ReadRequest(stream=stream, sync_mode="incremental", cursor_field="dtm")
    table, states = read_all(src, request)
    assert [r["id"] for r in table.to_pylist()] == [1]
    assert states == [{"cursor": ["2024-02-29T23:59:59.123456", 1]}]
    # A timestamptz cursor resumes from its UTC ISO form.
    request = ReadRequest(stream=stream, sync_mode="incremental", cursor_field="ts")
    table, states = read_all(src, request)
    assert states == [{"cursor": ["2024-02-29T23:59:59.654321+00:00", 1]}]
    again, _ = read_all(src, ReadRequest(**{**request.__dict__, "state": states[0]}))
    assert again.num_rows == 0


def test_incremental_without_key_never_splits_a_cursor_group(seeded):
    src = source(seeded)
    stream = stream_named(src, f"{seeded}.nokey")
    request = ReadRequest(
        stream=stream, sync_mode="incremental", cursor_field="updated_at", batch_rows=5
    )
    batches = list(src.read(request))
    assert sum(b.records.num_rows for b in batches) == 50
    assert all(b.records.num_rows <= 5 for b in batches)
    for batch in batches:
        if batch.state is None:
            continue
        # Resuming from any state re-reads nothing of a delivered group and skips nothing.
        (cursor,) = batch.state["cursor"]
        rest, _ = read_all(src, ReadRequest(**{**request.__dict__, "state": batch.state}))
        expected = sum(1 for v in range(1, 51) if date(2026, 1, 1 + v // 7).isoformat() > cursor)
        assert rest.num_rows == expected


def test_stale_state_is_a_config_error(seeded):
    from connectors.framework.base import ConfigError

    src = source(seeded)
    stream = stream_named(src, f"{seeded}.events")
    request = ReadRequest(stream=stream, sync_mode="incremental", state={"cursor": ["x", 1]})
    with pytest.raises(ConfigError):
        list(src.read(request))


def test_batches_stay_bounded_on_a_larger_table(seeded):
    """Batches never exceed batch_rows and arrive as the server streams them."""
    run(
        seeded,
        "CREATE TABLE wide (id INT PRIMARY KEY, pad VARCHAR(200))",
        "INSERT INTO wide SELECT seq, REPEAT('x', 200) FROM seq_1_to_200000",
    )
    try:
        src = source(seeded)
        stream = stream_named(src, f"{seeded}.wide")
        sizes = [b.records.num_rows for b in src.read(ReadRequest(stream=stream, batch_rows=30000))]
        assert sum(sizes) == 200_000
        assert max(sizes) <= 30000 and len(sizes) >= 7
    finally:
        run(seeded, "DROP TABLE wide")
