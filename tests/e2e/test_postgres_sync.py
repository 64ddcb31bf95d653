"""PostgreSQL to PostgreSQL through the HTTP API and a real worker process."""

import time

import psycopg
import pytest

from tests.e2e.conftest import Api, create_pg_connector
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORDERS = """
    CREATE TABLE orders (
        id bigint PRIMARY KEY,
        customer text,
        amount numeric(12, 2),
        note text,
        updated_at timestamptz NOT NULL
    )
"""


def seed_orders(database: str, first: int, last: int, *, minute: int = 0) -> None:
    with connect(database) as conn:
        conn.execute(
            """
            INSERT INTO orders
            SELECT g, 'customer ' || (g %% 97), round((g %% 1000) / 7.0, 2),
                   CASE WHEN g %% 5 = 0 THEN NULL ELSE repeat('x', (g %% 13)::int) END,
                   timestamptz '2026-01-01 00:00+00' + make_interval(mins => %s, secs => g)
            FROM generate_series(%s::bigint, %s::bigint) AS g
            """,
            (minute, first, last),
        )


def fingerprint(database: str, table: str) -> tuple:
    """Row count, distinct keys and an order-independent checksum of the business columns."""
    with connect(database) as conn:
        return fingerprint_on(conn, table)


def fingerprint_on(conn: psycopg.Connection, table: str) -> tuple:
    """`fingerprint` over a connection of the caller's (to a server of a test's own)."""
    return conn.execute(
        f"""
        SELECT count(*), count(DISTINCT id),
               coalesce(sum(hashtext(id::text || '|' || coalesce(customer, '~') || '|' ||
                   coalesce(amount::text, '~') || '|' || coalesce(note, '~') || '|' ||
                   updated_at::text)::bigint), 0)
        FROM {table}
        """
    ).fetchone()


def select_streams(api: Api, connector_id: str, **settings) -> dict:
    entry = {"name": "public.orders", "enabled": True, **settings}
    return api.ok("PUT", f"/connectors/{connector_id}/streams", json={"streams": [entry]})


def sync(api: Api, connector_id: str, **body) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json=body)
    assert job["status"] == "pending"
    return api.wait_for_job(job["id"])


@pytest.fixture
def orders_source(source_db):
    with connect(source_db) as conn:
        conn.execute(ORDERS)
    seed_orders(source_db, 1, 5000)
    return source_db


def test_full_then_incremental_merge(celery, api, orders_source, dest_db, pg_destination):
    celery.start("worker")
    connector = create_pg_connector(api, orders_source, pg_destination)
    assert connector["health"] == "never_synced"

    # Defaults: the table has a key and an updated_at cursor -> incremental + merge.
    streams = api.ok("GET", f"/connectors/{connector['id']}/streams")["streams"]
    (orders,) = [s for s in streams if s["name"] == "public.orders"]
    assert (orders["sync_mode"], orders["load_mode"], orders["cursor_field"]) == (
        "incremental",
        "merge",
        "updated_at",
    )

    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_written"] == 5000
    assert job["streams"][0]["rows_written"] == 5000
    assert job["trigger"] == "manual" and job["attempt"] == 1
    assert fingerprint(dest_db, "shop.orders") == fingerprint(orders_source, "orders")

    # Change 50 rows and add 100: the next sync reads only those and merges them by key.
    with connect(orders_source) as conn:
        conn.execute(
            "UPDATE orders SET note = 'changed', updated_at = updated_at + interval '1 day' "
            "WHERE id % 100 = 0"
        )
    seed_orders(orders_source, 5001, 5100, minute=60 * 24 * 2)
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_read"] == 150
    assert fingerprint(dest_db, "shop.orders") == fingerprint(orders_source, "orders")

    detail = api.ok("GET", f"/connectors/{connector['id']}")
    assert detail["health"] == "healthy"
    assert detail["last_synced_at"] is not None

    # The history: a receipt per sync, newest first, with rows per stream.
    receipts = api.ok("GET", f"/syncs/{connector['id']}")
    assert receipts["total"] == 2
    newest, oldest = receipts["items"]
    assert (newest["job_id"], newest["status"], newest["rows_written"]) == (
        job["id"],
        "succeeded",
        150,
    )
    assert oldest["rows_written"] == 5000 and oldest["trigger"] == "manual"
    assert newest["streams"][0]["name"] == "public.orders"
    assert newest["streams"][0]["rows_written"] == 150
    assert newest["duration_seconds"] > 0
    stats = api.ok("GET", f"/syncs/stats?connector_id={connector['id']}")
    assert stats["totals"]["syncs"] == 2 and stats["totals"]["rows"] == 5150
    assert stats["buckets"][-1]["succeeded"] == 2


