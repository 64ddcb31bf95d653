"""`make run` as a user starts it: a real gunicorn process on a free loopback port."""

import os
import re
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

import psutil
import psycopg
import pytest
import redis
import requests

from tests.e2e.conftest import Api
from tests.ratelimit_windows import wait_for_fresh_window
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
            time.sleep(0.3)
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


def test_make_run_serves_the_api_with_nothing_configured(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with running(
        ["make", "--no-print-directory", "run"], base_env(tmp_path, port), port, log
    ) as url:
        health = requests.get(f"{url}/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["database"]["vendor"] == "sqlite"

        session = requests.Session()
        signup = session.post(
            f"{url}/auth/signup",
            json={"email": "quickstart@example.com", "password": PASSWORD},
            headers={"X-Request-ID": "quickstart-trace-1"},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
        assert signup.headers["X-Request-ID"] == "quickstart-trace-1"
        # The session cookie comes back over plain HTTP on the loopback.
        me = session.get(f"{url}/auth/me", timeout=5)
        assert me.status_code == 200
        assert me.json()["user"]["email"] == "quickstart@example.com"
        # The admin's static files are served.
        assert requests.get(f"{url}/static/admin/css/base.css", timeout=5).status_code == 200

    assert port_is_closed(port)
    output = log.read_text()
    assert f"Landed API on http://127.0.0.1:{port}" in output
    assert "gunicorn" in output.lower()
    assert re.search(r"\[request_id=quickstart-trace-1\] accounts\.signup", output), output
    assert "request_id=quickstart-trace-1" in output.split("accounts.signup", 1)[1]
    # Data and the generated secret key stay in the data directory.
    assert (tmp_path / "data" / "landed.sqlite3").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


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


def test_make_run_on_postgresql_and_redis_shares_limits_across_processes(
    tmp_path, scratch_database
):
    port = free_port()
    env = base_env(
        tmp_path,
        port,
        DATABASE_URL=scratch_database,
        REDIS_URL="redis://127.0.0.1:6379/14",
        CACHE_KEY_PREFIX=f"run-test-{uuid.uuid4().hex[:8]}",
        WEB_CONCURRENCY="2",
    )
    log = tmp_path / "run.log"
    with running(["make", "--no-print-directory", "run"], env, port, log) as url:
        health = requests.get(f"{url}/health", timeout=5).json()
        assert health["database"]["vendor"] == "postgresql"
        assert health["database"]["pool"]["max_size"] == 10
        assert health["cache"]["backend"] == "RedisCache"

        signup = requests.post(
            f"{url}/auth/signup", json={"email": "pg@example.com", "password": PASSWORD}, timeout=10
        )
        assert signup.status_code == 201, signup.text

        # Login is limited to 10 a minute per IP, whichever of the two processes answers.
        wait_for_fresh_window("127.0.0.1")
        answers = [
            requests.post(f"{url}/auth/login", json={}, timeout=5).status_code for _ in range(11)
        ]
        assert answers == [422] * 10 + [429]

    output = log.read_text()
    assert output.count("Booting worker") == 2, output
    assert "database: postgres (DATABASE_URL)" in output


def test_ctrl_c_on_postgresql_and_redis_stops_every_process_with_a_delivery_in_flight(
    tmp_path, scratch_database
):
    # The test Redis database, emptied: no message of an earlier test for these workers.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    port = free_port()
    env = base_env(
        tmp_path,
        port,
        DATABASE_URL=scratch_database,
        REDIS_URL=os.environ["REDIS_URL"],
        CACHE_KEY_PREFIX=f"run-test-{uuid.uuid4().hex[:8]}",
    )
    with (
        Receiver() as receiver,
        serving(["scripts/run.sh"], env, port, tmp_path / "run.log") as server,
    ):
        signup = requests.post(
            f"{server.url}/auth/signup",
            json={"email": "ctrl-c@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
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
    assert "database: postgres (DATABASE_URL)" in server.output()


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
