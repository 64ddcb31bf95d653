"""Slow and stalled clients on the real server: gunicorn with the project's config (uvicorn
workers, landed.asgi) on the test database and Redis.

gunicorn's threaded worker held a thread for each client still sending its request, with no
deadline: ten clients that sent half a body and waited made most health probes time out. Now
they must not slow other requests down, and are answered 408 (and disconnected) once their
deadlines pass; the short deadlines below stand for the defaults' (10, 15 and 60 s).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import pytest
import requests
from django.db import connection

from tests.e2e.conftest import Processes
from tests.landed.test_run_command import PASSWORD, Server, free_port, serving
from tests.pg import dsn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HEADER_SECONDS = 4.0
BODY_IDLE_SECONDS = 4.0
BODY_SECONDS = 6.0
# Requests running Django code at once, and database connections, per server process.
SLOTS = 2
POOL_SIZE = 2
# Deadlines are kept to within this on a loaded two-core machine.
LATE = 3.0


@contextmanager
def started_server(tmp: Path, **extra: str) -> Iterator[Server]:
    port = free_port()
    env = Processes(tmp).env(
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        WEB_HEADER_TIMEOUT_SECONDS=str(HEADER_SECONDS),
        WEB_BODY_IDLE_TIMEOUT_SECONDS=str(BODY_IDLE_SECONDS),
        WEB_BODY_TIMEOUT_SECONDS=str(BODY_SECONDS),
        WEB_THREADS=str(SLOTS),
        DATABASE_POOL_MAX_SIZE=str(POOL_SIZE),
        DATABASE_POOL_TIMEOUT="3",
        RATELIMIT_ENABLE="false",
        **extra,
    )
    (tmp / "data").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "gunicorn", "--config", "python:landed.gunicorn_conf"]
    with serving([*command, "landed.asgi"], env, port, tmp / "gunicorn.log") as server:
        # The worker loads Django before it answers: the first request waits for it.
        assert requests.get(f"{server.url}/health", timeout=60).status_code == 200
        yield server


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Server]:
    with started_server(tmp_path_factory.mktemp("slow-clients")) as started:
        yield started


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


# --- Slow clients ---------------------------------------------------------------------------
@dataclass
class SlowClient:
    """A raw connection that sends its request slowly: `sent` at once, then `trickle` one byte
    a second (if any), and waits."""

    kind: str
    sock: socket.socket
    deadline: float  # the deadline that must cut it off, from `started`
    trickle: bytes = b""
    started: float = field(default_factory=time.monotonic)
    answered_after: float | None = None
    answer: bytes = b""

    def send_next_byte(self) -> None:
        if self.trickle and self.answered_after is None:
            byte, self.trickle = self.trickle[:1], self.trickle[1:]
            # Closed by the server: its answer is read below.
            with contextlib.suppress(OSError):
                self.sock.send(byte)

    def read_answer(self) -> None:
        """Called once the socket is readable: the answer, up to the server's close."""
        self.answered_after = time.monotonic() - self.started
        self.sock.settimeout(5)
        try:
            while chunk := self.sock.recv(65536):
                self.answer += chunk
        except OSError:
            pass
        self.sock.close()

    def status_and_body(self) -> tuple[int, dict]:
        head, _, body = self.answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(body)


