"""The one way a sync starts (API, schedule, retry), and the job lifecycle around it."""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors import services as connector_services
from connectors.framework.selection import StreamSelection
from connectors.models import Connector
from landed.api.errors import ConflictError
from landed.db import delete_in_batches
from landed.tasks import enqueue_on_commit
from syncs.backfills import backfills_request_reenabled
from syncs.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Job,
    JobStage,
    JobStatus,
    JobTrigger,
    SyncReceipt,
)
from syncs.payloads import sync_data
from syncs.receipts import receipt_write
from syncs.schedule import connectors_due
from syncs.selectors import job_active_for
from syncs.streams import job_streams_settle
from webhooks.events import SYNC_EVENT_BY_STATUS, EventType, event_raise

logger = logging.getLogger("syncs")


def _enqueue(job: Job, countdown: float = 0) -> None:
    """Hand the job to a worker once the transaction that created it has committed, so a
    worker never looks for a row that was rolled back."""
    Job.objects.filter(id=job.id).update(enqueued_at=timezone.now())
    enqueue_on_commit("syncs.run", str(job.id), countdown=max(countdown, 0) or None)


def sync_trigger(
    *,
    connector: Connector,
    trigger: str = JobTrigger.MANUAL,
    full_resync: bool = False,
    retry_of: Job | None = None,
    delay_seconds: float = 0,
) -> Job:
    """Create a pending job and enqueue it. 409 while the connector is paused (no sync at all,
    retries included, until it is resumed), and while a sync of it is pending or running (a
    database constraint decides, so two racing triggers cannot both win)."""
    if connector.paused:
        raise ConflictError(
            "The connector is paused.",
            f'Resume it first: PATCH /connectors/{connector.id} with {{"paused": false}}. '
            "(A paused connector is not synced at all; to sync only on demand, set "
            "sync_frequency_minutes to null instead of pausing.)",
        )
    now = timezone.now()
    job = Job(
        connector=connector,
        # The connector's last trigger time too: its next scheduled sync counts from here.
        created_at=now,
        trigger=trigger,
        full_resync=full_resync,
        run_after=now + timedelta(seconds=delay_seconds),
    )
    if retry_of is not None:
        job.run_id = retry_of.run_id
        job.attempt = retry_of.attempt + 1
        job.retry_of = retry_of
        job.full_resync = retry_of.full_resync
    try:
        with transaction.atomic():
            job.save(force_insert=True)
            Connector.objects.filter(pk=connector.pk).update(last_triggered_at=now)
            _enqueue(job, delay_seconds)
    except IntegrityError as exc:
        active = Job.objects.filter(connector=connector, status__in=ACTIVE_STATUSES).first()
        raise ConflictError(
            "A sync of this connector is already pending or running.",
            {"job_id": str(active.id) if active else None},
        ) from exc
    logger.info("syncs.job_created job=%s connector=%s trigger=%s", job.id, connector.id, trigger)
    return job


