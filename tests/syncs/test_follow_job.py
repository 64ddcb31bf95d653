"""`manage.py follow_job`: its lines, its summary and its exit status (following a running job
with a real worker, on a terminal and off it, is in tests/e2e/test_live_progress.py)."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from syncs.management.commands.follow_job import clock, progress_line
from syncs.models import Job, JobStatus, JobStream
from tests.accounts.factories import AccountFactory
from tests.connectors.factories import make_connector

pytestmark = pytest.mark.django_db


def finished_job(status: str, **fields) -> Job:
    now = timezone.now()
    job = Job.objects.create(
        connector=make_connector(AccountFactory()),
        status=status,
        started_at=now - timedelta(seconds=75),
        finished_at=now,
        rows_read=1500,
        rows_written=1500,
        **fields,
    )
    JobStream.objects.create(
        job=job,
        name="orders",
        status=status,
        sync_mode="incremental",
        load_mode="merge",
        rows_written=1500,
        estimated_rows=1500,
    )
    return job


def follow(job_id) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("follow_job", str(job_id), "--interval", "0.1", stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_a_succeeded_job_is_summed_up_and_exits_0():
    out, error = follow(finished_job(JobStatus.SUCCEEDED).id)
    assert error is None
    assert out.splitlines() == [
        "succeeded in 1:15: 1,500 rows written (20 rows/s)",
        "  orders  succeeded         1,500 rows",
    ]


def test_a_failed_job_exits_1_with_its_error():
    job = finished_job(
        JobStatus.FAILED,
        error={"type": "unreachable", "message": "db down", "stream": "orders", "retryable": True},
    )
    out, error = follow(job.id)
    assert out.startswith("failed in 1:15")
    assert (error.returncode, str(error)) == (1, "db down (stream orders)")


def test_a_cancelled_job_exits_2_and_an_unknown_one_3():
    _, error = follow(finished_job(JobStatus.CANCELLED, cancel_reason="by ops").id)
    assert (error.returncode, str(error)) == (2, "The job was cancelled: by ops")
    _, error = follow(uuid.uuid4())
    assert error.returncode == 3 and "not found" in str(error)
    _, error = follow("not-a-uuid")
    assert error.returncode == 3


def test_a_running_job_in_one_line():
    job = {
        "status": "running",
        "percent": 50.0,
        "rows_written": 1_250_000,
        "estimated_rows": 2_500_000,
        "rows_per_second": 48_213.4,
        "eta_seconds": 3725.0,
        "current_stream": "public.orders",
        "stage": "merging",
    }
    assert progress_line(job) == (
        "[############............]  50.0%  1,250,000 of ~2,500,000 rows  48,213 rows/s  "
        "ETA 1:02:05  public.orders: merging"
    )
    unknown = {**job, "percent": None, "estimated_rows": None, "eta_seconds": None}
    unknown.update(rows_per_second=None, current_stream="", stage="preparing")
    assert progress_line(unknown) == "1,250,000 rows  preparing"
    assert progress_line({"status": "pending"}) == "pending: waiting for a worker"
    assert (clock(7), clock(123), clock(3725)) == ("0:07", "2:03", "1:02:05")
