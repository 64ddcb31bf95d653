"""One endpoint's trouble stays its own.

A receiver that hangs holds the worker making its attempt until the deadline
(WEBHOOK_TIMEOUT_SECONDS). Two rules keep that from reaching anyone else's deliveries:

- **One attempt at a time per endpoint**, across every worker process: a worker takes the
  endpoint's row (`in_flight_delivery`, `in_flight_until`, a conditional UPDATE, so it holds on
  PostgreSQL and SQLite alike, with no lock server) before it sends. A delivery whose endpoint
  is busy is put back at once, without waiting in the worker: the attempt in flight hands the
  endpoint to its next due delivery when it ends (`endpoint_handoff`), and the sweep does when
  a message was lost. A hanging endpoint therefore holds one worker slot at most, whatever
  the number of its deliveries waiting.
- **A circuit breaker**: after WEBHOOK_BREAKER_TIMEOUTS attempts in a row that timed out, the
  endpoint is held (`breaker_open_until`) for a cooldown that doubles with each further
  timeout, up to WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS. Its deliveries wait, pending and in
  order, and no attempt is counted against them; when the cooldown ends, one attempt (the
  oldest due delivery: the one attempt at a time makes it the only one) probes the endpoint.
  Any answer closes the breaker and the rest follow; another timeout holds it again, longer.

A `webhook.test` goes around both: it is sent from the request that asks for it (no worker),
and is how a customer who fixed the receiver closes the breaker at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from landed.tasks import enqueue
from webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint

logger = logging.getLogger("webhooks.isolation")


class Gate(StrEnum):
    TAKEN = "taken"  # this delivery may be attempted now
    BUSY = "busy"  # another attempt to the endpoint is in flight
    HELD = "held"  # the breaker is open


class BreakerState(StrEnum):
    CLOSED = "closed"  # attempts are made as they come
    OPEN = "open"  # no attempt until `open_until`
    HALF_OPEN = "half_open"  # the cooldown is over: the next attempt is the probe


def attempt_hold_seconds() -> float:
    """How long a worker holds a delivery (and its endpoint) for one attempt: at least as long
    as an attempt can take, so that a hold lapsing mid-attempt cannot let a second worker in."""
    return max(
        settings.WEBHOOK_LOCK_SECONDS,
        settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LOCK_MARGIN_SECONDS,
    )


def _not_held(now: datetime) -> Q:
    return Q(breaker_open_until__isnull=True) | Q(breaker_open_until__lte=now)


def _free(now: datetime) -> Q:
    """Endpoints with no attempt in flight (or one whose worker was lost) and not held."""
    return (Q(in_flight_until__isnull=True) | Q(in_flight_until__lt=now)) & _not_held(now)


def endpoint_take(*, endpoint_id: Any, delivery_id: Any, now: datetime) -> Gate:
    """Take the endpoint for the delivery's attempt, or say why not."""
    until = now + timedelta(seconds=attempt_hold_seconds())
    # The delivery that holds it may take it again (its worker was lost, its claim lapsed a
    # moment before the endpoint's hold did).
    taken = (
        WebhookEndpoint.objects.filter(id=endpoint_id)
        .filter(_free(now) | (Q(in_flight_delivery=delivery_id) & _not_held(now)))
        .update(in_flight_delivery=delivery_id, in_flight_until=until)
    )
    if taken:
        return Gate.TAKEN
    held = WebhookEndpoint.objects.filter(id=endpoint_id, breaker_open_until__gt=now).exists()
    return Gate.HELD if held else Gate.BUSY


def endpoint_release(*, endpoint_id: Any, delivery_id: Any) -> None:
    """Give the endpoint back, if this delivery still holds it (a hold that lapsed and was
    taken by another attempt is that attempt's)."""
    WebhookEndpoint.objects.filter(id=endpoint_id, in_flight_delivery=delivery_id).update(
        in_flight_delivery=None, in_flight_until=None
    )


def breaker_record(*, endpoint_id: Any, timed_out: bool, now: datetime) -> None:
    """Count the attempt's outcome: a timeout lengthens the streak (and opens the breaker at
    WEBHOOK_BREAKER_TIMEOUTS), anything else ends it and closes the breaker."""
    endpoints = WebhookEndpoint.objects.filter(id=endpoint_id)
    if not timed_out:
        endpoints.filter(
            Q(consecutive_timeouts__gt=0) | Q(breaker_open_until__isnull=False)
        ).update(consecutive_timeouts=0, breaker_open_until=None)
        return
    endpoints.update(consecutive_timeouts=F("consecutive_timeouts") + 1)
    streak = endpoints.values_list("consecutive_timeouts", flat=True).first() or 0
    threshold = settings.WEBHOOK_BREAKER_TIMEOUTS
    if threshold <= 0 or streak < threshold:
        return
    cooldown = min(
        settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS * 2 ** min(streak - threshold, 30),
        settings.WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS,
    )
    endpoints.update(breaker_open_until=now + timedelta(seconds=cooldown))
    logger.warning(
        "webhooks.breaker_opened endpoint=%s timeouts=%s cooldown=%gs",
        endpoint_id,
        streak,
        cooldown,
    )


def breaker_state(endpoint: WebhookEndpoint, now: datetime | None = None) -> BreakerState:
    now = now or timezone.now()
    if endpoint.breaker_open_until is None:
        return BreakerState.CLOSED
    if endpoint.breaker_open_until > now:
        return BreakerState.OPEN
    return BreakerState.HALF_OPEN


def breaker_reset(endpoint: WebhookEndpoint) -> list[str]:
    """Close the breaker on the instance (a new URL, an endpoint enabled again); the fields
    to save."""
    endpoint.consecutive_timeouts = 0
    endpoint.breaker_open_until = None
    return ["consecutive_timeouts", "breaker_open_until"]


def due_heads(now: datetime) -> QuerySet[Delivery]:
    """Per endpoint that is free, the due pending delivery to attempt next: the oldest (by its
    event), so that deliveries held by the breaker or waiting for their turn go out in the
    order they were made. Sending the others too would only have them find the endpoint busy."""
    head = _due(now).filter(endpoint_id=OuterRef("endpoint_id")).order_by("created_at", "id")
    free = WebhookEndpoint.objects.filter(_free(now)).values("id")
    return _due(now).filter(endpoint_id__in=free, id=Subquery(head.values("id")[:1]))


def _due(now: datetime) -> QuerySet[Delivery]:
    return Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)


def endpoint_handoff(*, endpoint_id: Any) -> str | None:
    """Put the endpoint's next due delivery on the queue, when the endpoint is free for it:
    after an attempt, and after new deliveries commit. The id sent, if any.

    Called after the release (or the commit), it cannot miss a delivery: a delivery that
    committed before it is found here; one that commits after it finds the endpoint free
    when its own dispatch calls this."""
    now = timezone.now()
    if not WebhookEndpoint.objects.filter(id=endpoint_id).filter(_free(now)).exists():
        return None
    due = _due(now).filter(endpoint_id=endpoint_id).order_by("created_at", "id")
    head = due.values_list("id", flat=True).first()
    if head is None:
        return None
    Delivery.objects.filter(id=head).update(enqueued_at=now)
    try:
        enqueue("webhooks.deliver", str(head))
    except Exception:
        # The broker is down: the sweep sends it at its next run.
        Delivery.objects.filter(id=head).update(enqueued_at=None)
        logger.exception("webhooks.enqueue_failed delivery=%s", head)
        return None
    return str(head)
