"""A running sync's reads and writes of the metadata database go through a brief loss of it:
here the server drops the connection under the worker (pg_terminate_backend), as a restart
does; tests/e2e/test_outages.py restarts a whole server mid-sync."""

import logging
import time

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from syncs.engine.outage import through_outage
from syncs.models import Job
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
