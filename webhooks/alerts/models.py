"""Alert groups, notification policies, their cooldown records and in-app notifications.

These models belong to the `webhooks` app (its `app_label`, tables and migrations) and are
registered by `webhooks/models.py`, which imports this module. The endpoint a policy sends to
is named by string ("webhooks.WebhookEndpoint") so that this module never imports
`webhooks.models`: the import goes one way only.
"""

import uuid

from django.db import models
from django.utils import timezone

from connectors.models import Connector
from landed.accounts.models import Account


class AlertGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="alert_groups")
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True, default="")
    connectors = models.ManyToManyField(Connector, blank=True, related_name="alert_groups")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="alert_group_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Condition(models.TextChoices):
    SYNC_FAILED = "sync_failed"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    SYNC_RECOVERED = "sync_recovered"
    SCHEMA_CHANGED = "schema_changed"
    DATA_STALE = "data_stale"


class PolicyScope(models.TextChoices):
    ALL = "all"
    GROUP = "group"
    CONNECTOR = "connector"


class NotificationPolicy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="notification_policies"
    )
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    # Condition names (Condition), at least one.
    conditions = models.JSONField(default=list)
    consecutive_failures = models.PositiveIntegerField(default=3)
    freshness_minutes = models.PositiveIntegerField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=PolicyScope, default=PolicyScope.ALL)
    # A group or connector in use by a policy cannot be deleted from under it (409 for a
    # group); a deleted connector takes its connector-scoped policies with it.
    group = models.ForeignKey(
        AlertGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    connector = models.ForeignKey(
        Connector,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_policies",
    )
    # Channels.
    notify_in_app = models.BooleanField(default=True)
    email_recipients = models.JSONField(default=list, blank=True)
    webhook_endpoint = models.ForeignKey(
        "webhooks.WebhookEndpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="policies",
    )
    cooldown_minutes = models.PositiveIntegerField(default=60)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification policies"
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="policy_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class PolicyFiring(models.Model):
    """When a policy last notified about a connector's condition: its cooldown clock."""

    policy = models.ForeignKey(NotificationPolicy, on_delete=models.CASCADE, related_name="+")
    connector_id = models.UUIDField()
    condition = models.CharField(max_length=32, choices=Condition)
    last_notified_at = models.DateTimeField()
    suppressed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "connector_id", "condition"], name="policy_firing_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.condition} {self.connector_id}"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notifications")
    policy = models.ForeignKey(
        NotificationPolicy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    # The connector's id stays when it is deleted (no database constraint).
    connector = models.ForeignKey(
        Connector,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # False for a notification that went to other channels only (kept for its email).
    in_app = models.BooleanField(default=True)
    email_recipients = models.JSONField(default=list, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Failed sends so far, and when the email was last queued (null: no email owed): the sweep
    # queues it again, backing off, until it is sent or EMAIL_MAX_ATTEMPTS have failed.
    email_attempts = models.PositiveIntegerField(default=0)
    email_enqueued_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(
                fields=["account", "created_at"],
                name="notification_unread",
                condition=models.Q(read_at__isnull=True, in_app=True),
            ),
            # The emails owed (queued, not sent): what the sweep reads every few seconds.
            models.Index(
                fields=["email_enqueued_at"],
                name="notification_email_owed",
                condition=models.Q(emailed_at__isnull=True, email_enqueued_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title
