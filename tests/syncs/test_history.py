"""Sync history: receipts written when jobs settle, the Syncs endpoints, stats arithmetic
checked against buckets computed by hand, the schema view, retention."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import Connector
from syncs import services
from syncs.models import (
    Backfill,
    BackfillReason,
    Job,
    JobStatus,
    JobStream,
    SchemaChange,
    StreamSchema,
    SyncReceipt,
)
from syncs.receipts import receipt_write
from syncs.stats import sync_stats
from tests.accounts.factories import UserFactory
from tests.connectors.factories import make_connector, make_destination

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def connector(user) -> Connector:
    return make_connector(user.account, make_destination(user.account))


def run_job(connector, django_capture_on_commit_callbacks, **progress: Any) -> Job:
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    JobStream.objects.create(
        job=job, name="orders", sync_mode="incremental", load_mode="merge", status="running"
    )
    JobStream.objects.create(
        job=job, name="customers", sync_mode="full_refresh", load_mode="append"
    )
    Job.objects.filter(id=job.id).update(**progress)
    return job


# --- Receipts -------------------------------------------------------------------------------
def test_a_succeeded_job_gets_a_receipt_with_its_streams_and_schema_changes(
    connector, django_capture_on_commit_callbacks
):
    job = run_job(
        connector, django_capture_on_commit_callbacks, rows_written=1200, bytes_written=64_000
    )
    JobStream.objects.filter(job=job, name="orders").update(
        status="succeeded", rows_written=1200, bytes_written=64_000
    )
    SchemaChange.objects.create(
        connector=connector, job=job, stream="orders", change="column_added", column="note"
    )
    services.job_finish(job=job, status=JobStatus.SUCCEEDED)

    receipt = SyncReceipt.objects.get(job=job)
    assert receipt.status == "succeeded" and receipt.trigger == "manual"
    assert receipt.account_id == connector.account_id
    assert receipt.connector_name == "demo" and receipt.destination_id == connector.destination_id
    assert receipt.rows_written == 1200 and receipt.bytes_written == 64_000
    assert receipt.duration_seconds is not None and receipt.duration_seconds >= 0
    streams = {s["name"]: s for s in receipt.streams}
    assert streams["orders"]["rows_written"] == 1200
    # A stream the job never reached is settled as not run.
    assert streams["customers"]["status"] == "cancelled"
    assert receipt.schema_changes == [
        {
            "stream": "orders",
            "change": "column_added",
            "column": "note",
            "old_type": "",
            "new_type": "",
            "note": "",
        }
    ]
    # Written once: a second call returns the same receipt.
    assert receipt_write(job_id=job.id).id == receipt.id
    assert SyncReceipt.objects.filter(job=job).count() == 1


def test_failed_and_cancelled_jobs_get_receipts(connector, django_capture_on_commit_callbacks):
    failed = run_job(connector, django_capture_on_commit_callbacks)
    error = {"type": "authentication_failed", "message": "no", "stream": None, "retryable": False}
    services.job_finish(job=failed, status=JobStatus.FAILED, error=error)
    receipt = SyncReceipt.objects.get(job=failed)
    assert receipt.status == "failed" and receipt.error == error
    # The stream that was running when it failed ends failed.
    assert {s["name"]: s["status"] for s in receipt.streams}["orders"] == "failed"

    # Cancelled while pending: a receipt with no duration.
    with django_capture_on_commit_callbacks():
        pending = services.sync_trigger(connector=connector)
    services.job_cancel(job=pending)
    receipt = SyncReceipt.objects.get(job=pending)
    assert receipt.status == "cancelled" and receipt.started_at is None
    assert receipt.duration_seconds is None

    # Cancelled while running: settled by its worker.
    running = run_job(connector, django_capture_on_commit_callbacks)
    services.job_cancel(job=running)
    assert not SyncReceipt.objects.filter(job=running).exists()
    services.job_finish(job=running, status=JobStatus.CANCELLED)
    assert SyncReceipt.objects.get(job=running).status == "cancelled"


def test_a_reaped_job_gets_a_failed_receipt(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_MAX_ATTEMPTS = 1
    job = run_job(connector, django_capture_on_commit_callbacks)
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    services.jobs_reap_stale()
    receipt = SyncReceipt.objects.get(job=job)
    assert receipt.status == "failed" and receipt.error["type"] == "worker_lost"


def test_receipts_outlive_job_retention_and_the_connector(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.JOB_RETENTION_DAYS = 30
    settings.RECEIPT_RETENTION_DAYS = 400
    job = run_job(connector, django_capture_on_commit_callbacks, rows_written=5)
    services.job_finish(job=job, status=JobStatus.SUCCEEDED)
    receipt = SyncReceipt.objects.get(job=job)

    # A month on, the job row is pruned; its receipt stays.
    later = timezone.now() + timedelta(days=31)
    assert services.history_prune(now=later) == {"jobs": 1, "receipts": 0}
    receipt.refresh_from_db()
    assert not Job.objects.filter(id=job.id).exists()
    # It still names its job, as do the schema changes the job applied.
    assert receipt.job_id == job.id and receipt.rows_written == 5

    # The connector is deleted; the receipt keeps its id and name for usage and audit.
    connector_id = connector.id
    connector.delete()
    receipt.refresh_from_db()
    assert receipt.connector_id == connector_id and receipt.connector_name == "demo"

    # Past the receipts' own retention it goes too.
    assert services.history_prune(now=timezone.now() + timedelta(days=401))["receipts"] == 1


# --- GET /syncs -----------------------------------------------------------------------------
def receipt(connector, *, finished_at: datetime, status="succeeded", duration=1.0, rows=0, **kw):
    return SyncReceipt.objects.create(
        account_id=connector.account_id,
        connector=connector,
        connector_name=connector.name,
        connector_type=connector.type,
        destination_id=connector.destination_id,
        run_id="00000000-0000-0000-0000-000000000001",
        status=status,
        trigger=kw.pop("trigger", "manual"),
        started_at=finished_at - timedelta(seconds=duration) if duration is not None else None,
        finished_at=finished_at,
        duration_seconds=duration,
        rows_written=rows,
        bytes_written=kw.pop("bytes_written", rows * 10),
        **kw,
    )


def test_list_filters_by_connector_status_trigger_and_dates(client, user, connector):
    other = make_connector(user.account, connector.destination, name="other")
    day = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    receipt(connector, finished_at=day, status="succeeded")
    receipt(connector, finished_at=day + timedelta(days=1), status="failed", trigger="schedule")
    receipt(other, finished_at=day + timedelta(days=2), status="cancelled")

    page = client.get("/syncs").json()
    assert page["total"] == 3 and page["has_next"] is False
    assert [r["status"] for r in page["items"]] == ["cancelled", "failed", "succeeded"]
    item = page["items"][1]
    assert item["connector_id"] == str(connector.id) and item["trigger"] == "schedule"
    assert item["finished_at"] == "2026-11-21T12:00:00+00:00"

    by_connector = client.get("/syncs", {"connector_id": str(other.id)}).json()
    assert [r["connector_name"] for r in by_connector["items"]] == ["other"]
    assert client.get("/syncs", {"status": "failed"}).json()["total"] == 1
    assert client.get("/syncs", {"trigger": "schedule"}).json()["total"] == 1
    # Dates: `until` includes its whole day.
    assert client.get("/syncs", {"since": "2026-11-21"}).json()["total"] == 2
    assert client.get("/syncs", {"until": "2026-11-21"}).json()["total"] == 2
    assert client.get("/syncs", {"since": "2026-11-21", "until": "2026-11-21"}).json()["total"] == 1
    # Date-times, with the `+` of the offset as a raw query string leaves it (a space).
    assert client.get("/syncs?since=2026-11-21T12:00:00+00:00").json()["total"] == 2
    assert client.get("/syncs?since=2026-11-21T12:00:01%2B00:00").json()["total"] == 1
    assert client.get("/syncs?until=2026-11-21T13:00:00Z").json()["total"] == 2

    # The connector's own list.
    own = client.get(f"/syncs/{connector.id}").json()
    assert own["total"] == 2 and {r["connector_name"] for r in own["items"]} == {"demo"}
    assert client.get(f"/syncs/{connector.id}", {"status": "failed"}).json()["total"] == 1


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ({"status": "running"}, ["query", "status"], "enum"),
        ({"since": "yesterday"}, ["query", "since"], "datetime_parsing"),
        ({"since": "2026-02-30"}, ["query", "since"], "datetime_parsing"),
        ({"since": ""}, ["query", "since"], "datetime_parsing"),
        ({"since": "2026-11-22", "until": "2026-11-21"}, ["query", "until"], "after"),
        ({"connector_id": "nope"}, ["query", "connector_id"], "uuid_parsing"),
        ({"limit": "0"}, ["query", "limit"], "greater_than_equal"),
    ],
)
def test_list_rejects_bad_filters(client, query, loc, kind):
    response = client.get("/syncs", query)
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == loc
    assert response.json()["detail"][0]["type"] == kind


def test_history_is_per_account(client, connector):
    stranger = UserFactory()
    theirs = make_connector(stranger.account, make_destination(stranger.account))
    receipt(theirs, finished_at=timezone.now())
    assert client.get("/syncs").json()["total"] == 0
    for path in (f"/syncs/{theirs.id}", f"/syncs/{theirs.id}/schema"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]
    assert (
        client.get("/syncs/stats", {"connector_id": str(theirs.id)}).json()["totals"]["syncs"] == 0
    )
    assert APIClient().get("/syncs").status_code == 401


# --- GET /syncs/stats ----------------------------------------------------------------------
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


def test_daily_stats_match_hand_computed_buckets(user, connector):
    other_destination = make_destination(user.account, name="warehouse")
    elsewhere = make_connector(user.account, other_destination, name="elsewhere")
    today = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    yesterday = today - timedelta(days=1)
    # Today: durations 1, 2, 3, 4, 10 (one failure, one cancelled).
    for duration, status, rows in [
        (1, "succeeded", 100),
        (2, "succeeded", 200),
        (3, "failed", 0),
        (4, "succeeded", 300),
        (10, "cancelled", 50),
    ]:
        receipt(connector, finished_at=today, duration=duration, status=status, rows=rows)
    # A cancellation before it started: counted, no duration.
    receipt(connector, finished_at=today, duration=None, status="cancelled")
    # Yesterday, another destination: one sync of 7 s.
    receipt(elsewhere, finished_at=yesterday, duration=7, rows=1000)
    # Outside the 7-day window.
    receipt(connector, finished_at=today - timedelta(days=7), rows=99_999)

    stats = sync_stats(account=user.account, days=7, granularity="day", now=NOW)
    assert len(stats["buckets"]) == 7
    assert stats["since"] == datetime(2026, 11, 17, tzinfo=UTC)
    assert stats["until"] == datetime(2026, 11, 24, tzinfo=UTC)
    by_start = {b["start"]: b for b in stats["buckets"]}
    day = by_start[datetime(2026, 11, 23, tzinfo=UTC)]
    assert (day["syncs"], day["succeeded"], day["failed"], day["cancelled"]) == (6, 3, 1, 2)
    assert day["rows"] == 650 and day["bytes"] == 6500
    assert day["mean_duration_seconds"] == 4.0  # (1+2+3+4+10)/5
    # p95 of 1,2,3,4,10: rank 0.95*4 = 3.8, between 4 and 10: 4 + 0.8*6 = 8.8.
    assert day["p95_duration_seconds"] == 8.8
    before = by_start[datetime(2026, 11, 22, tzinfo=UTC)]
    assert (before["syncs"], before["rows"], before["p95_duration_seconds"]) == (1, 1000, 7.0)
    empty = by_start[datetime(2026, 11, 17, tzinfo=UTC)]
    assert empty["syncs"] == 0 and empty["mean_duration_seconds"] is None

    totals = stats["totals"]
    assert totals["syncs"] == 7 and totals["rows"] == 1650
    # All six durations 1,2,3,4,7,10: mean 27/6 = 4.5; rank 0.95*5 = 4.75: 7 + 0.75*3 = 9.25.
    assert totals["mean_duration_seconds"] == 4.5
    assert totals["p95_duration_seconds"] == 9.25

    # Filtered by destination and by connector.
    only = sync_stats(account=user.account, destination_id=other_destination.id, now=NOW)
    assert only["totals"]["syncs"] == 1 and only["totals"]["rows"] == 1000
    mine = sync_stats(account=user.account, connector_id=connector.id, now=NOW)
    assert mine["totals"]["syncs"] == 6


def test_hourly_stats(user, connector):
    receipt(connector, finished_at=datetime(2026, 11, 23, 14, 59, tzinfo=UTC), duration=2)
    receipt(connector, finished_at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC), duration=4)
    receipt(connector, finished_at=datetime(2026, 11, 23, 15, 29, tzinfo=UTC), duration=6)
    stats = sync_stats(account=user.account, days=1, granularity="hour", now=NOW)
    assert len(stats["buckets"]) == 24
    assert stats["buckets"][-1]["start"] == datetime(2026, 11, 23, 15, tzinfo=UTC)
    last, previous = stats["buckets"][-1], stats["buckets"][-2]
    assert (last["syncs"], last["mean_duration_seconds"]) == (2, 5.0)
    # Two values 4 and 6: rank 0.95, so 4 + 0.95*2 = 5.9.
    assert last["p95_duration_seconds"] == 5.9
    assert (previous["syncs"], previous["p95_duration_seconds"]) == (1, 2.0)


def test_stats_endpoint_shape_and_validation(client, connector):
    receipt(connector, finished_at=timezone.now(), duration=3, rows=10)
    body = client.get("/syncs/stats").json()
    assert body["granularity"] == "day" and body["days"] == 7 and len(body["buckets"]) == 7
    assert body["totals"]["syncs"] == 1 and body["buckets"][-1]["rows"] == 10
    assert body["buckets"][0]["start"].endswith("+00:00")
    hourly = client.get("/syncs/stats", {"granularity": "hour", "days": "2"}).json()
    assert len(hourly["buckets"]) == 48
    assert len(client.get("/syncs/stats", {"days": "90"}).json()["buckets"]) == 90
    for query, loc in [
        ({"days": "0"}, "days"),
        ({"days": "91"}, "days"),
        ({"days": "7.5"}, "days"),
        ({"granularity": "week"}, "granularity"),
        ({"destination_id": "x"}, "destination_id"),
    ]:
        response = client.get("/syncs/stats", query)
        assert response.status_code == 422, query
        assert response.json()["detail"][0]["loc"] == ["query", loc]


# --- GET /syncs/{connector_id}/schema --------------------------------------------------------
def test_schema_view(client, connector, django_capture_on_commit_callbacks):
    job = run_job(connector, django_capture_on_commit_callbacks)
    connector.streams = [{"name": "orders", "enabled": False}]
    connector.save()
    StreamSchema.objects.create(
        connector=connector,
        stream="orders",
        table="orders",
        columns=[
            {"name": "id", "type": "bigint", "nullable": False},
            {"name": "updated_at", "type": "timestamptz", "nullable": True},
            {"name": "total", "type": "decimal", "precision": 12, "scale": 2},
        ],
        primary_key=["id"],
        cursor_field="updated_at",
        sync_mode="incremental",
        load_mode="merge",
        job=job,
    )
    for column in ("a", "b", "c"):
        SchemaChange.objects.create(
            connector=connector, job=job, stream="orders", change="column_added", column=column
        )
    Backfill.objects.create(
        connector=connector, stream="orders", reason=BackfillReason.COLUMN_ADDED, column="c"
    )
    body = client.get(f"/syncs/{connector.id}/schema").json()
    (stream,) = body["streams"]
    assert stream["enabled"] is False and stream["cursor_field"] == "updated_at"
    assert stream["last_job_id"] == str(job.id)
    fields = {f["name"]: f for f in stream["fields"]}
    assert fields["id"]["key"] is True and fields["id"]["nullable"] is False
    assert fields["updated_at"]["cursor"] is True and fields["updated_at"]["key"] is False
    assert (fields["total"]["precision"], fields["total"]["scale"]) == (12, 2)
    assert [c["column"] for c in body["recent_changes"]] == ["c", "b", "a"]
    assert body["recent_changes"][0]["job_id"] == str(job.id)
    (backfill,) = body["pending_backfills"]
    assert backfill["reason"] == "column_added" and backfill["status"] == "pending"

    limited = client.get(f"/syncs/{connector.id}/schema", {"changes_limit": "1"}).json()
    assert len(limited["recent_changes"]) == 1
    response = client.get(f"/syncs/{connector.id}/schema", {"changes_limit": "500"})
    assert response.status_code == 422


def test_enabling_a_loaded_stream_again_requests_a_backfill(client, user, connector):
    path = f"/connectors/{connector.id}/streams"

    def put(name: str, enabled: bool) -> None:
        entry = {
            "name": name,
            "enabled": enabled,
            "sync_mode": "incremental",
            "load_mode": "merge",
            "cursor_field": "updated_at",
            "primary_key": ["id"],
        }
        response = client.put(path, {"streams": [entry]}, format="json")
        assert response.status_code == 200, response.content

    StreamSchema.objects.create(
        connector=connector,
        stream="orders",
        table="orders",
        sync_mode="incremental",
        load_mode="merge",
    )
    put("orders", False)
    put("customers", False)
    assert not Backfill.objects.exists()
    put("orders", True)
    (backfill,) = Backfill.objects.all()
    assert (backfill.stream, backfill.reason, backfill.status) == (
        "orders",
        "stream_reenabled",
        "pending",
    )
    # A stream never loaded before has nothing to catch up with: its first sync reads it all.
    put("customers", True)
    assert Backfill.objects.count() == 1
    body = client.get(f"/syncs/{connector.id}/schema").json()
    assert [b["reason"] for b in body["pending_backfills"]] == ["stream_reenabled"]


def test_deleting_a_connector_mid_sync_keeps_a_receipt_of_what_it_loaded(
    client, connector, django_capture_on_commit_callbacks
):
    job = run_job(connector, django_capture_on_commit_callbacks, rows_written=700)
    response = client.delete(f"/connectors/{connector.id}")
    assert response.status_code == 204
    assert not Job.objects.filter(id=job.id).exists()
    (kept,) = client.get("/syncs", {"connector_id": str(connector.id)}).json()["items"]
    assert (kept["status"], kept["rows_written"]) == ("cancelled", 700)
    assert kept["connector_name"] == "demo" and kept["job_id"] == str(job.id)
    # The connector's own history is gone with it.
    assert client.get(f"/syncs/{connector.id}").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "until=9999-12-31",
        "since=9999-12-31T23:59:59-01:00",
        "since=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_dates_past_the_calendar_are_422_not_500(client, connector, query):
    for path in ("/syncs", f"/syncs/{connector.id}"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422, (path, query, response.content)
        assert response.json()["detail"][0]["type"] == "datetime_parsing"
