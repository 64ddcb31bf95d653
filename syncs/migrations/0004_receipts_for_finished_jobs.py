"""Receipts for the jobs that finished before receipts existed (health and history read them)."""

from django.db import migrations


def write_receipts(apps, schema_editor):
    Job = apps.get_model("syncs", "Job")
    JobStream = apps.get_model("syncs", "JobStream")
    SchemaChange = apps.get_model("syncs", "SchemaChange")
    SyncReceipt = apps.get_model("syncs", "SyncReceipt")
    finished = Job.objects.filter(
        status__in=["succeeded", "failed", "cancelled"], finished_at__isnull=False
    ).select_related("connector")
    for job in finished.iterator(chunk_size=500):
        streams = [
            {
                "name": s.name,
                "status": s.status,
                "sync_mode": s.sync_mode,
                "load_mode": s.load_mode,
                "backfill": False,
                "rows_read": s.rows_read,
                "rows_written": s.rows_written,
                "bytes_read": s.bytes_read,
                "bytes_written": s.bytes_written,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "error": s.error or None,
            }
            for s in JobStream.objects.filter(job=job).order_by("id")
        ]
        changes = list(
            SchemaChange.objects.filter(job=job)
            .order_by("id")
            .values("stream", "change", "column", "old_type", "new_type", "note")
        )
        duration = (
            max((job.finished_at - job.started_at).total_seconds(), 0.0)
            if job.started_at
            else None
        )
        SyncReceipt.objects.get_or_create(
            job=job,
            defaults={
                "account_id": job.connector.account_id,
                "connector": job.connector,
                "connector_name": job.connector.name,
                "connector_type": job.connector.type,
                "destination_id": job.connector.destination_id,
                "run_id": job.run_id,
                "attempt": job.attempt,
                "status": job.status,
                "trigger": job.trigger,
                "full_resync": job.full_resync,
                "started_at": job.started_at,
                "finished_at": job.finished_at,
                "duration_seconds": duration,
                "rows_read": job.rows_read,
                "rows_written": job.rows_written,
                "bytes_read": job.bytes_read,
                "bytes_written": job.bytes_written,
                "streams": streams,
                "error": job.error,
                "schema_changes": changes,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("syncs", "0003_history")]

    operations = [migrations.RunPython(write_receipts, migrations.RunPython.noop)]
