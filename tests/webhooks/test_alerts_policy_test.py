"""`POST /alerts/policies/{id}/test` goes through alert evaluation's own code: it cannot
report success where evaluation fails, and it says when the policy would notify nothing."""

from typing import Any

import pytest
from django.db import NotSupportedError
from rest_framework.test import APIClient

from tests.connectors.factories import make_connector
from webhooks.alerts import evaluation

pytestmark = pytest.mark.django_db


def create_policy(client: APIClient, **body: Any) -> dict:
    body = {"name": "on failure", "conditions": ["sync_failed"], **body}
    response = client.post("/alerts/policies", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def notifications(client: APIClient) -> list[dict]:
    return client.get("/alerts/notifications").json()["items"]


def test_the_test_fails_where_evaluation_fails(client, user, monkeypatch):
    make_connector(user.account, name="orders-db")
    policy = create_policy(client)

    # What SQLite answered the JSON containment lookup evaluation once used.
    def unsupported(**kwargs: Any) -> list:
        raise NotSupportedError("contains lookup is not supported on this database backend.")

    monkeypatch.setattr(evaluation, "policies_applying", unsupported)
    client.raise_request_exception = False
    response = client.post(f"/alerts/policies/{policy['id']}/test")

    assert response.status_code == 500
    assert response.json()["error"] == "Internal server error"
    assert notifications(client) == []


def test_the_test_of_a_policy_that_applies_says_nothing_more(client, user):
    make_connector(user.account, name="orders-db")
    policy = create_policy(client)

    result = client.post(f"/alerts/policies/{policy['id']}/test").json()

    [note] = notifications(client)
    assert note["id"] == result["notification_id"] and note["kind"] == "test"
    assert note["message"] == (
        "This is a test of the notification policy's channels. Nothing happened to your connectors."
    )


def test_the_test_says_when_the_policy_would_notify_nothing(client, user):
    make_connector(user.account, name="orders-db")
    disabled = create_policy(client, name="off", enabled=False)
    group = client.post("/alerts/groups", {"name": "empty"}, format="json").json()
    uncovered = create_policy(client, name="nobody", scope="group", group_id=group["id"])

    client.post(f"/alerts/policies/{disabled['id']}/test")
    client.post(f"/alerts/policies/{uncovered['id']}/test")

    messages = {n["title"]: n["message"] for n in notifications(client)}
    assert messages["Test notification: off"].endswith(
        "The policy is disabled: it notifies nothing until it is enabled."
    )
    assert messages["Test notification: nobody"].endswith(
        "The policy covers no connector yet: it notifies nothing until it does."
    )
