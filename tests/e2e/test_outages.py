"""Outages of the platform's own servers in the middle of a sync: the broker (Redis) killed and
restarted, the metadata database (PostgreSQL) restarted. Nothing lost, nothing loaded twice,
no job left running.

The platform runs as `make run` runs it on PostgreSQL and Redis (`scripts/run.sh`: migrations,
the API under gunicorn, the sync and light workers with their production pool, beat), but on
servers the test starts for itself (tests/servers.py), never the shared ones, which other
tests use while these are stopped. The sync's source and destination databases are on the
shared PostgreSQL: no outage touches them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import BIG_ORDERS_ROWS, FAST_CLOCKS, Api
from tests.e2e.test_postgres_sync import ORDERS, fingerprint, seed_orders, select_streams
from tests.landed.test_run_command import PASSWORD, Server, base_env, free_port, serving
from tests.pg import connect, pg_config, scratch
from tests.servers import OwnPostgres, OwnRedis
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow

ROWS = BIG_ORDERS_ROWS
# Small batches: the sync commits 150 of them, so that an outage lands between two.
BATCH = 2000
ACTIVE = ("pending", "running")


@pytest.fixture
def big_source(big_orders_source: str) -> str:
    """The source every test here syncs, and only reads."""
    return big_orders_source


@pytest.fixture
def dest_db() -> Iterator[str]:
    with scratch("landed_e2e_outage_dst") as name:
        yield name


@pytest.fixture
def metadata_db(tmp_path: Path) -> Iterator[OwnPostgres]:
    """The platform's metadata database, on a cluster of the test's own."""
    server = OwnPostgres(tmp_path / "metadata-pg")
    try:
        server.start()
        server.create_database("landed")
        yield server
    finally:
        server.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[OwnRedis]:
    """The platform's broker and cache, a Redis of the test's own. Persistent, with every
    write in an append-only file first, as a production broker is run: a restart keeps the
    queues (a broker that forgets them on a crash is an outage no platform survives)."""
    server = OwnRedis(tmp_path / "redis", persistent=True)
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class Platform:
    server: Server
    api: Api
    receiver: Receiver
    webhook: dict[str, Any]

    def logs(self) -> str:
        return self.server.output()[-8000:]


@pytest.fixture
def platform(tmp_path: Path, metadata_db: OwnPostgres, broker: OwnRedis) -> Iterator[Platform]:
    """`scripts/run.sh` on the test's own servers (it migrates the fresh database), with the
    e2e tests' short clocks; a user signed up over HTTP, with an API key and a webhook
    endpoint on a local receiver."""
    port = free_port()
    env = base_env(
        tmp_path,
        port,
        DATABASE_URL=metadata_db.url("landed"),
        REDIS_URL=broker.url(0),
        SECRET_KEY="test-only-secret-key-not-for-production",
        SYNC_BATCH_ROWS=str(BATCH),
        # One process of each kind: the machine is shared (a prefork pool all the same).
        WORKER_CONCURRENCY="1",
        LIGHT_WORKER_CONCURRENCY="1",
        WEB_CONCURRENCY="1",
        # The test polls the job faster than the API's read tier allows.
        RATELIMIT_ENABLE="false",
        **{
            **FAST_CLOCKS,
            # As in production (60 s against beats every 5 s), a worker silent this long is
            # lost; a restart of a few seconds is not that.
            "JOB_STALE_SECONDS": "15",
        },
    )
    with (
        Receiver() as receiver,
        serving(["scripts/run.sh"], env, port, tmp_path / "run.log") as server,
    ):
        signup = requests.post(
            f"{server.url}/auth/signup",
            json={"email": "outage@example.com", "password": PASSWORD},
            timeout=30,
        )
        assert signup.status_code == 201, signup.text
        created = requests.post(
            f"{server.url}/auth/api-keys",
            json={"name": "e2e"},
            headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        api = Api(server.url, created.json()["key"])
        webhook = api.ok("POST", "/webhooks", 201, json={"url": receiver.url})
        yield Platform(server, api, receiver, webhook)
        # Ctrl-C here, with more time than `serving` gives (its bound is another test's subject,
        # and the machine may be busy); whatever still runs after it is killed all the same.
        server.stop(within=30)


def start_sync(platform: Platform, big_source: str, dest_db: str, **stream_settings: Any) -> dict:
    """A connector from the big source to a PostgreSQL destination, and its first sync,
    returned once some batches are committed and most are still to come."""
    api = platform.api
    destination = api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "warehouse", "type": "postgres", "config": pg_config(dest_db)},
    )
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "shop",
            "type": "postgres",
            "config": pg_config(big_source),
            "destination_id": destination["id"],
        },
    )
    select_streams(api, connector["id"], **stream_settings)
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    deadline = time.monotonic() + 60
    while True:
        progress = api.ok("GET", f"/jobs/{job['id']}")
        if progress["rows_written"] >= 10 * BATCH:
            break
        assert progress["status"] in ACTIVE, (progress, platform.logs())
        assert time.monotonic() < deadline, platform.logs()
        time.sleep(0.05)
    assert progress["rows_written"] < ROWS, "the sync finished before the outage"
    return {"connector": connector, "destination": destination, "job": job}


def jobs_of(api: Api, connector_id: str) -> list[dict]:
    return api.ok("GET", f"/jobs?connector_id={connector_id}&limit=100")["items"]


def wait_until_settled(platform: Platform, connector_id: str, timeout: float = 60) -> list[dict]:
    """The connector's jobs once one has succeeded and none is pending or running (a failed
    attempt and its retry are created in one transaction: never all settled between)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = jobs_of(platform.api, connector_id)
        if any(j["status"] == "succeeded" for j in jobs) and not any(
            j["status"] in ACTIVE for j in jobs
        ):
            return jobs
        time.sleep(0.3)
    raise AssertionError(f"no settled success after {timeout}s: {jobs}\n{platform.logs()}")


