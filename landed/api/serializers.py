"""Serializer pieces shared by every app's API."""

from datetime import UTC, datetime

from rest_framework import serializers


class Timestamp(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit offset, as the reference writes it (`+00:00`)."""

    def to_representation(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat()


class ErrorSerializer(serializers.Serializer):
    """The error envelope, for the OpenAPI description."""

    error = serializers.CharField()
    detail = serializers.JSONField(allow_null=True, required=False)


class ValidationIssueSerializer(serializers.Serializer):
    loc = serializers.ListField(child=serializers.JSONField())
    msg = serializers.CharField()
    type = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    error = serializers.CharField(default="Validation error")
    detail = ValidationIssueSerializer(many=True)
