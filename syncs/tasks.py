"""The syncs app's Celery tasks: thin and idempotent, acknowledged late; each takes ids and
calls a service. Services send them by name (`landed.tasks.enqueue`); settings route each, by
name, to its queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_shutdown
from django.conf import settings
from django.utils import timezone

from connectors.framework import connections, registry
from landed.queues import Queue
from syncs import services
from syncs.engine.runner import run_sync_job
from syncs.models import Job, JobStatus

logger = logging.getLogger("syncs.tasks")


@celeryd_after_setup.connect
def import_connectors_in_sync_workers(sender: str, instance: Any, **kwargs: Any) -> None:
    """A worker that runs syncs imports every connector and destination as it starts, before
    its pool forks (the pool processes share them), not inside the first sync's clock. The
    other workers and beat load this module too (task discovery) but never move data: they do
    without the drivers and Arrow (some 60 MiB each)."""
    queues = instance.app.amqp.queues
    if Queue.SYNCS.value in (queues.consume_from or queues):
        registry.source_types()
        registry.destination_types()
        if settings.SYNC_REUSE_CONNECTIONS:
            # Connections kept from one sync to the next (connectors.framework.connections).
            connections.enable()


@worker_process_shutdown.connect
def close_kept_connections(**kwargs: Any) -> None:
    """A pool process on its way out closes the connections its syncs kept."""
    connections.close_all()


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
        run_sync.apply_async(args=(job_id,), countdown=wait)
        return
    run_sync_job(job_id)


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
