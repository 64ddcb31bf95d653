"""Serializer pieces shared by every app's API."""

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers

# Stated as a pattern so that the OpenAPI description carries the rule too.
_NO_NUL = RegexValidator(
    r"^[^\x00]*$", message="Null characters are not allowed.", code="null_characters_not_allowed"
)


class StrictCharField(serializers.CharField):
    """Input text that must be a JSON string: DRF would turn `42` into `"42"` silently. It is
    kept as sent (no trimming), so that what the OpenAPI description allows is accepted."""

    default_error_messages = {"not_a_string": "Not a valid string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ] + [_NO_NUL]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictEmailField(StrictCharField, serializers.EmailField):
    """An email address, given as a JSON string."""


class EmptyQueryValueIsInvalid:
    """For query parameters: `?limit=` (empty) is a bad value, not a missing one (DRF would
    silently use the default, or not filter at all)."""

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)  # type: ignore[misc]


class QueryInteger(EmptyQueryValueIsInvalid, serializers.IntegerField):
    """An integer query parameter."""


class QueryUUID(EmptyQueryValueIsInvalid, serializers.UUIDField):
    """A UUID query parameter (a filter by id)."""


class QueryChoice(EmptyQueryValueIsInvalid, serializers.ChoiceField):
    """One of a set of values, as a query parameter."""


class QueryDateTime(EmptyQueryValueIsInvalid, serializers.DateTimeField):
    """A point in time as a query parameter: an ISO 8601 date-time (an offset, or UTC when it
    has none) or a date. A date is the start of that day in UTC; with `end_of_day`, for an
    upper bound, it is the end of that day, so that `until=2026-11-23` includes the 23rd.

    A `+` in a query string decodes to a space unless written %2B: `T12:00:00 00:00` is
    taken as the `+00:00` that was meant."""

    default_error_messages = {
        "invalid": "Input should be an ISO 8601 date (2026-11-23) or date-time "
        "(2026-11-23T12:00:00+00:00)."
    }
    _SPACED_OFFSET = re.compile(r"^(\S+T[\d:.]+) (\d\d:?\d\d)$")

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str) or not data or "\x00" in data:
            self.fail("invalid")
        text = self._SPACED_OFFSET.sub(r"\1+\2", data.strip())
        try:
            if len(text) == 10:
                day = datetime.strptime(text, "%Y-%m-%d").date()
                start = datetime.combine(day, time.min, tzinfo=UTC)
                moment = start + timedelta(days=1) if self.end_of_day else start
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
            # Compared in UTC: a time whose UTC form falls outside years 1-9999 (the end of
            # 9999-12-31, say) cannot be.
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat()


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: DRF would take "yes", "on" or 1 for true, and a destructive flag is
    no place for guessing."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not "5", not 5.0, not true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a JSON string: DRF would read the integer 5 as the UUID
    00000000-0000-0000-0000-000000000005."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


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
