"""After commit: an event fanned out to the endpoints that want it and to the alert policies,
exactly once (the event row is locked and marked in the same transaction); and the sweep that
makes sure nothing committed is left behind."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from landed.db import delete_in_batches
from landed.tasks import enqueue
from webhooks import isolation
from webhooks.alerts.channels import emails_requeue
from webhooks.alerts.evaluation import alerts_for_event
from webhooks.alerts.models import Notification
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

logger = logging.getLogger("webhooks.dispatch")


def event_dispatch(*, event_id: Any) -> list[str]:
    """Create the event's deliveries and evaluate the alert policies, once. Returns the ids
    of the deliveries created. After commit, each endpoint that is free (no attempt in flight,
    breaker closed) gets its next delivery on the queue; a busy one gets it from the attempt in
    flight when that ends, a held one from the sweep when its cooldown ends: a hanging
    endpoint's backlog does not wait on the queue ahead of everyone else's deliveries."""
    now = timezone.now()
    with transaction.atomic():
        event = (
            Event.objects.select_for_update(skip_locked=True)
            .filter(id=event_id, dispatched_at__isnull=True)
            .first()
        )
        if event is None:
            return []  # already dispatched (a duplicate message), or being dispatched
        if event.endpoint_id is not None:
            endpoints = WebhookEndpoint.objects.filter(id=event.endpoint_id, enabled=True)
        else:
            endpoints = WebhookEndpoint.objects.filter(account_id=event.account_id, enabled=True)
        wanted = [e for e in endpoints if event.endpoint_id or e.wants(event.type)]
        existing = set(Delivery.objects.filter(event=event).values_list("endpoint_id", flat=True))
        created = Delivery.objects.bulk_create(
            [
                Delivery(endpoint=e, event=event, next_attempt_at=now)
                for e in wanted
                if e.id not in existing
            ]
        )
        # An alert that cannot be evaluated (a bad policy, a bug) must not hold back the
        # event's deliveries: raised here, the dispatch would roll back and the sweep retry
        # it forever. Its savepoint undoes what it wrote; the error is logged. A transient
        # database error (a deadlock, a lost connection) is raised: the sweep retries it all.
        try:
            with transaction.atomic():
                alerts_for_event(event=event)
        except OperationalError:
            raise
        except Exception:
            logger.exception("webhooks.alert_evaluation_failed event=%s", event.id)
        event.dispatched_at = now
        event.save(update_fields=["dispatched_at"])
        ids = [str(d.id) for d in created]
        endpoint_ids = [d.endpoint_id for d in created]
        transaction.on_commit(lambda: endpoints_handoff(endpoint_ids))
    logger.info("webhooks.event_dispatched event=%s deliveries=%s", event_id, len(ids))
    return ids


def endpoints_handoff(endpoint_ids: list[Any]) -> None:
    for endpoint_id in endpoint_ids:
        isolation.endpoint_handoff(endpoint_id=endpoint_id)


def deliveries_enqueue(ids: list[str]) -> None:
    for delivery_id in ids:
        try:
            enqueue("webhooks.deliver", delivery_id)
        except Exception:
            logger.exception("webhooks.enqueue_failed delivery=%s", delivery_id)
            return  # the sweep enqueues them again


def webhooks_sweep() -> dict[str, int]:
    """Enqueue what is due and not on the queue: events never dispatched, deliveries whose
    retry time has come (or whose endpoint's breaker has closed), deliveries whose message or
    worker was lost, alert emails not sent."""
    now = timezone.now()
    lost = now - timedelta(seconds=settings.WEBHOOK_LOST_AFTER_SECONDS)
    events = list(
        Event.objects.filter(dispatched_at__isnull=True, enqueued_at__lt=lost)
        .order_by("enqueued_at")
        .values_list("id", flat=True)[:500]
    )
    Event.objects.filter(id__in=events).update(enqueued_at=now)
    for event_id in events:
        enqueue("webhooks.dispatch_event", str(event_id))
    stuck = now - timedelta(
        seconds=max(settings.WEBHOOK_LOCK_SECONDS, settings.WEBHOOK_LOST_AFTER_SECONDS)
    )
    # One per endpoint (its oldest due), and none for an endpoint with an attempt in flight or
    # its breaker open: that attempt hands the endpoint over when it ends, and a held
    # endpoint's deliveries wait for its cooldown (webhooks/isolation.py).
    due = (
        isolation.due_heads(now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stuck))
        .order_by("next_attempt_at")
    )
    ids = [str(i) for i in due.values_list("id", flat=True)[:1000]]
    Delivery.objects.filter(id__in=ids).update(enqueued_at=now)
    deliveries_enqueue(ids)
    emails = emails_requeue(now=now, lost_after_seconds=settings.WEBHOOK_LOST_AFTER_SECONDS)
    return {"events": len(events), "deliveries": len(ids), "emails": emails}


def webhooks_prune(*, now: Any = None) -> dict[str, int]:
    """Delete events (with their deliveries and attempts) older than WEBHOOK_RETENTION_DAYS,
    and read or email-only notifications older than that; 0 keeps everything."""
    days = settings.WEBHOOK_RETENTION_DAYS
    if days <= 0:
        return {"events": 0, "notifications": 0}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old_attempts = DeliveryAttempt.objects.filter(created_at__lt=cutoff)
    delete_in_batches(old_attempts, DeliveryAttempt)
    events = delete_in_batches(
        Event.objects.filter(created_at__lt=cutoff).exclude(dispatched_at__isnull=True), Event
    )
    # Read ones, and those never shown in the app (sent by email or webhook only).
    done = Notification.objects.filter(created_at__lt=cutoff).filter(
        Q(read_at__isnull=False) | Q(in_app=False)
    )
    notifications = delete_in_batches(done, Notification)
    return {"events": events, "notifications": notifications}
