"""Webhooks and alerts end to end: the API over HTTP, real Celery worker and beat processes,
a real sync, and a local receiver that verifies every signature with the standard library."""

import itertools
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Api, create_pg_connector
from tests.pg import connect
from tests.webhook_receiver import Receiver, verify_signature

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def orders_source(source_db):
    with connect(source_db) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 500) g")
    return source_db


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_webhook(api: Api, url: str, **body) -> dict:
    return api.ok("POST", "/webhooks", 201, json={"url": url, **body})


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202)
    return api.wait_for_job(job["id"])


def types_of(received) -> list[str]:
    return [r.headers["landed-event-type"] for r in received]


def test_a_real_sync_is_delivered_signed_on_success_and_on_failure(
    celery, api, orders_source, pg_destination, receiver
):
    celery.start("worker", SYNC_MAX_ATTEMPTS="1")
    celery.start("worker", queues="webhooks,default")
    celery.start("beat")
    hook = create_webhook(
        api, receiver.url, event_types=["sync.started", "sync.succeeded", "sync.failed"]
    )
    secret = hook["secret"]
    assert secret.startswith("whsec_")

    connector = create_pg_connector(api, orders_source, pg_destination)
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded"
    got = receiver.wait_for(lambda rs: {"sync.started", "sync.succeeded"} <= set(types_of(rs)))
    # connector.created was not subscribed to: not sent.
    assert set(types_of(got)) == {"sync.started", "sync.succeeded"}
    for request in got:
        assert request.verified_by(secret), request.headers
        envelope = request.json
        assert set(envelope) == {"id", "type", "created_at", "data"}
        assert request.headers["landed-event-id"] == envelope["id"]
        assert request.headers["landed-delivery-id"]
        assert envelope["data"]["job"]["id"] == job["id"]
        assert envelope["data"]["connector"]["id"] == connector["id"]
    (succeeded,) = receiver.of_type("sync.succeeded")
    assert succeeded.json["data"]["job"]["status"] == "succeeded"
    assert succeeded.json["data"]["job"]["rows_written"] == 500

    # A failure that will not be retried (a closed port, one attempt).
    broken = create_pg_connector(
        api, orders_source, pg_destination, name="broken", config={"port": closed_port()}
    )
    failed_job = sync(api, broken["id"])
    assert failed_job["status"] == "failed"
    receiver.wait_for(lambda rs: "sync.failed" in types_of(rs))
    (failed,) = receiver.of_type("sync.failed")
    assert failed.verified_by(secret)
    data = failed.json["data"]
    assert data["job"]["id"] == failed_job["id"] and data["job"]["error"]["type"]
    assert data["retry_job_id"] is None

    # started and succeeded, then started and failed. The receiver has the last request a
    # moment before the worker has logged its attempt.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = api.ok("GET", f"/webhooks/{hook['id']}/deliveries")
        if log["total"] == 4:
            break
        time.sleep(0.2)
    assert log["total"] == 4 and all(item["succeeded"] for item in log["items"])
    assert {item["status_code"] for item in log["items"]} == {200}


def test_a_failing_receiver_is_retried_until_it_recovers(
    celery, api, orders_source, pg_destination, receiver
):
    celery.start("worker", queues="webhooks,default")
    celery.start("beat")
    receiver.statuses.extend([500, 503, 404])
    hook = create_webhook(api, receiver.url, event_types=["connector.created"])
    connector = create_pg_connector(api, orders_source, pg_destination)

    received = receiver.wait_for(lambda rs: len(rs) >= 4, timeout=60)
    assert len({r.headers["landed-delivery-id"] for r in received}) == 1
    assert len({r.json["id"] for r in received}) == 1
    assert all(r.verified_by(hook["secret"]) for r in received)
    assert received[0].json["data"]["connector"]["id"] == connector["id"]
    # Backoff: each wait longer than the base (0.5 s, with jitter from half of it).
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert all(gap >= 0.2 for gap in gaps), gaps

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = api.ok("GET", f"/webhooks/{hook['id']}/deliveries")
        if log["total"] == 4:
            break
        time.sleep(0.2)
    attempts = sorted(log["items"], key=lambda item: item["attempt"])
    assert [a["status_code"] for a in attempts] == [500, 503, 404, 200]
    assert [a["succeeded"] for a in attempts] == [False, False, False, True]
    assert all(a["next_retry_at"] for a in attempts[:3]) and attempts[3]["next_retry_at"] is None
    assert '"received": true' in attempts[3]["response_excerpt"]
    assert api.ok("GET", f"/webhooks/{hook['id']}")["failing_since"] is None


