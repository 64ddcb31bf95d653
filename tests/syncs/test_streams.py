"""What a sync records about its streams, through the services the engine calls (the engine
tests in tests/syncs/engine/ run the same through a real sync)."""

import threading
import time

import pytest
from django.db import connection

from connectors.framework import selection
from connectors.framework.base import Column, Stream
from connectors.framework.base import SchemaChange as AppliedSchemaChange
from syncs import streams
from syncs.backfills import backfills_request_added_columns
from syncs.engine.resume import StreamSettings
from syncs.models import Backfill, Job, JobStatus, JobStream, SchemaChange, StreamSchema
from tests.accounts.factories import AccountFactory, UserFactory
from tests.clients import client_for
from tests.connectors.factories import make_connector
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def job() -> Job:
    # Running: what the engine records against.
    return Job.objects.create(connector=make_connector(AccountFactory()), status=JobStatus.RUNNING)


CUSTOMERS = Stream(
    name="customers",
    columns=(Column("id", "bigint", nullable=False), Column("email", "string")),
    primary_key=("id",),
)


def chosen(load_mode: str = "merge") -> selection.StreamSelection:
    return selection.StreamSelection(
        stream=CUSTOMERS,
        enabled=True,
        sync_mode="incremental",
        load_mode=load_mode,
        cursor_field="updated_at",
        primary_key=("id",),
        saved=True,
    )


def record(job: Job, **counts: streams.StreamCounts) -> bool:
    """The engine's progress write: the job's totals (the sums) with its streams' counts."""
    totals = streams.StreamCounts()
    for counted in counts.values():
        totals.add(counted)
    return streams.job_progress_record(
        job_id=job.id,
        job=streams.JobProgress(
            totals=totals, current_stream="", stage="loading", rows_per_second=None
        ),
        streams={
            name: streams.StreamProgress(counts=c, stage="loading", rows_per_second=None)
            for name, c in counts.items()
        },
    )


def test_job_streams_go_from_pending_to_settled(job):
    settings = StreamSettings.from_selection(chosen(), full_resync=True)
    streams.job_streams_create(job=job, streams={"customers": settings, "orders": settings})
    assert list(job.streams.values_list("name", "status", "load_mode")) == [
        ("customers", "pending", "overwrite"),
        ("orders", "pending", "overwrite"),
    ]
    streams.job_stream_start(job=job, stream="customers")
    record(job, customers=streams.StreamCounts(rows_read=3, rows_written=2))
    streams.job_streams_settle(job_id=job.id, status=JobStatus.FAILED)
    customers, orders = job.streams.all()
    assert (customers.status, customers.rows_read, customers.rows_written) == ("failed", 3, 2)
    assert customers.started_at and customers.finished_at
    assert orders.status == "cancelled" and orders.finished_at is None


@pytest.mark.django_db(transaction=True)
def test_a_job_read_while_its_progress_is_written_agrees_with_its_streams():
    """The job's counts and its streams' are written in one transaction and read at one
    moment: no response shows a job count that is not the sum of its streams'."""
    user = UserFactory()
    job = Job.objects.create(connector=make_connector(user.account), status=JobStatus.RUNNING)
    settings = StreamSettings.from_selection(chosen(), full_resync=False)
    streams.job_streams_create(job=job, streams={"customers": settings, "orders": settings})
    stop, written = threading.Event(), [0]

    def progress() -> None:
        try:
            while not stop.is_set():
                written[0] += 1
                n = written[0]
                record(
                    job,
                    customers=streams.StreamCounts(rows_read=n, rows_written=n),
                    orders=streams.StreamCounts(rows_read=2 * n, rows_written=n, bytes_read=n),
                )
        finally:
            connection.close()

    writer = threading.Thread(target=progress)
    writer.start()
    client, reads = client_for(user), 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            data = client.get(f"/jobs/{job.id}").json()
            for field in ("rows_read", "rows_written", "bytes_read"):
                assert data[field] == sum(s[field] for s in data["streams"]), data
            reads += 1
    finally:
        stop.set()
        writer.join()
    assert reads > 20 and written[0] > 20


def test_a_failed_stream_keeps_what_it_moved(job):
    streams.job_streams_create(
        job=job, streams={"customers": StreamSettings.from_selection(chosen(), full_resync=False)}
    )
    streams.job_stream_record_load(job=job, stream="customers", load_mode="merge", backfill=True)
    record(job, customers=streams.StreamCounts(bytes_written=9))
    streams.job_stream_fail(job=job, stream="customers", error="gone")
    row = JobStream.objects.get(job=job)
    assert (row.status, row.error, row.bytes_written, row.backfill) == ("failed", "gone", 9, True)


def test_schema_changes_are_recorded_with_their_event(job):
    streams.schema_changes_record(connector=job.connector, job=job, changes=[])
    assert not SchemaChange.objects.exists() and not Event.objects.exists()

    changes = [
        AppliedSchemaChange("customers", "table_created"),
        AppliedSchemaChange("customers", "column_added", column="tier", new_type="string"),
    ]
    streams.schema_changes_record(connector=job.connector, job=job, changes=changes)
    assert list(SchemaChange.objects.order_by("id").values_list("change", "column", "job")) == [
        ("table_created", "", job.id),
        ("column_added", "tier", job.id),
    ]
    (event,) = Event.objects.all()
    assert event.type == "schema.changed"
    assert [c["change"] for c in event.data["changes"]] == ["table_created", "column_added"]


def test_added_columns_request_one_backfill_each(job):
    changes = [
        AppliedSchemaChange("customers", "column_added", column="tier"),
        AppliedSchemaChange("customers", "column_removed", column="fax"),
    ]
    for _ in range(2):
        backfills_request_added_columns(
            connector=job.connector, stream="customers", changes=changes, job=job
        )
    assert list(Backfill.objects.values_list("reason", "column", "requested_run_id")) == [
        ("column_added", "tier", job.run_id)
    ]


def test_stream_schema_and_state_mirror_are_upserted(job):
    for load_mode in ("overwrite", "merge"):
        streams.stream_schema_record(
            job=job, chosen=chosen(), table="customers", load_mode=load_mode
        )
        streams.stream_states_save(
            connector_id=job.connector_id, states={"customers": {"load_mode": load_mode}}
        )
    schema = StreamSchema.objects.get(connector=job.connector)
    assert (schema.load_mode, schema.primary_key, schema.cursor_field) == (
        "merge",
        ["id"],
        "updated_at",
    )
    assert [c["name"] for c in schema.columns] == ["id", "email"]
    assert list(job.connector.states.values_list("stream", "state")) == [
        ("customers", {"load_mode": "merge"})
    ]


def test_table_names_are_assigned_once_and_kept(job):
    connector = job.connector
    first = streams.connector_tables_assign(
        connector_id=connector.pk, stream_names=["public.orders"]
    )
    assert first == {"public.orders": "orders"}
    second = streams.connector_tables_assign(
        connector_id=connector.pk, stream_names=["sales.orders", "public.orders"]
    )
    assert second == {"public.orders": "orders", "sales.orders": "sales_orders"}
    connector.refresh_from_db()
    assert connector.stream_tables == second
