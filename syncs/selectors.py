"""Reads of jobs and connector health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import NotFoundError
from syncs.models import ACTIVE_STATUSES, Job, JobStatus

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


def job_get(*, account: Account, job_id: Any) -> Job:
    job = (
        Job.objects.filter(id=job_id, connector__account=account)
        .prefetch_related("streams")
        .first()
    )
    if job is None:
        raise NotFoundError("Job not found")
    return job


def connectors_with_health(queryset: QuerySet[Connector]) -> QuerySet[Connector]:
    """Annotate `last_finished_status`, `last_synced_at` (last success) and `is_syncing`."""
    finished = Job.objects.filter(
        connector=OuterRef("pk"), status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
    ).order_by("-finished_at")
    succeeded = Job.objects.filter(connector=OuterRef("pk"), status=JobStatus.SUCCEEDED).order_by(
        "-finished_at"
    )
    return queryset.annotate(
        last_finished_status=Subquery(finished.values("status")[:1]),
        last_synced_at=Subquery(succeeded.values("finished_at")[:1]),
        is_syncing=Exists(Job.objects.filter(connector=OuterRef("pk"), status__in=ACTIVE_STATUSES)),
    )


def health_of(connector: Connector) -> str:
    """From `connectors_with_health`'s annotations."""
    if connector.is_syncing:
        return "syncing"
    if connector.paused:
        return "paused"
    if connector.last_finished_status is None:
        return "never_synced"
    return "healthy" if connector.last_finished_status == JobStatus.SUCCEEDED else "failing"


def connector_summary(*, account: Account, days: int = 14) -> dict[str, Any]:
    """Counts by health, and per-day series of rows synced and failed syncs."""
    connectors = connectors_with_health(Connector.objects.filter(account=account))
    counts = dict.fromkeys(HEALTH_STATES, 0)
    for connector in connectors.only("id", "paused"):
        counts[health_of(connector)] += 1

    today = timezone.now().date()
    first_day = today - timedelta(days=days - 1)
    per_day = (
        Job.objects.filter(
            connector__account=account,
            finished_at__date__gte=first_day,
            status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED],
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
