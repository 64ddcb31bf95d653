"""One access line per answered request, ending with its request id.

The line gunicorn's threaded worker wrote (`access_log_format` was
`%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s`), written here because the
uvicorn worker does not use gunicorn's format; the worker sends the logger's lines to gunicorn's
access log (`accesslog`).
"""

import logging
import time

from landed.server.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER_NAME = "landed.access"
access_logger = logging.getLogger(ACCESS_LOGGER_NAME)


def log_access(
    *,
    client: str,
    request_line: str,
    status: int,
    size: int,
    started: float,
    request_id: str,
) -> None:
    milliseconds = round((time.monotonic() - started) * 1000)
    access_logger.info(
        '%s "%s" %s %s %sms request_id=%s',
        client,
        request_line,
        status,
        size,
        milliseconds,
        request_id,
    )


def request_line(scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    target = path + (b"?" + query if query else b"")
    return f"{scope['method']} {target.decode('latin-1')} HTTP/{scope['http_version']}"


class AccessLog:
    """ASGI middleware: log each answer once it has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0
        size = 0
        request_id = "-"

        async def logged_send(message: Message) -> None:
            nonlocal status, size, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"x-request-id":
                        request_id = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            # A client that left before an answer was started gets no line (nothing was sent).
            if status:
                client = scope.get("client")
                log_access(
                    client=client[0] if client else "-",
                    request_line=request_line(scope),
                    status=status,
                    size=size,
                    started=started,
                    request_id=request_id,
                )