def assert_exact(dest_db: str, big_source: str) -> None:
    """Every source row once, with its values: count, distinct keys and checksum agree."""
    count, keys, checksum = fingerprint(dest_db, "shop.orders")
    assert (count, keys) == (ROWS, ROWS)
    assert (count, keys, checksum) == fingerprint(big_source, "orders")


def assert_no_job_left_behind(platform: Platform, connector_id: str, jobs: list[dict]) -> None:
    """A few reaper rounds later, still nothing pending or running (a redelivered message or
    a late reaper did not start the sync again), and one attempt succeeded."""
    time.sleep(2)
    again = jobs_of(platform.api, connector_id)
    assert [j["status"] for j in again] == [j["status"] for j in jobs], (jobs, again)
    assert [j["status"] for j in again].count("succeeded") == 1, again


def delivered(receiver: Receiver, event_type: str, predicate: Any) -> list[dict]:
    return [r.json for r in receiver.of_type(event_type) if predicate(r.json["data"])]


def assert_events_delivered_once(
    platform: Platform, connector_id: str, jobs: list[dict], renamed: str | None = None
) -> None:
    """Each attempt's sync.started, the success's sync.succeeded and the rename made during
    the outage (if any) reached the endpoint; no event was delivered twice."""
    receiver = platform.receiver
    job_ids = {j["id"] for j in jobs}
    final = next(j for j in jobs if j["status"] == "succeeded")

    def complete(received: list) -> bool:
        types = [
            (r.headers.get("landed-event-type"), r.json["data"])
            for r in received
            if r.json["data"].get("connector", {}).get("id") == connector_id
        ]
        started = {d["job"]["id"] for t, d in types if t == "sync.started"}
        succeeded = {d["job"]["id"] for t, d in types if t == "sync.succeeded"}
        renames = [d for t, d in types if t == "connector.updated"]
        return (
            started == job_ids
            and succeeded == {final["id"]}
            and (renamed is None or any(d["connector"]["name"] == renamed for d in renames))
        )

    got = receiver.wait_for(complete, timeout=30)
    event_ids = [r.headers["landed-event-id"] for r in got]
    assert len(event_ids) == len(set(event_ids)), sorted(event_ids)
    assert all(r.verified_by(platform.webhook["secret"]) for r in got)


