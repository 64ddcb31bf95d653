"""Reads of webhook endpoints, their secrets and their delivery log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from landed.accounts.models import Account
from landed.api.errors import NotFoundError
from landed.security.secrets import decrypt_secrets
from webhooks.models import DeliveryAttempt, WebhookEndpoint


def webhook_list(*, account: Account) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(account=account).order_by("-created_at", "id")


def webhook_get(*, account: Account, webhook_id: Any) -> WebhookEndpoint:
    endpoint = webhook_list(account=account).filter(id=webhook_id).first()
    if endpoint is None:
        raise NotFoundError("Webhook endpoint not found")
    return endpoint


def webhook_secret(*, endpoint: WebhookEndpoint, now: Any = None) -> dict[str, Any]:
    """The current secret, and until when the one it replaced keeps signing (None when it no
    longer does, or there is none)."""
    now = now or timezone.now()
    expires = endpoint.previous_secret_expires_at
    in_force = bool(endpoint.encrypted_previous_secret) and expires is not None and expires > now
    return {
        "secret": decrypt_secrets(endpoint.encrypted_secret)["secret"],
        "previous_secret_expires_at": expires if in_force else None,
    }


def webhook_attempt_list(
    *, endpoint: WebhookEndpoint, event_id: Any = None, succeeded: bool | None = None
) -> QuerySet[DeliveryAttempt]:
    """The endpoint's delivery log, newest first."""
    attempts = DeliveryAttempt.objects.filter(endpoint=endpoint)
    if event_id is not None:
        attempts = attempts.filter(event_id=event_id)
    if succeeded is not None:
        attempts = attempts.filter(succeeded=succeeded)
    return attempts.order_by("-created_at", "-attempt", "id")
