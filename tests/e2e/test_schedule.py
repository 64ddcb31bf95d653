"""Celery beat triggers connectors by their frequency; a worker runs the scheduled sync."""

import time

import pytest

from tests.e2e.conftest import create_pg_connector
from tests.e2e.test_postgres_sync import ORDERS, fingerprint, seed_orders
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_beat_triggers_a_due_connector_once(celery, api, source_db, dest_db, pg_destination):
    with connect(source_db) as conn:
        conn.execute(ORDERS)
    seed_orders(source_db, 1, 300)
    celery.start("worker")
    celery.start("beat")
    # Never synced and scheduled: due at once. Paused: never.
    connector = create_pg_connector(api, source_db, pg_destination, sync_frequency_minutes=5)
    paused = create_pg_connector(
        api, source_db, pg_destination, name="paused", sync_frequency_minutes=5, paused=True
    )

    deadline = time.monotonic() + 60
    while True:
        jobs = api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
        if jobs and jobs[0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, (jobs, celery.logs())
        time.sleep(0.5)
    assert jobs[0]["trigger"] == "schedule"
    assert fingerprint(dest_db, "shop.orders") == fingerprint(source_db, "orders")

    # Several ticks later (one a second here), still one job: the next is due in 5 minutes.
    time.sleep(3)
    assert api.ok("GET", f"/jobs?connector_id={connector['id']}")["total"] == 1
    assert api.ok("GET", f"/jobs?connector_id={paused['id']}")["total"] == 0