def test_full_refresh_overwrite_replaces_the_table(
    celery, api, orders_source, dest_db, pg_destination
):
    celery.start("worker")
    connector = create_pg_connector(api, orders_source, pg_destination)
    select_streams(api, connector["id"], sync_mode="full_refresh", load_mode="overwrite")
    assert sync(api, connector["id"])["status"] == "succeeded"

    with connect(orders_source) as conn:
        conn.execute("DELETE FROM orders WHERE id > 4000")
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert fingerprint(dest_db, "shop.orders") == fingerprint(orders_source, "orders")
    with connect(dest_db) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop' AND tablename LIKE '%stage%'"
        ).fetchone()[0]
    assert leftovers == 0


def test_full_refresh_append_appends_each_sync(celery, api, orders_source, dest_db, pg_destination):
    celery.start("worker")
    connector = create_pg_connector(api, orders_source, pg_destination)
    select_streams(api, connector["id"], sync_mode="full_refresh", load_mode="append")
    assert sync(api, connector["id"])["status"] == "succeeded"
    assert sync(api, connector["id"])["status"] == "succeeded"
    count, distinct, _ = fingerprint(dest_db, "shop.orders")
    assert (count, distinct) == (10000, 5000)


def test_schema_change_adds_the_new_column(celery, api, orders_source, dest_db, pg_destination):
    celery.start("worker")
    connector = create_pg_connector(api, orders_source, pg_destination)
    assert sync(api, connector["id"])["status"] == "succeeded"

    with connect(orders_source) as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'store'")
        conn.execute("ALTER TABLE orders DROP COLUMN note")
        conn.execute(
            "UPDATE orders SET channel = 'web', updated_at = updated_at + interval '1 day' "
            "WHERE id <= 10"
        )
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_read"] == 10
    with connect(dest_db) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'shop' AND table_name = 'orders'"
            )
        }
        web = conn.execute("SELECT count(*) FROM shop.orders WHERE channel = 'web'").fetchone()[0]
    # The new column is added; the removed one is kept (its history stays queryable).
    assert {"channel", "note"} <= columns
    assert web == 10

    # The receipt and the schema view tell what changed, and that the rows loaded before
    # the column existed wait for a backfill.
    receipt = api.ok("GET", f"/syncs/{connector['id']}")["items"][0]
    changes = {(c["change"], c["column"]) for c in receipt["schema_changes"]}
    assert {("column_added", "channel"), ("column_removed", "note")} <= changes
    schema = api.ok("GET", f"/syncs/{connector['id']}/schema")
    (stream,) = schema["streams"]
    fields = {f["name"]: f for f in stream["fields"]}
    assert "channel" in fields and "note" not in fields
    assert fields["id"]["key"] and fields["updated_at"]["cursor"]
    added = next(c for c in schema["recent_changes"] if c["column"] == "channel")
    assert added["change"] == "column_added" and added["job_id"] == job["id"]
    (backfill,) = schema["pending_backfills"]
    assert (backfill["stream"], backfill["reason"], backfill["column"]) == (
        "public.orders",
        "column_added",
        "channel",
    )

    # The next sync reads the stream in full again and merges: every row has its channel.
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_read"] == 5000 and job["streams"][0]["load_mode"] == "merge"
    with connect(dest_db) as conn:
        by_channel = dict(
            conn.execute("SELECT channel, count(*) FROM shop.orders GROUP BY channel").fetchall()
        )
    assert by_channel == {"web": 10, "store": 4990}
    assert api.ok("GET", f"/syncs/{connector['id']}/schema")["pending_backfills"] == []
    receipt = api.ok("GET", f"/syncs/{connector['id']}")["items"][0]
    assert receipt["streams"][0]["backfill"] is True
    # And then incremental again.
    assert sync(api, connector["id"])["rows_read"] == 0


