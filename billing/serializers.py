"""Input and output shapes of the Billing endpoints."""

from rest_framework import serializers

from billing.models import SubscriptionStatus
from landed.api.serializers import StrictCharField, Timestamp


class PlanSerializer(serializers.Serializer):
    name = serializers.CharField()
    connector_limit = serializers.IntegerField()
    included_rows = serializers.IntegerField(help_text="Rows per billing period in the price.")
    monthly_price_cents = serializers.IntegerField()
    extra_million_rows_cents = serializers.IntegerField(
        help_text="The price of each million rows beyond those included."
    )
    metered = serializers.BooleanField(help_text="Rows beyond those included are billed.")


class EstimateSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text='Always "usd"; amounts are integer cents.')
    monthly_price_cents = serializers.IntegerField()
    included_rows = serializers.IntegerField()
    extra_rows = serializers.IntegerField(help_text="Rows synced beyond those included.")
    overage_cents = serializers.IntegerField(
        help_text="extra_rows x extra_million_rows_cents / 1,000,000, rounded up to the cent."
    )
    total_cents = serializers.IntegerField(help_text="monthly_price_cents + overage_cents.")


class UsageSerializer(serializers.Serializer):
    plan = PlanSerializer()
    subscription_status = serializers.ChoiceField(
        choices=SubscriptionStatus.choices,
        help_text='Stripe\'s status of the subscription; "none" before any subscription.',
    )
    active = serializers.BooleanField(
        help_text="false: syncs and new connectors are refused (403) until billing is fixed."
    )
    past_due_since = Timestamp(allow_null=True)
    period_start = Timestamp(
        help_text="The subscription's current period, or the calendar month (UTC) without one."
    )
    period_end = Timestamp()
    connector_count = serializers.IntegerField()
    connector_limit = serializers.IntegerField(
        allow_null=True,
        help_text="The connectors the account may have; null: no limit (billing is not "
        "configured on this server).",
    )
    rows_synced = serializers.IntegerField(
        help_text="Rows written by syncs that finished in the period."
    )
    estimate = EstimateSerializer()


class CheckoutInputSerializer(serializers.Serializer):
    plan = StrictCharField(min_length=1, max_length=64, help_text="A paid plan's name.")


class CheckoutSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Send the browser here to pay.")
    session_id = serializers.CharField()


class PortalSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Send the browser here to manage the subscription.")


class WebhookReceivedSerializer(serializers.Serializer):
    received = serializers.BooleanField()