def test_rotation_signs_with_both_secrets_during_the_overlap(celery, api, receiver):
    celery.start("worker", queues="webhooks,default")
    hook = create_webhook(api, receiver.url)
    old = hook["secret"]
    rotated = api.ok("POST", f"/webhooks/{hook['id']}/rotate-secret")
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    assert api.ok("GET", f"/webhooks/{hook['id']}/secret")["secret"] == new

    outcome = api.ok("POST", f"/webhooks/{hook['id']}/test")
    assert outcome["succeeded"] is True and outcome["status_code"] == 200
    (request,) = receiver.of_type("webhook.test")
    assert request.signature.count("v1=") == 2
    assert request.verified_by(new) and request.verified_by(old)
    assert not request.verified_by("whsec_someone-else")

    # Replays: the same signed request presented later than the tolerance is refused, and a
    # body changed in transit fails the signature.
    t = int(request.signature.split(",")[0].removeprefix("t="))
    assert verify_signature(request.signature, request.body, new, now=t + 299)
    assert not verify_signature(request.signature, request.body, new, now=t + 301)
    assert not verify_signature(request.signature, request.body + b" ", new)


def test_deliveries_never_reach_a_private_address_when_not_allowed(
    celery, api, orders_source, pg_destination, receiver
):
    # The API (this process) allows loopback, so the endpoint can be saved; the worker runs
    # with the policy a hosted Landed has, and must refuse it at delivery time.
    celery.start("worker", queues="webhooks,default", ALLOW_PRIVATE_NETWORKS="false")
    celery.start("beat")
    hook = create_webhook(api, receiver.url, event_types=["connector.updated"])
    connector = create_pg_connector(api, orders_source, pg_destination)
    api.ok("PATCH", f"/connectors/{connector['id']}", json={"paused": True})
    deadline = time.monotonic() + 30
    log = {"items": []}
    while time.monotonic() < deadline and not log["items"]:
        log = api.ok("GET", f"/webhooks/{hook['id']}/deliveries")
        time.sleep(0.2)
    (attempt,) = log["items"][:1]
    assert attempt["succeeded"] is False and attempt["status_code"] is None
    assert "private, loopback and link-local" in attempt["error"]
    time.sleep(1)
    assert receiver.received == []


def test_no_event_is_lost_when_messages_or_the_worker_are(
    celery, api, orders_source, pg_destination, receiver
):
    import redis

    celery.start("worker")
    hook = create_webhook(api, receiver.url, event_types=["sync.started", "sync.succeeded"])
    connector = create_pg_connector(api, orders_source, pg_destination)
    job = sync(api, connector["id"])
    assert job["status"] == "succeeded"
    # No webhooks worker yet: the events are committed and queued. The broker loses the queue.
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("webhooks")
    time.sleep(0.5)
    assert receiver.received == []

    # A webhooks worker that is killed in the middle of its first delivery. Its attempt holds
    # the delivery and the endpoint for the deadline plus a margin (30 s by default): short
    # here, so that the hold lapses within seconds of the kill.
    receiver.delay = 4
    short_hold = {"WEBHOOK_TIMEOUT_SECONDS": "5", "WEBHOOK_LOCK_MARGIN_SECONDS": "1"}
    doomed = celery.start("worker", queues="webhooks,default", **short_hold)
    celery.start("beat")
    (interrupted,) = receiver.wait_for(lambda rs: len(rs) >= 1, timeout=30)[:1]
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    receiver.delay = 0

    celery.start("worker", queues="webhooks,default", **short_hold)
    interrupted_id = interrupted.headers["landed-delivery-id"]

    def complete(received) -> bool:
        ids = [r.headers["landed-delivery-id"] for r in received]
        types = {r.headers["landed-event-type"] for r in received}
        # The attempt the killed worker was making is made again (at least once delivery).
        return ids.count(interrupted_id) >= 2 and {"sync.started", "sync.succeeded"} <= types

    got = receiver.wait_for(complete, timeout=60)
    by_event = {r.json["id"]: r.json["type"] for r in got}
    assert sorted(by_event.values()) == ["sync.started", "sync.succeeded"]
    assert all(r.verified_by(hook["secret"]) for r in got)
    # Every event ends delivered, once in the log (the killed attempt was sent again).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = api.ok("GET", f"/webhooks/{hook['id']}/deliveries")["items"]
        if len({i["event_id"] for i in items if i["succeeded"]}) == 2:
            break
        time.sleep(0.2)
    assert {i["event_id"] for i in items if i["succeeded"]} == set(by_event)
    assert len([i for i in items if i["succeeded"]]) == 2


