"""The MySQL/MariaDB source against the real MariaDB server on 127.0.0.1:3306."""

import contextlib
import dataclasses
import itertools
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import psutil
import pyarrow as pa
import pymysql
import pytest

from connectors.framework.base import (
    AuthenticationError,
    ConnectorError,
    ReadRequest,
    Stream,
    TransientError,
    UnreachableError,
)
from connectors.sources.mysql import MySQLSource
from connectors.sources.mysql.errors import map_driver_error, map_error
from tests.mariadb import HOST, PORT, config, mysql_connect, run, scratch


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


# --- review fixes: threads, memory, stalls, errors -------------------------------------------
class StallingProxy:
    """A TCP forwarder to the test server that, once a client sends a packet containing
    `trigger`, stops forwarding that connection's answers while keeping it open: a network
    that stalls without closing, which neither TCP peer notices."""

    def __init__(self, trigger: bytes) -> None:
        self.trigger = trigger
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, PORT))
            self.sockets += [client, upstream]
            stalled = threading.Event()
            threading.Thread(target=self._pipe, args=(client, upstream, stalled, True)).start()
            threading.Thread(target=self._pipe, args=(upstream, client, stalled, False)).start()

    def _pipe(self, a: socket.socket, b: socket.socket, stalled: threading.Event, up: bool):
        try:
            while data := a.recv(65536):
                if up and self.trigger in data:
                    stalled.set()
                if not up and stalled.is_set():
                    continue  # swallowed
                b.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_stalled_network_ends_in_a_retryable_error(seeded):
    """A page whose answer never comes fails (retryable) shortly after read_timeout_seconds,
    on the ConnectorX path and on the unbuffered PyMySQL path alike."""
    for trigger, stream_name in ((b" LIMIT ", "events"), (b"`nokey`", "nokey")):
        proxy = StallingProxy(trigger)
        try:
            src = source(seeded, port=proxy.port, read_timeout_seconds=1)
            stream = stream_named(src, f"{seeded}.{stream_name}")
            started = time.monotonic()
            with pytest.raises(ConnectorError) as caught:
                list(src.read(ReadRequest(stream=stream)))
            assert caught.value.retryable, caught.value
            assert time.monotonic() - started < 30
        finally:
            proxy.close()


def test_slow_server_never_starves_other_threads(seeded):
    """While the server works on a slow page (a sorted view of SLEEP()s) or streams slowly,
    another thread keeps running: the runner's heartbeat must never stop."""
    run(seeded, "CREATE VIEW slow AS SELECT v AS id, SLEEP(0.1) AS z FROM nokey WHERE v <= 12")
    try:
        src = source(seeded)
        stream = stream_named(src, f"{seeded}.slow")
        for request in (
            ReadRequest(stream=stream, primary_key=("id",)),  # ConnectorX pages
            ReadRequest(stream=stream),  # no order: PyMySQL, unbuffered
        ):
            ticks: list[float] = []
            stop = threading.Event()

            def tick(ticks=ticks, stop=stop) -> None:
                while not stop.wait(0.02):
                    ticks.append(time.monotonic())

            ticker = threading.Thread(target=tick)
            ticker.start()
            started = time.monotonic()
            rows = sum(b.records.num_rows for b in src.read(request))
            stop.set()
            ticker.join()
            assert rows == 12
            beats = [started, *ticks]
            assert max(b - a for a, b in itertools.pairwise(beats)) < 0.5
    finally:
        run(seeded, "DROP VIEW slow")


def test_memory_stays_bounded_with_a_slow_consumer(seeded):
    """A table far larger than a page, read by a slow consumer: the process grows by about a
    page, not by the table (the driver once buffered it all ahead of the consumer)."""
    run(
        seeded,
        "CREATE TABLE heavy (id INT PRIMARY KEY, pad VARCHAR(1000))",
        "INSERT INTO heavy SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_200000",
    )
    try:
        src = source(seeded)
        stream = stream_named(src, f"{seeded}.heavy")
        process = psutil.Process()
        before = process.memory_info().rss
        peak, rows = before, 0
        for batch in src.read(ReadRequest(stream=stream, batch_rows=10_000)):
            rows += batch.records.num_rows
            time.sleep(0.01)  # a slow destination
            peak = max(peak, process.memory_info().rss)
        assert rows == 200_000
        # The table is ~200 MB; a page is 10,000 rows (~10 MB).
        assert peak - before < 100 * 2**20, (peak - before) / 2**20
    finally:
        run(seeded, "DROP TABLE heavy")


