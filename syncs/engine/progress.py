"""A running job's signs of life: its live figures (counts, stages, recent rates, the
sources' estimates), written at a bounded rate and at each change of stage (where the job also
learns that it was cancelled or deleted), and a heartbeat on a thread of its own, so that a
slow batch does not look like a dead worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

from syncs import services
from syncs.engine.outage import through_outage
from syncs.live import RecentRate
from syncs.models import Job, JobStage
from syncs.streams import (
    JobProgress,
    StreamCounts,
    StreamProgress,
    job_progress_record,
    stream_states_save,
)

logger = logging.getLogger("syncs.engine.progress")


class SyncCancelled(Exception):
    """The user asked the job to stop."""


class JobGone(Exception):
    """The job was deleted (with its connector) or settled elsewhere: stop, record nothing."""


class Heartbeat(threading.Thread):
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


class Progress:
    """A running job's live figures in memory, written to its rows (the job's and its streams',
    in one transaction) at most once per interval, and at once when a stage changes.

    The job's counts are the sums of its streams'. Rows read are counted as the source yields
    them (on the read-ahead thread: `add` takes a lock), rows written as the destination
    commits them; the difference is what is in flight. A stream's recent rate is measured
    from its first batch (the source's query before it is the `reading` stage, not a slow
    rate); the job's, from its first batch across every stream."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.current = ""
        self.stage: str = JobStage.PREPARING  # the job's (job_claim wrote it)
        # The state each stream last committed in the destination, not yet mirrored.
        self.last_state: dict[str, Any] = {}
        # New estimates, by stream (the engine's estimator hands them in as they come).
        self.take_estimates: Callable[[], dict[str, int]] = dict
        self._lock = threading.Lock()
        self._counts: dict[str, StreamCounts] = {}
        self._stages: dict[str, str] = {}
        self._rates: dict[str, RecentRate] = {}
        self._job_rate = RecentRate()
        self._estimates: dict[str, int] = {}
        self._changed: set[str] = set()
        self._flushed_at = 0.0

    # --- what happened ------------------------------------------------------------------
    def add(
        self,
        stream: str,
        *,
        rows_read: int = 0,
        bytes_read: int = 0,
        rows_written: int = 0,
        bytes_written: int = 0,
    ) -> None:
        with self._lock:
            counts = self._counts.setdefault(stream, StreamCounts())
            counts.rows_read += rows_read
            counts.bytes_read += bytes_read
            counts.rows_written += rows_written
            counts.bytes_written += bytes_written
            self._changed.add(stream)

    def start_stream(self, stream: str) -> None:
        """The stream began (syncs.streams.job_stream_start wrote its start)."""
        with self._lock:
            self.current = stream
            self.stage = self._stages[stream] = JobStage.PREPARING
            self._rates[stream] = RecentRate()

    def set_stage(self, stream: str, stage: str) -> None:
        """The stream (and so the job) entered `stage`: written now, so that it shows while
        the stage's work runs (a swap, the wait for a source's first rows)."""
        now = time.monotonic()
        with self._lock:
            if self._stages.get(stream) == stage:
                return
            self._stages[stream] = stage
            self.stage = stage
            self._changed.add(stream)
            if stage in (JobStage.LOADING, JobStage.MERGING):
                # Rows begin to flow: the rates measure from here.
                written = self._counts.get(stream, StreamCounts()).rows_written
                rate = self._rates.setdefault(stream, RecentRate())
                if not rate.started:
                    rate.start(written, now)
                if not self._job_rate.started:
                    self._job_rate.start(self._sum().rows_written, now)
        self.write()

    def set_job_stage(self, stage: str) -> None:
        """A stage of the job's own, after its streams (written with the next flush)."""
        with self._lock:
            self.current = ""
            self.stage = stage

    def record_estimate(self, stream: str, rows: int) -> None:
        with self._lock:
            self._estimates[stream] = rows
            self._changed.add(stream)

    # --- writing ------------------------------------------------------------------------
    def maybe_flush(self) -> None:
        if time.monotonic() - self._flushed_at >= settings.JOB_PROGRESS_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write progress; stop if the job was deleted or a cancel was requested."""
        if not self.write():
            raise JobGone
        through_outage(
            lambda: stream_states_save(connector_id=self.job.connector_id, states=self.last_state),
            job_id=self.job.id,
            what="stream_states",
        )
        self.last_state.clear()
        if through_outage(
            lambda: services.job_cancel_requested(job_id=self.job.id),
            job_id=self.job.id,
            what="cancel_check",
        ):
            raise SyncCancelled

    def write_counts(self) -> None:
        """The figures as they stand, written as the job settles, so that its receipt is
        exact even when it ended between two progress writes (a crash, say). Best effort:
        the job settles anyway."""
        try:
            self.write()
        except Exception:
            logger.exception("syncs.final_counts_failed job=%s", self.job.id)

    def write(self) -> bool:
        """Write the job's figures and those of the streams that changed since the last
        write, in one transaction; False when the job is gone or no longer running."""
        self._flushed_at = now = time.monotonic()
        for stream, rows in self.take_estimates().items():
            self.record_estimate(stream, rows)
        with self._lock:
            totals = self._sum()
            if self._job_rate.started:
                self._job_rate.update(totals.rows_written, now)
            # Taken: whatever changes from here on (a batch read ahead) is written next time.
            changed, self._changed = self._changed, set()
            streams: dict[str, StreamProgress] = {}
            for name in changed:
                counts = self._counts.get(name, StreamCounts())
                rate = self._rates.get(name)
                if rate is not None and rate.started:
                    rate.update(counts.rows_written, now)
                streams[name] = StreamProgress(
                    counts=StreamCounts(**counts.fields()),
                    stage=self._stages.get(name, ""),
                    rows_per_second=rate.rate if rate is not None else None,
                    estimated_rows=self._estimates.get(name),
                )
            job = JobProgress(
                totals=totals,
                current_stream=self.current,
                stage=self.stage,
                rows_per_second=self._job_rate.rate,
            )
        try:
            # A restart of the database is waited out: the figures are absolute, so writing
            # them again is harmless.
            return through_outage(
                lambda: job_progress_record(job_id=self.job.id, job=job, streams=streams),
                job_id=self.job.id,
                what="progress",
            )
        except BaseException:
            with self._lock:
                self._changed |= changed
            raise

    def _sum(self) -> StreamCounts:
        totals = StreamCounts()
        for counts in self._counts.values():
            totals.add(counts)
        return totals