def slow_clients(port: int, per_kind: int) -> list[SlowClient]:
    head = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    # A body of 100 bytes is announced; the client sends 8 of them, or one a second.
    body_head = (
        f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    kinds = {
        # Half the headers, then nothing.
        "stalled head": (head + b"X-Slow: ", b"", HEADER_SECONDS),
        # The headers a byte a second: progress, but not the whole head in time.
        "trickled head": (b"G", head[1:] + b"X-Slow: " + b"s" * 100, HEADER_SECONDS),
        # The headers and part of the body, then nothing.
        "stalled body": (body_head + b'{"email"', b"", BODY_IDLE_SECONDS),
        # The body a byte a second: never idle, but not all of it in time.
        "trickled body": (body_head, b" " * 100, BODY_SECONDS),
    }
    clients = []
    for kind, (sent, trickle, deadline) in kinds.items():
        for _ in range(per_kind):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(sent)
            clients.append(SlowClient(kind, sock, deadline, trickle))
    return clients


def test_slow_clients_do_not_stall_the_api_and_are_cut_off_at_their_deadlines(server):
    port = port_of(server)
    clients = slow_clients(port, per_kind=20)
    client_ports = {c.sock.getsockname()[1] for c in clients}
    opened = time.monotonic()

    # While all 80 are connected and sending (slowly), the API answers others at once.
    health_latencies: list[float] = []
    next_trickle = opened + 1
    while time.monotonic() - opened < HEADER_SECONDS - 1:
        started = time.monotonic()
        health = requests.get(f"{server.url}/health", timeout=5)
        health_latencies.append(time.monotonic() - started)
        assert health.status_code == 200, health.text
        if time.monotonic() >= next_trickle:
            for client in clients:
                client.send_next_byte()
            next_trickle += 1
        time.sleep(0.1)
    assert all(c.answered_after is None for c in clients), "a slow client was cut off early"
    assert len(health_latencies) >= 10
    assert max(health_latencies) < 1.0, health_latencies

    # Each one is answered once its deadline has passed, and not long after.
    give_up = opened + BODY_SECONDS + LATE + 2
    while any(c.answered_after is None for c in clients) and time.monotonic() < give_up:
        waiting = [c for c in clients if c.answered_after is None]
        readable, _, _ = select.select([c.sock for c in waiting], [], [], 0.2)
        for client in waiting:
            if client.sock in readable:
                client.read_answer()
        if time.monotonic() >= next_trickle:
            for client in clients:
                client.send_next_byte()
            next_trickle += 1
    for client in clients:
        assert client.answered_after is not None, f"{client.kind}: never answered"
        assert client.deadline - 0.5 <= client.answered_after <= client.deadline + LATE, (
            client.kind,
            client.answered_after,
        )
        status, body = client.status_and_body()
        assert status == 408, (client.kind, client.answer)
        assert body["error"] == "Request timeout", body
    details = {c.kind: c.status_and_body()[1]["detail"] for c in clients}
    assert details["stalled head"] == "The request headers were not all sent within 4 seconds."
    assert details["stalled body"] == "Nothing of the request body arrived for 4 seconds."
    assert details["trickled body"] == "The request body was not all sent within 6 seconds."

    # And the server holds none of their connections any more.
    assert server_connections(server, port, client_ports) == []
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def server_connections(server: Server, port: int, client_ports: set[int]) -> list:
    """The server worker's connections with these clients, once the closed ones are gone."""
    (worker,) = psutil.Process(server.process.pid).children()
    deadline = time.monotonic() + 5
    while True:
        held = [
            c
            for c in worker.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port in client_ports
        ]
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


# --- A body trickled past its deadline changes nothing -------------------------------------
def sign_up(url: str) -> dict[str, str]:
    signup = requests.post(
        f"{url}/auth/signup",
        json={"email": f"slow-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert signup.status_code == 201, signup.text
    return {"Authorization": f"Bearer {signup.json()['access_token']}"}


def test_a_body_trickled_past_its_deadline_is_refused_and_changes_nothing(server):
    auth = sign_up(server.url)
    destination = requests.post(
        f"{server.url}/destinations",
        json={"name": "local", "type": "duckdb", "config": {"path": "landed.duckdb"}},
        headers=auth,
        timeout=10,
    )
    assert destination.status_code == 201, destination.text
    connector = requests.post(
        f"{server.url}/connectors",
        json={
            "name": "before",
            "type": "sample",
            "config": {"size": 10},
            "destination_id": destination.json()["id"],
        },
        headers=auth,
        timeout=10,
    )
    assert connector.status_code == 201, connector.text
    path = f"/connectors/{connector.json()['id']}"

    body = json.dumps({"name": "after"}).encode()
    port = port_of(server)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    # A byte every half second: 17 bytes take 8.5 s, past the 6 s the body may take.
    client = SlowClient("trickled patch", socket.create_connection(("127.0.0.1", port)), 6.0)
    client.sock.sendall(head)
    for byte in body:
        if select.select([client.sock], [], [], 0.5)[0]:
            break
        client.sock.send(bytes([byte]))
    else:
        select.select([client.sock], [], [], 10)
    client.read_answer()
    status, answer = client.status_and_body()
    assert status == 408, client.answer
    assert answer["error"] == "Request timeout"

    again = requests.get(f"{server.url}{path}", headers=auth, timeout=10)
    assert again.json()["name"] == "before"


# --- Django under ASGI: requests in parallel, bounded, and their connections returned ----
class HeldConnections:
    """A TCP server that accepts connections, says nothing, and closes each after `hold`
    seconds; it counts how many it held at once."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = 0
        self.most_at_once = 0
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open += 1
                self.most_at_once = max(self.most_at_once, self.open)
            threading.Thread(target=self._hold, args=(sock,), daemon=True).start()

    def _hold(self, sock: socket.socket) -> None:
        time.sleep(self.hold)
        with self.lock:
            self.open -= 1
        sock.close()

    def close(self) -> None:
        self.listener.close()


def test_requests_run_in_parallel_up_to_the_slots_and_give_their_connections_back(server):
    auth = sign_up(server.url)
    held = HeldConnections(hold=1.5)
    try:
        # Each connection test waits on a database that never answers, until it hangs up.
        config = {
            "host": "127.0.0.1",
            "port": held.port,
            "database": "none",
            "username": "postgres",
            "password": "",
            "connect_timeout": 10,
        }

        def connection_test(_: int) -> requests.Response:
            return requests.post(
                f"{server.url}/destinations/test",
                json={"type": "postgres", "config": config},
                headers=auth,
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=SLOTS + 1) as pool:
            answers = list(pool.map(connection_test, range(SLOTS + 1)))
    finally:
        held.close()
    assert [a.status_code for a in answers] == [200] * (SLOTS + 1), [a.text for a in answers]
    assert all(a.json()["status"] == "failed" for a in answers)
    # Two at once (each request in a thread of its own), never three (the slots).
    assert held.most_at_once == SLOTS
    assert held.accepted >= SLOTS + 1

    # Many more requests than the pool has connections, each in a new thread: every one of
    # them gives its connection back (else the pool runs dry and they fail after 3 s).
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(f"{server.url}/health", timeout=30).status_code,
                range(30),
            )
        )
    assert statuses == [200] * 30
    pool_figures = requests.get(f"{server.url}/health", timeout=10).json()["database"]["pool"]
    assert pool_figures["max_size"] == POOL_SIZE
    # All back in the pool, but the one this last request is using.
    assert pool_figures["available"] == pool_figures["size"] - 1
    assert pool_figures["requests_waiting"] == 0


def test_without_the_pool_no_connection_outlives_its_request(tmp_path, django_db_setup):
    app_name = f"landed-slow-{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict["NAME"]
    with started_server(tmp_path, DATABASE_POOL="false", PGAPPNAME=app_name) as server:
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(
                pool.map(
                    lambda _: requests.get(f"{server.url}/health", timeout=30).status_code,
                    range(20),
                )
            )
        assert statuses == [200] * 20
        with psycopg.connect(dsn(database)) as conn:
            (left_open,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
            ).fetchone()
        assert left_open == 0