def test_double_trigger_is_409(celery, api, orders_source, pg_destination):
    connector = create_pg_connector(api, orders_source, pg_destination)
    first = api.post(f"/connectors/{connector['id']}/sync")
    assert first.status_code == 202
    second = api.post(f"/connectors/{connector['id']}/sync")
    assert second.status_code == 409
    assert second.json()["error"] == "A sync of this connector is already pending or running."
    assert second.json()["detail"]["job_id"] == first.json()["id"]
    # With no worker yet the job waits; a worker then runs it.
    celery.start("worker")
    assert api.wait_for_job(first.json()["id"])["status"] == "succeeded"


def test_cancel_a_running_sync(celery, api, source_db, dest_db, pg_destination):
    with connect(source_db) as conn:
        conn.execute(ORDERS)
    seed_orders(source_db, 1, 400_000)
    celery.start("worker", SYNC_BATCH_ROWS="2000")
    connector = create_pg_connector(api, source_db, pg_destination)
    select_streams(api, connector["id"], sync_mode="full_refresh", load_mode="append")
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    running = api.wait_for_job(job["id"], statuses=("running",))
    while running["rows_written"] == 0:
        running = api.ok("GET", f"/jobs/{job['id']}")
        time.sleep(0.05)

    cancel = api.post(f"/jobs/{job['id']}/cancel", json={"reason": "wrong table"})
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancel_requested_at"] is not None
    started = time.monotonic()
    done = api.wait_for_job(job["id"], timeout=30)
    assert done["status"] == "cancelled"
    assert time.monotonic() - started < 10
    assert done["cancel_reason"] == "wrong table"
    # Every committed batch is whole: the table holds a multiple of the batch size.
    count, distinct, _ = fingerprint(dest_db, "shop.orders")
    assert count == distinct and count % 2000 == 0 and 0 < count < 400_000
    # A finished job cannot be cancelled again.
    assert api.post(f"/jobs/{job['id']}/cancel").status_code == 409
    (receipt,) = api.ok("GET", "/syncs?status=cancelled")["items"]
    assert receipt["job_id"] == job["id"] and 0 < receipt["rows_written"] < 400_000

    # Retrying the cancelled job resumes after the last committed batch: no duplicates.
    retry = api.ok("POST", f"/jobs/{job['id']}/retry", 202)
    assert retry["retry_of"] == job["id"] and retry["attempt"] == 2
    assert retry["run_id"] == done["run_id"]
    assert api.wait_for_job(retry["id"], timeout=120)["status"] == "succeeded"
    assert fingerprint(dest_db, "shop.orders") == fingerprint(source_db, "orders")


def test_bad_credentials_fail_clearly(celery, api, orders_source, pg_destination):
    celery.start("worker")
    connector = create_pg_connector(
        api, orders_source, pg_destination, config={"database": "no_such_database_here"}
    )
    test = api.ok("POST", f"/connectors/{connector['id']}/test")
    assert test["status"] == "failed" and test["ok"] is False
    assert "no_such_database_here" in test["message"]

    job = sync(api, connector["id"])
    assert job["status"] == "failed"
    assert job["error"]["retryable"] is False
    assert "no_such_database_here" in job["error"]["message"]
    assert api.ok("GET", f"/connectors/{connector['id']}")["health"] == "failing"
    (receipt,) = api.ok("GET", f"/syncs?connector_id={connector['id']}&status=failed")["items"]
    assert receipt["job_id"] == job["id"] and receipt["error"] == job["error"]


def test_unreachable_host_fails_within_the_timeout(celery, api, orders_source, pg_destination):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    celery.start("worker", SYNC_MAX_ATTEMPTS="2")
    connector = create_pg_connector(
        api, orders_source, pg_destination, config={"port": closed_port}
    )
    test = api.ok("POST", f"/connectors/{connector['id']}/test")
    assert test["status"] == "failed"
    assert test["reachable"] is False
    assert test["duration_ms"] < 10_000

    job = sync(api, connector["id"])
    assert job["status"] == "failed"
    assert job["error"]["type"] == "unreachable" and job["error"]["retryable"] is True
    # A retryable failure is retried automatically, as a new attempt of the same run.
    retries = api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
    retry = next(j for j in retries if j["retry_of"] == job["id"])
    assert retry["trigger"] == "retry" and retry["attempt"] == 2
    assert retry["run_id"] == job["run_id"]
    assert api.wait_for_job(retry["id"])["status"] == "failed"
