"""Input and output shapes of the Webhooks endpoints."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from landed.api.serializers import (
    QueryChoice,
    QueryUUID,
    StrictBooleanField,
    StrictCharField,
    Timestamp,
)
from webhooks.events import SUBSCRIBABLE
from webhooks.isolation import BreakerState, breaker_state
from webhooks.models import WebhookEndpoint

_URL_HELP = (
    "Where deliveries are POSTed: an absolute https URL (http only where the server allows "
    "it), without user or password, resolving to a public address."
)
_EVENT_TYPES_HELP = "The event types to receive; empty or left out: all of them."


class EventTypesField(serializers.ListField):
    """Subscribable event types; a repeated one counts once."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _EVENT_TYPES_HELP)
        super().__init__(
            child=serializers.ChoiceField(choices=SUBSCRIBABLE), max_length=100, **kwargs
        )

    def to_internal_value(self, data):
        return list(dict.fromkeys(super().to_internal_value(data)))


class WebhookCreateInputSerializer(serializers.Serializer):
    url = StrictCharField(min_length=1, max_length=2000, help_text=_URL_HELP)
    description = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    event_types = EventTypesField(required=False, default=list)
    enabled = StrictBooleanField(required=False, default=True)


class WebhookUpdateInputSerializer(serializers.Serializer):
    url = StrictCharField(required=False, min_length=1, max_length=2000, help_text=_URL_HELP)
    description = StrictCharField(required=False, allow_blank=True, max_length=500)
    event_types = EventTypesField(required=False)
    enabled = StrictBooleanField(
        required=False,
        help_text="true on a disabled endpoint enables it again (its failure streak cleared).",
    )


class WebhookBreakerSerializer(serializers.Serializer):
    """The endpoint's circuit breaker, read from the endpoint's row."""

    state = serializers.SerializerMethodField(
        help_text="closed: attempts are made as deliveries come; open: the endpoint timed out "
        "too many attempts in a row, and its deliveries wait (pending, in order, no attempt "
        "counted) until `open_until`; half_open: the cooldown is over and the next attempt "
        "probes it (an answer closes the breaker, a timeout opens it again, for longer)."
    )
    consecutive_timeouts = serializers.IntegerField(
        help_text="Attempts that timed out in a row; any answer (or another failure) resets it."
    )
    open_until = Timestamp(
        source="breaker_open_until",
        allow_null=True,
        help_text="Until when no attempt is made (open), or since when the probe is due "
        "(half_open); null when closed.",
    )

    @extend_schema_field(serializers.ChoiceField(choices=[s.value for s in BreakerState]))
    def get_state(self, endpoint: WebhookEndpoint) -> str:
        return breaker_state(endpoint).value


class WebhookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(), help_text=_EVENT_TYPES_HELP)
    enabled = serializers.BooleanField()
    disabled_at = Timestamp(
        allow_null=True, help_text="When Landed disabled it after failing for too long."
    )
    disabled_reason = serializers.CharField(allow_blank=True)
    failing_since = Timestamp(
        allow_null=True, help_text="Since when every attempt has failed; null when healthy."
    )
    breaker = WebhookBreakerSerializer(
        source="*", help_text="Whether deliveries are held after repeated timeouts."
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...): returned here, and by GET /webhooks/{id}/secret."
    )


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The current signing secret.")
    previous_secret_expires_at = Timestamp(
        allow_null=True,
        help_text="Until when the secret replaced by the last rotation keeps signing too; null "
        "when only the current one signs.",
    )


class WebhookTestResultSerializer(serializers.Serializer):
    delivery_id = serializers.UUIDField()
    event_id = serializers.UUIDField()
    succeeded = serializers.BooleanField(help_text="The endpoint answered with a 2xx.")
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)
    response_excerpt = serializers.CharField(
        allow_blank=True, help_text="The first KiB of the answer."
    )
    error = serializers.CharField(allow_blank=True)


class DeliveryAttemptSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    delivery_id = serializers.UUIDField(
        help_text="The event to this endpoint (Landed-Delivery-Id), the same on every retry."
    )
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    attempt = serializers.IntegerField(help_text="1 for the first attempt of the delivery.")
    succeeded = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.FloatField()
    response_excerpt = serializers.CharField(
        allow_blank=True, help_text="The first KiB of the answer."
    )
    error = serializers.CharField(allow_blank=True)
    next_retry_at = Timestamp(
        allow_null=True, help_text="When the next attempt is due; null when this one was final."
    )
    created_at = Timestamp()


class DeliveryListQuerySerializer(serializers.Serializer):
    event_id = QueryUUID(required=False, help_text="Attempts of this event only.")
    succeeded = QueryChoice(
        choices=["true", "false"], required=False, help_text="Successful or failed attempts only."
    )
