"""Celery beat triggers connectors by their frequency; a worker runs the scheduled sync. A new
connector waits one interval for its first scheduled sync, so the user's first manual sync is
the first sync."""

import re
import time
from datetime import datetime, timedelta

import pytest
from django.db.models import F

from connectors.models import Connector
from tests.e2e.conftest import Processes, create_pg_connector
from tests.e2e.test_postgres_sync import ORDERS, fingerprint, seed_orders
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCHEDULER_RUN = re.compile(r"Task syncs\.trigger_due\[[^\]]+\] succeeded")


def scheduler_runs(celery: Processes) -> int:
    """How many times a worker has run the scheduler's task (beat sends it every second)."""
    return sum(
        len(SCHEDULER_RUN.findall(p.log_path.read_text(errors="replace"))) for p in celery.running
    )


def wait_for_scheduler_runs(celery: Processes, count: int, timeout: float = 60) -> None:
    target = scheduler_runs(celery) + count
    deadline = time.monotonic() + timeout
    while scheduler_runs(celery) < target:
        assert time.monotonic() < deadline, celery.logs()
        time.sleep(0.2)


def test_beat_waits_one_interval_for_a_new_connector_then_syncs_it_once(
    celery, api, source_db, dest_db, pg_destination
):
    with connect(source_db) as conn:
        conn.execute(ORDERS)
    seed_orders(source_db, 1, 300)
    celery.start("worker")
    celery.start("beat")
    connector = create_pg_connector(api, source_db, pg_destination, sync_frequency_minutes=5)
    paused = create_pg_connector(
        api, source_db, pg_destination, name="paused", sync_frequency_minutes=5, paused=True
    )
    created = datetime.fromisoformat(connector["created_at"])
    assert datetime.fromisoformat(connector["next_sync_at"]) == created + timedelta(minutes=5)

    # Several scheduler runs after its creation, the new connector has not been synced.
    wait_for_scheduler_runs(celery, 3)
    assert api.ok("GET", f"/jobs?connector_id={connector['id']}")["total"] == 0

    # So the user's first manual sync is the first sync, and moves every row.
    manual = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    assert api.wait_for_job(manual["id"])["status"] == "succeeded"
    assert api.ok("GET", f"/jobs/{manual['id']}")["rows_written"] == 300
    assert fingerprint(dest_db, "shop.orders") == fingerprint(source_db, "orders")
    shown = api.ok("GET", f"/connectors/{connector['id']}")["next_sync_at"]
    assert datetime.fromisoformat(shown) == datetime.fromisoformat(
        manual["created_at"]
    ) + timedelta(minutes=5)

    # One interval later (the clock moved back in the database), beat syncs it on its own.
    Connector.objects.filter(id__in=[connector["id"], paused["id"]]).update(
        created_at=F("created_at") - timedelta(minutes=5, seconds=1),
        last_triggered_at=F("last_triggered_at") - timedelta(minutes=5, seconds=1),
    )
    deadline = time.monotonic() + 60
    while True:
        jobs = api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
        if len(jobs) == 2 and jobs[0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, (jobs, celery.logs())
        time.sleep(0.5)
    assert jobs[0]["trigger"] == "schedule"

    # Several runs later, still two jobs: the next is due in 5 minutes. Paused: never.
    wait_for_scheduler_runs(celery, 3)
    assert api.ok("GET", f"/jobs?connector_id={connector['id']}")["total"] == 2
    assert api.ok("GET", f"/jobs?connector_id={paused['id']}")["total"] == 0
