"""The product's main flows on the embedded default, started as `make run` starts it with
nothing configured: `scripts/run.sh` with no DATABASE_URL or REDIS_URL, so SQLite, Celery's
filesystem broker with real worker and beat processes, and DuckDB files under a temporary
LANDED_DATA_DIR; driven over HTTP. One server for the module; its last test stops it with
Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import requests

from tests.e2e.conftest import Api
from tests.landed.test_run_command import (
    PASSWORD,
    Server,
    base_env,
    free_port,
    hold_a_delivery_in_flight,
    serving,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow

SAMPLE_SIZE = 200


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = base_env(
        data,
        port,
        # A failed sync fails for good at once (no retry backoff to wait out); beat's checks
        # run every second. No rate limits: Api.wait_for_job polls faster than the job
        # polling tier allows (the limits have tests of their own).
        SYNC_MAX_ATTEMPTS="1",
        WEBHOOK_SWEEP_SECONDS="1",
        ALERT_FRESHNESS_CHECK_SECONDS="1",
        RATELIMIT_ENABLE="false",
    )
    with serving(["scripts/run.sh"], env, port, data / "run.log") as server:
        yield server


@pytest.fixture(scope="module")
def account(embedded: Server) -> dict[str, Any]:
    """A user signed up over HTTP, with an API key and a DuckDB destination."""
    signup = requests.post(
        f"{embedded.url}/auth/signup",
        json={"email": "embedded@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert signup.status_code == 201, signup.text
    created = requests.post(
        f"{embedded.url}/auth/api-keys",
        json={"name": "e2e"},
        headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    api = Api(embedded.url, created.json()["key"])
    destination = api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "local", "type": "duckdb", "config": {"path": "landed.duckdb"}},
    )
    return {"api": api, "id": signup.json()["customer"]["id"], "destination": destination}


@pytest.fixture(scope="module")
def webhook(account: dict[str, Any], receiver: Receiver) -> dict[str, Any]:
    """An endpoint for every event type, on the module's receiver."""
    return account["api"].ok("POST", "/webhooks", 201, json={"url": receiver.url})


def test_a_sample_sync_lands_in_duckdb_and_is_delivered_signed(
    embedded: Server, account: dict[str, Any], webhook: dict[str, Any], receiver: Receiver
) -> None:
    api: Api = account["api"]
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "demo",
            "type": "sample",
            "config": {"size": SAMPLE_SIZE},
            "destination_id": account["destination"]["id"],
        },
    )
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    finished = api.wait_for_job(job["id"], timeout=90)
    assert finished["status"] == "succeeded", (finished, embedded.output()[-3000:])
    # customers, orders (3x) and events (10x)
    assert finished["rows_written"] == SAMPLE_SIZE * 14

    path = embedded.log.parent / "data" / "duckdb" / account["id"] / "landed.duckdb"
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM demo.orders").fetchone()[0] == SAMPLE_SIZE * 3

    def succeeded(received: list) -> bool:
        return any(
            r.headers.get("landed-event-type") == "sync.succeeded"
            and r.json["data"]["job"]["id"] == job["id"]
            for r in received
        )

    got = receiver.wait_for(succeeded, timeout=30)
    (delivery,) = [r for r in got if r.headers.get("landed-event-type") == "sync.succeeded"]
    assert delivery.verified_by(webhook["secret"]), delivery.headers
    assert delivery.json["data"]["job"]["rows_written"] == SAMPLE_SIZE * 14


def test_an_alert_policy_fires_on_a_failed_sync(
    embedded: Server, account: dict[str, Any], webhook: dict[str, Any], receiver: Receiver
) -> None:
    api: Api = account["api"]
    # Every condition, so that each query evaluation makes on an event or on the freshness
    # check runs on SQLite; in the app and to the webhook endpoint.
    policy = api.ok(
        "POST",
        "/alerts/policies",
        201,
        json={
            "name": "everything",
            "conditions": [
                "sync_failed",
                "consecutive_failures",
                "sync_recovered",
                "schema_changed",
                "data_stale",
            ],
            "consecutive_failures": 2,
            "freshness_minutes": 60,
            "cooldown_minutes": 0,
            "channels": {"in_app": True, "webhook_id": webhook["id"]},
        },
    )
    broken = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "broken",
            "type": "postgres",
            "config": {
                "host": "127.0.0.1",
                "port": free_port(),  # nothing listens there
                "database": "shop",
                "username": "landed",
                "password": "secret",
            },
            "destination_id": account["destination"]["id"],
        },
    )
    job = api.ok("POST", f"/connectors/{broken['id']}/sync", 202)
    assert api.wait_for_job(job["id"])["status"] == "failed"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        notes = api.ok("GET", "/alerts/notifications?unread=true")["items"]
        if any(n["kind"] == "sync_failed" for n in notes):
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"no sync_failed notification: {notes}\n{embedded.output()[-4000:]}")
    (note,) = [n for n in notes if n["kind"] == "sync_failed"]
    assert note["connector_id"] == broken["id"] and note["policy_id"] == policy["id"]
    assert note["title"] == "Sync failed: broken"

    def alerted(received: list) -> bool:
        return any(r.headers.get("landed-event-type") == "alert.triggered" for r in received)

    got = receiver.wait_for(alerted, timeout=30)
    (alert,) = [r for r in got if r.headers.get("landed-event-type") == "alert.triggered"]
    assert alert.verified_by(webhook["secret"])
    assert alert.json["data"]["condition"] == "sync_failed"
    assert alert.json["data"]["connector"]["id"] == broken["id"]

    # The policy's test goes through evaluation's own lookup: it works here because that does.
    tested = api.ok("POST", f"/alerts/policies/{policy['id']}/test")
    assert tested["in_app"] is True and tested["webhook_event_id"]
    kinds = {n["kind"] for n in api.ok("GET", "/alerts/notifications")["items"]}
    assert kinds == {"sync_failed", "test"}

    # The freshness check ran (every second) and evaluated the policy; nothing failed, and
    # no event left a traceback in the log.
    deadline = time.monotonic() + 10
    while "webhooks.freshness_checked policies=1" not in embedded.output():
        assert time.monotonic() < deadline, embedded.output()[-4000:]
        time.sleep(0.3)
    log = embedded.output()
    assert "Traceback" not in log, log
    assert "alert_evaluation_failed" not in log


def test_ctrl_c_stops_every_process_with_a_delivery_in_flight(
    embedded: Server, account: dict[str, Any], webhook: dict[str, Any], receiver: Receiver
) -> None:
    hold_a_delivery_in_flight(account["api"], receiver, account["destination"]["id"])

    # SIGINT to the script alone: it stops the processes it started, each of them included.
    embedded.stop(whole_group=False)
    assert "Landed API on" in embedded.output()
