"""A running sync's reads and writes of the metadata database go through a brief loss of it:
here the server drops the connection under the worker (pg_terminate_backend), as a restart
does, alone and in the middle of a sync; a longer loss fails the job saying so, and it is
retried. tests/e2e/test_outages.py restarts a whole server mid-sync."""

import logging
import time

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from connectors import services as connector_services
from connectors.destinations.duckdb import DuckDBStreamLoader
from syncs import services
from syncs.engine import progress as progress_module
from syncs.engine.outage import through_outage
from syncs.engine.runner import run_sync_job
from syncs.models import Job, JobStatus
from tests.accounts.factories import AccountFactory
from tests.pg import dsn

pytestmark = pytest.mark.django_db(transaction=True)


def drop_this_connection() -> None:
    """The server ends the session of Django's connection, as a restart or failover does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(dsn(connection.settings_dict["NAME"]), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Gone once the server says so: the next statement of Django's connection fails.
        deadline = time.monotonic() + 5
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_a_dropped_connection_is_replaced_and_the_operation_made(caplog):
    drop_this_connection()
    with pytest.raises(OperationalError):
        Job.objects.count()  # what every write of a sync would meet without the wait
    connection.close()

    drop_this_connection()
    with caplog.at_level(logging.WARNING, logger="syncs.engine.outage"):
        assert through_outage(Job.objects.count, job_id="j-1", what="progress") == 0
    (warning,) = [r for r in caplog.records if r.name == "syncs.engine.outage"]
    assert "syncs.metadata_unavailable job=j-1 during=progress" in warning.getMessage()
    # The connection works on afterwards.
    assert Job.objects.count() == 0


def test_an_outage_longer_than_the_stale_window_fails_the_operation(settings):
    settings.JOB_STALE_SECONDS = 0.5
    calls = []

    def unreachable() -> None:
        calls.append(time.monotonic())
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        through_outage(unreachable, job_id="j-1", what="finish")
    # Tried again meanwhile, and given up within the window (the reaper's, for a silent job).
    assert len(calls) >= 2
    assert calls[-1] - calls[0] <= 0.5


def test_inside_a_transaction_of_the_caller_nothing_is_tried_again():
    calls = []

    def unreachable() -> None:
        calls.append(1)
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError), transaction.atomic():
        through_outage(unreachable, job_id="j-1", what="progress")
    assert calls == [1]


@pytest.fixture
def connector(tmp_path, monkeypatch, settings):
    """A sample source (2000 events, in batches of 100) to a DuckDB file."""
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path))
    settings.SYNC_BATCH_ROWS = 100
    settings.JOB_PROGRESS_INTERVAL_SECONDS = 0  # every batch writes the job's progress
    account = AccountFactory()
    destination = connector_services.destination_create(
        account=account, name="lake", type="duckdb", config={"path": "lake.duckdb"}
    )
    connector = connector_services.connector_create(
        account=account,
        name="demo",
        type="sample",
        config={"size": 200},
        destination=destination,
        sync_frequency_minutes=None,
    )
    services.connector_streams_update(
        connector=connector,
        entries=[
            {
                "name": "events",
                "enabled": True,
                "sync_mode": "full_refresh",
                "load_mode": "overwrite",
            }
        ]
        + [
            {"name": name, "enabled": False, "sync_mode": "full_refresh", "load_mode": "overwrite"}
            for name in ("customers", "orders")
        ],
    )
    return connector


def test_a_sync_whose_connection_is_dropped_midway_goes_on_and_succeeds(
    connector, monkeypatch, caplog
):
    real_write, batches = DuckDBStreamLoader.write, []

    def write(self, records, state):
        batches.append(1)
        if len(batches) == 5:
            drop_this_connection()  # the next progress write meets it broken
        return real_write(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", write)
    job = services.sync_trigger(connector=connector)
    with caplog.at_level(logging.WARNING, logger="syncs.engine.outage"):
        run_sync_job(str(job.id))

    job.refresh_from_db()
    assert (job.status, job.rows_written, job.attempt) == (JobStatus.SUCCEEDED, 2000, 1)
    waits = [r for r in caplog.records if r.name == "syncs.engine.outage"]
    assert [r.getMessage().split(" retry_in")[0] for r in waits] == [
        f"syncs.metadata_unavailable job={job.id} during=progress"
    ]


def test_a_sync_whose_database_stays_away_fails_as_such_and_is_retried(
    connector, monkeypatch, settings
):
    settings.JOB_STALE_SECONDS = 0.3
    job = services.sync_trigger(connector=connector)

    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    # The job's progress cannot be written; its end can (the database came back then).
    monkeypatch.setattr(progress_module, "job_progress_record", unreachable)
    run_sync_job(str(job.id))

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error["type"] == "metadata_unavailable"
    assert job.error["retryable"] is True
    retry = Job.objects.get(retry_of=job)
    assert (retry.status, retry.attempt, retry.run_id) == (JobStatus.PENDING, 2, job.run_id)
