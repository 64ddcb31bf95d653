"""Request bodies read before Django runs (landed.server.body): deadlines, the size limit, and a
chunked body handed on with its length."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from landed.server.body import RequestBody
from landed.server.limits import Deadlines

DEADLINES = Deadlines(header=1.0, body_idle=0.2, body=0.5)
Message = dict[str, Any]


class Client:
    """The server's side of one request: the body messages to hand out (None: nothing comes),
    and what the middleware and the application did with them."""

    def __init__(self, headers: list[tuple[bytes, bytes]], messages: list[Message | None]):
        self.scope = {"type": "http", "method": "PATCH", "path": "/x", "headers": headers}
        self.messages = list(messages)
        self.sent: list[Message] = []
        self.app_saw: tuple[Message, bytes] | None = None

    async def receive(self) -> Message:
        message = self.messages.pop(0) if self.messages else None
        if message is None:
            await asyncio.sleep(3600)  # a client that sends nothing more
        assert message is not None
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def app(self, scope: Any, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.app_saw = (scope, body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def run(self) -> None:
        asyncio.run(RequestBody(self.app, DEADLINES)(self.scope, self.receive, self.send))

    def answer(self) -> tuple[int, dict[bytes, bytes], dict]:
        start, body = self.sent
        headers = dict(start["headers"])
        return start["status"], headers, json.loads(body["body"])


def part(body: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


CHUNKED = [(b"transfer-encoding", b"chunked"), (b"x-request-id", b"body-test-1")]


def test_a_chunked_body_reaches_the_application_with_its_length():
    client = Client(CHUNKED, [part(b'{"name"'), part(b': "after"}', more=False)])
    client.run()
    assert client.app_saw is not None
    scope, body = client.app_saw
    assert body == b'{"name": "after"}'
    assert (b"content-length", b"17") in scope["headers"]
    assert not any(name == b"transfer-encoding" for name, _ in scope["headers"])
    assert client.sent[0]["status"] == 200


def test_a_body_over_the_limit_is_refused_once_it_passes_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    client = Client(CHUNKED, [part(b"x" * 8), part(b"x" * 8), part(b"rest", more=False)])
    client.run()
    assert client.app_saw is None
    status, headers, body = client.answer()
    assert status == 413
    assert body == {"error": "Request body too large", "detail": "The limit is 10 bytes."}
    assert headers[b"x-request-id"] == b"body-test-1"
    assert headers[b"connection"] == b"close"
    # The rest of what the client sent was read (and dropped) before the answer.
    assert client.messages == []


def test_a_content_length_over_the_limit_is_refused_before_reading(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    client = Client([(b"content-length", b"11")], [part(b"x" * 11, more=False)])
    client.run()
    assert client.answer()[0] == 413
    assert len(client.messages) == 1  # not read


def test_a_body_that_stalls_is_answered_408():
    client = Client([(b"content-length", b"20")], [part(b"{"), None])
    client.run()
    assert client.app_saw is None
    status, _, body = client.answer()
    assert status == 408
    assert body == {
        "error": "Request timeout",
        "detail": "Nothing of the request body arrived for 0.2 seconds.",
    }


def test_a_body_never_idle_but_too_slow_is_answered_408():
    client = Client([(b"content-length", b"2001")], [])
    pieces = [part(b" ") for _ in range(2001)]

    async def one_byte_every_10_ms() -> Message:
        await asyncio.sleep(0.01)
        return pieces.pop(0)

    client.receive = one_byte_every_10_ms  # type: ignore[method-assign]
    client.run()
    assert client.app_saw is None
    status, _, body = client.answer()
    assert status == 408
    assert body["detail"] == "The request body was not all sent within 0.5 seconds."


def test_a_client_gone_before_its_body_is_in_gets_no_answer():
    client = Client([(b"content-length", b"20")], [part(b"{"), {"type": "http.disconnect"}])
    client.run()
    assert client.app_saw is None
    assert client.sent == []
