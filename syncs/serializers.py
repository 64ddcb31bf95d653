"""Shapes of the Jobs endpoints."""

from rest_framework import serializers

from landed.api.serializers import QueryChoice, QueryUUID, StrictCharField, Timestamp
from syncs.models import JobStatus


class JobStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    sync_mode = serializers.CharField()
    load_mode = serializers.CharField()
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
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
    current_stream = serializers.CharField(allow_blank=True)
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    bytes_read = serializers.IntegerField()
    bytes_written = serializers.IntegerField()
    rows_per_second = serializers.FloatField(allow_null=True)
    cancel_requested_at = Timestamp(allow_null=True)
    cancel_reason = serializers.CharField(allow_blank=True)
    error = JobErrorSerializer(allow_null=True)
    streams = JobStreamSerializer(many=True, source="streams.all")


class JobListQuerySerializer(serializers.Serializer):
    connector_id = QueryUUID(required=False)
    status = QueryChoice(choices=JobStatus.choices, required=False)


class JobCancelInputSerializer(serializers.Serializer):
    reason = StrictCharField(required=False, max_length=500, default="")
