"""Delivering an event to an endpoint: one signed HTTP POST per attempt, logged, retried with
exponential backoff and jitter until it succeeds or the attempts run out.

An attempt is made by a worker that first claims the delivery (`locked_until`): two workers
never make the same attempt at once, and a worker killed mid-attempt lets the claim lapse so
that the sweep hands the delivery to another. Delivery is therefore at least once: a receiver
may see an event twice (the same `Landed-Delivery-Id`) and should treat it as one.

Then it takes the endpoint (`webhooks.isolation`): one attempt at a time per endpoint, none
while its circuit breaker is open, so that a receiver that hangs holds one worker at most.

The deadline (WEBHOOK_TIMEOUT_SECONDS) bounds the whole of connect, headers and the first KiB
of the body (all of it when shorter) by the clock, not each socket read: a receiver that
answers 200 and then trickles its body misses it, and that is a timeout, retried.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from landed.security import network
from landed.security.outbound import (
    CURRENT_WATCH,
    AddressNotAllowedError,
    DeadlineExceeded,
    Watch,
    error_cause,
    is_timeout,
    read_chunks,
    session,
    watch_connections,
)
from landed.security.secrets import decrypt_secrets
from webhooks import isolation, signing
from webhooks.alerts.models import Notification
from webhooks.events import EventType, event_raise
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint

logger = logging.getLogger("webhooks.delivery")

USER_AGENT = "Landed-Webhooks/1.0"
# What of a response body the log keeps (and reads: the rest is never downloaded).
EXCERPT_BYTES = 1024


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: float
    excerpt: str
    error: str
    # The deadline passed (connecting, waiting for the headers, or reading the first KiB):
    # a failure whatever the status, and what the circuit breaker counts.
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return not self.timed_out and self.status_code is not None and 200 <= self.status_code < 300


def retry_delay_seconds(attempts_made: int) -> float:
    """The wait after the `attempts_made`-th failed attempt: exponential from the base, capped,
    with "equal jitter" (half fixed, half random) so that retries of many deliveries that
    failed together (a receiver's outage) do not come back together."""
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(attempts_made - 1, 0))
    delay = min(delay, settings.WEBHOOK_RETRY_MAX_SECONDS)
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not a secret)


def secrets_in_force(endpoint: WebhookEndpoint, now: Any = None) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    now = now or timezone.now()
    current = [decrypt_secrets(endpoint.encrypted_secret)["secret"]]
    expires = endpoint.previous_secret_expires_at
    if endpoint.encrypted_previous_secret and expires and expires > now:
        current.append(decrypt_secrets(endpoint.encrypted_previous_secret)["secret"])
    return current


def body_of(event: Event) -> bytes:
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


def post(endpoint: WebhookEndpoint, event: Event, delivery_id: Any) -> Outcome:
    """One signed POST of the event, within WEBHOOK_TIMEOUT_SECONDS by the clock from start to
    end (connect, headers, and the first KiB of the body, or all of it when shorter), never to
    an address the network policy refuses, never following a redirect (a 3xx is a failed
    attempt). Missing the deadline is a timeout, whatever the status already received."""
    body = body_of(event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.signature_header(
            secrets_in_force(endpoint), timestamp, body
        ),
        signing.EVENT_TYPE_HEADER: event.type,
        signing.EVENT_ID_HEADER: str(event.id),
        signing.DELIVERY_ID_HEADER: str(delivery_id),
    }
    seconds = settings.WEBHOOK_TIMEOUT_SECONDS
    http = session(allow_private_networks=network.private_allowed(), timeout=seconds)
    watch_connections(http)
    started = time.monotonic()
    watch = Watch(seconds)
    reset = CURRENT_WATCH.set(watch)
    response: requests.Response | None = None
    try:
        try:
            response = http.post(endpoint.url, data=body, headers=headers, stream=True)
            excerpt = _excerpt(response, started + seconds, seconds)
            # The watchdog cut the socket: what read as the end of the body was the deadline.
            if watch.stop():
                raise DeadlineExceeded(seconds)
        except Exception as exc:
            if watch.stop() and not isinstance(exc, DeadlineExceeded):
                raise DeadlineExceeded(seconds) from exc
            raise
        finally:
            watch.stop()
            CURRENT_WATCH.reset(reset)
            http.close()
    except AddressNotAllowedError as exc:
        return Outcome(None, _ms(started), "", str(exc))
    except (requests.RequestException, ValueError) as exc:
        # ValueError: a host name that cannot be encoded (UnicodeError from IDNA) is a failed
        # attempt, not a crash that leaves the delivery unrecorded and retried for ever.
        # The status stays when the headers came and the body missed the deadline.
        status = response.status_code if response is not None else None
        error = error_cause(exc, endpoint.url, seconds)[:500]
        return Outcome(status, _ms(started), "", error, timed_out=is_timeout(exc))
    error = ""
    if 300 <= response.status_code < 400:
        error = "Redirects are not followed: give the endpoint's final URL."
    elif not 200 <= response.status_code < 300:
        error = f"The endpoint answered HTTP {response.status_code}."
    return Outcome(response.status_code, _ms(started), excerpt, error)


