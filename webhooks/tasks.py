"""The webhooks app's Celery tasks (events, deliveries, alerts): thin and idempotent; each
takes ids and calls a service. Services send them by name (`landed.tasks.enqueue`);
settings route each, by name, to its queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from webhooks.alerts.channels import notification_email_send
from webhooks.alerts.evaluation import alerts_check_freshness
from webhooks.delivery import delivery_attempt
from webhooks.dispatch import event_dispatch, webhooks_prune, webhooks_sweep


@shared_task(name="webhooks.dispatch_event", acks_late=True, ignore_result=True)
def dispatch_event(event_id: str) -> None:
    event_dispatch(event_id=event_id)


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def deliver(delivery_id: str) -> None:
    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep_webhooks() -> dict[str, int]:
    return webhooks_sweep()


@shared_task(
    name="webhooks.send_notification_email",
    acks_late=True,
    ignore_result=True,
)
def send_notification_email(notification_id: str) -> None:
    notification_email_send(notification_id=notification_id)


@shared_task(name="alerts.check_freshness", ignore_result=True)
def check_freshness() -> int:
    return alerts_check_freshness()


@shared_task(name="webhooks.prune", ignore_result=True)
def prune_webhooks() -> dict[str, int]:
    return webhooks_prune()
