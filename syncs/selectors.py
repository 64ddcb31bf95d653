"""Reads of jobs and connector health."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import NotFoundError
from landed.db import snapshot
from syncs.models import (
    ACTIVE_STATUSES,
    Backfill,
    BackfillStatus,
    Job,
    JobStatus,
    SchemaChange,
    StreamSchema,
    SyncReceipt,
)
from syncs.schedule import connectors_with_next_sync, schedule_stopped

HEALTH_STATES = ("healthy", "failing", "paused", "syncing", "never_synced")


def job_active_for(*, connector: Connector) -> Job | None:
    return Job.objects.filter(connector=connector, status__in=ACTIVE_STATUSES).first()


def job_list(
    *, account: Account, connector_id: Any = None, status: str | None = None
) -> QuerySet[Job]:
    jobs = Job.objects.filter(connector__account=account).prefetch_related("streams")
    if connector_id:
        jobs = jobs.filter(connector_id=connector_id)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "id")


def job_find(*, job_id: Any) -> Job | None:
    """Any account's job with its streams, read at one moment (for operators' tools)."""
    with snapshot():
        return Job.objects.filter(id=job_id).prefetch_related("streams").first()


def job_get(*, account: Account, job_id: Any) -> Job:
    """The job with its streams, read at one moment: its counts are their sums."""
    with snapshot():
        job = (
            Job.objects.filter(id=job_id, connector__account=account)
            .prefetch_related("streams")
            .first()
        )
    if job is None:
        raise NotFoundError("Job not found")
    return job


def connectors_with_health(queryset: QuerySet[Connector]) -> QuerySet[Connector]:
    """Annotate `health` (one of HEALTH_STATES) and `last_synced_at` (end of the last
    success), from the receipts (which outlive the job rows) and the active jobs.

    Health is, in this order: syncing (a job is pending or running), paused, never_synced
    (no receipt of a success or a failure), healthy or failing (the last such receipt)."""
    finished = SyncReceipt.objects.filter(
        connector=OuterRef("pk"), status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
    ).order_by("-finished_at")
    succeeded = SyncReceipt.objects.filter(
        connector=OuterRef("pk"), status=JobStatus.SUCCEEDED
    ).order_by("-finished_at")
    last_finished_health = finished.annotate(
        health=Case(
            When(status=JobStatus.SUCCEEDED, then=Value("healthy")),
            default=Value("failing"),
        )
    ).values("health")[:1]
    return queryset.annotate(
        last_synced_at=Subquery(succeeded.values("finished_at")[:1]),
        health=Case(
            When(
                Exists(Job.objects.filter(connector=OuterRef("pk"), status__in=ACTIVE_STATUSES)),
                then=Value("syncing"),
            ),
            When(paused=True, then=Value("paused")),
            default=Coalesce(
                Subquery(last_finished_health, output_field=CharField()),
                Value("never_synced"),
            ),
            output_field=CharField(),
        ),
    )


def connectors_with_activity(queryset: QuerySet[Connector]) -> QuerySet[Connector]:
    """`connectors_with_health`, and what the operators' pages show beside it, in the same
    query: the last receipt's status and end (`last_result`, `last_result_at`: a cancelled
    sync too), the pending or running job (`active_job_id`, `active_job_status`) and, by the
    scheduler's own rule, `next_sync_at` and `schedule_stopped`."""
    last = SyncReceipt.objects.filter(connector=OuterRef("pk")).order_by("-finished_at")
    active = Job.objects.filter(connector=OuterRef("pk"), status__in=ACTIVE_STATUSES).order_by(
        "-created_at"
    )
    return connectors_with_next_sync(connectors_with_health(queryset)).annotate(
        last_result=Subquery(last.values("status")[:1]),
        last_result_at=Subquery(last.values("finished_at")[:1]),
        active_job_id=Subquery(active.values("id")[:1]),
        active_job_status=Subquery(active.values("status")[:1]),
        schedule_stopped=schedule_stopped(),
    )


def connector_summary(*, account: Account, days: int = 14) -> dict[str, Any]:
    """Counts by health, and per-day series of rows synced and failed syncs."""
    connectors = connectors_with_health(Connector.objects.filter(account=account))
    counts = dict.fromkeys(HEALTH_STATES, 0)
    for health in connectors.values_list("health", flat=True):
        counts[health] += 1

    today = timezone.now().date()
    first_day = today - timedelta(days=days - 1)
    per_day = (
        SyncReceipt.objects.filter(
            account=account,
            finished_at__gte=datetime.combine(first_day, time.min, tzinfo=UTC),
        )
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            rows=Sum("rows_written"),
            failures=Count("id", filter=Q(status=JobStatus.FAILED)),
            syncs=Count("id"),
        )
    )
    by_day = {row["day"]: row for row in per_day}
    series = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        row = by_day.get(day, {})
        series.append(
            {
                "date": day.isoformat(),
                "rows_synced": row.get("rows") or 0,
                "failures": row.get("failures") or 0,
                "syncs": row.get("syncs") or 0,
            }
        )
    return {"total": sum(counts.values()), "health": counts, "sparkline": series}


# --- History ---------------------------------------------------------------------------------
def receipt_list(
    *,
    account: Account,
    connector_id: Any = None,
    status: str | None = None,
    trigger: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[SyncReceipt]:
    """Receipts newest first; `since`/`until` bound `finished_at` (inclusive, exclusive)."""
    receipts = SyncReceipt.objects.filter(account=account)
    if connector_id:
        receipts = receipts.filter(connector_id=connector_id)
    if status:
        receipts = receipts.filter(status=status)
    if trigger:
        receipts = receipts.filter(trigger=trigger)
    if since is not None:
        receipts = receipts.filter(finished_at__gte=since)
    if until is not None:
        receipts = receipts.filter(finished_at__lt=until)
    return receipts.order_by("-finished_at", "-id")


def connector_schema(*, connector: Connector, changes_limit: int = 50) -> dict[str, Any]:
    """The connector's streams as last loaded (fields with key and cursor flags), its recent
    schema changes and its pending backfills."""
    selected = {entry["name"]: entry for entry in connector.streams}
    streams = []
    for loaded in StreamSchema.objects.filter(connector=connector).order_by("stream"):
        key = set(loaded.primary_key)
        streams.append(
            {
                "name": loaded.stream,
                "table": loaded.table,
                "enabled": selected.get(loaded.stream, {}).get("enabled", True),
                "sync_mode": loaded.sync_mode,
                "load_mode": loaded.load_mode,
                "primary_key": loaded.primary_key,
                "cursor_field": loaded.cursor_field or None,
                "last_job_id": loaded.job_id,
                "updated_at": loaded.updated_at,
                "fields": [
                    {
                        "name": column["name"],
                        "type": column["type"],
                        "nullable": column.get("nullable", True),
                        "key": column["name"] in key,
                        "cursor": column["name"] == loaded.cursor_field,
                        "precision": column.get("precision"),
                        "scale": column.get("scale"),
                        "source_type": column.get("source_type"),
                    }
                    for column in loaded.columns
                ],
            }
        )
    changes = SchemaChange.objects.filter(connector=connector).order_by("-created_at", "-id")
    pending = Backfill.objects.filter(connector=connector, status=BackfillStatus.PENDING)
    return {
        "connector_id": connector.id,
        "streams": streams,
        "recent_changes": list(changes[:changes_limit]),
        "pending_backfills": list(pending.order_by("requested_at", "id")),
    }
