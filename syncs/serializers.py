"""Shapes of the Jobs and Syncs (history) endpoints, and of the connector endpoints that are
syncs' (the sync trigger, the health summary)."""

from rest_framework import serializers

from landed.api.serializers import (
    QueryChoice,
    QueryDateTime,
    QueryInteger,
    QueryUUID,
    StrictBooleanField,
    StrictCharField,
    Timestamp,
)
from syncs.models import (
    FINISHED_STATUSES,
    BackfillReason,
    BackfillStatus,
    JobStage,
    JobStatus,
    JobTrigger,
)
from syncs.stats import DEFAULT_DAYS, GRANULARITIES, MAX_DAYS

# The live figures a job and each of its streams show (docs/syncs.md, "Live progress").
ROWS_READ_HELP = "Rows the source yielded."
ROWS_WRITTEN_HELP = "Rows the destination committed."
STAGE_HELP = (
    "While running: preparing, reading (waiting for the source's first rows), loading or "
    "merging (batches inserted or upserted), swapping (an overwrite's new table swapped in), "
    "finishing. Null otherwise."
)
PERCENT_HELP = (
    "Rows written out of those expected (written + the estimate's remainder), 0-100; 100 "
    "once succeeded. Null while an estimate is unknown or exceeded."
)
ETA_HELP = (
    "While running, seconds left at the recent rate. Null when unknown (no estimate, or "
    "no rows moving yet)."
)


class JobStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    sync_mode = serializers.CharField()
    load_mode = serializers.CharField()
    load_path = serializers.ChoiceField(
        choices=[("arrow", "arrow"), ("copy_passthrough", "copy_passthrough")],
        allow_null=True,
        source="load_path_or_none",
        help_text="How the stream's rows travel: `copy_passthrough` (PostgreSQL binary COPY "
        "loaded as it is, no row decoded) or `arrow` (Arrow batches, every source and "
        "destination). Null until the stream's table is ready.",
    )
    load_path_reason = serializers.CharField(
        allow_blank=True, help_text="Why the stream took its load path."
    )
    stage = serializers.ChoiceField(
        choices=JobStage.choices, source="live_stage", allow_null=True, help_text=STAGE_HELP
    )
    rows_read = serializers.IntegerField(help_text=ROWS_READ_HELP)
    rows_written = serializers.IntegerField(help_text=ROWS_WRITTEN_HELP)
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
    estimated_rows = serializers.IntegerField(
        allow_null=True,
        help_text="The source's estimate of the rows this job reads of the stream (from its "
        "statistics; exact for the sample source). Null when the source cannot tell.",
    )
    percent = serializers.FloatField(allow_null=True, help_text=PERCENT_HELP)
    eta_seconds = serializers.FloatField(allow_null=True, help_text=ETA_HELP)
    rows_per_second = serializers.FloatField(
        allow_null=True,
        help_text="Rows written per second: while running, over the last seconds; once "
        "finished, the average over the stream's load.",
    )
    started_at = Timestamp(allow_null=True)
    finished_at = Timestamp(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class JobErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()
    stream = serializers.CharField(allow_null=True)
    retryable = serializers.BooleanField()


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    connector_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    trigger = serializers.CharField(help_text="manual, schedule or retry.")
    full_resync = serializers.BooleanField()
    attempt = serializers.IntegerField()
    retry_of = serializers.UUIDField(source="retry_of_id", allow_null=True)
    run_id = serializers.UUIDField(help_text="Shared by all attempts of one sync.")
    created_at = Timestamp()
    run_after = Timestamp(help_text="A retry does not start before this (its backoff).")
    started_at = Timestamp(allow_null=True)
    finished_at = Timestamp(allow_null=True)
    heartbeat_at = Timestamp(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    current_stream = serializers.CharField(
        allow_blank=True, help_text="The stream being loaded, from the moment it starts."
    )
    stage = serializers.ChoiceField(
        choices=JobStage.choices,
        source="live_stage",
        allow_null=True,
        help_text="The current stream's stage (preparing also while the job discovers and "
        "plans; finishing after the last stream). Null unless running.",
    )
    rows_read = serializers.IntegerField(help_text=f"{ROWS_READ_HELP} The sum of the streams'.")
    rows_written = serializers.IntegerField(
        help_text=f"{ROWS_WRITTEN_HELP} The sum of the streams'."
    )
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
    estimated_rows = serializers.IntegerField(
        allow_null=True,
        help_text="The sum of the streams' estimates; null while one is unknown.",
    )
    percent = serializers.FloatField(
        allow_null=True, help_text=f"Over all the job's streams. {PERCENT_HELP}"
    )
    eta_seconds = serializers.FloatField(allow_null=True, help_text=ETA_HELP)
    rows_per_second = serializers.FloatField(
        allow_null=True,
        help_text="Rows written per second: while running, over the last seconds (across "
        "streams); once finished, the average over the run.",
    )
    cancel_requested_at = Timestamp(allow_null=True)
    cancel_reason = serializers.CharField(allow_blank=True)
    error = JobErrorSerializer(allow_null=True)
    streams = JobStreamSerializer(many=True, source="streams.all")


class JobListQuerySerializer(serializers.Serializer):
    connector_id = QueryUUID(required=False)
    status = QueryChoice(choices=JobStatus.choices, required=False)


class JobCancelInputSerializer(serializers.Serializer):
    # Blank is allowed: "" is the default, so it is no reason at all (as for an API key's name).
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class SyncInputSerializer(serializers.Serializer):
    full_resync = StrictBooleanField(
        required=False,
        default=False,
        help_text="Re-read every stream from the start and replace its table.",
    )


# --- Syncs (history) -------------------------------------------------------------------------
RECEIPT_STATUSES = [(s.value, s.label) for s in FINISHED_STATUSES]


class ReceiptStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    sync_mode = serializers.CharField()
    load_mode = serializers.CharField()
    backfill = serializers.BooleanField(default=False, help_text="Read in full for a backfill.")
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
    started_at = serializers.CharField(allow_null=True)
    finished_at = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class ReceiptSchemaChangeSerializer(serializers.Serializer):
    stream = serializers.CharField()
    change = serializers.CharField(
        help_text="table_created, column_added, column_removed or type_changed."
    )
    column = serializers.CharField(allow_blank=True)
    old_type = serializers.CharField(allow_blank=True)
    new_type = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)


class ReceiptSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job_id = serializers.UUIDField(
        allow_null=True, help_text="Kept after the job row is pruned (GET /jobs/{id} is 404)."
    )
    run_id = serializers.UUIDField(help_text="Shared by all attempts of one sync.")
    attempt = serializers.IntegerField()
    connector_id = serializers.UUIDField(
        allow_null=True, help_text="Kept after the connector is deleted, with its name."
    )
    connector_name = serializers.CharField()
    connector_type = serializers.CharField()
    destination_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=RECEIPT_STATUSES)
    trigger = serializers.ChoiceField(choices=JobTrigger.choices)
    full_resync = serializers.BooleanField()
    started_at = Timestamp(allow_null=True)
    finished_at = Timestamp()
    duration_seconds = serializers.FloatField(allow_null=True)
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
    streams = ReceiptStreamSerializer(many=True)
    error = JobErrorSerializer(allow_null=True)
    schema_changes = ReceiptSchemaChangeSerializer(many=True)


class ReceiptListQuerySerializer(serializers.Serializer):
    status = QueryChoice(choices=RECEIPT_STATUSES, required=False)
    trigger = QueryChoice(choices=JobTrigger.choices, required=False)
    since = QueryDateTime(
        required=False,
        help_text="Finished at or after this: an ISO 8601 date-time, or a date (from its "
        "start, UTC).",
    )
    until = QueryDateTime(
        required=False,
        end_of_day=True,
        help_text="Finished before this: an ISO 8601 date-time, or a date (through its end, UTC).",
    )

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError(
                {"until": serializers.ErrorDetail("until must be after since.", code="after")}
            )
        return attrs


class AccountReceiptListQuerySerializer(ReceiptListQuerySerializer):
    connector_id = QueryUUID(required=False)


