"""An account's billing state (its plan and Stripe subscription, as Stripe's webhooks last told
it), the Stripe events already applied, and the usage reported to Stripe's meter."""

from django.db import models
from django.utils import timezone

from landed.accounts.models import Account


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, and `none` for an account that never subscribed."""

    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


# The account may not sync or add connectors (403) in these; past_due only after the grace.
INACTIVE_STATUSES = (
    SubscriptionStatus.CANCELED,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.INCOMPLETE_EXPIRED,
    SubscriptionStatus.PAUSED,
)
# A subscription exists in Stripe (to be managed in the portal, not bought again).
LIVE_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.PAUSED,
)
# The subscription is over: it will never be billed again.
ENDED_STATUSES = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)


class BillingAccount(models.Model):
    """Created on first use (`billing.services.billing_account_for`): an account without one is
    on the free plan and never subscribed."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="billing")
    plan = models.CharField(max_length=64, default="free")
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    stripe_subscription_id = models.CharField(max_length=255, blank=True, default="")
    # The subscription item of the plan's metered price (usage beyond the included rows).
    stripe_metered_item_id = models.CharField(max_length=255, blank=True, default="")
    subscription_status = models.CharField(
        max_length=32, choices=SubscriptionStatus, default=SubscriptionStatus.NONE
    )
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # When the subscription fell past due; the grace period counts from here.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # The Stripe time of the event that set the state above: an older event, delivered late
    # (Stripe does not promise order), changes nothing.
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="billing_customer_unique",
            )
        ]
        indexes = [models.Index(fields=["subscription_status"])]

    def __str__(self) -> str:
        return f"{self.account} ({self.plan}, {self.subscription_status})"


class StripeEvent(models.Model):
    """A Stripe event received (and applied, or deliberately ignored): written in the
    transaction of its effects, so a redelivered event is recognised and changes nothing."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    # Stripe's own time of the event.
    created = models.DateTimeField()
    processed_at = models.DateTimeField(default=timezone.now)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What it did: "applied", or why it changed nothing.
    outcome = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-processed_at", "-id"]
        verbose_name = "Stripe event"
        indexes = [models.Index(fields=["processed_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class UsageReport(models.Model):
    """The rows of one billing period reported to Stripe's meter so far (cumulative).

    `pending_rows` is the cumulative total of a report on its way: written and committed before
    the meter event is sent, cleared (into `rows_reported`) after Stripe accepted it. A report
    interrupted in between is sent again with the same identifier (billing/usage.py)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_reports")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    rows_reported = models.BigIntegerField(default=0)
    pending_rows = models.BigIntegerField(null=True, blank=True)
    # The meter event's timestamp of the pending report: a resend repeats it exactly.
    pending_at = models.DateTimeField(null=True, blank=True)
    last_reported_at = models.DateTimeField(null=True, blank=True)
    # Reported after the period ended: nothing more to send for it.
    final = models.BooleanField(default=False)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start"], name="usage_report_period_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["account"], name="usage_report_open", condition=models.Q(final=False)
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period_start:%Y-%m-%d}: {self.rows_reported}"
