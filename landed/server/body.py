"""Request bodies, read whole before Django runs: within deadlines, up to the size limit.

Django's ASGI handler reads a body with no deadline and no size limit (it spools it to a
temporary file, whatever its size), and a request body sent with `Transfer-Encoding: chunked`
reaches Django and DRF without a Content-Length, which they read as no body at all. This layer
reads the body first, in the event loop, where a slow client costs no thread:

- a client that sends nothing of its body for `body_idle` seconds, or has not sent all of it
  within `body` seconds, is answered 408 and disconnected;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE is answered 413: at once when its Content-Length says
  so, else when the limit is passed;
- a chunked body is handed to Django with its Content-Length, as if it had been sent with one.
"""

import asyncio
import contextlib

from django.conf import settings

from landed.api.errors import RequestTimeoutError
from landed.middleware import request_id_for
from landed.server.limits import Deadlines
from landed.server.responses import send_error
from landed.server.types import ASGIApp, Message, Receive, Scope, Send, header

# After refusing a body over the limit, what the client is still sending is read and dropped
# this long (at most) before the answer, so that it reads the 413 rather than a reset
# connection (closing a socket with unread input resets it).
DRAIN_SECONDS = 1.0


class BodyRefused(Exception):
    def __init__(self, status: int, message: str, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


class ClientGone(Exception):
    """The client disconnected before its body was in: nobody to answer."""


class RequestBody:
    """ASGI middleware: read the request body under the deadlines, then run the application
    with it."""

    def __init__(self, app: ASGIApp, deadlines: Deadlines) -> None:
        self.app = app
        self.deadlines = deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for((header(scope, b"x-request-id") or b"").decode("latin-1"))
        limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = header(scope, b"content-length")
        # The HTTP parser accepts only digits here, and never with Transfer-Encoding.
        declared = int(length) if length is not None else None
        try:
            if limit is not None and declared is not None and declared > limit:
                # Known too large before a byte of it is read: none is.
                raise _too_large(limit)
            body = await self._read(receive, limit)
        except BodyRefused as refusal:
            await send_error(send, refusal.status, refusal.message, refusal.detail, request_id)
            return
        except ClientGone:
            return
        if declared is None and body:
            scope = _with_length(scope, len(body))
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int | None) -> bytes:
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self.deadlines.body
        parts: list[bytes] = []
        size = 0
        while True:
            message = await self._next(receive, ends_at)
            part = message.get("body", b"")
            size += len(part)
            if limit is not None and size > limit:
                if message.get("more_body", False):
                    await _drain(receive, min(loop.time() + DRAIN_SECONDS, ends_at))
                raise _too_large(limit)
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _next(self, receive: Receive, ends_at: float) -> Message:
        loop = asyncio.get_running_loop()
        left = ends_at - loop.time()
        wait = min(self.deadlines.body_idle, left)
        try:
            async with asyncio.timeout(max(wait, 0)):
                message = await receive()
        except TimeoutError:
            deadlines = self.deadlines
            if wait < deadlines.body_idle:
                detail = f"The request body was not all sent within {deadlines.body:g} seconds."
            else:
                detail = f"Nothing of the request body arrived for {deadlines.body_idle:g} seconds."
            raise BodyRefused(
                RequestTimeoutError.status_code, RequestTimeoutError.default_message, detail
            ) from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        return message


def _too_large(limit: int) -> BodyRefused:
    # The message and detail Django's own refusal gets (landed/api/exception_handler.py).
    return BodyRefused(413, "Request body too large", f"The limit is {limit} bytes.")


async def _drain(receive: Receive, until: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(until):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


def _with_length(scope: Scope, length: int) -> Scope:
    """The scope of a de-chunked body: its length instead of its transfer coding."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read, then what the server sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