def _excerpt(response: requests.Response, deadline: float, seconds: float) -> str:
    """The first KiB of the body (all of it when shorter), read by the deadline: a timeout
    raises; a body cut short or undecodable is what arrived of it (the status is what counts)."""
    content = bytearray()
    try:
        for chunk in read_chunks(response, deadline, seconds):
            content += chunk
            if len(content) >= EXCERPT_BYTES:
                break
    except requests.Timeout:
        raise
    except requests.RequestException:
        pass
    finally:
        response.close()
    return bytes(content[:EXCERPT_BYTES]).decode("utf-8", errors="replace")


def _storable(text: str) -> str:
    """PostgreSQL's text refuses NUL: a receiver answering one (or an error quoting it) must
    not make the attempt unrecordable, and the delivery retried for ever."""
    return text.replace("\x00", "\ufffd")


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def delivery_claim(*, delivery_id: Any) -> Delivery | None:
    """Take the delivery for one attempt; None when it is not due, finished, or another
    worker holds it."""
    now = timezone.now()
    # Held at least as long as an attempt can take: a claim lapsing mid-attempt would let a
    # second worker make the same attempt at the same time.
    hold = isolation.attempt_hold_seconds()
    claimed = (
        Delivery.objects.filter(
            id=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + timedelta(seconds=hold))
    )
    if not claimed:
        return None
    # None when its endpoint was deleted meanwhile (the delivery went with it).
    return Delivery.objects.select_related("endpoint", "event").filter(id=delivery_id).first()


