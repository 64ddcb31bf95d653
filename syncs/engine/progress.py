"""A running job's signs of life: its counts, written at a bounded rate (where the job also
learns that it was cancelled or deleted), and a heartbeat on a thread of its own, so that a
slow batch does not look like a dead worker."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection

from syncs import services
from syncs.models import Job
from syncs.streams import StreamCounts, job_stream_record_counts, stream_states_save

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


@dataclass
class Progress:
    """Counts in memory, written to the job's rows at most once per interval."""

    job: Job
    totals: StreamCounts = field(default_factory=StreamCounts)
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    current: str = ""
    # The state each stream last committed in the destination, not yet mirrored.
    last_state: dict[str, Any] = field(default_factory=dict)
    _flushed_at: float = 0.0

    def add(
        self,
        stream: str,
        *,
        rows_read: int = 0,
        bytes_read: int = 0,
        rows_written: int = 0,
        bytes_written: int = 0,
    ) -> None:
        for counters in (self.totals, self.streams.setdefault(stream, StreamCounts())):
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
                job_stream_record_counts(job=self.job, stream=stream, counts=counted)
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
            job_stream_record_counts(
                job=self.job, stream=self.current, counts=self.streams[self.current]
            )
        stream_states_save(connector_id=self.job.connector_id, states=self.last_state)
        self.last_state.clear()
        if services.job_cancel_requested(job_id=self.job.id):
            raise SyncCancelled