class StatsQuerySerializer(serializers.Serializer):
    connector_id = QueryUUID(required=False)
    destination_id = QueryUUID(required=False)
    days = QueryInteger(min_value=1, max_value=MAX_DAYS, default=DEFAULT_DAYS)
    granularity = QueryChoice(choices=GRANULARITIES, default="day")


class StatsFiguresSerializer(serializers.Serializer):
    """The figures of a bucket or of the whole window."""

    syncs = serializers.IntegerField(help_text="Finished jobs (attempts).")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    rows = serializers.IntegerField(help_text="Rows written.")
    bytes = serializers.IntegerField(help_text="Bytes written.")
    mean_duration_seconds = serializers.FloatField(allow_null=True)
    p95_duration_seconds = serializers.FloatField(
        allow_null=True, help_text="Linear interpolation between ranks (percentile_cont)."
    )


class StatsBucketSerializer(serializers.Serializer):
    start = Timestamp()
    end = Timestamp()

    def get_fields(self) -> dict:
        # The bucket's bounds first, then the same figures as the totals.
        return {**super().get_fields(), **StatsFiguresSerializer().get_fields()}


class StatsSerializer(serializers.Serializer):
    granularity = serializers.ChoiceField(choices=GRANULARITIES)
    days = serializers.IntegerField()
    since = Timestamp(help_text="Start of the first bucket.")
    until = Timestamp(help_text="End of the last bucket.")
    connector_id = serializers.UUIDField(allow_null=True)
    destination_id = serializers.UUIDField(allow_null=True)
    totals = StatsFiguresSerializer()
    buckets = StatsBucketSerializer(many=True)


class SchemaQuerySerializer(serializers.Serializer):
    changes_limit = QueryInteger(min_value=1, max_value=200, default=50)


class SchemaFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="Landed's logical type.")
    nullable = serializers.BooleanField()
    key = serializers.BooleanField(help_text="Part of the primary key.")
    cursor = serializers.BooleanField(help_text="The incremental cursor.")
    precision = serializers.IntegerField(allow_null=True)
    scale = serializers.IntegerField(allow_null=True)
    source_type = serializers.CharField(allow_null=True)


class SchemaStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    table = serializers.CharField()
    enabled = serializers.BooleanField()
    sync_mode = serializers.CharField()
    load_mode = serializers.CharField()
    primary_key = serializers.ListField(child=serializers.CharField())
    cursor_field = serializers.CharField(allow_null=True)
    last_job_id = serializers.UUIDField(allow_null=True)
    updated_at = Timestamp()
    fields = SchemaFieldSerializer(many=True)


class SchemaChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stream = serializers.CharField()
    change = serializers.CharField(
        help_text="table_created, column_added, column_removed or type_changed."
    )
    column = serializers.CharField(allow_blank=True)
    old_type = serializers.CharField(allow_blank=True)
    new_type = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    job_id = serializers.UUIDField(allow_null=True)
    created_at = Timestamp()


class BackfillSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    stream = serializers.CharField()
    reason = serializers.ChoiceField(choices=BackfillReason.choices)
    column = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=BackfillStatus.choices)
    requested_at = Timestamp()
    requested_by_job_id = serializers.UUIDField(allow_null=True)


class ConnectorSchemaSerializer(serializers.Serializer):
    connector_id = serializers.UUIDField()
    streams = SchemaStreamSerializer(many=True)
    recent_changes = SchemaChangeSerializer(many=True)
    pending_backfills = BackfillSerializer(many=True)


# --- Connector summary -----------------------------------------------------------------------
class SummarySparkPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    rows_synced = serializers.IntegerField()
    failures = serializers.IntegerField()
    syncs = serializers.IntegerField()


class SummaryHealthSerializer(serializers.Serializer):
    healthy = serializers.IntegerField()
    failing = serializers.IntegerField()
    paused = serializers.IntegerField()
    syncing = serializers.IntegerField()
    never_synced = serializers.IntegerField()


class ConnectorSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    health = SummaryHealthSerializer()
    sparkline = SummarySparkPointSerializer(many=True)