@pytest.fixture
def small_source() -> Iterator[str]:
    with scratch("landed_e2e_outage_small") as name:
        with connect(name) as conn:
            conn.execute(ORDERS)
        seed_orders(name, 1, 500)
        yield name


def test_broker_killed_mid_sync(
    platform: Platform, broker: OwnRedis, big_source: str, small_source: str, dest_db: str
) -> None:
    api = platform.api
    started = start_sync(
        platform, big_source, dest_db, sync_mode="full_refresh", load_mode="append"
    )
    connector_id = started["connector"]["id"]
    other = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "crm",
            "type": "postgres",
            "config": pg_config(small_source),
            "destination_id": started["destination"]["id"],
            "sync_frequency_minutes": None,
        },
    )

    broker.kill()
    # Meanwhile the API still works, and what it sends is not lost: a rename's
    # connector.updated event, and a sync of another connector, both with the broker down.
    renamed = "shop (renamed while the broker was down)"
    api.ok("PATCH", f"/connectors/{connector_id}", json={"name": renamed})
    other_job = api.ok("POST", f"/connectors/{other['id']}/sync", 202)
    time.sleep(2)
    broker.start()

    jobs = wait_until_settled(platform, connector_id)
    assert_exact(dest_db, big_source)
    assert_no_job_left_behind(platform, connector_id, jobs)
    # The sync went on through the restart, or an attempt that met the database away failed
    # saying so (or was reaped) and the next resumed: never a crash of unknown cause.
    failed = [j for j in jobs if j["status"] == "failed"]
    assert all(j["error"]["type"] in ("metadata_unavailable", "worker_lost") for j in failed), jobs
    # The events of the sync (raised in the transactions that changed the job, some of them
    # just after the restart) all went out.
    assert_events_delivered_once(platform, connector_id, jobs)
    assert_events_delivered_once(platform, connector_id, jobs, renamed)
    # The sync asked for during the outage ran once the broker was back.
    finished = api.wait_for_job(other_job["id"], timeout=60)
    assert finished["status"] == "succeeded", (finished, platform.logs())
    assert fingerprint(dest_db, "crm.orders") == fingerprint(small_source, "orders")


def test_metadata_database_restarted_mid_sync(
    platform: Platform, metadata_db: OwnPostgres, big_source: str, dest_db: str
) -> None:
    started = start_sync(
        platform,
        big_source,
        dest_db,
        sync_mode="incremental",
        load_mode="merge",
        cursor_field="updated_at",
    )
    connector_id = started["connector"]["id"]

    metadata_db.stop("fast")
    time.sleep(3)
    metadata_db.start()

    # The API answers again at once: no request fails on a connection the restart broke.
    for _ in range(5):
        platform.api.ok("GET", f"/jobs/{started['job']['id']}")
    jobs = wait_until_settled(platform, connector_id)
    assert_exact(dest_db, big_source)
    assert_no_job_left_behind(platform, connector_id, jobs)
    # The sync went on through the restart, or an attempt that met the database away failed
    # saying so (or was reaped) and the next resumed: never a crash of unknown cause.
    failed = [j for j in jobs if j["status"] == "failed"]
    assert all(j["error"]["type"] in ("metadata_unavailable", "worker_lost") for j in failed), jobs
    # The events of the sync (raised in the transactions that changed the job, some of them
    # just after the restart) all went out.
    assert_events_delivered_once(platform, connector_id, jobs)
