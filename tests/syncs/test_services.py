"""The job lifecycle services, called directly: trigger, claim, finish, retry, reaper,
scheduler. (The end-to-end tests run the same through a real worker.)"""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Connector, Destination
from landed.api.errors import ConflictError
from syncs import services
from syncs.models import Job, JobStatus
from tests.accounts.factories import AccountFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector() -> Connector:
    account = AccountFactory()
    destination = Destination.objects.create(
        account=account, name="lake", type="duckdb", config={"path": "x.duckdb"}
    )
    return Connector.objects.create(
        account=account,
        name="demo",
        type="sample",
        config={},
        destination=destination,
        destination_schema="demo",
    )


def test_trigger_enqueues_after_commit(connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.sync_trigger(connector=connector)
    assert len(callbacks) == 1
    assert job.status == JobStatus.PENDING
    connector.refresh_from_db()
    assert connector.last_triggered_at is not None
    with pytest.raises(ConflictError):
        services.sync_trigger(connector=connector)


def test_claim_is_once_only(connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    assert services.job_claim(job_id=job.id).status == JobStatus.RUNNING
    # A redelivered message finds the job taken and does nothing.
    assert services.job_claim(job_id=job.id) is None


def test_retryable_failure_schedules_the_next_attempt_with_backoff(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_MAX_ATTEMPTS = 2
    settings.SYNC_RETRY_BACKOFF_SECONDS = 30
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    error = {"type": "unreachable", "message": "down", "stream": None, "retryable": True}
    with django_capture_on_commit_callbacks() as callbacks:
        retry = services.job_finish(job=job, status=JobStatus.FAILED, error=error)
    # The retry's enqueue, and the sync.failed event's publish (naming the retry).
    assert len(callbacks) == 2
    failed = Event.objects.get(type="sync.failed")
    assert failed.data["retry_job_id"] == str(retry.id)
    assert failed.data["job"]["id"] == str(job.id) and failed.data["job"]["status"] == "failed"
    assert retry.attempt == 2 and retry.retry_of_id == job.id and retry.run_id == job.run_id
    assert retry.trigger == "retry"
    assert 29 <= (retry.run_after - timezone.now()).total_seconds() <= 31

    # The last attempt failing is final.
    services.job_claim(job_id=retry.id)
    Job.objects.filter(id=retry.id).update(run_after=timezone.now())
    assert services.job_finish(job=retry, status=JobStatus.FAILED, error=error) is None


def test_non_retryable_failure_is_not_retried(connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    error = {"type": "authentication_failed", "message": "no", "stream": None, "retryable": False}
    assert services.job_finish(job=job, status=JobStatus.FAILED, error=error) is None
    assert Job.objects.count() == 1


def test_backoff_grows_and_is_capped(settings):
    settings.SYNC_RETRY_BACKOFF_SECONDS = 10
    settings.SYNC_RETRY_BACKOFF_MAX_SECONDS = 35
    assert [services.retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_reaper_fails_silent_jobs_and_retries_them(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.JOB_STALE_SECONDS = 60
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    assert services.jobs_reap_stale() == []

    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=False):
        assert services.jobs_reap_stale() == [job.id]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error["type"] == "worker_lost"
    retry = Job.objects.get(retry_of=job)
    assert retry.status == JobStatus.PENDING and retry.attempt == 2


def test_reaper_settles_a_silent_job_that_was_being_cancelled(
    connector, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    services.job_cancel(job=job)
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    services.jobs_reap_stale()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not Job.objects.filter(retry_of=job).exists()


def test_scheduler_triggers_due_connectors_only(connector, django_capture_on_commit_callbacks):
    connector.sync_frequency_minutes = 60
    # Never synced: due an interval after its creation (tests/syncs/test_schedule.py).
    connector.created_at = timezone.now() - timedelta(minutes=61)
    connector.save()
    with django_capture_on_commit_callbacks():
        first = services.syncs_trigger_due()
    assert len(first) == 1
    assert Job.objects.get(id=first[0]).trigger == "schedule"
    Job.objects.filter(id=first[0]).update(status=JobStatus.SUCCEEDED)
    # Triggered just now: not due again for an hour.
    assert services.syncs_trigger_due() == []
    Connector.objects.filter(id=connector.id).update(
        last_triggered_at=timezone.now() - timedelta(minutes=61)
    )
    with django_capture_on_commit_callbacks():
        assert len(services.syncs_trigger_due()) == 1


def _fail(connector, error_type: str, *, retryable: bool = False) -> Job:
    job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    error = {"type": error_type, "message": "...", "stream": None, "retryable": retryable}
    services.job_finish(job=job, status=JobStatus.FAILED, error=error)
    Connector.objects.filter(id=connector.id).update(
        last_triggered_at=timezone.now() - timedelta(minutes=61)
    )
    return job


def test_a_reauthorize_failure_stops_the_schedule_until_the_connector_changes(
    connector, django_capture_on_commit_callbacks
):
    connector.sync_frequency_minutes = 60
    connector.save()
    with django_capture_on_commit_callbacks():
        job = _fail(connector, "reauthorize_required")
    assert not Job.objects.filter(retry_of=job).exists()  # not retried either
    # Every interval would fail the same way: the schedule waits for the user.
    assert services.syncs_trigger_due() == []
    assert services.syncs_trigger_due() == []
    # Authorized again (the connector changed meanwhile): the schedule resumes.
    Connector.objects.get(id=connector.id).save(update_fields=["updated_at"])
    with django_capture_on_commit_callbacks():
        assert len(services.syncs_trigger_due()) == 1


def test_a_manual_sync_that_succeeds_resumes_a_stopped_schedule(
    connector, django_capture_on_commit_callbacks
):
    connector.sync_frequency_minutes = 60
    connector.save()
    with django_capture_on_commit_callbacks():
        _fail(connector, "reauthorize_required")
        job = services.sync_trigger(connector=connector)  # manual syncs stay allowed
        services.job_claim(job_id=job.id)
        services.job_finish(job=job, status=JobStatus.SUCCEEDED)
    Connector.objects.filter(id=connector.id).update(
        last_triggered_at=timezone.now() - timedelta(minutes=61)
    )
    with django_capture_on_commit_callbacks():
        assert len(services.syncs_trigger_due()) == 1


def test_other_non_retryable_failures_keep_the_schedule(
    connector, django_capture_on_commit_callbacks
):
    connector.sync_frequency_minutes = 60
    connector.save()
    with django_capture_on_commit_callbacks():
        _fail(connector, "authentication_failed")
        assert len(services.syncs_trigger_due()) == 1


def test_paused_and_manual_connectors_are_not_scheduled(connector):
    connector.paused = True
    connector.sync_frequency_minutes = 5
    connector.save()
    assert services.syncs_trigger_due() == []
    Connector.objects.filter(id=connector.id).update(paused=False, sync_frequency_minutes=None)
    assert services.syncs_trigger_due() == []


def test_requeue_of_pending_jobs_lost_by_the_broker(
    connector, settings, django_capture_on_commit_callbacks
):
    settings.JOB_REQUEUE_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    assert services.jobs_requeue_pending() == 0
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    Job.objects.filter(id=job.id).update(run_after=two_minutes_ago, enqueued_at=two_minutes_ago)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.jobs_requeue_pending() == 1
    assert len(callbacks) == 1
    # Sent again just now: not again on the next reaper tick (no pile of copies).
    assert services.jobs_requeue_pending() == 0


def test_a_failure_after_a_cancel_request_settles_as_cancelled_without_retry(
    connector, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    services.job_claim(job_id=job.id)
    services.job_cancel(job=job, reason="stop")
    error = {"type": "transient", "message": "x", "stream": None, "retryable": True}
    assert services.job_finish(job=job, status=JobStatus.FAILED, error=error) is None
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not Job.objects.filter(retry_of=job).exists()
