"""Writes and actions on webhook endpoints: create, change, delete, rotate the secret, test;
and sending a delivery again."""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from landed.accounts.models import Account
from landed.api.errors import ConflictError, NotFoundError
from landed.api.validation import invalid
from landed.security import network
from landed.security.secrets import encrypt_secrets
from webhooks import delivery, isolation, signing
from webhooks.dispatch import deliveries_enqueue
from webhooks.events import EventType, event_raise
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint

logger = logging.getLogger("webhooks")

MAX_ENDPOINTS_PER_ACCOUNT = 20
HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$", re.IGNORECASE)
TEST_MESSAGE = "A test event from Landed: your endpoint is reachable and verifies signatures."


def webhook_url_check(url: str) -> None:
    """422 on `url` unless it is an absolute http(s) URL with a host, https where the server
    requires it, without credentials, to a host the network policy allows."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise invalid(["url"], "The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise invalid(["url"], "Input should be a valid URL.", "url_parsing") from exc
    scheme = parts.scheme.lower()
    allowed = ("https",) if settings.WEBHOOK_REQUIRE_HTTPS else ("https", "http")
    if scheme not in allowed:
        schemes = " or ".join(f"{s}://" for s in allowed)
        raise invalid(["url"], f"The URL must start with {schemes}.", "url_scheme")
    if not host or not _valid_host(host, bracketed="[" in parts.netloc):
        raise invalid(["url"], "The URL must name a valid host.", "url_parsing")
    if port == 0:
        raise invalid(["url"], "The URL's port must be between 1 and 65535.", "url_parsing")
    if "@" in parts.netloc:
        raise invalid(
            ["url"], "The URL must not carry a user or password.", "url_credentials_not_allowed"
        )
    problem = network.host_problem(host, port or (443 if scheme == "https" else 80))
    if problem:
        raise invalid(["url"], problem, "host_not_allowed")


def _valid_host(host: str, *, bracketed: bool) -> bool:
    """An IPv6 literal in brackets (no zone), or a name (or IPv4) that encodes to DNS labels."""
    if bracketed:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return address.scope_id is None  # a zone (`%eth0`) names this server's interface
    try:
        ascii_host = host.encode("idna").decode()
    except UnicodeError:
        return False  # an empty label, or one longer than 63 characters
    return HOST_NAME.match(ascii_host) is not None


def webhook_create(
    *,
    account: Account,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (the only time it is returned unasked)."""
    webhook_url_check(url)
    secret = signing.secret_generate()
    with transaction.atomic():
        # The account's row serialises concurrent creates, so that the limit holds.
        Account.objects.select_for_update().filter(id=account.id).first()
        if WebhookEndpoint.objects.filter(account=account).count() >= MAX_ENDPOINTS_PER_ACCOUNT:
            raise ConflictError(
                "Too many webhook endpoints.",
                f"An account has at most {MAX_ENDPOINTS_PER_ACCOUNT}: delete one first "
                "(one endpoint can receive every event type).",
            )
        endpoint = WebhookEndpoint.objects.create(
            account=account,
            url=url,
            description=description,
            event_types=list(event_types or []),
            enabled=enabled,
            encrypted_secret=encrypt_secrets({"secret": secret}),
        )
    logger.info("webhooks.endpoint_created endpoint=%s", endpoint.id)
    return endpoint, secret


