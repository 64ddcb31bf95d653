"""The server's HTTP protocol (landed.server.protocol) on a connection of its own: the head's
deadline, its size limits and the bound on connections, each answered in the API's envelope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from landed.server.protocol import GuardedHttpToolsProtocol, HeadLimits

HEADER_SECONDS = 0.2
LIMITS = HeadLimits(
    header_seconds=HEADER_SECONDS,
    limit_request_line=100,
    limit_request_field_size=100,
    limit_request_fields=5,
    max_head_bytes=400,
    max_connections=3,
)


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it stopped writing (EOF) or closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.eof = False
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def answer(self) -> tuple[int, dict[str, str], dict]:
        head, _, body = bytes(self.written).partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        return int(status_line.split()[1]), headers, json.loads(body)


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def state() -> ServerState:
    return ServerState()


def connect(loop: asyncio.AbstractEventLoop, state: ServerState) -> tuple[Any, Transport]:
    config = Config(app=hello, lifespan="off", access_log=False, timeout_keep_alive=75)
    protocol = GuardedHttpToolsProtocol(config, state, {}, loop, limits=LIMITS)
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def wait(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


def test_half_a_head_is_answered_408_at_the_deadline(loop, state):
    protocol, transport = connect(loop, state)
    protocol.data_received(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    wait(loop, HEADER_SECONDS / 2)
    assert not transport.written
    wait(loop, HEADER_SECONDS)
    status, headers, body = transport.answer()
    assert status == 408
    assert body == {
        "error": "Request timeout",
        "detail": "The request headers were not all sent within 0.2 seconds.",
    }
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"]
    # It stops sending; what the client still sends is dropped until the connection closes.
    assert transport.eof
    protocol.data_received(b"more\r\n\r\n")
    assert bytes(transport.written).count(b"HTTP/1.1") == 1


def test_a_connection_that_says_nothing_is_closed_without_an_answer(loop, state):
    _, transport = connect(loop, state)
    wait(loop, HEADER_SECONDS * 1.5)
    assert transport.closed
    assert not transport.written


def test_a_head_in_time_reaches_the_application_and_a_kept_alive_connection_waits(loop, state):
    protocol, transport = connect(loop, state)
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    wait(loop, HEADER_SECONDS * 1.5)
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 OK")
    assert bytes(transport.written).endswith(b"hello")
    # Idle between requests: the keep-alive timeout (75 s) applies, not the head's deadline.
    assert not transport.closed
    # The next request's first bytes start its deadline.
    transport.written.clear()
    protocol.data_received(b"GET /b HT")
    wait(loop, HEADER_SECONDS * 1.5)
    assert transport.answer()[0] == 408


@pytest.mark.parametrize(
    ("request_bytes", "status", "detail"),
    [
        (b"GET /" + b"a" * 120 + b" HTTP/1.1\r\n\r\n", 414, "The limit is 100 bytes."),
        (
            b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 100 + b"\r\n\r\n",
            431,
            "A header field is limited to 100 bytes.",
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(6)) + b"\r\n",
            431,
            "A request has at most 5 header fields.",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "The request is not valid HTTP/1.1."),
    ],
)
def test_heads_over_the_limits_are_refused(loop, state, request_bytes, status, detail):
    protocol, transport = connect(loop, state)
    protocol.data_received(request_bytes)
    answered, _, body = transport.answer()
    assert (answered, body["detail"]) == (status, detail)
    assert transport.eof


def test_a_head_that_keeps_growing_is_refused_past_its_size(loop, state):
    protocol, transport = connect(loop, state)
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Growing: ")
    # One field that never ends: the parser would buffer it whole before checking its size.
    for _ in range(20):
        protocol.data_received(b"g" * 50)
        if transport.written:
            break
    status, _, body = transport.answer()
    assert status == 431
    assert body["detail"] == "The request line and headers are limited to 400 bytes."


def test_a_whole_head_over_its_size_is_refused(loop, state):
    protocol, transport = connect(loop, state)
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 90) for i in range(5))  # 5 of ~96 bytes
    protocol.data_received(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    status, _, body = transport.answer()
    assert status == 431
    assert body["detail"] == "The request line and headers are limited to 400 bytes."


def test_connections_past_the_bound_are_answered_503(loop, state):
    for _ in range(LIMITS.max_connections):
        _, transport = connect(loop, state)
        assert not transport.written
    _, refused = connect(loop, state)
    status, headers, body = refused.answer()
    assert status == 503
    assert headers["retry-after"] == "1"
    assert body["error"] == "Service unavailable"
