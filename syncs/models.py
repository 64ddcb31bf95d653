"""Jobs (one attempt of a sync, with live progress), sync receipts (the history), stream state,
the schema as last loaded, schema changes and backfills."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from connectors.models import Connector, Destination
from landed.accounts.models import Account
from syncs import live


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobStage(models.TextChoices):
    """What a running job, or stream, is doing (docs/syncs.md, "Live progress")."""

    PREPARING = "preparing"  # discovering, planning; creating or evolving the stream's table
    READING = "reading"  # waiting for the source's first rows
    LOADING = "loading"  # batches inserted as they come
    MERGING = "merging"  # batches upserted by key as they come
    SWAPPING = "swapping"  # an overwrite's staging table swapped in
    FINISHING = "finishing"  # the final state committed, the job's records settled


class JobTrigger(models.TextChoices):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    RETRY = "retry"


class Job(models.Model):
    """One attempt of a sync. A retry is a new job linked to the one it retries; all attempts
    of one sync share `run_id`, which the destination uses to resume an unfinished load."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.PENDING)
    trigger = models.CharField(max_length=16, choices=JobTrigger, default=JobTrigger.MANUAL)
    full_resync = models.BooleanField(default=False)
    run_id = models.UUIDField(default=uuid.uuid4, editable=False)
    attempt = models.PositiveIntegerField(default=1)
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retried_by"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # A retry waits out its backoff: the worker does not start it before this time.
    run_after = models.DateTimeField(default=timezone.now)
    # When its task message was last sent (a lost message is sent again, not more often).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    current_stream = models.CharField(max_length=300, blank=True, default="")
    # While running; blank otherwise.
    stage = models.CharField(max_length=16, choices=JobStage, blank=True, default="")
    # Rows the source yielded, and rows the destination committed (in flight between the two:
    # the batches read ahead; after a failure: the batch that did not commit). The sums of
    # the streams' counts, written with them.
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    bytes_written = models.BigIntegerField(default=0)
    # Rows written per second over the last seconds, as the worker last measured it.
    recent_rows_per_second = models.FloatField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True, default="")
    # {"type", "message", "stream", "retryable"} for a failed job.
    error = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # At most one pending or running job per connector: the 409 of a double trigger,
            # enforced by the database so that two racing requests cannot both win.
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(status__in=["pending", "running"]),
                name="one_active_job_per_connector",
            )
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["connector", "-created_at"]),
            # Retention deletes finished jobs by age.
            models.Index(fields=["status", "finished_at"]),
        ]

    def __str__(self) -> str:
        return f"job {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def rows_per_second(self) -> float | None:
        """While running, the recent rate (not the average since the start, which lags
        behind a stream's pace); once finished, the average over the run."""
        if self.status == JobStatus.RUNNING:
            return live.rounded_rate(self.recent_rows_per_second)
        duration = self.duration_seconds
        if not duration:
            return None
        return round(self.rows_written / duration, 1)

    @property
    def live_stage(self) -> str | None:
        return (self.stage or None) if self.status == JobStatus.RUNNING else None

    @property
    def estimated_rows(self) -> int | None:
        """The sum of the streams' estimates; None while one of them is unknown."""
        return live.job_estimated_rows(self._stream_figures())

    @property
    def percent(self) -> float | None:
        if self.status == JobStatus.SUCCEEDED:
            return 100.0
        return live.job_percent(self._stream_figures())

    @property
    def eta_seconds(self) -> float | None:
        if self.status != JobStatus.RUNNING:
            return None
        return live.eta_seconds(
            live.job_remaining_rows(self._stream_figures()), self.recent_rows_per_second
        )

    def _stream_figures(self) -> list[live.StreamFigures]:
        # The streams as prefetched with the job (selectors.job_get), read in one snapshot.
        return [stream.figures for stream in self.streams.all()]


class JobStream(models.Model):
    """Per-stream progress of a job."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="streams")
    name = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.PENDING)
    sync_mode = models.CharField(max_length=16)
    load_mode = models.CharField(max_length=16)
    # Read in full again to complete a backfill (see syncs/backfills.py).
    backfill = models.BooleanField(default=False)
    # How its rows travel (syncs/engine/load_path.py): "arrow" or "copy_passthrough", and
    # why; blank until the stream's table is ready and the path is chosen.
    load_path = models.CharField(max_length=32, blank=True, default="")
    load_path_reason = models.CharField(max_length=500, blank=True, default="")
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    bytes_written = models.BigIntegerField(default=0)
    # The rows the source expected this job to read of the stream (Source.estimate_rows);
    # null when it could not tell.
    estimated_rows = models.BigIntegerField(null=True, blank=True)
    stage = models.CharField(max_length=16, choices=JobStage, blank=True, default="")
    recent_rows_per_second = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="job_stream_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def figures(self) -> live.StreamFigures:
        return live.StreamFigures(
            succeeded=self.status == JobStatus.SUCCEEDED,
            estimated_rows=self.estimated_rows,
            rows_written=self.rows_written,
        )

    @property
    def live_stage(self) -> str | None:
        return (self.stage or None) if self.status == JobStatus.RUNNING else None

    @property
    def load_path_or_none(self) -> str | None:
        return self.load_path or None

    @property
    def percent(self) -> float | None:
        if self.status == JobStatus.SUCCEEDED:
            return 100.0
        return live.percent(self.rows_written, live.stream_remaining_rows(self.figures))

    @property
    def eta_seconds(self) -> float | None:
        if self.status != JobStatus.RUNNING:
            return None
        return live.eta_seconds(
            live.stream_remaining_rows(self.figures), self.recent_rows_per_second
        )

    @property
    def rows_per_second(self) -> float | None:
        """While running, the recent rate; once finished, the average over its load."""
        if self.status == JobStatus.RUNNING:
            return live.rounded_rate(self.recent_rows_per_second)
        if not (self.started_at and self.finished_at):
            return None
        seconds = (self.finished_at - self.started_at).total_seconds()
        return round(self.rows_written / seconds, 1) if seconds > 0 else None


class StreamState(models.Model):
    """A mirror of each stream's state as committed in the destination (the destination's
    copy is the one a resumed sync trusts)."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="states")
    stream = models.CharField(max_length=300)
    state = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "stream"], name="stream_state_unique")
        ]

    def __str__(self) -> str:
        return self.stream


