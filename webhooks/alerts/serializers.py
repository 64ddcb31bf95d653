"""Input and output shapes of the Alerts and Notifications endpoints."""

from rest_framework import serializers

from landed.api.serializers import (
    QueryChoice,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    Timestamp,
)
from webhooks.alerts.models import Condition, PolicyScope

MAX_EMAIL_RECIPIENTS = 20
MAX_COOLDOWN_MINUTES = 10_080  # a week
MAX_FRESHNESS_MINUTES = 525_600  # a year


# --- Groups ----------------------------------------------------------------------------------
class AlertGroupCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    connector_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=1000
    )


class AlertGroupUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=500)
    connector_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=1000,
        help_text="Replaces the members.",
    )


class AlertGroupConnectorInputSerializer(serializers.Serializer):
    connector_id = serializers.UUIDField()


class AlertConnectorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()


class AlertGroupSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    connector_count = serializers.IntegerField()
    created_at = Timestamp()
    updated_at = Timestamp()


class AlertGroupDetailSerializer(AlertGroupSerializer):
    connectors = AlertConnectorSerializer(many=True, source="connectors.all")


# --- Policies --------------------------------------------------------------------------------
class PolicyChannelsInputSerializer(serializers.Serializer):
    in_app = StrictBooleanField(required=False, help_text="Listed in the app; default true.")
    email_recipients = serializers.ListField(
        child=StrictEmailField(max_length=254),
        required=False,
        max_length=MAX_EMAIL_RECIPIENTS,
    )
    webhook_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="One of your webhook endpoints."
    )

    def validate_email_recipients(self, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for address in value:
            if address.lower() in seen:
                raise serializers.ValidationError(
                    f"{address} is listed twice.", code="duplicate_email"
                )
            seen.add(address.lower())
        return value


class PolicyInputSerializer(serializers.Serializer):
    """Create takes it whole (with defaults); update takes any part of it."""

    name = StrictCharField(min_length=1, max_length=200)
    enabled = StrictBooleanField(required=False, default=True)
    conditions = serializers.ListField(
        child=serializers.ChoiceField(choices=Condition.choices),
        allow_empty=False,
        max_length=len(Condition.choices),
    )
    consecutive_failures = StrictIntegerField(
        min_value=2,
        max_value=100,
        required=False,
        default=3,
        help_text="Failed syncs in a row that meet `consecutive_failures`.",
    )
    freshness_minutes = StrictIntegerField(
        min_value=5,
        max_value=MAX_FRESHNESS_MINUTES,
        required=False,
        allow_null=True,
        default=None,
        help_text="Required with `data_stale` (and only then): the longest time without a "
        "successful sync.",
    )
    scope = serializers.ChoiceField(
        choices=PolicyScope.choices, required=False, default=PolicyScope.ALL
    )
    group_id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="Required with scope group."
    )
    connector_id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="Required with scope connector."
    )
    channels = PolicyChannelsInputSerializer(required=False)
    cooldown_minutes = StrictIntegerField(
        min_value=0,
        max_value=MAX_COOLDOWN_MINUTES,
        required=False,
        default=60,
        help_text="No second notification for the same connector and condition within it.",
    )

    def validate_conditions(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError(
                "Each condition may be listed once.", code="duplicate_condition"
            )
        return value


class PolicyChannelsSerializer(serializers.Serializer):
    in_app = serializers.BooleanField(source="notify_in_app")
    email_recipients = serializers.ListField(child=serializers.EmailField())
    webhook_id = serializers.UUIDField(source="webhook_endpoint_id", allow_null=True)


class NotificationPolicySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    conditions = serializers.ListField(child=serializers.ChoiceField(choices=Condition.choices))
    consecutive_failures = serializers.IntegerField()
    freshness_minutes = serializers.IntegerField(allow_null=True)
    scope = serializers.ChoiceField(choices=PolicyScope.choices)
    group_id = serializers.UUIDField(allow_null=True)
    connector_id = serializers.UUIDField(allow_null=True)
    channels = PolicyChannelsSerializer(source="*")
    cooldown_minutes = serializers.IntegerField()
    created_at = Timestamp()
    updated_at = Timestamp()


class AlertGroupRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class PolicyMatchSerializer(serializers.Serializer):
    policy = NotificationPolicySerializer()
    matched_by = serializers.CharField(
        help_text="How the policy covers the connector: all, group or connector (its scope)."
    )
    group = AlertGroupRefSerializer(allow_null=True)


class PolicyResolveSerializer(serializers.Serializer):
    connector_id = serializers.UUIDField()
    policies = PolicyMatchSerializer(many=True, help_text="Enabled policies that apply.")
    disabled = PolicyMatchSerializer(
        many=True, help_text="Disabled policies that would apply if enabled."
    )


class PolicyTestResultSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    in_app = serializers.BooleanField(help_text="Listed in the app's notifications.")
    emailed = serializers.ListField(
        child=serializers.EmailField(), help_text="Addresses the test email was sent to."
    )
    email_error = serializers.CharField(
        allow_null=True, help_text="Why the email could not be sent, if it could not."
    )
    webhook_event_id = serializers.UUIDField(
        allow_null=True, help_text="The alert.triggered event sent to the policy's endpoint."
    )


# --- Notifications ---------------------------------------------------------------------------
class NotificationListQuerySerializer(serializers.Serializer):
    unread = QueryChoice(
        choices=["true", "false"], required=False, help_text="Only unread (true) or read (false)."
    )


class NotificationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text="The condition that fired, or `test`.")
    title = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    data = serializers.DictField()
    connector_id = serializers.UUIDField(allow_null=True)
    policy_id = serializers.UUIDField(allow_null=True)
    read = serializers.SerializerMethodField()
    read_at = Timestamp(allow_null=True)
    created_at = Timestamp()

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationsUpdatedSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class NotificationUnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
