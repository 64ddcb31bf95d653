"""The Alerts and Notifications endpoints: groups, policies (validation, 409s, ownership,
the resolve preview, the test send) and in-app notifications."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import Connector
from tests.accounts.factories import UserFactory
from tests.clients import client_for
from tests.connectors.factories import make_connector
from tests.ratelimit_windows import ip_with_fresh_window
from webhooks.alerts.models import AlertGroup, Notification, NotificationPolicy, PolicyFiring
from webhooks.models import Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_email(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def stranger():
    return UserFactory()


@pytest.fixture
def connector(user) -> Connector:
    return make_connector(user.account, name="orders-db")


def make_endpoint(account) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        account=account, url="https://hooks.example.com/alerts", encrypted_secret="x"
    )


def locs(response) -> set[tuple]:
    assert response.status_code == 422, response.content
    return {tuple(d["loc"]) for d in response.json()["detail"]}


def create_policy(client, **body: Any) -> dict:
    body = {"name": "on failure", "conditions": ["sync_failed"], **body}
    response = client.post("/alerts/policies", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def notify(account, connector=None, **fields: Any) -> Notification:
    fields.setdefault("title", "Sync failed: orders-db")
    return Notification.objects.create(
        account=account, connector=connector, kind=fields.pop("kind", "sync_failed"), **fields
    )


def test_endpoints_need_authentication():
    assert APIClient().get("/alerts/groups").status_code == 401
    assert APIClient().get("/alerts/notifications/unread-count").status_code == 401


# --- Groups ----------------------------------------------------------------------------------
def test_group_crud(client, user, connector):
    other = make_connector(user.account, name="billing-api")
    response = client.post(
        "/alerts/groups",
        {"name": "critical", "description": "page me", "connector_ids": [str(connector.id)]},
        format="json",
    )
    assert response.status_code == 201, response.content
    group = response.json()
    assert group["name"] == "critical" and group["description"] == "page me"
    assert group["connector_count"] == 1
    assert group["connectors"] == [{"id": str(connector.id), "name": "orders-db", "type": "sample"}]
    assert set(group) == {
        "id",
        "name",
        "description",
        "connector_count",
        "connectors",
        "created_at",
        "updated_at",
    }

    listing = client.get("/alerts/groups").json()
    assert listing["total"] == 1
    assert set(listing["items"][0]) == {
        "id",
        "name",
        "description",
        "connector_count",
        "created_at",
        "updated_at",
    }

    response = client.patch(
        f"/alerts/groups/{group['id']}",
        {"name": "very critical", "connector_ids": [str(other.id), str(connector.id)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "very critical"
    assert [c["name"] for c in response.json()["connectors"]] == ["billing-api", "orders-db"]

    assert client.get(f"/alerts/groups/{group['id']}").json()["connector_count"] == 2
    assert client.delete(f"/alerts/groups/{group['id']}").status_code == 204
    assert client.get(f"/alerts/groups/{group['id']}").status_code == 404


def test_group_name_is_unique_per_account(client, stranger):
    assert client.post("/alerts/groups", {"name": "g"}, format="json").status_code == 201
    response = client.post("/alerts/groups", {"name": "g"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "An alert group with this name already exists."
    # Another account may use the name.
    assert (
        client_for(stranger).post("/alerts/groups", {"name": "g"}, format="json").status_code == 201
    )
    other = client.post("/alerts/groups", {"name": "h"}, format="json").json()
    assert (
        client.patch(f"/alerts/groups/{other['id']}", {"name": "g"}, format="json").status_code
        == 409
    )


def test_group_validation(client, stranger):
    theirs = make_connector(stranger.account)
    response = client.post(
        "/alerts/groups",
        {"name": "g", "connector_ids": [str(uuid.uuid4()), str(theirs.id)]},
        format="json",
    )
    assert locs(response) == {("body", "connector_ids", 0), ("body", "connector_ids", 1)}
    assert locs(client.post("/alerts/groups", {"name": ""}, format="json")) == {("body", "name")}
    assert locs(client.post("/alerts/groups", {"name": 5}, format="json")) == {("body", "name")}
    assert locs(
        client.post("/alerts/groups", {"name": "g", "connector_ids": ["x"]}, format="json")
    ) == {("body", "connector_ids", 0)}
    assert AlertGroup.objects.count() == 0


def test_group_members_add_and_remove_idempotently(client, user, connector, stranger):
    group = client.post("/alerts/groups", {"name": "g"}, format="json").json()
    url = f"/alerts/groups/{group['id']}/connectors"
    for _ in range(2):
        response = client.post(url, {"connector_id": str(connector.id)}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["connector_count"] == 1
        assert response.json()["connectors"][0]["id"] == str(connector.id)

    theirs = make_connector(stranger.account)
    response = client.post(url, {"connector_id": str(theirs.id)}, format="json")
    assert locs(response) == {("body", "connector_id")}
    assert locs(client.post(url, {}, format="json")) == {("body", "connector_id")}

    for _ in range(2):
        assert client.delete(f"{url}/{connector.id}").status_code == 204
    assert client.get(f"/alerts/groups/{group['id']}").json()["connectors"] == []


def test_deleting_a_group_used_by_a_policy_is_409(client):
    group = client.post("/alerts/groups", {"name": "g"}, format="json").json()
    create_policy(client, name="pager", scope="group", group_id=group["id"])

    response = client.delete(f"/alerts/groups/{group['id']}")
    assert response.status_code == 409
    assert "pager" in response.json()["detail"]
    assert AlertGroup.objects.filter(id=group["id"]).exists()


def test_groups_of_another_account_are_404(client, stranger, connector):
    theirs = AlertGroup.objects.create(account=stranger.account, name="theirs")
    assert client.get(f"/alerts/groups/{theirs.id}").status_code == 404
    assert (
        client.patch(f"/alerts/groups/{theirs.id}", {"name": "x"}, format="json").status_code == 404
    )
    assert client.delete(f"/alerts/groups/{theirs.id}").status_code == 404
    response = client.post(
        f"/alerts/groups/{theirs.id}/connectors", {"connector_id": str(connector.id)}, format="json"
    )
    assert response.status_code == 404
    assert client.delete(f"/alerts/groups/{theirs.id}/connectors/{connector.id}").status_code == 404
    assert client.get("/alerts/groups").json()["total"] == 0
    assert client.get("/alerts/groups/not-a-uuid").status_code == 404


# --- Policies --------------------------------------------------------------------------------
def test_policy_create_with_defaults(client):
    policy = create_policy(client)
    assert policy == {
        "id": policy["id"],
        "name": "on failure",
        "enabled": True,
        "conditions": ["sync_failed"],
        "consecutive_failures": 3,
        "freshness_minutes": None,
        "scope": "all",
        "group_id": None,
        "connector_id": None,
        "channels": {"in_app": True, "email_recipients": [], "webhook_id": None},
        "cooldown_minutes": 60,
        "created_at": policy["created_at"],
        "updated_at": policy["updated_at"],
    }
    assert client.get("/alerts/policies").json()["items"] == [policy]


def test_policy_create_with_every_field(client, user, connector):
    endpoint = make_endpoint(user.account)
    policy = create_policy(
        client,
        name="stale orders",
        enabled=False,
        conditions=["data_stale", "consecutive_failures"],
        consecutive_failures=5,
        freshness_minutes=90,
        scope="connector",
        connector_id=str(connector.id),
        channels={
            "in_app": False,
            "email_recipients": ["ops@example.com"],
            "webhook_id": str(endpoint.id),
        },
        cooldown_minutes=0,
    )
    saved = NotificationPolicy.objects.get(id=policy["id"])
    assert saved.connector_id == connector.id and saved.webhook_endpoint_id == endpoint.id
    assert saved.notify_in_app is False and saved.email_recipients == ["ops@example.com"]
    assert policy["channels"] == {
        "in_app": False,
        "email_recipients": ["ops@example.com"],
        "webhook_id": str(endpoint.id),
    }
    assert policy["freshness_minutes"] == 90 and policy["consecutive_failures"] == 5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"conditions": []}, {("body", "conditions")}),
        ({"conditions": ["sync_failed", "sync_failed"]}, {("body", "conditions")}),
        ({"conditions": ["on_fire"]}, {("body", "conditions", 0)}),
        ({"conditions": "sync_failed"}, {("body", "conditions")}),
        ({"conditions": ["data_stale"]}, {("body", "freshness_minutes")}),
        ({"conditions": ["data_stale"], "freshness_minutes": 4}, {("body", "freshness_minutes")}),
        ({"freshness_minutes": 60}, {("body", "freshness_minutes")}),
        ({"consecutive_failures": 1}, {("body", "consecutive_failures")}),
        ({"consecutive_failures": 101}, {("body", "consecutive_failures")}),
        ({"consecutive_failures": "3"}, {("body", "consecutive_failures")}),
        ({"cooldown_minutes": -1}, {("body", "cooldown_minutes")}),
        ({"cooldown_minutes": 10081}, {("body", "cooldown_minutes")}),
        ({"scope": "group"}, {("body", "group_id")}),
        ({"scope": "connector"}, {("body", "connector_id")}),
        ({"scope": "everything"}, {("body", "scope")}),
        ({"scope": "group", "group_id": str(uuid.uuid4())}, {("body", "group_id")}),
        ({"scope": "connector", "connector_id": str(uuid.uuid4())}, {("body", "connector_id")}),
        ({"group_id": str(uuid.uuid4())}, {("body", "group_id")}),
        ({"connector_id": str(uuid.uuid4())}, {("body", "connector_id")}),
        ({"channels": {"in_app": False}}, {("body", "channels")}),
        (
            {"channels": {"in_app": False, "email_recipients": []}},
            {("body", "channels")},
        ),
        (
            {"channels": {"email_recipients": ["nope"]}},
            {("body", "channels", "email_recipients", 0)},
        ),
        (
            {"channels": {"email_recipients": [f"u{i}@example.com" for i in range(21)]}},
            {("body", "channels", "email_recipients")},
        ),
        (
            {"channels": {"email_recipients": ["a@example.com", "A@example.com"]}},
            {("body", "channels", "email_recipients")},
        ),
        ({"channels": {"webhook_id": str(uuid.uuid4())}}, {("body", "channels", "webhook_id")}),
        ({"channels": {"in_app": "yes"}}, {("body", "channels", "in_app")}),
        ({"enabled": "true"}, {("body", "enabled")}),
        ({"name": ""}, {("body", "name")}),
    ],
)
def test_policy_validation(client, body, expected):
    body = {"name": "p", "conditions": ["sync_failed"], **body}
    assert locs(client.post("/alerts/policies", body, format="json")) == expected
    assert NotificationPolicy.objects.count() == 0


def test_policy_references_must_be_the_accounts(client, stranger):
    group = AlertGroup.objects.create(account=stranger.account, name="theirs")
    connector = make_connector(stranger.account)
    endpoint = make_endpoint(stranger.account)
    response = client.post(
        "/alerts/policies",
        {"name": "p", "conditions": ["sync_failed"], "scope": "group", "group_id": str(group.id)},
        format="json",
    )
    assert locs(response) == {("body", "group_id")}
    response = client.post(
        "/alerts/policies",
        {
            "name": "p",
            "conditions": ["sync_failed"],
            "scope": "connector",
            "connector_id": str(connector.id),
            "channels": {"webhook_id": str(endpoint.id)},
        },
        format="json",
    )
    assert locs(response) == {("body", "connector_id"), ("body", "channels", "webhook_id")}


def test_policy_name_is_unique_per_account(client, stranger):
    create_policy(client)
    response = client.post(
        "/alerts/policies", {"name": "on failure", "conditions": ["sync_failed"]}, format="json"
    )
    assert response.status_code == 409
    create_policy(client_for(stranger))


def test_policy_patch_is_partial_and_revalidates_the_whole(client, user, connector):
    policy = create_policy(client, channels={"email_recipients": ["ops@example.com"]})
    url = f"/alerts/policies/{policy['id']}"

    response = client.patch(
        url, {"cooldown_minutes": 5, "channels": {"in_app": False}}, format="json"
    )
    assert response.status_code == 200, response.content
    updated = response.json()
    assert updated["cooldown_minutes"] == 5 and updated["name"] == "on failure"
    # Channels merge field by field.
    assert updated["channels"] == {
        "in_app": False,
        "email_recipients": ["ops@example.com"],
        "webhook_id": None,
    }
    # Removing the last channel is checked on the merged result.
    response = client.patch(url, {"channels": {"email_recipients": []}}, format="json")
    assert locs(response) == {("body", "channels")}
    # Adding data_stale needs a freshness.
    assert locs(client.patch(url, {"conditions": ["data_stale"]}, format="json")) == {
        ("body", "freshness_minutes")
    }
    response = client.patch(
        url, {"conditions": ["data_stale"], "freshness_minutes": 30}, format="json"
    )
    assert response.json()["freshness_minutes"] == 30
    # Dropping it clears the freshness that no longer applies.
    response = client.patch(url, {"conditions": ["sync_recovered"]}, format="json")
    assert response.json()["freshness_minutes"] is None
    # Scope changes: connector scope needs the connector; back to all clears it.
    assert locs(client.patch(url, {"scope": "connector"}, format="json")) == {
        ("body", "connector_id")
    }
    response = client.patch(
        url, {"scope": "connector", "connector_id": str(connector.id)}, format="json"
    )
    assert response.json()["connector_id"] == str(connector.id)
    response = client.patch(url, {"scope": "all"}, format="json")
    assert response.json()["scope"] == "all" and response.json()["connector_id"] is None
    # Not required on PATCH, but still typed.
    assert locs(client.patch(url, {"enabled": 0}, format="json")) == {("body", "enabled")}
    assert client.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    # Renaming onto another policy's name.
    create_policy(client, name="other")
    assert client.patch(url, {"name": "other"}, format="json").status_code == 409


def test_policy_delete_keeps_its_notifications(client, user):
    policy = create_policy(client)
    notification = notify(user.account, policy_id=policy["id"])
    assert client.delete(f"/alerts/policies/{policy['id']}").status_code == 204
    notification.refresh_from_db()
    assert notification.policy_id is None
    assert client.delete(f"/alerts/policies/{policy['id']}").status_code == 404


def test_policies_of_another_account_are_404(client, stranger):
    theirs = create_policy(client_for(stranger))
    url = f"/alerts/policies/{theirs['id']}"
    assert client.patch(url, {"enabled": False}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.post(f"{url}/test").status_code == 404
    assert client.get("/alerts/policies").json()["total"] == 0


# --- Resolve ---------------------------------------------------------------------------------
def test_resolve_lists_the_policies_that_apply_and_how(client, user, connector, stranger):
    other = make_connector(user.account, name="billing-api")
    group = client.post(
        "/alerts/groups", {"name": "critical", "connector_ids": [str(connector.id)]}, format="json"
    ).json()
    everyone = create_policy(client, name="everyone")
    grouped = create_policy(client, name="grouped", scope="group", group_id=group["id"])
    mine = create_policy(client, name="mine", scope="connector", connector_id=str(connector.id))
    off = create_policy(client, name="off", enabled=False)
    create_policy(client, name="theirs", scope="connector", connector_id=str(other.id))

    response = client.get(f"/alerts/policies/resolve/{connector.id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["connector_id"] == str(connector.id)
    matches = {m["policy"]["id"]: m for m in body["policies"]}
    assert set(matches) == {everyone["id"], grouped["id"], mine["id"]}
    assert matches[everyone["id"]]["matched_by"] == "all"
    assert matches[everyone["id"]]["group"] is None
    assert matches[grouped["id"]]["matched_by"] == "group"
    assert matches[grouped["id"]]["group"] == {"id": group["id"], "name": "critical"}
    assert matches[mine["id"]]["matched_by"] == "connector"
    assert matches[mine["id"]]["policy"] == mine | {"updated_at": mine["updated_at"]}
    assert [m["policy"]["id"] for m in body["disabled"]] == [off["id"]]

    theirs = make_connector(stranger.account)
    assert client.get(f"/alerts/policies/resolve/{theirs.id}").status_code == 404
    assert client.get(f"/alerts/policies/resolve/{uuid.uuid4()}").status_code == 404


# --- Test send -------------------------------------------------------------------------------
def test_policy_test_sends_through_every_channel_regardless_of_cooldown(client, user, connector):
    endpoint = make_endpoint(user.account)
    policy = create_policy(
        client,
        channels={"email_recipients": ["ops@example.com"], "webhook_id": str(endpoint.id)},
    )
    PolicyFiring.objects.create(
        policy_id=policy["id"],
        connector_id=connector.id,
        condition="sync_failed",
        last_notified_at=timezone.now(),
    )

    response = client.post(f"/alerts/policies/{policy['id']}/test")
    assert response.status_code == 200, response.content
    result = response.json()
    notification = Notification.objects.get(id=result["notification_id"])
    assert notification.kind == "test" and notification.in_app is True
    assert notification.emailed_at is not None
    assert result["in_app"] is True
    assert result["emailed"] == ["ops@example.com"]
    assert result["email_error"] is None
    [email] = mail.outbox
    assert email.subject.startswith("[Landed] Test notification")
    assert email.to == ["ops@example.com"]
    event = Event.objects.get(id=result["webhook_event_id"])
    assert event.type == "alert.triggered" and event.endpoint_id == endpoint.id
    assert event.data["condition"] == "test"
    assert event.data["notification"]["id"] == result["notification_id"]
    # The test shows in the in-app list.
    assert client.get("/alerts/notifications").json()["items"][0]["kind"] == "test"


def test_policy_test_with_in_app_only(client):
    policy = create_policy(client)
    result = client.post(f"/alerts/policies/{policy['id']}/test").json()
    assert result["in_app"] is True
    assert result["emailed"] == [] and result["webhook_event_id"] is None
    assert mail.outbox == []


def test_policy_test_reports_an_email_that_could_not_be_sent(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    policy = create_policy(client, channels={"email_recipients": ["ops@example.com"]})
    response = client.post(f"/alerts/policies/{policy['id']}/test")
    assert response.status_code == 200
    assert response.json()["emailed"] == []
    assert response.json()["email_error"]
    notification = Notification.objects.get(id=response.json()["notification_id"])
    assert notification.emailed_at is None


# --- Notifications ---------------------------------------------------------------------------
def test_notifications_list_newest_first_in_app_only(client, user, connector, stranger):
    now = timezone.now()
    old = notify(user.account, connector, title="old", created_at=now - timedelta(hours=1))
    new = notify(user.account, connector, title="new", created_at=now, data={"job_id": "j"})
    notify(user.account, title="email only", in_app=False)
    notify(stranger.account, title="theirs")

    body = client.get("/alerts/notifications").json()
    assert body["total"] == 2
    assert [n["title"] for n in body["items"]] == ["new", "old"]
    item = body["items"][0]
    assert item == {
        "id": str(new.id),
        "kind": "sync_failed",
        "title": "new",
        "message": "",
        "data": {"job_id": "j"},
        "connector_id": str(connector.id),
        "policy_id": None,
        "read": False,
        "read_at": None,
        "created_at": new.created_at.isoformat(),
    }
    assert old.id != new.id


def test_unread_filter_and_counts(client, user):
    first = notify(user.account, title="a")
    notify(user.account, title="b")
    notify(user.account, title="c", read_at=timezone.now())
    assert client.get("/alerts/notifications/unread-count").json() == {"unread": 2}
    assert client.get("/alerts/notifications?unread=true").json()["total"] == 2
    assert client.get("/alerts/notifications?unread=false").json()["total"] == 1

    response = client.post(f"/alerts/notifications/{first.id}/read")
    assert response.status_code == 200
    assert response.json()["read"] is True and response.json()["read_at"]
    read_at = response.json()["read_at"]
    # Idempotent: the first read time stays.
    assert client.post(f"/alerts/notifications/{first.id}/read").json()["read_at"] == read_at
    assert client.get("/alerts/notifications/unread-count").json() == {"unread": 1}

    assert client.post("/alerts/notifications/read-all").json() == {"updated": 1}
    assert client.post("/alerts/notifications/read-all").json() == {"updated": 0}
    assert client.get("/alerts/notifications/unread-count").json() == {"unread": 0}


@pytest.mark.parametrize("value", ["yes", "", "1", "TRUE"])
def test_bad_unread_filter_is_422(client, value):
    response = client.get(f"/alerts/notifications?unread={value}")
    assert locs(response) == {("query", "unread")}


def test_notifications_of_another_account_are_404(client, user, stranger):
    theirs = notify(stranger.account)
    hidden = notify(user.account, in_app=False)
    assert client.post(f"/alerts/notifications/{theirs.id}/read").status_code == 404
    assert client.post(f"/alerts/notifications/{hidden.id}/read").status_code == 404
    assert client.post("/alerts/notifications/read-all").json() == {"updated": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert client.get("/alerts/notifications/unread-count").json() == {"unread": 0}


def test_policy_test_is_rate_limited_as_sensitive(client, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "sensitive": ["2/m"]}
    policy = create_policy(client)
    url = f"/alerts/policies/{policy['id']}/test"
    ip = ip_with_fresh_window()  # no window edge inside the test
    assert [client.post(url, REMOTE_ADDR=ip).status_code for _ in range(3)] == [200, 200, 429]


def test_group_get_is_a_single_resource_read(client, user, settings):
    """GET /alerts/groups/{id} is limited as the reference's single-resource GETs (120/min),
    not as a list."""
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "read": ["1/m"], "read_high": ["3/m"]}
    group = AlertGroup.objects.create(account=user.account, name="critical")
    url = f"/alerts/groups/{group.id}"
    ip = ip_with_fresh_window()
    assert [client.get(url, REMOTE_ADDR=ip).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_openapi_descriptions_are_the_operations_own(client, settings):
    """An operation without a description took the base view's docstring (about rate-limit
    tiers, for developers) into the published API description."""
    settings.EXPOSE_API_DOCS = True
    schema = client.get("/openapi.json").json()
    alerts = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/alerts/")
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(alerts) == 17
    for operation in alerts:
        assert operation.get("description"), operation["operationId"]
        assert "rate_limit_tiers" not in operation["description"], operation["operationId"]
