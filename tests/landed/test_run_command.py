"""`make run` as a user starts it: a real gunicorn process on a free loopback port. (With nothing
configured, SQLite and a file broker: tests/e2e/test_quickstart.py, which syncs on it too.)"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest
import redis
import requests

from tests.e2e.conftest import Api
from tests.ratelimit_windows import ip_with_fresh_window
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-and-unusual-passphrase"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "RATELIMIT_ENABLE"}
        and not k.startswith(("PYTEST_", "DJANGO_"))
    }
    env.update(PORT=str(port), LANDED_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


# Ctrl-C stops every process `make run` started within this many seconds, in both modes.
STOP_WITHIN_SECONDS = 10.0


@dataclass
class Server:
    """A started `make run` (or `scripts/run.sh`, or a bare gunicorn) and its log."""

    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, *, whole_group: bool = True, within: float = STOP_WITHIN_SECONDS) -> float:
        """Ctrl-C: SIGINT to the process group, as a terminal sends it (or, `whole_group`
        false, to the started process alone, as a process manager would). Returns the seconds
        until every process running under it had exited; fails (after killing them) if one
        was still running `within` seconds after the signal."""
        if self.process.poll() is not None:
            return 0.0
        started = psutil.Process(self.process.pid)
        everything = [started, *started.children(recursive=True)]
        began = time.monotonic()
        if whole_group:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            os.kill(self.process.pid, signal.SIGINT)
        left = still_running(everything)
        while left and time.monotonic() - began < within:
            time.sleep(0.1)
            left = still_running(left)
        took = time.monotonic() - began
        if left:
            names = [" ".join(p.cmdline()[1:4]) for p in left if p.is_running()]
            for process in left:
                with suppress(psutil.NoSuchProcess):
                    process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"Ctrl-C left {names} running after {within:.0f} s")
        self.process.wait(timeout=10)
        return took


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those not exited yet; a zombie (exited, its parent has not collected it) has exited."""
    running = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[Server]:
    """Start `command` in its own session, wait until it answers HTTP, and stop it with Ctrl-C
    (unless the test did); every process it started must be gone within
    STOP_WITHIN_SECONDS."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{log.read_text()}")
            if answers_http(server.url):
                break
            # Short: every started server waits here, and a refused connection costs nothing.
            time.sleep(0.1)
        else:
            pytest.fail(f"server did not answer within 90 s:\n{log.read_text()}")
        yield server
    finally:
        server.stop()


@contextmanager
def running(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """`serving`, for tests that need only the URL."""
    with serving(command, env, port, log) as server:
        yield server.url


def hold_a_delivery_in_flight(api: Api, receiver: Receiver, destination_id: str) -> None:
    """Leave a worker in the middle of a webhook delivery: the receiver (one of the account's
    endpoints points at it) stops answering and a new connector raises an event to it."""
    receiver.delay = 60  # the delivery lasts until its own timeout (10 s) unless stopped
    seen = len(receiver.received)
    connector = {"name": "in-flight", "type": "sample", "config": {"size": 1}}
    api.ok("POST", "/connectors", 201, json={**connector, "destination_id": destination_id})
    receiver.wait_for(lambda received: len(received) > seen, timeout=30)


def answers_http(url: str) -> bool:
    """Whether the server answers a request, whatever its status. gunicorn listens before its
    worker has loaded the application (seconds, on a loaded machine): until then a request
    waits, and may time out."""
    try:
        requests.get(f"{url}/health", timeout=5)
    except requests.RequestException:
        return False
    return True


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"landed_run_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def status_of_post_from(source_ip: str, url: str, path: str) -> int:
    """POST an empty JSON body to `url` + `path` over a new connection from `source_ip` (any
    address of 127.0.0.0/8 reaches a server on 127.0.0.1): the client address the server
    sees, and limits by."""
    server = urlsplit(url)
    connection = http.client.HTTPConnection(
        server.hostname, server.port, timeout=5, source_address=(source_ip, 0)
    )
    try:
        connection.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_run_on_postgresql_and_redis_shares_limits_and_ctrl_c_stops_a_delivery_in_flight(
    tmp_path, scratch_database
):
    """One start of the platform on PostgreSQL and Redis (seconds long): two server processes
    share the rate limits, and Ctrl-C stops every process, a worker with a delivery in flight
    included."""
    # The test Redis database, emptied: no message of an earlier test for these workers.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    port = free_port()
    env = base_env(
        tmp_path,
        port,
        DATABASE_URL=scratch_database,
        REDIS_URL=os.environ["REDIS_URL"],
        CACHE_KEY_PREFIX=f"run-test-{uuid.uuid4().hex[:8]}",
        WEB_CONCURRENCY="2",
    )
    with (
        Receiver() as receiver,
        serving(["scripts/run.sh"], env, port, tmp_path / "run.log") as server,
    ):
        health = requests.get(f"{server.url}/health", timeout=5).json()
        assert health["database"]["vendor"] == "postgresql"
        assert health["database"]["pool"]["max_size"] == 10
        assert health["cache"]["backend"] == "RedisCache"

        signup = requests.post(
            f"{server.url}/auth/signup",
            json={"email": "pg@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text

        # Login is limited to 10 a minute per IP, whichever of the two processes answers. From
        # an address whose window has time left (no window edge inside the test, no wait).
        client_ip = ip_with_fresh_window()
        answers = [status_of_post_from(client_ip, server.url, "/auth/login") for _ in range(11)]
        assert answers == [422] * 10 + [429]

        api = Api(server.url, signup.json()["access_token"])
        api.ok("POST", "/webhooks", 201, json={"url": receiver.url})
        destination = api.ok(
            "POST",
            "/destinations",
            201,
            json={"name": "local", "type": "duckdb", "config": {"path": "landed.duckdb"}},
        )
        hold_a_delivery_in_flight(api, receiver, destination["id"])

        # SIGINT to the script alone: it stops the processes it started, each of them included.
        server.stop(whole_group=False)

    output = server.output()
    assert output.count("Booting worker") == 2, output
    assert "database: postgres (DATABASE_URL)" in output


def test_health_is_503_when_the_database_is_unreachable(tmp_path):
    port, closed_port = free_port(), free_port()
    env = base_env(
        tmp_path,
        port,
        SECRET_KEY="x" * 50,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/landed",
        DATABASE_POOL_TIMEOUT="2",
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:landed.gunicorn_conf",
        "landed.asgi",
    ]
    with running(command, env, port, tmp_path / "gunicorn.log") as url:
        response = requests.get(f"{url}/health", timeout=30)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["error"] == "Service unavailable"
    assert body["detail"] == "database unreachable"
    assert body["database"]["ok"] is False
