"""POST /jobs/{id}/cancel: the optional `reason`."""

import pytest

from syncs.models import Job, JobStatus
from tests.connectors.factories import make_connector

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_job(user) -> Job:
    return Job.objects.create(connector=make_connector(user.account))


@pytest.mark.parametrize(
    ("body", "reason"), [({}, ""), ({"reason": ""}, ""), ({"reason": "x"}, "x")]
)
def test_a_blank_reason_is_the_same_as_none(client, pending_job, body, reason):
    """The documented default is "", so "" itself is accepted (the OpenAPI document says
    `default: ""` and must not also say `minLength: 1`)."""
    response = client.post(f"/jobs/{pending_job.id}/cancel", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == JobStatus.CANCELLED
    assert response.json()["cancel_reason"] == reason


def test_a_reason_must_be_a_short_string(client, pending_job):
    for bad in (42, "x" * 501):
        response = client.post(f"/jobs/{pending_job.id}/cancel", {"reason": bad}, format="json")
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    pending_job.refresh_from_db()
    assert pending_job.status == JobStatus.PENDING
