"""The channels a notification goes out through besides the in-app list: email (sent by a
worker after commit, once) and the policy's webhook endpoint (an `alert.triggered` event)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from landed.tasks import enqueue
from webhooks.alerts.models import Notification, NotificationPolicy
from webhooks.events import EventType, event_raise
from webhooks.models import Event

logger = logging.getLogger("webhooks.alerts")

SUBJECT_PREFIX = "[Landed] "
# Sends of one notification's email before it is given up.
EMAIL_MAX_ATTEMPTS = 5


def notification_deliver(
    *,
    policy: NotificationPolicy,
    notification: Notification,
    condition: str,
    connector: dict[str, Any] | None,
) -> Event | None:
    """Send a notification just written (in the caller's transaction) to the policy's other
    channels: its email goes out after commit, its webhook event commits with it. Returns the
    webhook event, if any."""
    if notification.email_recipients:
        email_enqueue(notification=notification)
    return alert_webhook_raise(
        policy=policy, notification=notification, condition=condition, connector=connector
    )


def email_enqueue(*, notification: Notification) -> None:
    """Put the notification's email on the queue once the current transaction commits."""
    notification_id = str(notification.id)
    # Marks the email as owed: the sweep sends it again if this message is lost.
    Notification.objects.filter(id=notification.id).update(email_enqueued_at=timezone.now())

    def publish() -> None:
        try:
            enqueue("webhooks.send_notification_email", notification_id)
        except Exception:
            logger.exception("webhooks.alert_email_enqueue_failed notification=%s", notification_id)

    transaction.on_commit(publish)


def alert_webhook_raise(
    *,
    policy: NotificationPolicy,
    notification: Notification,
    condition: str,
    connector: dict[str, Any] | None,
) -> Event | None:
    """An `alert.triggered` event for the policy's endpoint alone; None when it has none."""
    endpoint = policy.webhook_endpoint
    if endpoint is None:
        return None
    return event_raise(
        account_id=policy.account_id,
        type=EventType.ALERT_TRIGGERED,
        data={
            "policy": {"id": str(policy.id), "name": policy.name},
            "condition": condition,
            "connector": connector,
            "notification": {
                "id": str(notification.id),
                "title": notification.title,
                "message": notification.message,
                "created_at": notification.created_at.isoformat(),
            },
        },
        endpoint=endpoint,
    )


def notification_email_send(*, notification_id: Any) -> bool:
    """Email a notification to its recipients, once: True when this call sent it. The row is
    locked while sending, so two workers given the same message do not both send it. A send
    that fails is counted and raised; the sweep tries it again later (`emails_requeue`)."""
    failure: Exception | None = None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(id=notification_id, emailed_at__isnull=True)
            .first()
        )
        if notification is None or not notification.email_recipients:
            return False  # gone, already emailed, or nobody to email
        try:
            send_mail(
                email_subject(notification.title),
                _email_body(notification),
                settings.DEFAULT_FROM_EMAIL,
                list(notification.email_recipients),
                fail_silently=False,
            )
        except Exception as exc:  # the mail server refused, or is down
            failure = exc
            notification.email_attempts += 1
            notification.save(update_fields=["email_attempts"])
        else:
            notification.emailed_at = timezone.now()
            notification.save(update_fields=["emailed_at"])
    if failure is not None:
        logger.warning(
            "webhooks.alert_email_failed notification=%s attempts=%s error=%s",
            notification_id,
            notification.email_attempts,
            failure,
        )
        raise failure
    logger.info(
        "webhooks.alert_emailed notification=%s recipients=%s",
        notification_id,
        len(notification.email_recipients),
    )
    return True


def email_subject(title: str) -> str:
    """The title on one line: a connector or policy name may hold a line break, and a
    subject with one is refused (BadHeaderError) at every attempt, so the email would never
    go out."""
    return " ".join((SUBJECT_PREFIX + title).split())


def _email_body(notification: Notification) -> str:
    lines = [notification.title, ""]
    if notification.message:
        lines += [notification.message, ""]
    connector = notification.data.get("connector") or {}
    if connector.get("name"):
        lines.append(f"Connector: {connector['name']} ({connector.get('id')})")
    policy_name = notification.data.get("policy_name")
    if policy_name:
        lines.append(f"Policy: {policy_name}")
    lines += [
        f"Sent at: {notification.created_at.isoformat()}",
        "",
        "You receive this email because a Landed notification policy lists your address.",
    ]
    return "\n".join(lines)


def emails_requeue(*, now: Any, lost_after_seconds: float) -> int:
    """Queue again the emails not sent yet whose message was lost or whose send failed, each
    after a wait that doubles with its failed attempts; given up after EMAIL_MAX_ATTEMPTS."""
    # The wait is applied in the query, not after the batch is cut: the oldest emails still
    # backing off would otherwise fill every batch and hold back the ones that are due.
    due_after_wait = Q()
    for attempts in range(EMAIL_MAX_ATTEMPTS):
        wait = timedelta(seconds=lost_after_seconds * 2**attempts)
        due_after_wait |= Q(email_attempts=attempts, email_enqueued_at__lt=now - wait)
    due = [
        str(notification_id)
        for notification_id in Notification.objects.filter(
            emailed_at__isnull=True, email_enqueued_at__isnull=False
        )
        .filter(due_after_wait)
        .order_by("email_enqueued_at")
        .values_list("id", flat=True)[:200]
    ]
    Notification.objects.filter(id__in=due).update(email_enqueued_at=now)
    for notification_id in due:
        enqueue("webhooks.send_notification_email", notification_id)
    return len(due)
