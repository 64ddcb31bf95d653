"""The operators' pages for connectors, destinations and jobs."""

import pytest

from connectors.models import Connector, Destination
from landed.security import secrets
from syncs import services
from syncs.models import Job, JobStatus
from tests.accounts.factories import AccountFactory

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