class SchemaChange(models.Model):
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="schema_changes"
    )
    # The job that applied it: its id stays when the job row is pruned (its receipt remains).
    job = models.ForeignKey(
        Job, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    stream = models.CharField(max_length=300)
    change = models.CharField(max_length=32)
    column = models.CharField(max_length=300, blank=True, default="")
    old_type = models.CharField(max_length=100, blank=True, default="")
    new_type = models.CharField(max_length=100, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.stream}: {self.change} {self.column}"


class SyncReceipt(models.Model):
    """The record of one finished job (attempt): what ran, how it ended, what it moved.

    Written in the transaction that settles the job, so every finished job has exactly one.
    Receipts are the history: they outlive the job rows (pruned after JOB_RETENTION_DAYS) and
    the connector itself (usage and audit), keeping the connector's name and type."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sync_receipts")
    # The ids stay when the connector, destination or job row is deleted (no database
    # constraint): history stays filterable by them, and a receipt names its job for good.
    connector = models.ForeignKey(
        Connector,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="receipts",
    )
    connector_name = models.CharField(max_length=200)
    connector_type = models.CharField(max_length=50)
    destination = models.ForeignKey(
        Destination, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    job = models.OneToOneField(
        Job, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="receipt"
    )
    run_id = models.UUIDField()
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=JobStatus)
    trigger = models.CharField(max_length=16, choices=JobTrigger)
    full_resync = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField()
    # Null for a job cancelled before it started.
    duration_seconds = models.FloatField(null=True, blank=True)
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    bytes_written = models.BigIntegerField(default=0)
    # [{name, status, sync_mode, load_mode, rows_read, rows_written, bytes_read,
    #   bytes_written, error}]
    streams = models.JSONField(default=list, blank=True)
    error = models.JSONField(null=True, blank=True)
    # [{stream, change, column, old_type, new_type, note}] applied by this job.
    schema_changes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-finished_at"]),
            models.Index(fields=["connector", "-finished_at"]),
            models.Index(fields=["destination", "-finished_at"]),
            # Retention deletes by age.
            models.Index(fields=["finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.connector_name} {self.status} at {self.finished_at:%Y-%m-%d %H:%M}"


class StreamSchema(models.Model):
    """A stream's fields as the last sync loaded them (what `GET /syncs/{id}/schema` shows,
    without connecting to the source)."""

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="stream_schemas"
    )
    stream = models.CharField(max_length=300)
    table = models.CharField(max_length=300)
    # [Column.as_dict()]
    columns = models.JSONField(default=list)
    primary_key = models.JSONField(default=list)
    cursor_field = models.CharField(max_length=300, blank=True, default="")
    sync_mode = models.CharField(max_length=16)
    load_mode = models.CharField(max_length=16)
    job = models.ForeignKey(Job, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stream"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "stream"], name="stream_schema_unique")
        ]

    def __str__(self) -> str:
        return self.stream


class BackfillReason(models.TextChoices):
    COLUMN_ADDED = "column_added"
    STREAM_REENABLED = "stream_reenabled"


class BackfillStatus(models.TextChoices):
    PENDING = "pending"
    COMPLETED = "completed"
    # The stream appends now: reading it in full again would load every row twice.
    SKIPPED = "skipped"


class Backfill(models.Model):
    """A request to read a stream in full again, merging into its table: rows loaded before a
    column was added lack it; rows changed while a stream was disabled were never loaded.
    The next sync of the connector does it; it stays pending until a sync completes it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="backfills")
    stream = models.CharField(max_length=300)
    reason = models.CharField(max_length=32, choices=BackfillReason)
    column = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=16, choices=BackfillStatus, default=BackfillStatus.PENDING)
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    requested_by_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The sync (all its attempts) that requested it does not apply it: the next sync does.
    requested_run_id = models.UUIDField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "stream", "reason", "column"],
                condition=Q(status="pending"),
                name="one_pending_backfill_per_cause",
            )
        ]

    def __str__(self) -> str:
        return f"backfill {self.stream} ({self.reason}, {self.status})"
