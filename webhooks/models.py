"""Events (the outbox), webhook endpoints and their deliveries; the alert models (groups,
policies, notifications) live in `webhooks/alerts/models.py` and are registered from here.

An `Event` row is written in the transaction of the change it reports (`webhooks.events`), so
that a rolled-back change raises nothing and a committed one cannot lose its event: a worker
fans it out after commit, and a beat sweep picks up any whose message was lost.
"""

import uuid

from django.db import models
from django.utils import timezone

from landed.accounts.models import Account


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    data = models.JSONField(default=dict)
    # Set when the event has been fanned out (deliveries created, alert policies evaluated).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # When it was last put on the queue (the sweep sends a lost one again, not a flood).
    enqueued_at = models.DateTimeField(default=timezone.now)
    # An event for one endpoint only (`webhook.test`, an alert sent to a policy's endpoint).
    endpoint = models.ForeignKey(
        "WebhookEndpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(
                fields=["enqueued_at"],
                name="event_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict:
        """The body every receiver gets: `{id, type, created_at, data}`."""
        return {
            "id": str(self.id),
            "type": self.type,
            "created_at": self.created_at.isoformat(),
            "data": self.data,
        }


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    # The event types it receives; empty: all of them.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    # Signing secrets, encrypted at rest (landed.security.secrets). After a rotation the previous
    # one keeps signing, beside the new one, until `previous_secret_expires_at`.
    encrypted_secret = models.TextField(editable=False)
    encrypted_previous_secret = models.TextField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Since when every attempt has failed (cleared by a success); an endpoint failing for
    # WEBHOOK_DISABLE_AFTER_SECONDS is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    # One attempt at a time per endpoint, across every worker (webhooks/isolation.py): the
    # delivery being attempted and until when its worker holds the endpoint (a killed worker's
    # hold lapses).
    in_flight_delivery = models.UUIDField(null=True, blank=True, editable=False)
    in_flight_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The circuit breaker: attempts timed out in a row (any other outcome resets it), and,
    # once they reach WEBHOOK_BREAKER_TIMEOUTS, until when no attempt is made.
    consecutive_timeouts = models.PositiveIntegerField(default=0, editable=False)
    breaker_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its first or next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts exhausted, or the endpoint was disabled or deleted


class Delivery(models.Model):
    """One event to one endpoint, over as many attempts as it takes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the delivery until then while it makes an attempt; a worker killed
    # mid-attempt lets it go, and the sweep hands it to another.
    locked_until = models.DateTimeField(null=True, blank=True)
    # When the sweep last put it on the queue (it does not flood the queue with copies).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="pending"),
            ),
            # An endpoint's next delivery, the oldest pending one (webhooks/isolation.py).
            models.Index(
                fields=["endpoint", "created_at"],
                name="delivery_pending_by_endpoint",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """The log line of one HTTP attempt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.FloatField()
    response_excerpt = models.TextField(blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-attempt"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.attempt}: {self.status_code or self.error}"


# Django registers an app's models by importing each app's `models` module; once all are
# imported the registry is complete, and relations, `get_model()`, migrations and the admin's
# autodiscovery rely on that. The alert models live in their sub-package but belong to this app,
# so they are imported here, not from `WebhooksConfig.ready()`, which may run after another app
# has read the registry. Last, so that they register after the models above as they did before
# the move (the order Django collects related rows in on a delete follows it).
from webhooks.alerts import models as alert_models  # noqa: E402, F401
