"""What a sync records about the streams it loads: each stream's progress in its job
(`JobStream`), the mirror of its state (`StreamState`), its schema as loaded (`StreamSchema`),
the schema changes it applied (`SchemaChange`, with their `schema.changed` event), and the
connector's table names.

The sync engine writes these rows only through the functions here, each one statement (or
one transaction) at the moment the engine calls it: the engine decides when, this module
decides how. The destination's own copy of a stream's state is the one a resumed sync
trusts (docs/syncs.md, "Exactly once"); the rows here are for people and receipts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from connectors.framework import selection
from connectors.framework.base import LoadMode, SyncMode
from connectors.framework.base import SchemaChange as AppliedSchemaChange
from connectors.models import Connector
from syncs.models import Job, JobStatus, JobStream, SchemaChange, StreamSchema, StreamState
from syncs.payloads import schema_changes_data
from webhooks.events import EventType, event_raise


@dataclass
class StreamCounts:
    """Rows and bytes read and written so far, by one stream or by the whole job."""

    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


class StreamModes(Protocol):
    """How a stream is read and loaded (the engine's stream settings have these)."""

    @property
    def sync_mode(self) -> SyncMode: ...

    @property
    def load_mode(self) -> LoadMode: ...


# --- The job's streams ------------------------------------------------------------------------
def job_streams_create(*, job: Job, streams: Mapping[str, StreamModes]) -> None:
    """A pending row for each stream the job loads, by name; an existing row is kept."""
    JobStream.objects.bulk_create(
        [
            JobStream(job=job, name=name, sync_mode=modes.sync_mode, load_mode=modes.load_mode)
            for name, modes in streams.items()
        ],
        ignore_conflicts=True,
    )


def job_stream_record_load(*, job: Job, stream: str, load_mode: LoadMode, backfill: bool) -> None:
    """How this job loads the stream where that differs from its settings: the load mode its
    plan chose instead (an append that must replace its table once), or a backfill."""
    JobStream.objects.filter(job=job, name=stream).update(load_mode=load_mode, backfill=backfill)


def job_stream_start(*, job: Job, stream: str) -> None:
    JobStream.objects.filter(job=job, name=stream).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )


def job_stream_succeed(*, job: Job, stream: str) -> None:
    """The stream is loaded whole (by this job, or by an earlier attempt of its sync)."""
    JobStream.objects.filter(job=job, name=stream).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )


def job_stream_fail(*, job: Job, stream: str, error: str, counts: StreamCounts) -> None:
    """The stream failed (the job goes on with the others), with what it had moved."""
    JobStream.objects.filter(job=job, name=stream).update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        error=error,
        rows_read=counts.rows_read,
        rows_written=counts.rows_written,
        bytes_read=counts.bytes_read,
        bytes_written=counts.bytes_written,
    )


def job_stream_record_counts(*, job: Job, stream: str, counts: StreamCounts) -> None:
    JobStream.objects.filter(job=job, name=stream).update(
        rows_read=counts.rows_read,
        rows_written=counts.rows_written,
        bytes_read=counts.bytes_read,
        bytes_written=counts.bytes_written,
    )


def job_streams_settle(*, job_id: Any, status: str) -> None:
    """Streams a finished job left open: the one running ends as the job did; those it never
    reached are marked cancelled (not run)."""
    now = timezone.now()
    JobStream.objects.filter(job_id=job_id, status=JobStatus.RUNNING).update(
        status=status, finished_at=now
    )
    JobStream.objects.filter(job_id=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.CANCELLED
    )


# --- The connector's streams --------------------------------------------------------------
def stream_states_save(*, connector_id: Any, states: Mapping[str, dict[str, Any]]) -> None:
    """Mirror the states the destination committed, by stream (for operators to look at)."""
    for stream, state in states.items():
        StreamState.objects.update_or_create(
            connector_id=connector_id, stream=stream, defaults={"state": state}
        )


def stream_schema_record(
    *, job: Job, chosen: selection.StreamSelection, table: str, load_mode: LoadMode
) -> None:
    """The stream's fields as `job` loaded them into `table` (what the schema page shows)."""
    StreamSchema.objects.update_or_create(
        connector_id=job.connector_id,
        stream=chosen.stream.name,
        defaults={
            "table": table,
            "columns": [column.as_dict() for column in chosen.stream.columns],
            "primary_key": list(chosen.primary_key),
            "cursor_field": chosen.cursor_field or "",
            "sync_mode": chosen.sync_mode,
            "load_mode": load_mode,
            "job": job,
            "updated_at": timezone.now(),
        },
    )


def schema_changes_record(
    *, connector: Connector, job: Job, changes: Sequence[AppliedSchemaChange]
) -> None:
    """The changes `job` applied to the destination's tables, and their `schema.changed`
    event, in one transaction. Nothing when there are none."""
    if not changes:
        return
    with transaction.atomic():
        SchemaChange.objects.bulk_create(
            [
                SchemaChange(
                    connector_id=job.connector_id,
                    job=job,
                    stream=change.stream,
                    change=change.change,
                    column=change.column or "",
                    old_type=change.old_type or "",
                    new_type=change.new_type or "",
                    note=change.note[:500],
                )
                for change in changes
            ]
        )
        event_raise(
            account_id=connector.account_id,
            type=EventType.SCHEMA_CHANGED,
            data=schema_changes_data(connector, job.id, list(changes)),
        )


def connector_tables_assign(*, connector_id: Any, stream_names: list[str]) -> dict[str, str]:
    """The streams' destination tables, assigning (and saving) names for streams new to the
    connector, under a row lock so that two writers cannot assign one name twice."""
    with transaction.atomic():
        connector = Connector.objects.select_for_update().get(pk=connector_id)
        tables = selection.assign_tables(connector.stream_tables, stream_names)
        if tables != connector.stream_tables:
            connector.stream_tables = tables
            connector.save(update_fields=["stream_tables"])
    return tables
