"""The data migration that writes receipts for jobs finished before receipts existed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("syncs", "0002_job_enqueued_at")
AFTER = ("syncs", "0004_receipts_for_finished_jobs")


def migrate(syncs_target):
    """Every other app at its latest migration, syncs at `syncs_target`."""
    executor = MigrationExecutor(connection)
    targets = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "syncs"]
    targets.append(syncs_target)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_finished_jobs_get_receipts_in_batches():
    apps = migrate(BEFORE)
    try:
        Account = apps.get_model("accounts", "Account")
        Destination = apps.get_model("connectors", "Destination")
        Connector = apps.get_model("connectors", "Connector")
        Job = apps.get_model("syncs", "Job")
        JobStream = apps.get_model("syncs", "JobStream")
        account = Account.objects.create(name="acme")
        destination = Destination.objects.create(account=account, name="d", type="duckdb")
        connector = Connector.objects.create(
            account=account,
            name="c",
            type="sample",
            destination=destination,
            destination_schema="c",
        )
        now = timezone.now()
        jobs = [
            Job(
                connector=connector,
                status="succeeded" if i % 3 else "failed",
                started_at=now - timedelta(seconds=10),
                finished_at=now,
                rows_written=i,
            )
            for i in range(2500)
        ]
        Job.objects.bulk_create(jobs)
        Job.objects.create(connector=connector, status="running", started_at=now)
        JobStream.objects.create(
            job=jobs[7],
            name="orders",
            status="succeeded",
            sync_mode="incremental",
            load_mode="merge",
            rows_written=7,
        )

        apps = migrate(AFTER)
        SyncReceipt = apps.get_model("syncs", "SyncReceipt")
        assert SyncReceipt.objects.count() == 2500
        receipt = SyncReceipt.objects.get(job_id=jobs[7].id)
        assert receipt.rows_written == 7 and receipt.duration_seconds == 10.0
        assert receipt.connector_name == "c" and receipt.streams[0]["name"] == "orders"
        assert SyncReceipt.objects.filter(status="failed").count() == 834
    finally:
        latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
        migrate(next(n for n in latest if n[0] == "syncs"))
