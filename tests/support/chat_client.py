"""The support chat's tests' client: the real server, and its answer's Server-Sent Events
read as a browser's EventSource reads them, from a real streaming HTTP response (requests
with stream=True), event by event as they arrive."""

import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import Processes
from tests.landed.test_run_command import Server, free_port, serving
from tests.ratelimit_windows import seconds_left_in_window


@dataclass
class Event:
    event: str  # "message" when the stream named none, as EventSource says
    data: Any


def events(response: requests.Response) -> Iterator[Event]:
    buffer = ""
    for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
        buffer += chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            name, data = "message", []
            for line in block.splitlines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data.append(line.removeprefix("data:").strip())
            if data:
                yield Event(name, json.loads("\n".join(data)))


def read_answer(response: requests.Response) -> tuple[str, Event]:
    """The answer's text (its `data: {"text"}` pieces joined) and the event that ended it."""
    text = []
    for event in events(response):
        if event.event == "message":
            text.append(event.data["text"])
        else:
            return "".join(text), event
    raise AssertionError(f"the stream ended without done or error after {''.join(text)!r}")


def fresh_client_ip() -> str:
    """An address of its own for one test (sent as X-Forwarded-For; the servers trust
    127.0.0.1 as a proxy), whose rate-limit window will not end soon."""
    while True:
        ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        if seconds_left_in_window(ip, 60) > 20:
            return ip


def chat(
    server: Server, body: Any, *, ip: str | None = None, key: str | None = None
) -> requests.Response:
    """POST /support/chat, the answer left to be read as it streams."""
    headers = {"X-Forwarded-For": ip or fresh_client_ip()}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(
        f"{server.url}/support/chat", json=body, headers=headers, stream=True, timeout=30
    )


@contextmanager
def support_server(tmp: Path, **extra: str) -> Iterator[Server]:
    """The real server as `make run` starts it (gunicorn, uvicorn workers, landed.asgi) on the
    test database and Redis."""
    port = free_port()
    env = Processes(tmp).env(
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        TRUSTED_PROXIES="127.0.0.1",
        **extra,
    )
    (tmp / "data").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "gunicorn", "--config", "python:landed.gunicorn_conf"]
    with serving([*command, "landed.asgi"], env, port, tmp / "gunicorn.log") as server:
        yield server
