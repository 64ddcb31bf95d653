"""The Webhooks endpoints: CRUD, validation, ownership, secrets, rotation, the test delivery
and the delivery log, over HTTP against a real local receiver."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory
from tests.clients import client_for
from tests.ratelimit_windows import ip_with_fresh_window
from tests.webhook_receiver import Receiver
from tests.webhooks.test_delivery import raw_receiver  # noqa: F401 (a fixture)
from webhooks import delivery, dispatch, services
from webhooks.events import event_raise
from webhooks.models import Delivery, DeliveryStatus, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "event_types",
    "enabled",
    "disabled_at",
    "disabled_reason",
    "failing_since",
    "breaker",
    "created_at",
    "updated_at",
}
URL = "https://hooks.example.com/landed"


@pytest.fixture
def other(db) -> APIClient:
    return client_for(UserFactory())


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def create(client, url: str = URL, **body) -> dict:
    response = client.post("/webhooks", {"url": url, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def errors(response) -> list[tuple]:
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "Validation error"
    return [(tuple(e["loc"]), e["type"]) for e in response.json()["detail"]]


# --- CRUD ----------------------------------------------------------------------------------
def test_create_returns_the_endpoint_with_its_secret_once(client):
    created = create(
        client,
        event_types=["sync.failed", "schema.changed", "sync.failed"],
        description="on-call",
        unknown_field="ignored",
    )
    assert set(created) == ENDPOINT_FIELDS | {"secret"}
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["url"] == URL and created["description"] == "on-call"
    assert created["event_types"] == ["sync.failed", "schema.changed"]  # duplicates collapsed
    assert created["enabled"] is True
    assert created["disabled_at"] is None and created["failing_since"] is None
    assert created["breaker"] == {"state": "closed", "consecutive_timeouts": 0, "open_until": None}
    assert created["created_at"].endswith("+00:00")

    # Stored encrypted, never in clear.
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert created["secret"] not in row.encrypted_secret
    assert delivery.secrets_in_force(row) == [created["secret"]]

    # Not part of any other answer.
    listed = client.get("/webhooks")
    got = client.get(f"/webhooks/{created['id']}")
    patched = client.patch(f"/webhooks/{created['id']}", {"description": "x"}, format="json")
    for response in (listed, got, patched):
        assert response.status_code == 200
        assert created["secret"] not in response.content.decode()
    assert set(got.json()) == ENDPOINT_FIELDS
    assert set(listed.json()["items"][0]) == ENDPOINT_FIELDS


def test_defaults_list_get_update_delete(client):
    first = create(client)
    assert first["event_types"] == [] and first["description"] == ""
    second = create(client, "https://other.example.com/h", enabled=False)
    assert second["enabled"] is False

    listed = client.get("/webhooks").json()
    assert listed["total"] == 2 and listed["has_next"] is False
    assert [i["id"] for i in listed["items"]] == [second["id"], first["id"]]  # newest first
    assert client.get("/webhooks?limit=1").json()["has_next"] is True

    assert client.get(f"/webhooks/{first['id']}").json() == {
        k: v for k, v in first.items() if k != "secret"
    }
    patched = client.patch(
        f"/webhooks/{first['id']}",
        {"url": "https://new.example.com/x", "event_types": ["connector.created"]},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    body = patched.json()
    assert body["url"] == "https://new.example.com/x"
    assert body["event_types"] == ["connector.created"]
    assert body["description"] == "" and body["enabled"] is True  # untouched
    assert body["updated_at"] > first["updated_at"]
    # An empty list subscribes to everything again.
    patched = client.patch(f"/webhooks/{first['id']}", {"event_types": []}, format="json")
    assert patched.json()["event_types"] == []

    assert client.delete(f"/webhooks/{first['id']}").status_code == 204
    assert client.get(f"/webhooks/{first['id']}").status_code == 404
    assert client.delete(f"/webhooks/{first['id']}").status_code == 404
    assert client.get("/webhooks").json()["total"] == 1


def test_delete_takes_pending_deliveries_with_it(client, user):
    hook = create(client)
    endpoint = WebhookEndpoint.objects.get(id=hook["id"])
    with transaction.atomic():
        event = event_raise(account_id=user.account_id, type="sync.succeeded", data={})
    assert len(dispatch.event_dispatch(event_id=event.id)) == 1
    assert Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).exists()

    assert client.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert not Delivery.objects.filter(event=event).exists()
    assert Event.objects.filter(id=event.id).exists()  # the event itself stays


def test_enabling_a_disabled_endpoint_clears_its_failure(client):
    hook = create(client)
    endpoint = WebhookEndpoint.objects.get(id=hook["id"])
    endpoint.failing_since = timezone.now() - timedelta(days=4)
    endpoint.consecutive_timeouts = 5
    endpoint.breaker_open_until = timezone.now() - timedelta(minutes=1)
    endpoint.save()
    delivery.endpoint_disable(endpoint=endpoint)
    disabled = client.get(f"/webhooks/{hook['id']}").json()
    assert disabled["enabled"] is False
    assert disabled["disabled_at"] and disabled["disabled_reason"] and disabled["failing_since"]
    assert disabled["breaker"]["state"] == "half_open"

    enabled = client.patch(f"/webhooks/{hook['id']}", {"enabled": True}, format="json").json()
    assert enabled["enabled"] is True
    assert enabled["disabled_at"] is None
    assert enabled["disabled_reason"] == ""
    assert enabled["failing_since"] is None
    assert enabled["breaker"] == {"state": "closed", "consecutive_timeouts": 0, "open_until": None}

    # Pausing by hand is not a disabling by Landed.
    paused = client.patch(f"/webhooks/{hook['id']}", {"enabled": False}, format="json").json()
    assert paused["enabled"] is False and paused["disabled_at"] is None


def test_at_most_twenty_endpoints_per_account(client, other):
    for n in range(services.MAX_ENDPOINTS_PER_ACCOUNT):
        create(client, f"https://h{n}.example.com/")
    response = client.post("/webhooks", {"url": URL}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "Too many webhook endpoints."
    # Per account.
    create(other)


# --- Validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [(("body", "url"), "missing")]),
        ({"url": 42}, [(("body", "url"), "string_type")]),
        ({"url": ""}, [(("body", "url"), "string_too_short")]),
        ({"url": "https://e.com/" + "a" * 2000}, [(("body", "url"), "string_too_long")]),
        ({"url": URL, "enabled": "yes"}, [(("body", "enabled"), "bool_parsing")]),
        ({"url": URL, "enabled": 1}, [(("body", "enabled"), "bool_parsing")]),
        ({"url": URL, "enabled": None}, [(("body", "enabled"), "null")]),
        ({"url": URL, "description": "d" * 501}, [(("body", "description"), "string_too_long")]),
        ({"url": URL, "description": 5}, [(("body", "description"), "string_type")]),
        (
            {"url": URL, "event_types": ["sync.failed", "sync.exploded"]},
            [(("body", "event_types", 1), "enum")],
        ),
        # Sent to one endpoint by name, not subscribable.
        ({"url": URL, "event_types": ["webhook.test"]}, [(("body", "event_types", 0), "enum")]),
        ({"url": URL, "event_types": [7]}, [(("body", "event_types", 0), "enum")]),
        ({"url": URL, "event_types": "sync.failed"}, [(("body", "event_types"), "list_type")]),
        ({"url": URL, "event_types": None}, [(("body", "event_types"), "null")]),
    ],
)
def test_create_validates_the_body(client, body, expected):
    assert errors(client.post("/webhooks", body, format="json")) == expected


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("ftp://files.example.com/x", "url_scheme"),
        ("hooks.example.com/landed", "url_scheme"),
        ("//hooks.example.com/landed", "url_scheme"),
        ("javascript:alert(1)", "url_scheme"),
        ("https:///no-host", "url_parsing"),
        ("https://[::1/x", "url_parsing"),
        ("https://e.com:99999/x", "url_parsing"),
        ("https://e.com:0/x", "url_parsing"),
        ("https://a..b/x", "url_parsing"),
        ("https://.e.com/x", "url_parsing"),
        ("https://" + "a" * 64 + ".com/x", "url_parsing"),
        ("https://%41.com/x", "url_parsing"),
        ("https://[v1.x]/x", "url_parsing"),
        ("https://[fe80::1%25eth0]/x", "url_parsing"),
        ("https://e.com/a b", "value_error"),
        ("https://e.com/\nx", "value_error"),
        ("https://user:pass@hooks.example.com/x", "url_credentials_not_allowed"),
        ("https://token@hooks.example.com/x", "url_credentials_not_allowed"),
    ],
)
def test_create_refuses_bad_urls(client, url, kind):
    assert errors(client.post("/webhooks", {"url": url}, format="json")) == [
        (("body", "url"), kind)
    ]


def test_https_is_required_when_the_server_says_so(client, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = False
    create(client, "http://hooks.example.com/x")

    settings.WEBHOOK_REQUIRE_HTTPS = True
    response = client.post("/webhooks", {"url": "http://hooks.example.com/x"}, format="json")
    assert errors(response) == [(("body", "url"), "url_scheme")]
    assert "https://" in response.json()["detail"][0]["msg"]
    create(client, "HTTPS://hooks.example.com/x")
    hook = create(client)
    patched = client.patch(
        f"/webhooks/{hook['id']}", {"url": "http://h.example.com"}, format="json"
    )
    assert errors(patched) == [(("body", "url"), "url_scheme")]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_private_addresses_are_refused_unless_allowed(client, settings, url):
    settings.ALLOW_PRIVATE_NETWORKS = False
    response = client.post("/webhooks", {"url": url}, format="json")
    assert errors(response) == [(("body", "url"), "host_not_allowed")]
    assert "private, loopback and link-local" in response.json()["detail"][0]["msg"]
    assert not WebhookEndpoint.objects.exists()

    settings.ALLOW_PRIVATE_NETWORKS = True
    hook = create(client, url)
    settings.ALLOW_PRIVATE_NETWORKS = False
    patched = client.patch(f"/webhooks/{hook['id']}", {"url": url}, format="json")
    assert errors(patched) == [(("body", "url"), "host_not_allowed")]


def test_update_validates_the_body(client):
    hook = create(client)
    path = f"/webhooks/{hook['id']}"
    assert errors(client.patch(path, {"enabled": "true"}, format="json")) == [
        (("body", "enabled"), "bool_parsing")
    ]
    assert errors(client.patch(path, {"event_types": ["nope"]}, format="json")) == [
        (("body", "event_types", 0), "enum")
    ]
    assert errors(client.patch(path, {"url": "ftp://x.example.com"}, format="json")) == [
        (("body", "url"), "url_scheme")
    ]
    assert errors(client.patch(path, [1], format="json"))[0][1] == "model_attributes_type"
    bad_json = client.patch(path, "{", content_type="application/json")
    assert bad_json.status_code == 400
    # Nothing changed; an empty body changes nothing.
    assert client.patch(path, {}, format="json").json()["url"] == URL


# --- Ownership -----------------------------------------------------------------------------
def test_other_accounts_endpoints_are_404(client, other):
    hook = create(client)
    base = f"/webhooks/{hook['id']}"
    answers = [
        other.get(base),
        other.patch(base, {"description": "mine"}, format="json"),
        other.delete(base),
        other.post(f"{base}/rotate-secret"),
        other.post(f"{base}/test"),
        other.get(f"{base}/deliveries"),
        other.get(f"{base}/secret"),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == {"error": "Webhook endpoint not found", "detail": None}
    assert other.get("/webhooks").json()["total"] == 0
    assert client.get(base).json()["description"] == ""
    assert APIClient().get("/webhooks").status_code == 401
    assert client.get("/webhooks/not-a-uuid").status_code == 404


# --- Secrets -------------------------------------------------------------------------------
def test_rotation_returns_a_new_secret_and_keeps_the_old_one_signing(client, settings):
    settings.WEBHOOK_SECRET_OVERLAP_SECONDS = 3600
    hook = create(client)
    secret = client.get(f"/webhooks/{hook['id']}/secret").json()
    assert secret == {"secret": hook["secret"], "previous_secret_expires_at": None}

    rotated = client.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert set(rotated.json()) == ENDPOINT_FIELDS | {"secret"}
    assert new.startswith("whsec_") and new != hook["secret"]

    after = client.get(f"/webhooks/{hook['id']}/secret").json()
    assert after["secret"] == new
    expires = datetime.fromisoformat(after["previous_secret_expires_at"])
    expected = timezone.now() + timedelta(hours=1)
    assert abs((expires - expected).total_seconds()) < 30
    endpoint = WebhookEndpoint.objects.get(id=hook["id"])
    assert delivery.secrets_in_force(endpoint) == [new, hook["secret"]]
    assert new not in client.get(f"/webhooks/{hook['id']}").content.decode()

    # A second rotation within the overlap: the previous is the one it replaced.
    newest = client.post(f"/webhooks/{hook['id']}/rotate-secret").json()["secret"]
    endpoint.refresh_from_db()
    assert delivery.secrets_in_force(endpoint) == [newest, new]

    # Past the overlap, the previous one is not reported (nor used).
    WebhookEndpoint.objects.filter(id=hook["id"]).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(f"/webhooks/{hook['id']}/secret").json() == {
        "secret": newest,
        "previous_secret_expires_at": None,
    }


def test_the_secret_endpoint_is_rate_limited_as_sensitive(user, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "sensitive": ["2/m"]}
    client = client_for(user, REMOTE_ADDR=ip_with_fresh_window())
    hook = create(client)
    answers = [client.get(f"/webhooks/{hook['id']}/secret") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"] == "Rate limit exceeded"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    # A read of the endpoint itself is in another tier.
    assert client.get(f"/webhooks/{hook['id']}").status_code == 200
    # Rotation and tests are sensitive too.
    rotations = [client.post(f"/webhooks/{hook['id']}/rotate-secret") for _ in range(3)]
    assert [a.status_code for a in rotations] == [200, 200, 429]


# --- Test deliveries -----------------------------------------------------------------------
def test_test_sends_a_signed_webhook_test_and_answers_the_outcome(client, receiver):
    hook = create(client, receiver.url, event_types=["sync.failed"])
    response = client.post(f"/webhooks/{hook['id']}/test")
    assert response.status_code == 200, response.content
    outcome = response.json()
    assert set(outcome) == {
        "delivery_id",
        "event_id",
        "succeeded",
        "status_code",
        "duration_ms",
        "response_excerpt",
        "error",
    }
    assert outcome["succeeded"] is True and outcome["status_code"] == 200
    assert outcome["error"] == "" and outcome["duration_ms"] >= 0
    assert '"received": true' in outcome["response_excerpt"]

    (request,) = receiver.received
    assert request.verified_by(hook["secret"])
    assert not request.verified_by("whsec_someone-else")
    assert request.headers["landed-event-type"] == "webhook.test"
    assert request.headers["landed-delivery-id"] == outcome["delivery_id"]
    assert request.headers["landed-event-id"] == outcome["event_id"]
    envelope = request.json
    assert envelope["id"] == outcome["event_id"] and envelope["type"] == "webhook.test"
    assert envelope["data"]["webhook"] == {"id": hook["id"], "url": receiver.url}
    assert envelope["data"]["message"]

    # The dispatcher, when the event's message arrives, finds the delivery made.
    assert dispatch.event_dispatch(event_id=outcome["event_id"]) == []
    (test_delivery,) = Delivery.objects.filter(event_id=outcome["event_id"])
    assert test_delivery.status == DeliveryStatus.SUCCEEDED and test_delivery.attempts == 1
    assert len(receiver.received) == 1

    log = client.get(f"/webhooks/{hook['id']}/deliveries").json()
    assert log["total"] == 1
    assert log["items"][0]["event_type"] == "webhook.test"
    assert log["items"][0]["succeeded"] is True


def test_a_failing_receiver_is_a_failed_outcome_in_the_log(client, receiver):
    receiver.default_status = 500
    hook = create(client, receiver.url)
    outcome = client.post(f"/webhooks/{hook['id']}/test").json()
    assert outcome["succeeded"] is False and outcome["status_code"] == 500
    assert "500" in outcome["error"]

    log = client.get(f"/webhooks/{hook['id']}/deliveries").json()
    (attempt,) = log["items"]
    assert attempt["delivery_id"] == outcome["delivery_id"]
    assert attempt["event_id"] == outcome["event_id"]
    assert attempt["attempt"] == 1 and attempt["succeeded"] is False
    assert attempt["status_code"] == 500
    # A test is not retried.
    assert attempt["next_retry_at"] is None
    assert Delivery.objects.get(id=outcome["delivery_id"]).status == DeliveryStatus.FAILED
    assert len(receiver.received) == 1


def test_a_disabled_endpoint_can_be_tested(client, receiver):
    hook = create(client, receiver.url, enabled=False)
    outcome = client.post(f"/webhooks/{hook['id']}/test").json()
    assert outcome["succeeded"] is True
    assert len(receiver.of_type("webhook.test")) == 1


def test_an_unreachable_endpoint_reports_the_error(client, unused_port):
    hook = create(client, f"http://127.0.0.1:{unused_port}/hooks")
    outcome = client.post(f"/webhooks/{hook['id']}/test").json()
    assert outcome["succeeded"] is False and outcome["status_code"] is None
    assert outcome["error"] == "connection refused"


def test_deliveries_are_paginated_and_filtered(client, receiver):
    receiver.statuses.extend([500, 200, 500])
    hook = create(client, receiver.url)
    outcomes = [client.post(f"/webhooks/{hook['id']}/test").json() for _ in range(3)]
    assert [o["status_code"] for o in outcomes] == [500, 200, 500]
    path = f"/webhooks/{hook['id']}/deliveries"

    page = client.get(f"{path}?limit=2").json()
    assert set(page) == {"items", "total", "limit", "offset", "has_next"}
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert page["has_next"] is True
    assert set(page["items"][0]) == {
        "id",
        "delivery_id",
        "event_id",
        "event_type",
        "attempt",
        "succeeded",
        "status_code",
        "duration_ms",
        "response_excerpt",
        "error",
        "next_retry_at",
        "created_at",
    }
    rest = client.get(f"{path}?limit=2&offset=2").json()
    assert rest["has_next"] is False and len(rest["items"]) == 1
    newest_first = [i["event_id"] for i in page["items"] + rest["items"]]
    assert newest_first == [o["event_id"] for o in reversed(outcomes)]

    failed = client.get(f"{path}?succeeded=false").json()
    assert failed["total"] == 2 and not any(i["succeeded"] for i in failed["items"])
    assert client.get(f"{path}?succeeded=true").json()["total"] == 1
    one = client.get(f"{path}?event_id={outcomes[1]['event_id']}").json()
    assert [i["event_id"] for i in one["items"]] == [outcomes[1]["event_id"]]
    combined = client.get(f"{path}?event_id={outcomes[1]['event_id']}&succeeded=false")
    assert combined.json()["total"] == 0

    for query, loc in [
        ("succeeded=maybe", "succeeded"),
        ("succeeded=", "succeeded"),
        ("event_id=nope", "event_id"),
        ("event_id=", "event_id"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
    ]:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422, query
        assert response.json()["detail"][0]["loc"] == ["query", loc]


# --- Regressions ---------------------------------------------------------------------------
def test_a_test_answered_with_a_nul_is_an_outcome_not_a_500(client, raw_receiver):  # noqa: F811
    raw_receiver.update(status=200, body=b"ok\x00")
    hook = create(client, raw_receiver["url"])
    response = client.post(f"/webhooks/{hook['id']}/test")
    assert response.status_code == 200, response.content
    assert response.json()["succeeded"] is True
    assert response.json()["response_excerpt"] == "ok\ufffd"


def test_a_failed_connection_test_quoting_a_nul_is_200_with_its_event(
    client,
    user,
    raw_receiver,  # noqa: F811
    unused_port,
):
    # The event's data quoted the API's answer, and jsonb refused its NUL: a 500, the test's
    # outcome lost.
    raw_receiver.update(status=401, body=b"bad\x00token")
    pg = {"host": "127.0.0.1", "port": unused_port, "database": "x", "username": "u"}
    destination = client.post(
        "/destinations", {"name": "wh", "type": "postgres", "config": pg}, format="json"
    ).json()
    config = {"base_url": raw_receiver["url"], "streams": [{"name": "s", "path": "/x"}]}
    body = {"name": "api", "type": "http_api", "config": config}
    connector = client.post(
        "/connectors", {**body, "destination_id": destination["id"]}, format="json"
    ).json()

    response = client.post(f"/connectors/{connector['id']}/test")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "failed"
    assert "bad\x00token" in response.json()["message"]
    event = Event.objects.get(type="connector.test_failed")
    assert "bad\ufffdtoken" in event.data["test"]["message"]


def test_a_new_url_starts_a_new_failure_streak(client, settings):
    # The old receiver's streak disabled the new one at its first failed attempt.
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    hook = create(client)
    open_until = timezone.now() + timedelta(minutes=5)
    WebhookEndpoint.objects.filter(id=hook["id"]).update(
        failing_since=timezone.now() - timedelta(days=2),
        consecutive_timeouts=3,
        breaker_open_until=open_until,
    )
    same = client.patch(f"/webhooks/{hook['id']}", {"url": URL}, format="json").json()
    assert same["failing_since"] is not None  # the same receiver: the streak goes on
    assert same["breaker"] == {
        "state": "open",
        "consecutive_timeouts": 3,
        "open_until": open_until.astimezone(UTC).isoformat(),
    }
    moved = client.patch(
        f"/webhooks/{hook['id']}", {"url": "https://new.example.com/x"}, format="json"
    ).json()
    assert moved["failing_since"] is None and moved["url"] == "https://new.example.com/x"
    # Its timeouts were the old receiver's: the new one's deliveries are not held for them.
    assert moved["breaker"] == {"state": "closed", "consecutive_timeouts": 0, "open_until": None}
