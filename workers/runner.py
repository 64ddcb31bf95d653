"""The sync runner: discover, then per stream read -> write, batch by batch.

Every batch is committed in the destination together with the stream state it reaches, so a
resumed attempt (same `run_id`) continues exactly where the last committed batch ended:
nothing lost, nothing loaded twice. Progress is written at a bounded rate, with a heartbeat on
a thread of its own so that a slow batch does not look like a dead worker.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from connectors.framework import selection
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    Loader,
    ReadRequest,
    SavedState,
    Source,
    StreamLoad,
)
from connectors.models import Connector
from connectors.services import destination_impl, source_impl
from landed.security.secrets import SecretDecryptionError
from syncs import services
from syncs.backfills import backfill_request, backfill_wanted, backfills_due, backfills_settle
from syncs.models import (
    BackfillReason,
    BackfillStatus,
    Job,
    JobStatus,
    JobStream,
    SchemaChange,
    StreamSchema,
    StreamState,
)
from syncs.payloads import schema_changes_data
from webhooks.events import EventType, event_raise
from workers import resume
from workers.prefetch import Prefetched

logger = logging.getLogger("workers.runner")


class SyncCancelled(Exception):
    """The user asked the job to stop."""


class JobGone(Exception):
    """The job was deleted (with its connector) or settled elsewhere: stop, record nothing."""


class StreamsFailed(Exception):
    """Some streams failed; the others were loaded (one failing stream does not stop them)."""

    def __init__(self, failures: list[ConnectorError], *, total: int) -> None:
        super().__init__(failures[0].message)
        self.failures = failures
        self.total = total

    def as_error(self) -> dict[str, Any]:
        first = self.failures[0]
        message = first.message
        if len(self.failures) > 1 or self.total > 1:
            message = (
                f"{len(self.failures)} of {self.total} streams failed. {first.stream}: {message}"
            )
        return _error(
            first.kind,
            message,
            stream=first.stream,
            retryable=any(f.retryable for f in self.failures),
        )


def run_sync_job(job_id: str) -> None:
    """The task body: claim the job (a redelivered message finds it taken and does nothing),
    run it, settle it."""
    job = services.job_claim(job_id=job_id)
    if job is None:
        logger.info("syncs.job_skipped job=%s (not pending)", job_id)
        return
    logger.info(
        "syncs.job_started job=%s connector=%s attempt=%s", job.id, job.connector_id, job.attempt
    )
    heartbeat = _Heartbeat(job.id)
    heartbeat.start()
    sync_run = SyncRun(job)
    try:
        status, error = JobStatus.SUCCEEDED, None
        try:
            sync_run.run()
        except SyncCancelled:
            status = JobStatus.CANCELLED
        except JobGone:
            logger.info("syncs.job_gone job=%s", job.id)
            return
        except StreamsFailed as exc:
            status, error = JobStatus.FAILED, exc.as_error()
        except ConnectorError as exc:
            status, error = JobStatus.FAILED, _connector_error(exc)
        except SecretDecryptionError as exc:
            status, error = (
                JobStatus.FAILED,
                _error("secrets_unreadable", str(exc), retryable=False),
            )
        except Exception:
            logger.exception("syncs.job_crashed job=%s", job.id)
            status = JobStatus.FAILED
            error = _error(
                "internal_error",
                "The sync failed unexpectedly; it will be retried. Quote the job id to support.",
                retryable=True,
            )
        sync_run.progress.write_counts()
        services.job_finish(job=job, status=status, error=error)
    finally:
        heartbeat.stop()


def _error(kind: str, message: str, *, stream: str | None = None, retryable: bool) -> dict:
    return {"type": kind, "message": message, "stream": stream, "retryable": retryable}


def _connector_error(exc: ConnectorError) -> dict:
    return _error(exc.kind, exc.message, stream=exc.stream, retryable=exc.retryable)


class _Heartbeat(threading.Thread):
    def __init__(self, job_id: Any) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    services.job_heartbeat(job_id=self.job_id)
                except Exception:
                    # A passing database error must not end the beats of a healthy job.
                    logger.exception("syncs.heartbeat_failed job=%s", self.job_id)
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)


@dataclass
class _Counters:
    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


@dataclass
class _Progress:
    """Counts in memory, written to the job's rows at most once per interval."""

    job: Job
    totals: _Counters = field(default_factory=_Counters)
    streams: dict[str, _Counters] = field(default_factory=dict)
    current: str = ""
    last_state: dict[str, Any] = field(default_factory=dict)
    _flushed_at: float = 0.0

    def add(
        self, stream: str, *, rows_read=0, bytes_read=0, rows_written=0, bytes_written=0
    ) -> None:
        for counters in (self.totals, self.streams.setdefault(stream, _Counters())):
            counters.rows_read += rows_read
            counters.bytes_read += bytes_read
            counters.rows_written += rows_written
            counters.bytes_written += bytes_written

    def maybe_flush(self) -> None:
        if time.monotonic() - self._flushed_at >= settings.JOB_PROGRESS_INTERVAL_SECONDS:
            self.flush()

    def write_counts(self) -> None:
        """The counts as they stand, written as the job settles, so that its receipt is
        exact even when it ended between two progress writes (a crash, say). Best effort:
        the job settles anyway."""
        try:
            services.job_record_progress(
                job_id=self.job.id,
                fields={
                    "rows_read": self.totals.rows_read,
                    "rows_written": self.totals.rows_written,
                    "bytes_read": self.totals.bytes_read,
                    "bytes_written": self.totals.bytes_written,
                },
            )
            for stream, counted in self.streams.items():
                JobStream.objects.filter(job=self.job, name=stream).update(
                    rows_read=counted.rows_read,
                    rows_written=counted.rows_written,
                    bytes_read=counted.bytes_read,
                    bytes_written=counted.bytes_written,
                )
        except Exception:
            logger.exception("syncs.final_counts_failed job=%s", self.job.id)

    def flush(self) -> None:
        """Write progress; stop if the job was deleted or a cancel was requested."""
        self._flushed_at = time.monotonic()
        alive = services.job_record_progress(
            job_id=self.job.id,
            fields={
                "current_stream": self.current,
                "rows_read": self.totals.rows_read,
                "rows_written": self.totals.rows_written,
                "bytes_read": self.totals.bytes_read,
                "bytes_written": self.totals.bytes_written,
            },
        )
        if not alive:
            raise JobGone
        if self.current in self.streams:
            c = self.streams[self.current]
            JobStream.objects.filter(job=self.job, name=self.current).update(
                rows_read=c.rows_read,
                rows_written=c.rows_written,
                bytes_read=c.bytes_read,
                bytes_written=c.bytes_written,
            )
        for stream, state in self.last_state.items():
            StreamState.objects.update_or_create(
                connector_id=self.job.connector_id, stream=stream, defaults={"state": state}
            )
        self.last_state.clear()
        if services.job_cancel_requested(job_id=self.job.id):
            raise SyncCancelled


