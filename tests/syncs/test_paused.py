"""A paused connector syncs not at all: no manual sync (409 naming the pause and the way out),
no retry of its jobs, by hand or automatic, until it is resumed."""

import pytest
from django.utils import timezone

from connectors.models import Connector
from syncs import services
from syncs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def destination(client, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path / "duckdb"))
    body = {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}}
    response = client.post("/destinations", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def connector(client, destination) -> dict:
    body = {
        "name": "demo",
        "type": "sample",
        "config": {"size": 10},
        "destination_id": destination["id"],
    }
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def pause(client, connector: dict, paused: bool = True) -> None:
    response = client.patch(f"/connectors/{connector['id']}", {"paused": paused}, format="json")
    assert response.status_code == 200, response.content


def assert_paused_conflict(response, connector: dict) -> None:
    assert response.status_code == 409, response.content
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "The connector is paused."
    # The way out, spelled so that it can be copied.
    assert f"PATCH /connectors/{connector['id']}" in body["detail"]
    assert '{"paused": false}' in body["detail"]


def failed_job(connector: dict, *, retryable: bool = False) -> Job:
    now = timezone.now()
    return Job.objects.create(
        connector_id=connector["id"],
        status=JobStatus.FAILED,
        started_at=now,
        finished_at=now,
        error={"type": "x", "message": "x", "stream": None, "retryable": retryable},
    )


def test_a_manual_sync_of_a_paused_connector_is_409_until_it_is_resumed(
    client, connector, django_capture_on_commit_callbacks
):
    pause(client, connector)
    for body in ({}, {"full_resync": True}):
        response = client.post(f"/connectors/{connector['id']}/sync", body, format="json")
        assert_paused_conflict(response, connector)
    assert not Job.objects.exists()

    pause(client, connector, paused=False)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/connectors/{connector['id']}/sync", {}, format="json")
    assert response.status_code == 202, response.content


def test_a_job_of_a_paused_connector_is_not_retried_by_hand(
    client, connector, django_capture_on_commit_callbacks
):
    failed = failed_job(connector)
    pause(client, connector)
    response = client.post(f"/jobs/{failed.id}/retry", format="json")
    assert_paused_conflict(response, connector)
    assert not Job.objects.filter(retry_of=failed).exists()

    pause(client, connector, paused=False)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/jobs/{failed.id}/retry", format="json")
    assert response.status_code == 202, response.content
    assert response.json()["retry_of"] == str(failed.id)


def test_a_sync_of_a_connector_paused_while_it_ran_is_not_retried_automatically(
    client, connector, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = services.sync_trigger(connector=Connector.objects.get(id=connector["id"]))
    services.job_claim(job_id=job.id)
    pause(client, connector)
    error = {"type": "unreachable", "message": "x", "stream": None, "retryable": True}
    with django_capture_on_commit_callbacks(execute=False):
        assert services.job_finish(job=job, status=JobStatus.FAILED, error=error) is None
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED
    assert not Job.objects.filter(retry_of=job).exists()


def test_the_409_of_a_paused_connector_is_documented(api, settings):
    settings.EXPOSE_API_DOCS = True
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/connectors/{connector_id}/sync", "/jobs/{job_id}/retry"):
        operation = paths[path]["post"]
        assert "paused" in operation["responses"]["409"]["description"], path
        assert "paused" in operation["description"], path
