"""MariaDB to PostgreSQL through the HTTP API and a real worker process."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tests.e2e.conftest import Api
from tests.mariadb import config as mysql_config
from tests.mariadb import mysql_connect, run, scratch
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def maria_db() -> Iterator[str]:
    with scratch("landed_e2e") as name:
        yield name


def create_connector(api: Api, database: str, destination: dict) -> dict:
    return api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "shop",
            "type": "mysql",
            "config": mysql_config(database),
            "destination_id": destination["id"],
        },
    )


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def seed_orders(database: str, first: int, last: int, *, day: int = 1) -> None:
    run(
        database,
        f"""
        INSERT INTO orders
        SELECT seq, CONCAT('customer ', seq % 97), ROUND((seq % 1000) / 7.0, 2),
               IF(seq % 5 = 0, NULL, REPEAT('x', seq % 13)),
               TIMESTAMP'2026-01-{day:02d} 00:00:00' + INTERVAL seq SECOND
        FROM seq_{first}_to_{last}
        """,
    )


def maria_rows(database: str) -> list[tuple]:
    with mysql_connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, customer, amount, note, updated_at FROM orders ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


def pg_rows(database: str) -> list[tuple]:
    with connect(database) as conn:
        return [
            tuple(row)
            for row in conn.execute(
                "SELECT id, customer, amount, note, updated_at FROM shop.orders ORDER BY id"
            )
        ]


def test_full_then_incremental_merge(celery, api, maria_db, dest_db, pg_destination):
    run(
        maria_db,
        """
        CREATE TABLE orders (
            id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12, 2), note TEXT,
            updated_at DATETIME(6) NOT NULL, KEY (updated_at, id)
        )
        """,
    )
    seed_orders(maria_db, 1, 5000)
    celery.start("worker")
    connector = create_connector(api, maria_db, pg_destination)
    assert api.ok("POST", f"/connectors/{connector['id']}/test")["ok"] is True

    streams = api.ok("GET", f"/connectors/{connector['id']}/streams")["streams"]
    (orders,) = [s for s in streams if s["name"] == f"{maria_db}.orders"]
    assert (orders["sync_mode"], orders["load_mode"], orders["cursor_field"]) == (
        "incremental",
        "merge",
        "updated_at",
    )

    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_written"] == 5000
    assert pg_rows(dest_db) == maria_rows(maria_db)

    # Update 50 rows and add 100: the next sync reads only those and merges them by key.
    run(
        maria_db,
        "UPDATE orders SET note = 'changed', updated_at = updated_at + INTERVAL 1 DAY "
        "WHERE id % 100 = 0",
    )
    seed_orders(maria_db, 5001, 5100, day=5)
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_read"] == 150
    landed = pg_rows(dest_db)
    assert len(landed) == 5100
    assert landed == maria_rows(maria_db)

    # Nothing changed: nothing read.
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded" and job["rows_read"] == 0


def test_full_refresh_overwrite(celery, api, maria_db, dest_db, pg_destination):
    run(
        maria_db,
        """
        CREATE TABLE orders (
            id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12, 2), note TEXT,
            updated_at DATETIME(6) NOT NULL
        )
        """,
    )
    seed_orders(maria_db, 1, 3000)
    celery.start("worker")
    connector = create_connector(api, maria_db, pg_destination)
    api.ok(
        "PUT",
        f"/connectors/{connector['id']}/streams",
        json={
            "streams": [
                {
                    "name": f"{maria_db}.orders",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "overwrite",
                }
            ]
        },
    )
    assert sync(api, connector["id"])["status"] == "succeeded"
    run(maria_db, "DELETE FROM orders WHERE id > 2000")
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert pg_rows(dest_db) == maria_rows(maria_db)


TYPES_DDL = """
CREATE TABLE every_type (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, b1 TINYINT(1), si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
    d12 DECIMAL(12, 2), d38 DECIMAL(38, 10), d65 DECIMAL(65, 30), f FLOAT, db DOUBLE,
    c CHAR(3), vc VARCHAR(20), tx TEXT, e ENUM('small', 'large'), st SET('a', 'b'),
    bn BINARY(4), vb VARBINARY(8), bl BLOB, bit1 BIT(1), bit9 BIT(9), bit64 BIT(64),
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME, y YEAR,
    js JSON, g POINT
)
"""
TYPES_ROW = """
INSERT INTO every_type VALUES (
    1, -128, 255, 1, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
    -9223372036854775808, 18446744073709551615,
    -1234567890.12, '1234567890123456789012345678.0123456789',
    '-12345678901234567890123456789012345.123456789012345678901234567891', 1.5, -2.25e300,
    'ab', 'it''s "quoted"', 'héllo ✓', 'large', 'a,b',
    X'00000001', X'00FF00', X'000102030000FF', b'1', b'100000001',
    b'1111111111111111111111111111111111111111111111111111111111111111',
    '2024-02-29', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.654321', '-838:59:59',
    2155, '{"k": [1, 2.5, null, "x"]}', POINT(1.5, -2)
)
"""
# What lands in PostgreSQL, as psycopg reads it back.
EXPECTED = {
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
    "d38": Decimal("1234567890123456789012345678.0123456789"),
    "d65": Decimal("-12345678901234567890123456789012345.123456789012345678901234567891"),
    "f": 1.5,
    "db": -2.25e300,
    "c": "ab",
    "vc": 'it\'s "quoted"',
    "tx": "héllo ✓",
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
    "tm": "-838:59:59",
    "y": 2155,
    "js": {"k": [1, 2.5, None, "x"]},
    "g": "POINT(1.5 -2)",
}
PG_TYPES = {
    "ti": "smallint",
    "siu": "integer",
    "iu": "bigint",
    "biu": "numeric",
    "d65": "numeric",
    "f": "real",
    "db": "double precision",
    "bl": "bytea",
    "bit1": "boolean",
    "dt": "date",
    "dtm": "timestamp without time zone",
    "ts": "timestamp with time zone",
    "js": "jsonb",
}


def test_every_type_round_trips(celery, api, maria_db, dest_db, pg_destination):
    run(
        maria_db,
        "SET SESSION sql_mode = ''",
        TYPES_DDL,
        TYPES_ROW,
        # Zero dates and dates with a zero part land as NULL; an all-NULL row stays NULL.
        "INSERT INTO every_type (id, dt, dtm, ts) VALUES "
        "(2, '0000-00-00', '2020-05-00 10:00:00', '0000-00-00 00:00:00'), (3, NULL, NULL, NULL)",
    )
    celery.start("worker")
    connector = create_connector(api, maria_db, pg_destination)
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_written"] == 3

    with connect(dest_db) as conn, conn.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute(f"SELECT {', '.join(EXPECTED)} FROM shop.every_type ORDER BY id")
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'shop' AND table_name = 'every_type'"
            ).fetchall()
        )
    first = {k: bytes(v) if isinstance(v, memoryview) else v for k, v in rows[0].items()}
    assert first == EXPECTED
    assert {k: types[k] for k in PG_TYPES} == PG_TYPES
    assert (rows[1]["dt"], rows[1]["dtm"], rows[1]["ts"]) == (None, None, None)
    assert all(v is None for k, v in rows[2].items() if k != "id")