class SyncRun:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.connector = job.connector
        self.run_id = str(job.run_id)
        self.connector_id = str(job.connector_id)
        self.progress = _Progress(job)
        self.failures: list[ConnectorError] = []
        self.backfills: dict[str, list[Any]] = {}

    def run(self) -> None:
        self.backfills = backfills_due(connector_id=self.connector.pk, run_id=self.run_id)
        source = source_impl(self.connector)
        destination = destination_impl(self.connector.destination)
        discovered = source.discover()
        everything = selection.resolve(discovered, self.connector.streams)
        selections = [s for s in everything if s.enabled]
        # Named across every discovered stream, enabled or not: the names the streams page
        # shows are the ones the sync uses.
        tables = self._assign_tables([s.stream.name for s in everything])
        JobStream.objects.bulk_create(
            [
                JobStream(
                    job=self.job,
                    name=s.stream.name,
                    sync_mode=s.sync_mode,
                    load_mode="overwrite" if self.job.full_resync else s.load_mode,
                )
                for s in selections
            ],
            ignore_conflicts=True,
        )
        with destination.open_loader(self.connector.destination_schema) as loader:
            saved = loader.saved_states()
            for chosen in selections:
                self.progress.flush()
                self._stream(source, loader, chosen, tables[chosen.stream.name], saved)
        self.progress.current = ""
        self.progress.flush()
        if self.failures:
            raise StreamsFailed(self.failures, total=len(selections))

    def _stream(
        self,
        source: Source,
        loader: Loader,
        chosen: selection.StreamSelection,
        table: str,
        saved_states: dict[str, SavedState],
    ) -> None:
        name = chosen.stream.name
        stream_rows = JobStream.objects.filter(job=self.job, name=name)
        settings_ = resume.StreamSettings(
            sync_mode=chosen.sync_mode,
            load_mode="overwrite" if self.job.full_resync else chosen.load_mode,
            cursor_field=chosen.cursor_field,
            primary_key=tuple(chosen.primary_key),
        )
        due_backfills = self.backfills.get(name, [])
        backfilling = (
            bool(due_backfills)
            and not self.job.full_resync
            and backfill_wanted(sync_mode=chosen.sync_mode, load_mode=settings_.load_mode)
        )
        plan = resume.plan_stream(
            saved=saved_states.get(name),
            settings=settings_,
            run_id=self.run_id,
            attempt=self.job.attempt,
            connector_id=self.connector_id,
            full_resync=self.job.full_resync,
            backfill=backfilling,
        )
        if plan.skip:
            # Loaded whole by an earlier attempt of this sync.
            stream_rows.update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
            return
        # Whether this load covers every row of the stream (then pending backfills are done).
        reads_everything = (
            chosen.sync_mode == "full_refresh"
            or self.job.full_resync
            or backfilling
            or plan.source_state is None
        )
        if plan.load_mode or backfilling:
            stream_rows.update(
                load_mode=plan.load_mode or settings_.load_mode, backfill=backfilling
            )
        self.progress.current = name
        stream_rows.update(status=JobStatus.RUNNING, started_at=timezone.now())
        try:
            if (
                settings_.load_mode == "append"
                and chosen.sync_mode == "full_refresh"
                and not chosen.primary_key
            ):
                # Saved before the source lost its key, say: refused as when saved.
                raise ConfigError(
                    "Appending a full refresh needs a primary key to resume exactly once; "
                    "name unique columns as primary_key, or use overwrite."
                )
            writer = loader.open_stream(
                StreamLoad(
                    stream=name,
                    table=table,
                    columns=chosen.stream.columns,
                    load_mode=plan.load_mode or settings_.load_mode,
                    run_id=plan.load_id,
                    primary_key=chosen.primary_key,
                )
            )
            load_mode = plan.load_mode or settings_.load_mode
            replaces = load_mode == "overwrite"
            # Rows loaded before this attempt started (by earlier syncs, or by earlier
            # attempts of this one) lack a column it adds: for a stream that merges, a
            # backfill by the next sync fills them in.
            column_backfills = plan.source_state is not None and backfill_wanted(
                sync_mode=chosen.sync_mode, load_mode=chosen.load_mode
            )
            if not replaces:
                # Applied to the live table already (and not again by a retry).
                self._record_schema_changes(writer.schema_changes)
                self._record_stream_schema(chosen, table, load_mode)
                if column_backfills:
                    self._request_column_backfills(name, writer.schema_changes)
            request = ReadRequest(
                stream=chosen.stream,
                sync_mode=chosen.sync_mode,
                cursor_field=chosen.cursor_field,
                primary_key=chosen.primary_key,
                state=plan.source_state,
                batch_rows=settings.SYNC_BATCH_ROWS,
            )
            position = plan.source_state
            with Prefetched(source.read(request), name=f"read-{name}") as batches:
                for batch in batches:
                    self.progress.add(
                        name, rows_read=batch.records.num_rows, bytes_read=batch.bytes_read
                    )
                    # A batch with no state moved no resume point (a keyless read inside a
                    # run of equal cursor values): the last position stands.
                    position = batch.state if batch.state is not None else position
                    state = plan.state(settings_, self.connector_id, position)
                    result = writer.write(batch.records, state)
                    self.progress.add(name, rows_written=result.rows, bytes_written=result.bytes)
                    self.progress.last_state[name] = state
                    self.progress.maybe_flush()
            final = plan.final_state(settings_, self.connector_id, position)
            writer.finish(final)
            if replaces:
                # An overwrite's changes take effect with the swap: recorded once, by the
                # attempt that made it.
                self._record_schema_changes(writer.schema_changes)
                self._record_stream_schema(chosen, table, load_mode)
                if column_backfills:
                    self._request_column_backfills(name, writer.schema_changes)
            self.progress.last_state[name] = final
            if due_backfills:
                # Read in full: done. Not read in full because the stream appends now: a
                # full re-read would load every row twice, so the request is dropped.
                backfills_settle(
                    ids=due_backfills,
                    job=self.job,
                    status=BackfillStatus.COMPLETED if reads_everything else BackfillStatus.SKIPPED,
                )
        except ConnectorError as exc:
            exc.stream = exc.stream or name
            logger.warning("syncs.stream_failed job=%s stream=%s error=%s", self.job.id, name, exc)
            self.failures.append(exc)
            counted = self.progress.streams.get(name, _Counters())
            stream_rows.update(
                status=JobStatus.FAILED,
                finished_at=timezone.now(),
                error=exc.message,
                rows_read=counted.rows_read,
                rows_written=counted.rows_written,
                bytes_read=counted.bytes_read,
                bytes_written=counted.bytes_written,
            )
            return
        self.progress.flush()
        stream_rows.update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())

    def _assign_tables(self, stream_names: list[str]) -> dict[str, str]:
        """The streams' tables, assigning (and saving) names for streams new to the connector,
        under a row lock so that two writers cannot assign one name twice."""
        with transaction.atomic():
            connector = Connector.objects.select_for_update().get(pk=self.connector.pk)
            tables = selection.assign_tables(connector.stream_tables, stream_names)
            if tables != connector.stream_tables:
                connector.stream_tables = tables
                connector.save(update_fields=["stream_tables"])
        return tables

    def _request_column_backfills(self, stream: str, changes: list) -> None:
        """Rows loaded before a column was added lack it: the next sync reads them again."""
        for change in changes:
            if change.change == "column_added":
                backfill_request(
                    connector=self.connector,
                    stream=stream,
                    reason=BackfillReason.COLUMN_ADDED,
                    column=change.column or "",
                    job=self.job,
                )

    def _record_stream_schema(
        self, chosen: selection.StreamSelection, table: str, load_mode: str
    ) -> None:
        StreamSchema.objects.update_or_create(
            connector_id=self.job.connector_id,
            stream=chosen.stream.name,
            defaults={
                "table": table,
                "columns": [column.as_dict() for column in chosen.stream.columns],
                "primary_key": list(chosen.primary_key),
                "cursor_field": chosen.cursor_field or "",
                "sync_mode": chosen.sync_mode,
                "load_mode": load_mode,
                "job": self.job,
                "updated_at": timezone.now(),
            },
        )

    def _record_schema_changes(self, changes: list) -> None:
        if not changes:
            return
        with transaction.atomic():
            self._save_schema_changes(changes)
            event_raise(
                account_id=self.connector.account_id,
                type=EventType.SCHEMA_CHANGED,
                data=schema_changes_data(self.connector, self.job.id, changes),
            )

    def _save_schema_changes(self, changes: list) -> None:
        SchemaChange.objects.bulk_create(
            [
                SchemaChange(
                    connector_id=self.job.connector_id,
                    job=self.job,
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