def job_cancel(*, job: Job, reason: str = "") -> Job:
    """A pending job is cancelled at once; a running one is asked to stop, which its worker
    does at the next batch boundary (every batch is committed whole, so the destination stays
    consistent). A finished job cannot be cancelled (409)."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status == JobStatus.PENDING:
            job.status = JobStatus.CANCELLED
            job.finished_at = now
            job.cancel_requested_at = now
            job.cancel_reason = reason
            job.save(
                update_fields=["status", "finished_at", "cancel_requested_at", "cancel_reason"]
            )
            receipt_write(job_id=job.id)
            _raise_sync_event(job, JobStatus.CANCELLED)
        elif job.status == JobStatus.RUNNING:
            if job.cancel_requested_at is None:
                job.cancel_requested_at = now
                job.cancel_reason = reason
                job.save(update_fields=["cancel_requested_at", "cancel_reason"])
        else:
            raise ConflictError(f"The job has already finished ({job.status}).")
    logger.info("syncs.job_cancel_requested job=%s status=%s", job.id, job.status)
    return job


def jobs_settle_for_deletion(*, connector: Connector) -> None:
    """Settle the connector's pending or running job as cancelled, with its receipt, before
    the connector and its jobs are deleted (its worker then finds the job gone and stops)."""
    now = timezone.now()
    for job in Job.objects.select_for_update().filter(
        connector=connector, status__in=ACTIVE_STATUSES
    ):
        Job.objects.filter(id=job.id).update(
            status=JobStatus.CANCELLED,
            finished_at=now,
            cancel_requested_at=job.cancel_requested_at or now,
            cancel_reason="The connector was deleted.",
        )
        job_streams_settle(job_id=job.id, status=JobStatus.CANCELLED)
        receipt_write(job_id=job.id)
        _raise_sync_event(job, JobStatus.CANCELLED)


# --- Connector changes that a sync constrains ---------------------------------------------
# The connector's own rules and writes are in connectors.services; what its syncs add (no
# change under a running sync, its jobs settled before it goes, backfills for streams enabled
# again) is here, so that connectors never reach into syncs. The API and the admin call these.
def connector_update(*, connector: Connector, data: dict[str, Any]) -> Connector:
    """A partial update (connectors.services.connector_update); config, destination and the
    pinned custom version cannot change while a sync is pending or running (409)."""
    # A change of type is refused first (422), whatever the connector's syncs.
    connector_services.connector_type_check(connector=connector, data=data)
    # Every attempt of a sync reads the same way: a re-pinned custom version waits too.
    changes_reading = any(key in data for key in ("config", "destination", "custom_version"))
    if changes_reading and job_active_for(connector=connector):
        raise ConflictError(
            "A sync of this connector is pending or running.",
            "Change its config, destination or custom_version when the sync has finished, "
            "or cancel it.",
        )
    return connector_services.connector_update(connector=connector, data=data)


def connector_delete(*, connector: Connector) -> None:
    """Removes the connector with its jobs, stream state and schema history (not the
    destination's tables). Its sync receipts stay, for usage and audit, under its name. A
    running job notices at its next progress write and stops; it is settled as cancelled
    first, so that its receipt records what it had loaded."""
    with transaction.atomic():
        jobs_settle_for_deletion(connector=connector)
        connector_services.connector_delete(connector=connector)


def connector_streams_update(
    *, connector: Connector, entries: list[dict[str, Any]]
) -> list[StreamSelection]:
    """Save a selection, checked against live discovery. Not while a sync is pending or
    running: its attempts must all load the streams the same way. A merge stream enabled
    again gets a backfill (syncs.backfills), requested with the change."""
    if job_active_for(connector=connector):
        raise ConflictError(
            "A sync of this connector is pending or running.",
            "Change the stream selection when the sync has finished, or cancel it.",
        )
    change = connector_services.connector_streams_check(connector=connector, entries=entries)
    with transaction.atomic():
        connector_services.connector_streams_save(connector=connector, change=change)
        backfills_request_reenabled(connector=connector, streams=change.reenabled)
    return change.resolved


def job_retry(*, job: Job) -> Job:
    """A new attempt of a failed or cancelled job, linked to it, resuming from the
    destination's last committed checkpoint."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise ConflictError(
            f"Only a failed or cancelled job can be retried; this one is {job.status}."
        )
    if Job.objects.filter(retry_of=job).exists():
        raise ConflictError("This job has already been retried.")
    return sync_trigger(connector=job.connector, trigger=JobTrigger.RETRY, retry_of=job)


def job_claim(*, job_id: Any, worker: str | None = None) -> Job | None:
    """Pending -> running, atomically; None when the job is not pending (already taken,
    cancelled, settled by the reaper: a redelivered task message does nothing)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Job.objects.filter(id=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING,
            stage=JobStage.PREPARING,
            started_at=now,
            heartbeat_at=now,
            worker=worker or socket.gethostname(),
        )
        if not claimed:
            return None
        _raise_sync_event(Job.objects.only("id", "connector").get(id=job_id), JobStatus.RUNNING)
    return Job.objects.select_related("connector", "connector__destination").get(id=job_id)


def job_heartbeat(*, job_id: Any) -> bool:
    """False when the job is gone or no longer running (its worker should stop)."""
    return bool(
        Job.objects.filter(id=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
    )


def job_finish(*, job: Job, status: str, error: dict[str, Any] | None = None) -> Job | None:
    """Settle a running job; a retryable failure schedules the next attempt (with backoff)
    while attempts remain. Returns the retry job, if any."""
    now = timezone.now()
    if status == JobStatus.FAILED and job_cancel_requested(job_id=job.id):
        # The user asked it to stop: a failure on the way out is not worth a retry.
        status, error = JobStatus.CANCELLED, None
    with transaction.atomic():
        updated = Job.objects.filter(id=job.id, status=JobStatus.RUNNING).update(
            status=status, finished_at=now, heartbeat_at=now, error=error, stage=""
        )
        if not updated:
            return None
        job_streams_settle(job_id=job.id, status=status)
        receipt_write(job_id=job.id)
        logger.info("syncs.job_finished job=%s status=%s", job.id, status)
        retry = None
        if status == JobStatus.FAILED and error and error.get("retryable"):
            retry = _schedule_retry(job)
        _raise_sync_event(job, status, retry_job_id=retry.id if retry else None)
    return retry


def _raise_sync_event(job: Job, status: str, *, retry_job_id: Any = None) -> None:
    """`sync.started` for a job that began, `sync.<status>` for one that ended: raised in the
    transaction that changed the job."""
    data = sync_data(job.id, retry_job_id=retry_job_id)
    event_type = EventType.SYNC_STARTED if status == JobStatus.RUNNING else None
    event_raise(
        account_id=Connector.objects.values_list("account_id", flat=True).get(id=job.connector_id),
        type=event_type or SYNC_EVENT_BY_STATUS[status],
        data=data,
    )


def retry_delay_seconds(attempt: int) -> float:
    """Exponential backoff after `attempt` failed attempts, capped."""
    base: float = settings.SYNC_RETRY_BACKOFF_SECONDS
    cap: float = settings.SYNC_RETRY_BACKOFF_MAX_SECONDS
    # 2.0, not 2: int ** int is typed Any (a negative power is a float); the product is the
    # same float either way.
    return min(base * 2.0 ** max(attempt - 1, 0), cap)


def _schedule_retry(job: Job) -> Job | None:
    if job.attempt >= settings.SYNC_MAX_ATTEMPTS:
        logger.info("syncs.retries_exhausted job=%s attempts=%s", job.id, job.attempt)
        return None
    failed = Job.objects.select_related("connector").get(pk=job.pk)
    try:
        return sync_trigger(
            connector=failed.connector,
            trigger=JobTrigger.RETRY,
            retry_of=failed,
            delay_seconds=retry_delay_seconds(failed.attempt),
        )
    except ConflictError:
        # Someone triggered a sync meanwhile (it resumes the connector's streams anyway), or
        # the connector was paused: nothing syncs it until it is resumed.
        return None


def jobs_reap_stale() -> list[uuid.UUID]:
    """Fail running jobs whose worker stopped beating (killed, lost its host) and schedule
    their retries. No job stays `running` after its worker died."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = Job.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = []
    for job in stale:
        silent = settings.JOB_STALE_SECONDS
        error = {
            "type": "worker_lost",
            "message": (
                f"The worker running this sync stopped responding (no heartbeat for {silent:g} "
                "seconds). The sync resumes from its last committed checkpoint."
            ),
            "stream": job.current_stream or None,
            "retryable": True,
        }
        # (A job whose cancel was requested settles as cancelled, without a retry.)
        job_finish(job=job, status=JobStatus.FAILED, error=error)
        logger.warning("syncs.job_reaped job=%s worker=%s", job.id, job.worker)
        reaped.append(job.id)
    return reaped


