"""End-to-end fixtures: the API served over real HTTP (pytest-django's live server), real
Celery worker and beat processes on Redis, and real PostgreSQL sources and destinations.
No eager Celery: tasks cross the broker as JSON, as in production."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.db import connection

from landed.accounts import services as account_services
from tests.accounts.factories import UserFactory
from tests.pg import connect, pg_config, scratch

ROOT = Path(__file__).resolve().parents[2]

# Short clocks, so that heartbeats, the reaper and retry backoff act within a test's time.
FAST_CLOCKS = {
    "JOB_PROGRESS_INTERVAL_SECONDS": "0.2",
    "JOB_HEARTBEAT_SECONDS": "0.5",
    "JOB_STALE_SECONDS": "4",
    "REAPER_INTERVAL_SECONDS": "1",
    "SCHEDULER_TICK_SECONDS": "1",
    "SYNC_RETRY_BACKOFF_SECONDS": "0.5",
    "JOB_REQUEUE_AFTER_SECONDS": "5",
    "CONNECTION_TEST_TIMEOUT_SECONDS": "10",
    "WEBHOOK_SWEEP_SECONDS": "0.5",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_LOCK_SECONDS": "3",
    "WEBHOOK_LOST_AFTER_SECONDS": "2",
}

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Processes:
    """Celery processes of one test, each in its own process group (SIGKILL takes the whole
    worker, as a lost machine would)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        db = connection.settings_dict
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
        env.update(
            DATABASE_URL=(
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            REDIS_URL=os.environ["REDIS_URL"],
            SECRET_KEY=os.environ["SECRET_KEY"],
            LANDED_DATA_DIR=str(self.tmp_path / "data"),
            **FAST_CLOCKS,
        )
        env.update(extra)
        return env

    def start(
        self,
        kind: str,
        *,
        name: str | None = None,
        queues: str = "syncs,default",
        **extra: str,
    ) -> subprocess.Popen:
        name = name or f"{kind}-{uuid.uuid4().hex[:6]}"
        if kind == "worker":
            args = [
                "worker",
                "--queues",
                queues,
                "--pool",
                "solo",
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        else:
            args = ["beat", "--schedule", str(self.tmp_path / f"{name}.schedule")]
        log = (self.tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "landed", *args, "--loglevel", "INFO"],
            cwd=ROOT,
            env=self.env(**extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = self.tmp_path / f"{name}.log"  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """Kill what is still running. The test is over and nothing it proved depends on how its
        processes end (a test of a shutdown signals the process itself); a warm shutdown cost
        one to two seconds a process, in every test. Whatever a killed worker left on the
        broker is flushed by the next test's `celery` fixture."""
        for process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.running:
            process.wait(timeout=15)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.log_path.name}\n{p.log_path.read_text(errors='replace')[-4000:]}"
            for p in self.running
        )


class Api:
    """A signed-in HTTP client of the live server."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json if json is not None else {}, **kwargs)

    def put(self, path: str, json: Any, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == expected, (response.status_code, response.text)
        return response.json() if response.content else None

    def wait_for_job(
        self, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout: float = 90
    ) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.ok("GET", f"/jobs/{job_id}")
            if job["status"] in statuses:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not in {statuses} after {timeout}s: {job}")


@pytest.fixture
def celery(tmp_path) -> Iterator[Processes]:
    # Nothing left over from an earlier run in the test broker.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def api(live_server) -> Api:
    user = UserFactory()
    _, raw_key = account_services.api_key_create(user=user, name="e2e")
    return Api(live_server.url, raw_key)


@pytest.fixture
def source_db() -> Iterator[str]:
    with scratch("landed_e2e_src") as name:
        yield name


# The table of the outage tests (test_outages.py, test_outages_destination.py): large enough that
# an outage lands between two of its batches.
BIG_ORDERS_ROWS = 300_000


@pytest.fixture(scope="session")
def big_orders_source() -> Iterator[str]:
    """BIG_ORDERS_ROWS orders (test_postgres_sync.py's table, no index but its key), seeded
    once (seconds) for every test that only reads them."""
    from tests.e2e.test_postgres_sync import ORDERS, seed_orders

    with scratch("landed_e2e_big") as name:
        with connect(name) as conn:
            conn.execute(ORDERS)
        seed_orders(name, 1, BIG_ORDERS_ROWS)
        yield name


@pytest.fixture
def dest_db() -> Iterator[str]:
    with scratch("landed_e2e_dst") as name:
        yield name


@pytest.fixture
def pg_destination(api: Api, dest_db: str) -> dict:
    return api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "warehouse", "type": "postgres", "config": pg_config(dest_db)},
    )


def create_pg_connector(api: Api, source_db: str, destination: dict, **extra: Any) -> dict:
    body = {
        "name": extra.pop("name", "shop"),
        "type": "postgres",
        "config": {**pg_config(source_db), **extra.pop("config", {})},
        "destination_id": destination["id"],
        **extra,
    }
    return api.ok("POST", "/connectors", 201, json=body)
