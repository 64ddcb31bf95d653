"""The sync runner: discover, then per stream read -> write, batch by batch.

Every batch is committed in the destination together with the stream state it reaches, so a
resumed attempt (same `run_id`) continues exactly where the last committed batch ended:
nothing lost, nothing loaded twice. The runner orchestrates: it decides what to read and
when, and records what happened through the `syncs` services (`syncs.services`,
`syncs.streams`, `syncs.backfills`); progress and the heartbeat are in `progress`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from connectors.framework import selection
from connectors.framework.base import (
    ConfigError,
    ConnectorError,
    Loader,
    LoadMode,
    ReadRequest,
    SavedState,
    SchemaChange,
    Source,
    StreamLoad,
    StreamLoader,
)
from connectors.services import destination_impl, source_impl
from landed.security.secrets import SecretDecryptionError
from syncs import services
from syncs.backfills import (
    backfill_wanted,
    backfills_due,
    backfills_request_added_columns,
    backfills_settle,
)
from syncs.engine import load_path, resume
from syncs.engine.estimates import Estimates
from syncs.engine.outage import UNAVAILABLE, through_outage
from syncs.engine.prefetch import Prefetched
from syncs.engine.progress import Heartbeat, JobGone, Progress, SyncCancelled
from syncs.models import BackfillStatus, Job, JobStage, JobStatus
from syncs.streams import (
    connector_tables_assign,
    job_stream_fail,
    job_stream_record_load,
    job_stream_record_path,
    job_stream_start,
    job_stream_succeed,
    job_streams_create,
    schema_changes_record,
    stream_schema_record,
)

logger = logging.getLogger("syncs.engine.runner")

# How long a stream's read waits for the source's estimate of its rows (which is asked for
# ahead, on a thread of its own, and is milliseconds as a rule): so that the stream's first
# progress shows its total; a later answer is written when it comes.
ESTIMATE_WAIT_SECONDS = 1.0


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
    heartbeat = Heartbeat(job.id)
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
        except UNAVAILABLE:
            # The metadata database was away longer than a write waits for it (a read between
            # two streams has no wait of its own): the rows loaded are committed with their
            # state in the destination, so a retry resumes from there.
            logger.exception("syncs.metadata_unavailable job=%s", job.id)
            status = JobStatus.FAILED
            error = _error(
                "metadata_unavailable",
                "Landed's own database was unreachable during the sync; it resumes from its "
                "last committed checkpoint.",
                retryable=True,
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
        # Settled through a restart of the database too (the update is conditional on the job
        # still running: a second try after an unanswered commit changes nothing). Should the
        # database stay away, the job stays running and the reaper settles it.
        through_outage(
            lambda: services.job_finish(job=job, status=status, error=error),
            job_id=job.id,
            what="finish",
        )
    finally:
        heartbeat.stop()


def _error(
    kind: str, message: str, *, stream: str | None = None, retryable: bool
) -> dict[str, Any]:
    return {"type": kind, "message": message, "stream": stream, "retryable": retryable}


def _connector_error(exc: ConnectorError) -> dict[str, Any]:
    return _error(exc.kind, exc.message, stream=exc.stream, retryable=exc.retryable)


@dataclass(frozen=True)
class _PlannedStream:
    """One stream as this job loads it, all decided before a row is read."""

    chosen: selection.StreamSelection
    table: str
    settings: resume.StreamSettings
    plan: resume.StreamPlan
    # The stream's pending backfills that this job settles when it loads the stream.
    due_backfills: list[Any]
    # Whether this load covers every row of the stream (then pending backfills are done).
    reads_everything: bool
    # Rows loaded before this attempt started (by earlier syncs, or by earlier attempts of
    # this one) lack a column it adds: for a stream that merges, a backfill by the next sync
    # fills them in.
    backfills_added_columns: bool

    @property
    def name(self) -> str:
        return self.chosen.stream.name

    @property
    def load_mode(self) -> LoadMode:
        return self.plan.effective_load_mode

    @property
    def replaces(self) -> bool:
        """An overwrite: the load is staged and swapped in whole when the stream finishes."""
        return self.plan.effective_load_mode == "overwrite"


class SyncRun:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.connector = job.connector
        self.run_id = str(job.run_id)
        self.connector_id = str(job.connector_id)
        self.progress = Progress(job)
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
        tables = connector_tables_assign(
            connector_id=self.connector.pk, stream_names=[s.stream.name for s in everything]
        )
        stream_settings = {
            s.stream.name: resume.StreamSettings.from_selection(s, full_resync=self.job.full_resync)
            for s in selections
        }
        job_streams_create(job=self.job, streams=stream_settings)
        with destination.open_loader(self.connector.destination_schema) as loader:
            saved = loader.saved_states()
            # Every stream planned before any is read: the source is asked for the rows of
            # each (in the background) while the first loads, so that the job has a total.
            streams = [
                self._plan_stream(s, stream_settings[s.stream.name], tables[s.stream.name], saved)
                for s in selections
            ]
            for planned in streams:
                if planned.plan.skip:
                    self.progress.record_estimate(planned.name, 0)  # nothing left to read
            estimates = Estimates(
                source, [(p.name, self._read_request(p)) for p in streams if not p.plan.skip]
            )
            self.progress.take_estimates = estimates.take
            estimates.start()
            try:
                for planned in streams:
                    self.progress.flush()
                    self._stream(source, loader, planned, estimates)
            finally:
                estimates.stop()
        self.progress.set_job_stage(JobStage.FINISHING)
        self.progress.flush()
        if self.failures:
            raise StreamsFailed(self.failures, total=len(selections))

    def _stream(
        self, source: Source, loader: Loader, planned: _PlannedStream, estimates: Estimates
    ) -> None:
        if planned.plan.skip:
            # Loaded whole by an earlier attempt of this sync.
            job_stream_succeed(job=self.job, stream=planned.name)
            return
        self._start_stream(planned)
        try:
            writer = self._open_writer(loader, planned)
            if not planned.replaces:
                # Applied to the live table already (and not again by a retry).
                self._record_applied(planned, writer.schema_changes)
            request = self._read_request(planned)
            path = load_path.choose(source, writer, request)
            job_stream_record_path(
                job=self.job, stream=planned.name, load_path=path.name, reason=path.reason
            )
            estimates.wait(planned.name, ESTIMATE_WAIT_SECONDS)
            self.progress.set_stage(planned.name, JobStage.READING)
            position = self._copy_batches(path.units(source, writer, request), planned)
            self._finish_stream(writer, planned, position)
        except ConnectorError as exc:
            self._record_failure(planned.name, exc)
            return
        self.progress.flush()
        job_stream_succeed(job=self.job, stream=planned.name)

    def _plan_stream(
        self,
        chosen: selection.StreamSelection,
        stream_settings: resume.StreamSettings,
        table: str,
        saved_states: dict[str, SavedState],
    ) -> _PlannedStream:
        """Where the stream's read starts, the mode it loads with, and its backfills."""
        name = chosen.stream.name
        due_backfills = self.backfills.get(name, [])
        backfilling = (
            bool(due_backfills)
            and not self.job.full_resync
            and backfill_wanted(sync_mode=chosen.sync_mode, load_mode=stream_settings.load_mode)
        )
        plan = resume.plan_stream(
            saved=saved_states.get(name),
            settings=stream_settings,
            run_id=self.run_id,
            attempt=self.job.attempt,
            connector_id=self.connector_id,
            full_resync=self.job.full_resync,
            backfill=backfilling,
        )
        return _PlannedStream(
            chosen=chosen,
            table=table,
            settings=stream_settings,
            plan=plan,
            due_backfills=due_backfills,
            reads_everything=(
                chosen.sync_mode == "full_refresh"
                or self.job.full_resync
                or backfilling
                or plan.source_state is None
            ),
            # The stream's own load mode, not this load's: whether later syncs merge.
            backfills_added_columns=plan.source_state is not None
            and backfill_wanted(sync_mode=chosen.sync_mode, load_mode=chosen.load_mode),
        )

    def _start_stream(self, planned: _PlannedStream) -> None:
        if planned.plan.load_mode or planned.plan.backfill:
            # Loaded otherwise than its settings say: the job's row shows how.
            job_stream_record_load(
                job=self.job,
                stream=planned.name,
                load_mode=planned.load_mode,
                backfill=planned.plan.backfill,
            )
        job_stream_start(job=self.job, stream=planned.name)
        self.progress.start_stream(planned.name)

    def _open_writer(self, loader: Loader, planned: _PlannedStream) -> StreamLoader:
        chosen = planned.chosen
        if (
            planned.load_mode == "append"
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
                stream=planned.name,
                table=planned.table,
                columns=chosen.stream.columns,
                load_mode=planned.load_mode,
                run_id=planned.plan.load_id,
                primary_key=chosen.primary_key,
            )
        )
        writer.stage_listener = lambda stage: self.progress.set_stage(planned.name, stage)
        return writer

    def _record_applied(self, planned: _PlannedStream, changes: list[SchemaChange]) -> None:
        """What the writer did to the stream's table: its schema changes, the schema as now
        loaded, and the backfills the columns it added call for."""
        schema_changes_record(connector=self.connector, job=self.job, changes=changes)
        stream_schema_record(
            job=self.job, chosen=planned.chosen, table=planned.table, load_mode=planned.load_mode
        )
        if planned.backfills_added_columns:
            backfills_request_added_columns(
                connector=self.connector, stream=planned.name, changes=changes, job=self.job
            )

    def _read_request(self, planned: _PlannedStream) -> ReadRequest:
        chosen = planned.chosen
        return ReadRequest(
            stream=chosen.stream,
            sync_mode=chosen.sync_mode,
            cursor_field=chosen.cursor_field,
            primary_key=chosen.primary_key,
            state=planned.plan.source_state,
            batch_rows=settings.SYNC_BATCH_ROWS,
        )

    def _copy_batches(self, units: Iterator[load_path.Unit], planned: _PlannedStream) -> Any:
        """Write the stream's batches or chunks (as its load path reads them) one by one, each
        with the state it reaches; returns the source position reached. The hot path: per
        unit, no query beyond the writer's own, and progress written at a bounded rate."""
        name, plan, stream_settings = planned.name, planned.plan, planned.settings
        position = plan.source_state
        with Prefetched(self._counted(name, units), name=f"read-{name}") as read:
            for unit in read:
                # A batch with no state moved no resume point (a keyless read inside a
                # run of equal cursor values): the last position stands.
                position = unit.state if unit.state is not None else position
                state = plan.state(stream_settings, self.connector_id, position)
                result = unit.write(state)
                self.progress.add(name, rows_written=result.rows, bytes_written=result.bytes)
                self.progress.last_state[name] = state
                self.progress.maybe_flush()
        return position

    def _counted(self, name: str, units: Iterator[load_path.Unit]) -> Iterator[load_path.Unit]:
        """The source's batches or chunks, counted as read as the source yields them (on
        the read-ahead thread, before they wait for the destination)."""
        try:
            for unit in units:
                self.progress.add(name, rows_read=unit.rows, bytes_read=unit.bytes_read)
                yield unit
        finally:
            close = getattr(units, "close", None)
            if close is not None:
                close()

    def _finish_stream(self, writer: StreamLoader, planned: _PlannedStream, position: Any) -> None:
        """Commit the final state (an overwrite swaps its table in), then settle the stream's
        due backfills."""
        final = planned.plan.final_state(planned.settings, self.connector_id, position)
        writer.finish(final)
        self.progress.set_stage(planned.name, JobStage.FINISHING)
        if planned.replaces:
            # An overwrite's changes take effect with the swap: recorded once, by the
            # attempt that made it.
            self._record_applied(planned, writer.schema_changes)
        self.progress.last_state[planned.name] = final
        if planned.due_backfills:
            # Read in full: done. Not read in full because the stream appends now: a
            # full re-read would load every row twice, so the request is dropped.
            backfills_settle(
                ids=planned.due_backfills,
                job=self.job,
                status=(
                    BackfillStatus.COMPLETED if planned.reads_everything else BackfillStatus.SKIPPED
                ),
            )

    def _record_failure(self, name: str, exc: ConnectorError) -> None:
        """One failing stream does not stop the others: recorded, with what it moved."""
        exc.stream = exc.stream or name
        logger.warning("syncs.stream_failed job=%s stream=%s error=%s", self.job.id, name, exc)
        self.failures.append(exc)
        # What it moved first, with the job's totals; then its end.
        self.progress.write()
        job_stream_fail(job=self.job, stream=name, error=exc.message)