def test_killed_query_and_connection_are_retryable(seeded):
    run(seeded, "CREATE VIEW slow_kill AS SELECT v AS id, SLEEP(0.2) AS z FROM nokey WHERE v <= 20")
    try:
        for mode in ("QUERY", "CONNECTION"):
            src = source(seeded)
            stream = stream_named(src, f"{seeded}.slow_kill")

            def kill(mode=mode) -> None:
                for _ in range(200):
                    with mysql_connect() as conn, conn.cursor() as cursor:
                        cursor.execute(
                            # The page's query (not the catalog's, which names the view too).
                            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                            "'SELECT%`slow_kill`%LIMIT%' AND INFO NOT LIKE '%PROCESSLIST%'"
                        )
                        ids = cursor.fetchall()
                        if ids:
                            time.sleep(0.2)
                            cursor.execute(f"KILL {mode} {int(ids[0][0])}")
                            return
                    time.sleep(0.02)

            killer = threading.Thread(target=kill)
            killer.start()
            with pytest.raises(ConnectorError) as caught:
                list(src.read(ReadRequest(stream=stream, primary_key=("id",))))
            killer.join()
            assert caught.value.retryable, (mode, caught.value)
    finally:
        run(seeded, "DROP VIEW slow_kill")


def test_driver_errors_are_classified_by_code_before_the_panic_fallback():
    panic = type("PanicException", (BaseException,), {})
    lost = panic("cx writer failed: MySQLSourceError(IoError(CodecError { bytes remaining }))")
    assert isinstance(map_driver_error(lost, "s"), UnreachableError)
    killed = panic("cx writer failed: ERROR 1317 (70100): Query execution was interrupted")
    assert isinstance(map_driver_error(killed, "s"), TransientError)
    decode = panic("Couldn't convert the value `Date(..)` to a desired type")
    assert type(map_driver_error(decode, "s")) is ConnectorError
    # A host named like a TLS endpoint does not make a network error a TLS one.
    refused = RuntimeError("DriverError { Could not connect to mysql-tls.example: refused }")
    error = map_driver_error(refused, "s", ("mysql-tls.example",))
    assert isinstance(error, UnreachableError)
    assert isinstance(map_error(pymysql.InterfaceError(0, "")), TransientError)
    blocked = map_error(pymysql.OperationalError(1129, "Host 'x' is blocked"))
    assert isinstance(blocked, AuthenticationError) and "FLUSH HOSTS" in blocked.message
    assert isinstance(
        map_error(pymysql.OperationalError(1130, "Host 'x' is not allowed")), AuthenticationError
    )


def test_host_named_like_tls_is_still_unreachable():
    """A refused connection to a host whose name says "ssl" or "tls" is a network error
    (retryable), not a TLS configuration error."""
    result = MySQLSource(
        config("x", host="mysql-tls-ssl.example", port=free_port(), connect_timeout=2),
        hostaddr="127.0.0.1",
    ).check()
    assert result.error_type == "unreachable", result.message


def test_non_ascii_password(seeded):
    user, password = f"landed_{uuid.uuid4().hex[:8]}", "pä€ss-✓"
    run(
        seeded,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON `{seeded}`.* TO '{user}'@'%'",
    )
    try:
        src = MySQLSource({**config(seeded), "username": user, "password": password})
        assert src.check().ok
        for name in ("events", "nokey"):  # ConnectorX pages; PyMySQL unbuffered
            table, _ = read_all(src, ReadRequest(stream=stream_named(src, f"{seeded}.{name}")))
            assert table.num_rows in (60, 50)
    finally:
        run(seeded, f"DROP USER '{user}'@'%'")


def test_verify_identity_with_a_pinned_address_is_refused_clearly():
    """ConnectorX checks a certificate against the host it connects to: with the address
    pinned it cannot check the name, so verify_identity is refused rather than weakened.
    PyMySQL connects to the pinned address and checks the certificate against the name."""
    src = MySQLSource(
        config("x", host="db.example", ssl_mode="verify_identity"), hostaddr="127.0.0.1"
    )
    result = src.check()
    assert result.error_type == "config_error" and "verify_ca" in result.message
    kwargs = src.settings.pymysql_kwargs()
    assert kwargs["host"] == "127.0.0.1"
    assert kwargs["ssl"].server_name == "db.example" and kwargs["ssl"].check_hostname


def resumes_exactly(src: MySQLSource, request: ReadRequest) -> list[dict]:
    """Read one row per batch, then resume from every state: each resume must read exactly
    the rows after that batch."""
    request = dataclasses.replace(request, batch_rows=1)
    batches = list(src.read(request))
    rows = [r for b in batches for r in b.records.to_pylist()]
    for i, batch in enumerate(batches[:-1]):
        rest, _ = read_all(src, dataclasses.replace(request, state=batch.state))
        assert rest.to_pylist() == rows[i + 1 :], batch.state
    return rows