def delivery_attempt(*, delivery_id: Any, retries: bool = True) -> DeliveryAttempt | None:
    """Make one attempt of a due delivery and log it. `retries=False` (a test delivery) makes
    a failed attempt final. None when there was nothing to do, or the endpoint could not take
    the attempt now (another is in flight, or its breaker is open): the delivery is put back,
    pending, for the endpoint's next turn."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    is_test = delivery.event.type == "webhook.test"
    # Only a test is sent to a disabled endpoint (an alert's event, to one endpoint too, is not).
    if not endpoint.enabled and not is_test:
        _give_up(delivery, "The endpoint is disabled.")
        return None
    # A test is sent by the request that asks for it, not by a worker: it takes no turn.
    if not is_test:
        gate = isolation.endpoint_take(
            endpoint_id=endpoint.id, delivery_id=delivery.id, now=timezone.now()
        )
        if gate != isolation.Gate.TAKEN:
            _put_back(delivery, gate)
            return None
    try:
        outcome = post(endpoint, delivery.event, delivery.id)
        # A test is one attempt, also when the sweep makes it (the request that began it died).
        retries = retries and not is_test
        attempt = delivery_record(delivery=delivery, outcome=outcome, retries=retries)
    finally:
        # Recorded or not (an error): the endpoint's turn passes to its next delivery.
        isolation.endpoint_release(endpoint_id=endpoint.id, delivery_id=delivery.id)
    isolation.endpoint_handoff(endpoint_id=endpoint.id)
    return attempt


def _put_back(delivery: Delivery, gate: isolation.Gate) -> None:
    """Release the claim without an attempt (none is counted), and leave the delivery off the
    queue: the attempt in flight hands the endpoint to its oldest due delivery when it ends,
    and the sweep sends that of an endpoint whose breaker has closed again."""
    Delivery.objects.filter(id=delivery.id, locked_until=delivery.locked_until).update(
        locked_until=None, enqueued_at=None
    )
    if gate == isolation.Gate.BUSY:
        # The attempt in flight may have ended, and found nothing due to hand over to (this
        # delivery was claimed), between the claim and now.
        isolation.endpoint_handoff(endpoint_id=delivery.endpoint_id)
    logger.info(
        "webhooks.delivery_waits delivery=%s endpoint=%s reason=%s",
        delivery.id,
        delivery.endpoint_id,
        gate,
    )


def delivery_record(
    *, delivery: Delivery, outcome: Outcome, retries: bool
) -> DeliveryAttempt | None:
    """Log the attempt and settle or reschedule the delivery; None when the delivery went
    meanwhile (its endpoint was deleted)."""
    now = timezone.now()
    with transaction.atomic():
        # The endpoint first, as a delete does: a delete and this record then wait for each
        # other, rather than the delete missing the attempt logged meanwhile.
        endpoint = WebhookEndpoint.objects.select_for_update().filter(id=delivery.endpoint_id)
        current = Delivery.objects.select_for_update().filter(id=delivery.id).first()
        if endpoint.first() is None or current is None:
            return None
        number = current.attempts + 1
        next_retry_at = None
        if outcome.succeeded:
            current.status = DeliveryStatus.SUCCEEDED
            current.finished_at = now
        elif retries and number < settings.WEBHOOK_MAX_ATTEMPTS:
            next_retry_at = now + timedelta(seconds=retry_delay_seconds(number))
            current.next_attempt_at = next_retry_at
        else:
            current.status = DeliveryStatus.FAILED
            current.finished_at = now
        current.attempts = number
        current.locked_until = None
        current.enqueued_at = None
        current.save(
            update_fields=[
                "status",
                "finished_at",
                "attempts",
                "next_attempt_at",
                "locked_until",
                "enqueued_at",
            ]
        )
        attempt = DeliveryAttempt.objects.create(
            delivery=current,
            endpoint_id=current.endpoint_id,
            event_id=current.event_id,
            event_type=delivery.event.type,
            attempt=number,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            response_excerpt=_storable(outcome.excerpt),
            error=_storable(outcome.error)[:500],
            next_retry_at=next_retry_at,
        )
        isolation.breaker_record(
            endpoint_id=current.endpoint_id, timed_out=outcome.timed_out, now=now
        )
        _endpoint_health(current.endpoint_id, outcome.succeeded, now)
    logger.info(
        "webhooks.attempt delivery=%s attempt=%s status=%s ok=%s",
        delivery.id,
        number,
        outcome.status_code,
        outcome.succeeded,
    )
    return attempt


def _endpoint_health(endpoint_id: Any, succeeded: bool, now: Any) -> None:
    """A success clears the endpoint's failing streak; a failure starts one, or disables the
    endpoint when the streak has lasted WEBHOOK_DISABLE_AFTER_SECONDS."""
    if succeeded:
        WebhookEndpoint.objects.filter(id=endpoint_id, failing_since__isnull=False).update(
            failing_since=None
        )
        return
    WebhookEndpoint.objects.filter(id=endpoint_id, failing_since__isnull=True).update(
        failing_since=now
    )
    endpoint = WebhookEndpoint.objects.select_for_update().get(id=endpoint_id)
    limit = timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    if endpoint.enabled and endpoint.failing_since and now - endpoint.failing_since >= limit:
        endpoint_disable(endpoint=endpoint, now=now)


def endpoint_disable(*, endpoint: WebhookEndpoint, now: Any = None) -> None:
    """Disable a failing endpoint, give up its pending deliveries, and say so (an in-app
    notification and a `webhook.disabled` event to the account's other endpoints)."""
    now = now or timezone.now()
    hours = settings.WEBHOOK_DISABLE_AFTER_SECONDS / 3600
    reason = f"Every delivery attempt failed for {hours:g} hours."
    with transaction.atomic():
        endpoint.enabled = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = reason
        endpoint.save(update_fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
        # A delivery another worker is recording holds its row and waits for this endpoint's:
        # waiting for it here would deadlock. It is left out; its next attempt finds the endpoint
        # disabled and gives up.
        pending = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
            .values_list("id", flat=True)
        )
        Delivery.objects.filter(id__in=pending).update(
            status=DeliveryStatus.FAILED, finished_at=now, locked_until=None
        )
        Notification.objects.create(
            account_id=endpoint.account_id,
            kind="webhook_disabled",
            title=f"Webhook endpoint disabled: {endpoint.url}",
            message=f"{reason} Fix the endpoint, then enable it again (PATCH enabled=true).",
            data={"webhook_id": str(endpoint.id), "url": endpoint.url},
        )
        event_raise(
            account_id=endpoint.account_id,
            type=EventType.WEBHOOK_DISABLED,
            # The host only: a URL's path or query may carry the receiver's token, and this event
            # goes to the account's other receivers.
            data={
                "webhook": {"id": str(endpoint.id), "host": _host(endpoint.url)},
                "reason": reason,
            },
        )
    logger.warning("webhooks.endpoint_disabled endpoint=%s", endpoint.id)


def _give_up(delivery: Delivery, reason: str) -> None:
    Delivery.objects.filter(id=delivery.id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, finished_at=timezone.now(), locked_until=None
    )
    logger.info("webhooks.delivery_dropped delivery=%s reason=%s", delivery.id, reason)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
