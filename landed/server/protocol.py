"""uvicorn's HTTP/1.1 protocol (httptools), with what it lacks against slow and oversized heads.

uvicorn gives a connection no deadline until its request's headers are in: a client that
connects and sends nothing, or half a request line, held its connection for as long as it
liked (its keep-alive timer runs only between requests, and any byte stops it). Nor does it
bound a request line or header fields: httptools buffers them whole. This protocol adds:

- a deadline for the request head (`header_seconds`), from the connection or from the first
  byte after an idle keep-alive pause: past it, a partial head is answered 408, a connection
  that sent nothing is closed;
- gunicorn's limits on the request line (414) and on header fields (431: the size of one, and
  their number), and a limit on the whole head's size;
- a bound on the connections one process keeps open, and on the requests it has under way:
  past it, 503.

Refusals are answered in the API's JSON error envelope, then the connection is closed after a
short lingering read, so that a client still sending reads the answer rather than a reset.
The request body's deadlines are the application's (landed.server.body).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from landed.api.errors import (
    HeadersTooLargeError,
    RequestTimeoutError,
    ServerBusyError,
    UriTooLongError,
)
from landed.server.access_log import log_access
from landed.server.responses import raw_error_response

# After a refusal the server stops sending and reads (dropping it) what the client still
# sends, this long at most, before it closes.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HeadLimits:
    header_seconds: float
    # gunicorn's settings of the same names; 0 is no limit.
    limit_request_line: int
    limit_request_field_size: int
    limit_request_fields: int
    # The whole head, request line and headers: what a connection may hold before its request
    # starts.
    max_head_bytes: int
    max_connections: int


class Refusal(Exception):
    """Raised from a parser callback: stops parsing, and the request is answered `status`."""

    def __init__(self, status: int, message: str, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HeadLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.head_timer: asyncio.TimerHandle | None = None
        # Between a request's first byte and the end of its headers (pipelining included), and
        # the bytes received meanwhile.
        self.in_head = False
        self.head_bytes = 0
        # The request's header fields: how many, and their size as sent ("name: value\r\n").
        self.header_fields = 0
        self.header_bytes = 0
        self.refused = False

    # --- Connection -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            detail = "The server has too many connections open; retry shortly."
            self.refuse(ServerBusyError.status_code, ServerBusyError.default_message, detail)
            return
        self.start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # what a refused client still sends, dropped until the connection closes
        if self.head_timer is None and not self.answering():
            # The first byte after an idle keep-alive pause: the next head is due in time too.
            self.start_head_timer()
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # As uvicorn does: no WebSocket library is installed, so this only logs.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, Refusal):
                self.refuse(cause.status, cause.message, cause.detail)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.refuse(400, "Bad request", "The request is not valid HTTP/1.1.")
            return
        if not self.in_head:
            return
        # httptools buffers an unfinished header whole: bound what a head may hold.
        self.head_bytes += len(data)
        if self.head_bytes > self.limits.max_head_bytes:
            refusal = self.head_too_large()
            self.refuse(refusal.status, refusal.message, refusal.detail)

    # --- Parser callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = 0
        self.header_fields = 0
        self.header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        limit = self.limits.limit_request_line
        if limit and len(self.url) > limit:
            raise Refusal(
                UriTooLongError.status_code,
                UriTooLongError.default_message,
                f"The limit is {limit} bytes.",
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_fields += 1
        self.header_bytes += len(name) + 2 + len(value) + 2
        count, size = self.limits.limit_request_fields, self.limits.limit_request_field_size
        if count and self.header_fields > count:
            raise Refusal(
                HeadersTooLargeError.status_code,
                HeadersTooLargeError.default_message,
                f"A request has at most {count} header fields.",
            )
        # As gunicorn counts a field: "name: value".
        if size and len(name) + 2 + len(value) > size:
            raise Refusal(
                HeadersTooLargeError.status_code,
                HeadersTooLargeError.default_message,
                f"A header field is limited to {size} bytes.",
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.stop_head_timer()
        if len(self.url) + self.header_bytes > self.limits.max_head_bytes:
            # A head that came whole in one read, within the limits of each field.
            raise self.head_too_large()
        if len(self.tasks) >= self.limits.max_connections:
            raise Refusal(
                ServerBusyError.status_code,
                ServerBusyError.default_message,
                "The server has too many requests under way; retry shortly.",
            )
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.in_head and self.head_timer is None and not self.transport.is_closing():
            # A pipelined request's head had started to arrive: its deadline runs from now.
            self.start_head_timer()

    # --- Deadline and refusals --------------------------------------------------------------
    def head_too_large(self) -> Refusal:
        limit = self.limits.max_head_bytes
        return Refusal(
            HeadersTooLargeError.status_code,
            HeadersTooLargeError.default_message,
            f"The request line and headers are limited to {limit} bytes.",
        )

    def answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def start_head_timer(self) -> None:
        self.stop_head_timer()
        self.head_timer = self.loop.call_later(self.limits.header_seconds, self.head_timed_out)

    def stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.in_head:
            seconds = f"{self.limits.header_seconds:g}"
            self.refuse(
                RequestTimeoutError.status_code,
                RequestTimeoutError.default_message,
                f"The request headers were not all sent within {seconds} seconds.",
            )
        else:
            # Connected and said nothing: there is no request to answer.
            self.transport.close()

    def refuse(self, status: int, message: str, detail: str) -> None:
        self.refused = True
        self.stop_head_timer()
        self._unset_keepalive_if_required()
        if self.transport.is_closing():
            return
        if self.answering():
            # A pipelined request went wrong while the one before it is being answered: the
            # two answers must not interleave.
            self.transport.close()
            return
        request_id = str(uuid.uuid4())
        # An overloaded server is worth trying again, soon.
        extra = [(b"retry-after", b"1")] if status == 503 else []
        answer = raw_error_response(status, message, detail, request_id, extra)
        self.transport.write(answer)
        log_access(
            client=self.client[0] if self.client else "-",
            request_line="-",
            status=status,
            size=len(answer),
            started=time.monotonic(),
            request_id=request_id,
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