def test_awkward_keys_resume_exactly(seeded):
    """ENUM and SET keys (sorted by index, resumed by index, also from an older label state),
    BIT(1), NULLs in a user-named key, zero and invalid dates in a key."""
    run(
        seeded,
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
        "CREATE TABLE k_enum (status ENUM('new','paid','cancelled') NOT NULL, id INT NOT NULL,"
        " PRIMARY KEY (status, id))",
        "INSERT INTO k_enum VALUES ('new',1),('paid',2),('cancelled',3),('new',4)",
        "CREATE TABLE k_set (tags SET('a','b','c') NOT NULL PRIMARY KEY)",
        "INSERT INTO k_set VALUES ('c'),('a'),('a,b'),('b')",
        "CREATE TABLE k_bit (flag BIT(1) NOT NULL, id INT NOT NULL, PRIMARY KEY (flag, id))",
        "INSERT INTO k_bit VALUES (0,1),(1,2),(1,3)",
        "CREATE TABLE k_null (a INT NULL, b INT, v VARCHAR(5))",
        "INSERT INTO k_null VALUES (NULL,1,'x'),(NULL,2,'y'),(1,3,'z'),(2,NULL,'w'),(2,5,'q')",
        "CREATE TABLE k_date (created DATETIME NOT NULL, id INT NOT NULL,"
        " PRIMARY KEY (created, id))",
        "INSERT INTO k_date VALUES ('0000-00-00 00:00:00',1),('0000-00-00 00:00:00',2),"
        "('2020-05-00 00:00:00',3),('2023-02-30 00:00:00',4),('2024-01-01',5)",
    )
    try:
        src = source(seeded)
        streams = {s.name.split(".", 1)[1]: s for s in src.discover()}
        rows = resumes_exactly(src, ReadRequest(stream=streams["k_enum"]))
        assert [(r["status"], r["id"]) for r in rows] == [
            ("new", 1),
            ("new", 4),
            ("paid", 2),
            ("cancelled", 3),
        ]
        # A state saved with labels (before positions were stored) resumes the same way.
        rest, _ = read_all(src, ReadRequest(stream=streams["k_enum"], state={"after": ["paid", 2]}))
        assert [r["id"] for r in rest.to_pylist()] == [3]
        rows = resumes_exactly(src, ReadRequest(stream=streams["k_set"]))
        assert [r["tags"] for r in rows] == ["a", "b", "a,b", "c"]
        assert [r["id"] for r in resumes_exactly(src, ReadRequest(stream=streams["k_bit"]))] == [
            1,
            2,
            3,
        ]
        rows = resumes_exactly(src, ReadRequest(stream=streams["k_null"], primary_key=("a", "b")))
        assert [r["v"] for r in rows] == ["x", "y", "z", "w", "q"]
        rows = resumes_exactly(src, ReadRequest(stream=streams["k_date"]))
        assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
        assert [r["created"] for r in rows][:4] == [None] * 4  # zero and invalid: NULL
    finally:
        run(seeded, *(f"DROP TABLE k_{t}" for t in ("enum", "set", "bit", "null", "date")))


def test_null_typed_view_column_and_invalid_dates_read(seeded):
    run(
        seeded,
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
        "CREATE TABLE bad_dates (id INT PRIMARY KEY, d DATE, dtm DATETIME)",
        "INSERT INTO bad_dates VALUES (1, '2024-01-01', '2024-01-01 10:00:00'),"
        " (2, '2023-02-30', '2023-04-31 10:00:00')",
        "CREATE VIEW with_null AS SELECT id, NULL AS nothing FROM bad_dates",
    )
    try:
        src = source(seeded)
        table, _ = read_all(src, ReadRequest(stream=stream_named(src, f"{seeded}.bad_dates")))
        assert table.to_pylist() == [
            {"id": 1, "d": date(2024, 1, 1), "dtm": datetime(2024, 1, 1, 10)},
            {"id": 2, "d": None, "dtm": None},
        ]
        view = stream_named(src, f"{seeded}.with_null")
        for request in (ReadRequest(stream=view), ReadRequest(stream=view, primary_key=("id",))):
            table, _ = read_all(src, request)
            assert table.to_pylist() == [{"id": 1, "nothing": None}, {"id": 2, "nothing": None}]
    finally:
        run(seeded, "DROP VIEW with_null", "DROP TABLE bad_dates")


