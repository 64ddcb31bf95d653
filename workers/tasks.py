"""Celery tasks: thin, idempotent, acknowledged late. Each takes ids and calls a service.
Each is routed to its queue by name (CELERY_TASK_ROUTES in settings)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from connectors.framework import registry
from syncs import services
from syncs.engine import runner
from syncs.models import Job, JobStatus

logger = logging.getLogger("workers.tasks")

# Import every connector and destination when the worker starts (this module is loaded then),
# not inside the first sync's clock.
registry.source_types()
registry.destination_types()


@shared_task(
    name="syncs.run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_sync(job_id: str) -> None:
    job = Job.objects.filter(id=job_id).only("status", "run_after").first()
    if job is None or job.status != JobStatus.PENDING:
        logger.info("syncs.task_skipped job=%s", job_id)
        return
    wait = (job.run_after - timezone.now()).total_seconds()
    if wait > 0:
        # Delivered before its backoff was over (a re-enqueued message): come back then.
        run_sync.apply_async(args=[job_id], countdown=wait)
        return
    runner.run_sync_job(job_id)


@shared_task(name="syncs.trigger_due", ignore_result=True)
def trigger_due_syncs() -> int:
    return len(services.syncs_trigger_due())


@shared_task(name="syncs.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs() -> int:
    reaped = services.jobs_reap_stale()
    services.jobs_requeue_pending()
    return len(reaped)


@shared_task(name="syncs.prune_history", ignore_result=True)
def prune_history() -> dict[str, int]:
    return services.history_prune()


# --- Webhooks and alerts (queue "webhooks") ------------------------------------------------
@shared_task(name="webhooks.dispatch_event", acks_late=True, ignore_result=True)
def dispatch_event(event_id: str) -> None:
    from webhooks.dispatch import event_dispatch

    event_dispatch(event_id=event_id)


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def deliver(delivery_id: str) -> None:
    from webhooks.delivery import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep_webhooks() -> dict[str, int]:
    from webhooks.dispatch import webhooks_sweep

    return webhooks_sweep()


@shared_task(name="webhooks.send_notification_email", acks_late=True, ignore_result=True)
def send_notification_email(notification_id: str) -> None:
    from webhooks.alerts.channels import notification_email_send

    notification_email_send(notification_id=notification_id)


@shared_task(name="alerts.check_freshness", ignore_result=True)
def check_freshness() -> int:
    from webhooks.alerts.evaluation import alerts_check_freshness

    return alerts_check_freshness()


@shared_task(name="webhooks.prune", ignore_result=True)
def prune_webhooks() -> dict[str, int]:
    from webhooks.dispatch import webhooks_prune

    return webhooks_prune()


# --- Billing ----------------------------------------------------------------------------------
@shared_task(name="billing.report_usage", ignore_result=True)
def report_usage() -> int:
    from billing.usage import usage_report_all

    return usage_report_all()