def webhook_update(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    """A partial update of url, description, event_types and enabled. Enabling a disabled
    endpoint, or changing its URL, clears its failure streak and closes its breaker (enabling
    also clears why and since when it was disabled)."""
    if "url" in data:
        webhook_url_check(data["url"])
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(id=endpoint.id)
        changed = [name for name in ("url", "description", "event_types") if name in data]
        if "url" in data and data["url"] != current.url:
            # Another receiver: the old one's failure streak must not disable it at its first
            # failed attempt, nor its timeouts hold its deliveries.
            current.failing_since = None
            changed += ["failing_since", *isolation.breaker_reset(current)]
        for name in ("url", "description", "event_types"):
            if name in data:
                setattr(current, name, data[name])
        if "enabled" in data:
            if data["enabled"] and not current.enabled:
                current.disabled_at = None
                current.disabled_reason = ""
                current.failing_since = None
                changed += ["disabled_at", "disabled_reason", "failing_since"]
                changed += isolation.breaker_reset(current)
            current.enabled = data["enabled"]
            changed.append("enabled")
        current.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    return current


def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries (pending ones included) and their log. The row
    is locked first, as an attempt being logged locks it (neither misses the other)."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().filter(id=endpoint.id).first()
        if locked is not None:
            locked.delete()
    logger.info("webhooks.endpoint_deleted endpoint=%s", endpoint.id)


def webhook_rotate_secret(*, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """A new current secret; the one it replaces keeps signing beside it for
    WEBHOOK_SECRET_OVERLAP_SECONDS (a second rotation replaces that previous one)."""
    secret = signing.secret_generate()
    overlap = timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS)
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(id=endpoint.id)
        current.encrypted_previous_secret = current.encrypted_secret
        current.previous_secret_expires_at = timezone.now() + overlap
        current.encrypted_secret = encrypt_secrets({"secret": secret})
        current.save(
            update_fields=[
                "encrypted_secret",
                "encrypted_previous_secret",
                "previous_secret_expires_at",
                "updated_at",
            ]
        )
    logger.info("webhooks.secret_rotated endpoint=%s", endpoint.id)
    return current, secret


def webhook_test(*, endpoint: WebhookEndpoint) -> dict[str, Any]:
    """Send a `webhook.test` event to the endpoint now (enabled or not) and return the
    attempt's outcome. The event and its delivery commit together, so the dispatcher finds
    the delivery made and adds none; the one attempt is final (no retries)."""
    now = timezone.now()
    with transaction.atomic():
        event = event_raise(
            account_id=endpoint.account_id,
            type=EventType.WEBHOOK_TEST,
            data={
                "webhook": {"id": str(endpoint.id), "url": endpoint.url},
                "message": TEST_MESSAGE,
            },
            endpoint=endpoint,
        )
        # enqueued_at: the sweep leaves it to this request.
        test_delivery = Delivery.objects.create(
            endpoint=endpoint, event=event, next_attempt_at=now, enqueued_at=now
        )
    attempt = delivery.delivery_attempt(delivery_id=test_delivery.id, retries=False)
    if attempt is None:
        # Another process holds the delivery (or deleted the endpoint): report what is known.
        attempt = DeliveryAttempt.objects.filter(delivery_id=test_delivery.id).first()
    if attempt is None:
        return {
            "delivery_id": test_delivery.id,
            "event_id": event.id,
            "succeeded": False,
            "status_code": None,
            "duration_ms": None,
            "response_excerpt": "",
            "error": "The test delivery was not attempted by this request; see the "
            "endpoint's deliveries.",
        }
    return {
        "delivery_id": test_delivery.id,
        "event_id": event.id,
        "succeeded": attempt.succeeded,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
    }


def delivery_redeliver(*, delivery_id: Any) -> Delivery:
    """Send a delivery again now, whatever its status: a succeeded one is resent (its attempt
    numbers continue). 409 while its endpoint is disabled (enable it again first) or while a
    worker is making an attempt (the new one would race it)."""
    now = timezone.now()
    with transaction.atomic():
        redelivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if redelivery is None:
            raise NotFoundError("Delivery not found.")
        if not redelivery.endpoint.enabled:
            raise ConflictError(
                f"Its endpoint {redelivery.endpoint.url} is disabled; enable it again first."
            )
        if redelivery.locked_until is not None and redelivery.locked_until > now:
            raise ConflictError("An attempt is in progress.")
        redelivery.status = DeliveryStatus.PENDING
        redelivery.next_attempt_at = now
        redelivery.finished_at = None
        redelivery.locked_until = None
        redelivery.enqueued_at = now
        redelivery.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "finished_at",
                "locked_until",
                "enqueued_at",
            ]
        )
        # After commit, so that the worker finds it pending; a lost message is enqueued again
        # by the sweep.
        ids = [str(redelivery.id)]
        transaction.on_commit(lambda: deliveries_enqueue(ids))
    logger.info("webhooks.redelivery_queued delivery=%s", redelivery.id)
    return redelivery