def test_incremental_without_key_across_pages_with_large_groups(seeded):
    """Pages (a LIMIT) that end inside a group of equal cursor values, and groups larger than
    a page: every row exactly once, and every state a safe resume point."""
    run(
        seeded,
        "CREATE TABLE groups_nokey (v INT, updated_at INT NOT NULL)",
        "INSERT INTO groups_nokey SELECT seq, IF(seq <= 30, 1, seq DIV 7) FROM seq_1_to_100",
    )
    try:
        src = source(seeded)
        stream = stream_named(src, f"{seeded}.groups_nokey")
        request = ReadRequest(
            stream=stream, sync_mode="incremental", cursor_field="updated_at", batch_rows=4
        )
        batches = list(src.read(request))
        values = sorted(r["v"] for b in batches for r in b.records.to_pylist())
        assert values == list(range(1, 101))
        for batch in batches[::3]:  # every third state: enough, and fast
            if batch.state is None:
                continue
            (cursor,) = batch.state["cursor"]
            rest, _ = read_all(src, dataclasses.replace(request, state=batch.state))
            expected = sum(1 for v in range(1, 101) if (1 if v <= 30 else v // 7) > cursor)
            assert rest.num_rows == expected
    finally:
        run(seeded, "DROP TABLE groups_nokey")


def test_double_keys_and_long_text_keys_resume_exactly(seeded):
    """DOUBLE keys at the ends of the range (a plain-digit literal would be cut), and long
    text keys sharing a prefix longer than the server's default sort length, in a view the
    server must sort itself."""
    prefix = "p" * 1100
    run(
        seeded,
        "CREATE TABLE k_double (k DOUBLE PRIMARY KEY)",
        "INSERT INTO k_double VALUES (-1e-300), (0), (5e-324), (1.7976931348623157e308),"
        " (-1.7976931348623157e308)",
        "CREATE TABLE k_long (k VARCHAR(1500) CHARACTER SET latin1 NOT NULL, n INT)",
        "INSERT INTO k_long SELECT CONCAT('" + prefix + "', LPAD(seq, 3, '0')), seq"
        " FROM seq_1_to_40",
        "CREATE VIEW k_long_view AS SELECT k, n FROM k_long",
    )
    try:
        src = source(seeded)
        streams = {s.name.split(".", 1)[1]: s for s in src.discover()}
        rows = resumes_exactly(src, ReadRequest(stream=streams["k_double"]))
        assert [r["k"] for r in rows] == [
            -1.7976931348623157e308,
            -1e-300,
            0.0,
            5e-324,
            1.7976931348623157e308,
        ]
        view = ReadRequest(stream=streams["k_long_view"], primary_key=("k",), batch_rows=13)
        table, _ = read_all(src, view)
        assert sorted(table.column("n").to_pylist()) == list(range(1, 41))
        rows = resumes_exactly(src, view)
        assert [r["n"] for r in rows] == list(range(1, 41))
    finally:
        run(
            seeded,
            "DROP VIEW IF EXISTS k_long_view",
            "DROP TABLE IF EXISTS k_long",
            "DROP TABLE IF EXISTS k_double",
        )


# --- estimates -------------------------------------------------------------------------------
def test_the_estimate_is_the_table_rows_or_the_optimizers_past_a_position(seeded):
    run(
        seeded,
        "CREATE TABLE counted (id INT PRIMARY KEY, at DATETIME NOT NULL, KEY (at))",
        "INSERT INTO counted SELECT seq, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq MINUTE"
        " FROM seq_1_to_5000",
        "ANALYZE TABLE counted",
    )
    try:
        src = source(seeded)
        counted = stream_named(src, f"{seeded}.counted")
        # information_schema.TABLES.TABLE_ROWS: InnoDB's estimate, from its statistics.
        assert 2500 <= src.estimate_rows(ReadRequest(stream=counted)) <= 7500
        # Past a key or a cursor value: the optimizer's range estimate (index dives).
        resumed = src.estimate_rows(ReadRequest(stream=counted, state={"after": [4000]}))
        assert 500 <= resumed <= 1500
        incremental = {"sync_mode": "incremental", "cursor_field": "at"}
        state = {"cursor": ["2026-01-03T18:40:00", 4000]}  # the 4,000th minute
        after = src.estimate_rows(ReadRequest(stream=counted, state=state, **incremental))
        assert 500 <= after <= 1500

        # A view has no row count; past a cursor no index covers, the optimizer has none.
        assert (
            src.estimate_rows(ReadRequest(stream=stream_named(src, f"{seeded}.big_orders"))) is None
        )
        nokey = stream_named(src, f"{seeded}.nokey")
        unindexed = ReadRequest(
            stream=nokey,
            sync_mode="incremental",
            cursor_field="updated_at",
            state={"cursor": ["2026-01-03"]},
        )
        assert src.estimate_rows(unindexed) is None
    finally:
        run(seeded, "DROP TABLE counted")
