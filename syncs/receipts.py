"""Sync receipts: written when a job settles, inside the transaction that settles it."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from syncs.models import FINISHED_STATUSES, Job, SchemaChange, SyncReceipt

_STREAM_FIELDS = (
    "name",
    "status",
    "sync_mode",
    "load_mode",
    "backfill",
    "rows_read",
    "rows_written",
    "bytes_read",
    "bytes_written",
    "started_at",
    "finished_at",
    "error",
)
_CHANGE_FIELDS = ("stream", "change", "column", "old_type", "new_type", "note")


def receipt_write(*, job_id: Any) -> SyncReceipt | None:
    """The receipt of a finished job, from its settled row; the existing one when it was
    already written (the job id is unique among receipts). None for an unfinished job."""
    job = (
        Job.objects.select_related("connector")
        .prefetch_related("streams")
        .filter(id=job_id, status__in=FINISHED_STATUSES)
        .first()
    )
    if job is None:
        return None
    existing = SyncReceipt.objects.filter(job_id=job.id).first()
    if existing is not None:
        return existing
    connector = job.connector
    receipt = SyncReceipt(
        account_id=connector.account_id,
        connector=connector,
        connector_name=connector.name,
        connector_type=connector.type,
        destination_id=connector.destination_id,
        job=job,
        run_id=job.run_id,
        attempt=job.attempt,
        status=job.status,
        trigger=job.trigger,
        full_resync=job.full_resync,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=job.duration_seconds,
        rows_read=job.rows_read,
        rows_written=job.rows_written,
        bytes_read=job.bytes_read,
        bytes_written=job.bytes_written,
        streams=[_stream_entry(stream) for stream in job.streams.all()],
        error=job.error,
        schema_changes=list(
            SchemaChange.objects.filter(job=job).order_by("id").values(*_CHANGE_FIELDS)
        ),
    )
    try:
        with transaction.atomic():
            receipt.save(force_insert=True)
    except IntegrityError:
        # Written meanwhile by whoever else settled it.
        return SyncReceipt.objects.get(job_id=job.id)
    return receipt


def _stream_entry(stream: Any) -> dict[str, Any]:
    entry = {name: getattr(stream, name) for name in _STREAM_FIELDS}
    for name in ("started_at", "finished_at"):
        entry[name] = entry[name].isoformat() if entry[name] else None
    entry["error"] = entry["error"] or None
    return entry
