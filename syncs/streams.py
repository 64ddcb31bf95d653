"""What a sync records about the streams it loads: each stream's progress in its job
(`JobStream`, written with the job's own figures), the mirror of its state (`StreamState`),
its schema as loaded (`StreamSchema`), the schema changes it applied (`SchemaChange`, with
their `schema.changed` event), and the connector's table names.

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
from syncs.models import (
    Job,
    JobStage,
    JobStatus,
    JobStream,
    SchemaChange,
    StreamSchema,
    StreamState,
)
from syncs.payloads import schema_changes_data
from webhooks.events import EventType, event_raise


@dataclass
class StreamCounts:
    """Rows and bytes read and written so far, by one stream or by the whole job."""

    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    def add(self, other: StreamCounts) -> None:
        self.rows_read += other.rows_read
        self.rows_written += other.rows_written
        self.bytes_read += other.bytes_read
        self.bytes_written += other.bytes_written

    def fields(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
        }


@dataclass(frozen=True)
class StreamProgress:
    """A stream's live figures as the engine last measured them."""

    counts: StreamCounts
    stage: str
    rows_per_second: float | None
    # Written when not None (an estimate arrives once).
    estimated_rows: int | None = None


@dataclass(frozen=True)
class JobProgress:
    """The job's live figures; its counts are the sums of its streams'."""

    totals: StreamCounts
    current_stream: str
    stage: str
    rows_per_second: float | None


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


def job_stream_record_path(*, job: Job, stream: str, load_path: str, reason: str) -> None:
    """The path the stream's rows take (syncs.engine.load_path), and why."""
    JobStream.objects.filter(job=job, name=stream).update(
        load_path=load_path, load_path_reason=reason[:500]
    )


def job_stream_start(*, job: Job, stream: str) -> None:
    """The stream begins (preparing its table): running, and the job's current stream, in
    one transaction, so that the job names the stream from its first moment."""
    with transaction.atomic():
        JobStream.objects.filter(job=job, name=stream).update(
            status=JobStatus.RUNNING, started_at=timezone.now(), stage=JobStage.PREPARING
        )
        Job.objects.filter(id=job.id, status=JobStatus.RUNNING).update(
            current_stream=stream, stage=JobStage.PREPARING
        )


def job_stream_succeed(*, job: Job, stream: str) -> None:
    """The stream is loaded whole (by this job, or by an earlier attempt of its sync)."""
    JobStream.objects.filter(job=job, name=stream).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), stage=""
    )


def job_stream_fail(*, job: Job, stream: str, error: str) -> None:
    """The stream failed (the job goes on with the others). What it had moved is written
    with the job's progress (`job_progress_record`), before this."""
    JobStream.objects.filter(job=job, name=stream).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error=error, stage=""
    )


def job_progress_record(
    *, job_id: Any, job: JobProgress, streams: Mapping[str, StreamProgress]
) -> bool:
    """Write a running job's live figures and those of its streams that changed, in one
    transaction: a reader (in a snapshot, selectors.job_get) never sees a job whose counts
    disagree with the sums of its streams'. The job's heartbeat too. False, with nothing
    written, when the job is gone or no longer running."""
    with transaction.atomic():
        alive = Job.objects.filter(id=job_id, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now(),
            current_stream=job.current_stream,
            stage=job.stage,
            recent_rows_per_second=job.rows_per_second,
            **job.totals.fields(),
        )
        if not alive:
            return False
        for name, progress in streams.items():
            fields: dict[str, Any] = {
                "stage": progress.stage,
                "recent_rows_per_second": progress.rows_per_second,
                **progress.counts.fields(),
            }
            if progress.estimated_rows is not None:
                fields["estimated_rows"] = progress.estimated_rows
            JobStream.objects.filter(job_id=job_id, name=name).update(**fields)
    return True


def job_streams_settle(*, job_id: Any, status: str) -> None:
    """Streams a finished job left open: the one running ends as the job did; those it never
    reached are marked cancelled (not run)."""
    now = timezone.now()
    JobStream.objects.filter(job_id=job_id, status=JobStatus.RUNNING).update(
        status=status, finished_at=now, stage=""
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
