"""Sync statistics per hour or day, computed by the database from the receipts.

Counts, sums and means are one GROUP BY. The 95th percentile of durations is interpolated
linearly between the two closest ranks (as PostgreSQL's `percentile_cont` and NumPy's default
do); the ranks come from window functions, so at most two durations per bucket leave the
database, on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Ceil, Coalesce, Floor, RowNumber, TruncDay, TruncHour
from django.utils import timezone

from landed.accounts.models import Account
from syncs.models import JobStatus, SyncReceipt

GRANULARITIES = ("hour", "day")
DEFAULT_DAYS = 7
MAX_DAYS = 90
PERCENTILE = 0.95


def sync_stats(
    *,
    account: Account,
    connector_id: Any = None,
    destination_id: Any = None,
    days: int = DEFAULT_DAYS,
    granularity: str = "day",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Per bucket (UTC hours or days, oldest first, empty ones included) and in total: syncs,
    successes, failures, cancellations, rows and bytes written, mean and p95 duration. The
    window is the last `days` days up to now: for days, today and the days - 1 before it."""
    now = (now or timezone.now()).astimezone(UTC)
    step = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    if granularity == "hour":
        current = now.replace(minute=0, second=0, microsecond=0)
        first = current - timedelta(hours=days * 24 - 1)
    else:
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
        first = current - timedelta(days=days - 1)
    end = current + step

    receipts = SyncReceipt.objects.filter(
        account=account, finished_at__gte=first, finished_at__lt=end
    )
    if connector_id:
        receipts = receipts.filter(connector_id=connector_id)
    if destination_id:
        receipts = receipts.filter(destination_id=destination_id)

    trunc = TruncHour if granularity == "hour" else TruncDay
    bucketed = receipts.annotate(bucket=trunc("finished_at", tzinfo=UTC))
    per_bucket = {
        _as_utc(row["bucket"]): row
        for row in bucketed.values("bucket").annotate(**_aggregates()).order_by("bucket")
    }
    p95_by_bucket = _percentiles(bucketed, partition="bucket")

    buckets = []
    start = first
    while start < end:
        row = per_bucket.get(start)
        buckets.append(
            {
                "start": start,
                "end": start + step,
                **_figures(row, p95_by_bucket.get(start)),
            }
        )
        start += step

    totals_row = receipts.aggregate(**_aggregates())
    totals_p95 = _percentiles(receipts.annotate(everything=Value(1)), partition="everything")
    return {
        "granularity": granularity,
        "days": days,
        "since": first,
        "until": end,
        "connector_id": connector_id,
        "destination_id": destination_id,
        "totals": _figures(totals_row if totals_row["syncs"] else None, totals_p95.get(1)),
        "buckets": buckets,
    }


def _aggregates() -> dict[str, Any]:
    return {
        "syncs": Count("id"),
        "succeeded": Count("id", filter=Q(status=JobStatus.SUCCEEDED)),
        "failed": Count("id", filter=Q(status=JobStatus.FAILED)),
        "cancelled": Count("id", filter=Q(status=JobStatus.CANCELLED)),
        "rows": Coalesce(Sum("rows_written"), 0),
        "bytes": Coalesce(Sum("bytes_written"), 0),
        "mean_duration": Avg("duration_seconds"),
    }


def _figures(row: dict[str, Any] | None, p95: float | None) -> dict[str, Any]:
    row = row or {}
    mean = row.get("mean_duration")
    return {
        "syncs": row.get("syncs", 0),
        "succeeded": row.get("succeeded", 0),
        "failed": row.get("failed", 0),
        "cancelled": row.get("cancelled", 0),
        "rows": int(row.get("rows", 0) or 0),
        "bytes": int(row.get("bytes", 0) or 0),
        "mean_duration_seconds": round(mean, 3) if mean is not None else None,
        "p95_duration_seconds": round(p95, 3) if p95 is not None else None,
    }


def _percentiles(queryset: QuerySet, *, partition: str) -> dict[Any, float]:
    """The PERCENTILE of `duration_seconds` per value of `partition`. Of n sorted durations
    the percentile sits at rank h = p(n-1) (0-based): the database returns only the rows at
    floor(h) and ceil(h), and the value is interpolated between them."""
    ranked = (
        queryset.filter(duration_seconds__isnull=False)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F(partition)],
                order_by=[F("duration_seconds").asc(), F("id").asc()],
            )
            - 1,
            size=Window(Count("id"), partition_by=[F(partition)]),
        )
        .filter(
            rank__gte=Floor(PERCENTILE * (F("size") - 1)),
            rank__lte=Ceil(PERCENTILE * (F("size") - 1)),
        )
        .values_list(partition, "rank", "size", "duration_seconds")
    )
    around: dict[Any, dict[int, float]] = {}
    sizes: dict[Any, int] = {}
    for key, rank, size, duration in ranked:
        key = _as_utc(key)
        around.setdefault(key, {})[rank] = duration
        sizes[key] = size
    result = {}
    for key, values in around.items():
        h = PERCENTILE * (sizes[key] - 1)
        low_rank, high_rank = min(values), max(values)
        fraction = min(max(h - low_rank, 0.0), 1.0) if high_rank > low_rank else 0.0
        low, high = values[low_rank], values[high_rank]
        result[key] = low + (high - low) * fraction
    return result


def _as_utc(value: Any) -> Any:
    """Bucket starts as aware UTC datetimes, whatever the database returned."""
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return value