def test_alert_policy_notifies_in_app_by_email_and_webhook_with_a_cooldown(
    celery, api, orders_source, pg_destination, receiver, tmp_path
):
    mail_dir = tmp_path / "mail"
    worker_env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "SYNC_MAX_ATTEMPTS": "1",
    }
    celery.start("worker", **worker_env)
    celery.start("worker", queues="webhooks", **worker_env)
    celery.start("beat")
    broken = create_pg_connector(
        api, orders_source, pg_destination, name="broken", config={"port": closed_port()}
    )
    healthy = create_pg_connector(api, orders_source, pg_destination, name="healthy")
    hook = create_webhook(api, receiver.url, event_types=["connector.created"])
    group = api.ok(
        "POST", "/alerts/groups", 201, json={"name": "critical", "connector_ids": [broken["id"]]}
    )
    policy = api.ok(
        "POST",
        "/alerts/policies",
        201,
        json={
            "name": "critical failures",
            "conditions": ["sync_failed"],
            "scope": "group",
            "group_id": group["id"],
            "channels": {
                "in_app": True,
                "email_recipients": ["oncall@example.com"],
                "webhook_id": hook["id"],
            },
            "cooldown_minutes": 60,
        },
    )
    resolved = api.ok("GET", f"/alerts/policies/resolve/{broken['id']}")
    assert [p["policy"]["id"] for p in resolved["policies"]] == [policy["id"]]
    assert resolved["policies"][0]["matched_by"] == "group"
    assert api.ok("GET", f"/alerts/policies/resolve/{healthy['id']}")["policies"] == []

    assert sync(api, broken["id"])["status"] == "failed"
    alert = receiver.wait_for(lambda rs: "alert.triggered" in types_of(rs), timeout=30)
    (alert,) = [r for r in alert if r.headers["landed-event-type"] == "alert.triggered"]
    assert alert.verified_by(hook["secret"])
    assert alert.json["data"]["condition"] == "sync_failed"
    assert alert.json["data"]["connector"]["id"] == broken["id"]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (mail_dir.exists() and any(mail_dir.iterdir())):
        time.sleep(0.2)
    (mail,) = list(Path(mail_dir).iterdir())
    text = mail.read_text()
    assert "oncall@example.com" in text and "broken" in text

    assert api.ok("GET", "/alerts/notifications/unread-count") == {"unread": 1}
    # A second failure inside the cooldown notifies nobody.
    assert sync(api, broken["id"])["status"] == "failed"
    # The healthy connector is outside the group's scope.
    assert sync(api, healthy["id"])["status"] == "succeeded"
    time.sleep(3)
    assert api.ok("GET", "/alerts/notifications/unread-count") == {"unread": 1}
    assert len(receiver.of_type("alert.triggered")) == 1
    assert len(list(Path(mail_dir).iterdir())) == 1

    notes = api.ok("GET", "/alerts/notifications?unread=true")
    assert notes["total"] == 1 and notes["items"][0]["connector_id"] == broken["id"]
    api.ok("POST", f"/alerts/notifications/{notes['items'][0]['id']}/read")
    assert api.ok("GET", "/alerts/notifications/unread-count") == {"unread": 0}
