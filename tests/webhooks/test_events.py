"""Every event is raised by the change it reports, in its transaction: the platform's actions
(through the API and the in-process sync runner) leave exactly the events they should, with
the resources as the API returns them, and a change rolled back leaves none."""

import socket

import pytest

from connectors.models import Connector
from syncs import services as sync_services
from syncs.models import JobStatus
from tests.syncs.engine.test_backfills import FLAG, select, sync
from tests.syncs.engine.test_backfills import setup as setup  # a fixture
from webhooks.models import Event

pytestmark = pytest.mark.django_db

PASSWORD = "pg-password-never-in-an-event"


def types() -> list[str]:
    return list(Event.objects.order_by("created_at", "id").values_list("type", flat=True))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connector_lifecycle_and_failed_tests_raise_their_events(client, user):
    port = closed_port()
    pg = {"host": "127.0.0.1", "port": port, "database": "x", "username": "u", "password": PASSWORD}
    destination = client.post(
        "/destinations", {"name": "wh", "type": "postgres", "config": pg}, format="json"
    ).json()
    created = client.post(
        "/connectors",
        {"name": "shop", "type": "postgres", "config": pg, "destination_id": destination["id"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    connector = created.json()
    event = Event.objects.get(type="connector.created")
    assert event.account_id == user.account_id
    assert event.data == {"connector": connector}
    assert PASSWORD not in str(event.data)

    # A conflicting create is rolled back with its event.
    again = client.post(
        "/connectors",
        {"name": "shop", "type": "postgres", "config": pg, "destination_id": destination["id"]},
        format="json",
    )
    assert again.status_code == 409
    assert types() == ["connector.created"]

    updated = client.patch(f"/connectors/{connector['id']}", {"paused": True}, format="json")
    assert Event.objects.get(type="connector.updated").data == {"connector": updated.json()}

    assert client.post(f"/connectors/{connector['id']}/test").json()["status"] == "failed"
    failed = Event.objects.get(type="connector.test_failed")
    assert failed.data["connector"]["id"] == connector["id"]
    assert failed.data["test"]["status"] == "failed" and failed.data["test"]["reachable"] is False

    assert client.post(f"/destinations/{destination['id']}/test").json()["status"] == "failed"
    dest_failed = Event.objects.get(type="destination.test_failed")
    assert dest_failed.data["destination"]["id"] == destination["id"]
    assert PASSWORD not in str(dest_failed.data)

    assert client.delete(f"/connectors/{connector['id']}").status_code == 204
    deleted = Event.objects.get(type="connector.deleted")
    assert deleted.data["connector"]["id"] == connector["id"]
    assert deleted.data["connector"]["name"] == "shop"
    assert not Connector.objects.filter(id=connector["id"]).exists()
    assert types() == [
        "connector.created",
        "connector.updated",
        "connector.test_failed",
        "destination.test_failed",
        "connector.deleted",
    ]


def test_syncs_raise_started_and_their_outcome_with_the_job(setup):
    connector, _ = setup
    select(connector)
    Event.objects.all().delete()
    job = sync(connector)
    assert job.status == JobStatus.SUCCEEDED
    # The first sync creates its table: a schema change too.
    assert types() == ["sync.started", "schema.changed", "sync.succeeded"]
    started, created, succeeded = Event.objects.order_by("created_at", "id")
    assert [c["change"] for c in created.data["changes"]] == ["table_created"]
    assert started.data["job"]["status"] == "running"
    assert succeeded.data["job"]["status"] == "succeeded"
    assert succeeded.data["job"]["rows_written"] == job.rows_written > 0
    assert succeeded.data["connector"] == {
        "id": str(connector.id),
        "name": "demo",
        "type": "sample",
    }
    assert succeeded.data["retry_job_id"] is None


def test_a_pending_cancel_raises_cancelled_once(setup):
    connector, _ = setup
    Event.objects.all().delete()
    job = sync_services.sync_trigger(connector=connector)
    sync_services.job_cancel(job=job)
    (event,) = Event.objects.all()
    assert event.type == "sync.cancelled" and event.data["job"]["id"] == str(job.id)


def test_a_schema_change_raises_schema_changed_with_the_changes(setup):
    connector, _ = setup
    select(connector)
    sync(connector)
    Event.objects.all().delete()
    FLAG["extra"] = True
    try:
        job = sync(connector)
    finally:
        FLAG["extra"] = False
    (event,) = Event.objects.filter(type="schema.changed")
    assert event.data["job_id"] == str(job.id)
    assert event.data["connector"]["id"] == str(connector.id)
    assert {"stream": "customers", "change": "column_added", "column": "tier"}.items() <= (
        event.data["changes"][0].items()
    )
    # The events of that sync, in order: the change is raised while it runs.
    assert types() == ["sync.started", "schema.changed", "sync.succeeded"]
