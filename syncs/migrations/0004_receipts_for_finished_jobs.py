"""Receipts for the jobs that finished before receipts existed (health and history read them).

Set-based in batches: a few queries per thousand jobs, whatever the size of the jobs table."""

import uuid

from django.db import migrations

BATCH = 1000
STREAM_FIELDS = (
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
CHANGE_FIELDS = ("stream", "change", "column", "old_type", "new_type", "note")


def write_receipts(apps, schema_editor):
    Job = apps.get_model("syncs", "Job")
    JobStream = apps.get_model("syncs", "JobStream")
    SchemaChange = apps.get_model("syncs", "SchemaChange")
    SyncReceipt = apps.get_model("syncs", "SyncReceipt")
    finished = (
        Job.objects.filter(
            status__in=["succeeded", "failed", "cancelled"], finished_at__isnull=False
        )
        .select_related("connector")
        .order_by("id")
    )
    last_id = None
    while True:
        page = finished if last_id is None else finished.filter(id__gt=last_id)
        jobs = list(page[:BATCH])
        if not jobs:
            return
        last_id = jobs[-1].id
        ids = [job.id for job in jobs]
        streams: dict = {}
        for row in JobStream.objects.filter(job_id__in=ids).order_by("id").values(
            "job_id", *STREAM_FIELDS
        ):
            job_id = row.pop("job_id")
            for key in ("started_at", "finished_at"):
                row[key] = row[key].isoformat() if row[key] else None
            row["error"] = row["error"] or None
            streams.setdefault(job_id, []).append(row)
        changes: dict = {}
        for row in SchemaChange.objects.filter(job_id__in=ids).order_by("id").values(
            "job_id", *CHANGE_FIELDS
        ):
            changes.setdefault(row.pop("job_id"), []).append(row)
        SyncReceipt.objects.bulk_create(
            [_receipt(SyncReceipt, job, streams, changes) for job in jobs],
            ignore_conflicts=True,
        )


def _receipt(SyncReceipt, job, streams, changes):
    duration = (
        max((job.finished_at - job.started_at).total_seconds(), 0.0) if job.started_at else None
    )
    return SyncReceipt(
        id=uuid.uuid4(),
        job_id=job.id,
        account_id=job.connector.account_id,
        connector_id=job.connector_id,
        connector_name=job.connector.name,
        connector_type=job.connector.type,
        destination_id=job.connector.destination_id,
        run_id=job.run_id,
        attempt=job.attempt,
        status=job.status,
        trigger=job.trigger,
        full_resync=job.full_resync,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=duration,
        rows_read=job.rows_read,
        rows_written=job.rows_written,
        bytes_read=job.bytes_read,
        bytes_written=job.bytes_written,
        streams=streams.get(job.id, []),
        error=job.error,
        schema_changes=changes.get(job.id, []),
    )


class Migration(migrations.Migration):
    dependencies = [("syncs", "0003_history")]

    operations = [migrations.RunPython(write_receipts, migrations.RunPython.noop)]
