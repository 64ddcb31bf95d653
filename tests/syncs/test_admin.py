"""The operators' pages for connectors, destinations and jobs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Connector, Destination
from landed.security import secrets
from syncs import services
from syncs.models import Job, JobStatus
from syncs.receipts import receipt_write
from tests.accounts.factories import AccountFactory
from tests.admin_helpers import has_save_buttons, messages_of, operation_buttons, viewer_client
from tests.connectors.factories import make_connector

pytestmark = pytest.mark.django_db

SECRET = "a-database-password-nobody-may-see"


@pytest.fixture
def connector() -> Connector:
    account = AccountFactory()
    destination = Destination.objects.create(
        account=account,
        name="wh",
        type="postgres",
        config={"host": "127.0.0.1", "database": "wh", "username": "u"},
        encrypted_secrets=secrets.encrypt_secrets({"password": SECRET}),
    )
    return Connector.objects.create(
        account=account,
        name="shop",
        type="postgres",
        config={"host": "127.0.0.1", "database": "shop", "username": "u"},
        encrypted_secrets=secrets.encrypt_secrets({"password": SECRET}),
        destination=destination,
        destination_schema="shop",
    )


def test_pages_never_show_secrets(operator, connector):
    pages = [
        "/admin/connectors/connector/",
        f"/admin/connectors/connector/{connector.id}/change/",
        f"/admin/connectors/destination/{connector.destination_id}/change/",
    ]
    for page in pages:
        response = operator.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert SECRET not in html
        assert connector.encrypted_secrets not in html
    detail = operator.get(f"/admin/connectors/connector/{connector.id}/change/").content.decode()
    assert "Secret fields set" in detail and "password" in detail


def test_trigger_sync_action(operator, connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(
            "/admin/connectors/connector/",
            {"action": "trigger_sync", "_selected_action": [str(connector.id)]},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    job = Job.objects.get(connector=connector)
    assert job.status == JobStatus.PENDING


def test_cancel_job_action_and_job_pages(operator, connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = services.sync_trigger(connector=connector)
    assert operator.get("/admin/syncs/job/").status_code == 200
    assert operator.get(f"/admin/syncs/job/{job.id}/change/").status_code == 200
    response = operator.post(
        "/admin/syncs/job/", {"action": "cancel_jobs", "_selected_action": [str(job.id)]}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_reason.startswith("Cancelled by operator")

    # The cancelled job's receipt is in the history pages, read-only.
    receipt = job.receipt
    assert operator.get("/admin/syncs/syncreceipt/").status_code == 200
    page = operator.get(f"/admin/syncs/syncreceipt/{receipt.id}/change/")
    assert page.status_code == 200 and "shop" in page.content.decode()
    assert operator.get("/admin/syncs/syncreceipt/add/").status_code == 403
    for listing in ("/admin/syncs/backfill/", "/admin/syncs/streamschema/"):
        assert operator.get(listing).status_code == 200


# --- The job pages: buttons, the list, the page that refreshes itself -----------------------
JOBS = "/admin/syncs/job/"


@pytest.fixture
def sample_connector() -> Connector:
    # Each test's transaction is rolled back: the jobs it triggers are never handed to a
    # worker (that happens on commit), so they stay pending.
    return make_connector(AccountFactory(), name="demo")


def job_operation(job: Job, name: str) -> str:
    return f"{JOBS}{job.id}/operations/{name}/"


def settled(connector: Connector, status: str, **fields) -> Job:
    now = timezone.now()
    job = Job.objects.create(
        connector=connector,
        status=status,
        started_at=now - timedelta(seconds=10, microseconds=500_000),
        finished_at=now,
        rows_written=12_345,
        **fields,
    )
    receipt_write(job_id=job.id)
    return job


def test_a_pending_job_page_refreshes_itself_and_offers_cancel(operator, sample_connector):
    job = services.sync_trigger(connector=sample_connector)
    html = operator.get(f"{JOBS}{job.id}/change/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in html
    assert operation_buttons(html) == ["cancel"]
    assert not has_save_buttons(html)


def test_a_finished_job_page_stays_still_and_offers_retry(operator, sample_connector):
    failed = settled(sample_connector, JobStatus.FAILED, error={"message": "boom"})
    html = operator.get(f"{JOBS}{failed.id}/change/").content.decode()
    assert 'http-equiv="refresh"' not in html
    assert operation_buttons(html) == ["retry"]
    assert not has_save_buttons(html)
    succeeded = settled(sample_connector, JobStatus.SUCCEEDED)
    html = operator.get(f"{JOBS}{succeeded.id}/change/").content.decode()
    assert operation_buttons(html) == []
    assert "Rows/s" in html and "1,176" in html  # 12,345 rows in 10.5 s
    # Its times to the second, as in the logs.
    started = timezone.localtime(succeeded.started_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<div class="readonly">{started}</div>' in html


def test_cancel_button(operator, sample_connector):
    job = services.sync_trigger(connector=sample_connector)
    response = operator.post(job_operation(job, "cancel"))
    assert response.status_code == 302 and response["Location"] == f"{JOBS}{job.id}/change/"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_reason == "Cancelled by operator ops@example.com"
    assert messages_of(response) == [("success", "Cancelled.")]


def test_cancel_button_on_a_running_job_asks_it_to_stop(operator, sample_connector):
    job = services.sync_trigger(connector=sample_connector)
    Job.objects.filter(id=job.id).update(status=JobStatus.RUNNING, started_at=timezone.now())
    response = operator.post(job_operation(job, "cancel"))
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.cancel_requested_at is not None
    assert messages_of(response) == [
        ("success", "Cancel requested: the job stops at its next batch boundary.")
    ]


def test_cancel_of_a_finished_job_is_refused(operator, sample_connector):
    job = settled(sample_connector, JobStatus.SUCCEEDED)
    response = operator.post(job_operation(job, "cancel"))
    assert response.status_code == 302
    assert messages_of(response) == [("error", "Cancel: The job has already finished (succeeded).")]


def test_retry_button(operator, sample_connector, django_capture_on_commit_callbacks):
    failed = settled(sample_connector, JobStatus.FAILED, error={"message": "boom"})
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(job_operation(failed, "retry"))
    retry = Job.objects.get(retry_of=failed)
    # To the new attempt's page, which refreshes itself until it ends.
    assert response.status_code == 302 and response["Location"] == f"{JOBS}{retry.id}/change/"
    assert retry.status == JobStatus.PENDING and retry.trigger == "retry" and retry.attempt == 2
    assert retry.run_id == failed.run_id
    assert len(callbacks) == 1
    [(level, text)] = messages_of(response)
    assert level == "success" and text.startswith("Retry queued: attempt 2")

    # Retried once: the button is gone, and a second POST (a stale page) is refused.
    assert operation_buttons(operator.get(f"{JOBS}{failed.id}/change/").content.decode()) == []
    response = operator.post(job_operation(failed, "retry"))
    assert messages_of(response)[-1] == ("error", "Retry: This job has already been retried.")
    assert Job.objects.filter(retry_of=failed).count() == 1


def test_retry_of_a_succeeded_job_is_refused(operator, sample_connector):
    job = settled(sample_connector, JobStatus.SUCCEEDED)
    response = operator.post(job_operation(job, "retry"))
    assert response.status_code == 302 and response["Location"] == f"{JOBS}{job.id}/change/"
    assert messages_of(response) == [
        ("error", "Retry: Only a failed or cancelled job can be retried; this one is succeeded.")
    ]
    assert Job.objects.count() == 1


def test_retry_while_another_sync_runs_is_refused(operator, sample_connector):
    failed = settled(sample_connector, JobStatus.FAILED)
    services.sync_trigger(connector=sample_connector)
    response = operator.post(job_operation(failed, "retry"))
    assert messages_of(response) == [
        ("error", "Retry: A sync of this connector is already pending or running.")
    ]


def test_job_buttons_need_the_change_permission(sample_connector):
    job = services.sync_trigger(connector=sample_connector)
    failed = settled(sample_connector, JobStatus.FAILED)
    viewer = viewer_client("syncs.view_job")
    html = viewer.get(f"{JOBS}{job.id}/change/").content.decode()
    assert operation_buttons(html) == []
    assert viewer.post(job_operation(job, "cancel")).status_code == 403
    assert viewer.post(job_operation(failed, "retry")).status_code == 403
    # Nor the bulk action.
    response = viewer.post(JOBS, {"action": "cancel_jobs", "_selected_action": [str(job.id)]})
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert not Job.objects.filter(retry_of=failed).exists()
    assert response.status_code in (200, 302)


def test_the_job_list_fits_a_screen(operator, sample_connector):
    job = settled(sample_connector, JobStatus.SUCCEEDED, worker="syncs-3f9a1c@worker-host.internal")
    html = operator.get(JOBS).content.decode()
    full = str(job.id)
    # The short id links to the job; the whole id is on hover, never in the cell's text.
    assert f'title="{full}">{full[:8]}</' in html
    assert f">{full}<" not in html
    assert ">Rows/s<" in html and ">1,176<" in html and ">12,345<" in html
    assert '<span class="nowrap">10.5 s</span>' in html
    # Times to the second: the creation in full, the start and end as clock times that day.
    created = timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M:%S")
    started = timezone.localtime(job.started_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<span class="nowrap">{created}</span>' in html
    assert f'<span class="nowrap" title="{started}">{started[11:]}</span>' in html
    # No navigation sidebar on this wide list (the other pages keep it).
    assert 'id="nav-sidebar"' not in html
    assert 'id="nav-sidebar"' in operator.get(f"{JOBS}{job.id}/change/").content.decode()
    # The worker is on the job's page, and found by the search.
    assert "worker-host" not in html
    assert f'title="{full}"' in operator.get(f"{JOBS}?q=worker-host").content.decode()


def test_job_list_is_searchable_by_the_whole_id(operator, sample_connector):
    job = settled(sample_connector, JobStatus.SUCCEEDED)
    other = settled(sample_connector, JobStatus.FAILED)
    html = operator.get(f"{JOBS}?q={job.id}").content.decode()
    assert f'title="{job.id}"' in html and f'title="{other.id}"' not in html