def jobs_requeue_pending() -> int:
    """Enqueue again pending jobs that no worker started long after they were due (a lost
    broker message); claiming is atomic, so a duplicate message is harmless."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS)
    count = 0
    # Once per JOB_REQUEUE_AFTER_SECONDS at most: a job that waits behind long syncs is not
    # lost, and must not pile up copies of its message in the queue.
    overdue = Job.objects.filter(status=JobStatus.PENDING, run_after__lt=cutoff).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff)
    )
    for job in overdue:
        with transaction.atomic():
            _enqueue(job)
        count += 1
    return count


def syncs_trigger_due() -> list[uuid.UUID]:
    """Trigger every connector whose next sync is due: the rule of syncs/schedule.py, which
    the connectors' `next_sync_at` shows."""
    now = timezone.now()
    triggered = []
    for connector in connectors_due(now=now).only("id", "account_id", "paused"):
        job = sync_trigger_scheduled(connector=connector, now=now)
        if job is not None:
            triggered.append(job.id)
    return triggered


def sync_trigger_scheduled(*, connector: Connector, now: datetime) -> Job | None:
    """The scheduled sync of `connector` if it is still due at `now`; None when a sync was
    triggered since the scheduler looked (a user's, or another scheduler's) or it was paused."""
    try:
        with transaction.atomic():
            # Claim the due time with an update conditional on the rule: a manual sync that
            # started, or even finished, since the scheduler's query is not followed by another.
            claimed = connectors_due(now=now).filter(pk=connector.pk).update(last_triggered_at=now)
            if not claimed:
                return None
            return sync_trigger(connector=connector, trigger=JobTrigger.SCHEDULE)
    except ConflictError:
        return None


def job_cancel_requested(*, job_id: Any) -> bool:
    return Job.objects.filter(id=job_id, cancel_requested_at__isnull=False).exists()


def history_prune(*, now: Any = None) -> dict[str, int]:
    """Delete finished jobs past JOB_RETENTION_DAYS (their receipts stay) and receipts past
    RECEIPT_RETENTION_DAYS. A retention of 0 keeps everything."""
    now = now or timezone.now()
    pruned = {"jobs": 0, "receipts": 0}
    if settings.JOB_RETENTION_DAYS > 0:
        cutoff = now - timedelta(days=settings.JOB_RETENTION_DAYS)
        old = Job.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=cutoff)
        pruned["jobs"] = delete_in_batches(old, Job)
    if settings.RECEIPT_RETENTION_DAYS > 0:
        cutoff = now - timedelta(days=settings.RECEIPT_RETENTION_DAYS)
        old_receipts = SyncReceipt.objects.filter(finished_at__lt=cutoff)
        pruned["receipts"] = delete_in_batches(old_receipts, SyncReceipt)
    logger.info("syncs.history_pruned jobs=%s receipts=%s", pruned["jobs"], pruned["receipts"])
    return pruned
