"""A local webhook receiver for the tests: a real HTTP server on 127.0.0.1 that records every
request, verifies signatures the way docs/webhooks.md tells customers to (standard library
only, written apart from webhooks/signing.py on purpose), and answers as a test scripts it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify_signature(
    header: str, body: bytes, secret: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """True when one `v1` of the header is the HMAC-SHA256 of "<t>.<body>" under `secret` and
    `t` is within `tolerance` seconds of now (older is a replay)."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in items if key.strip() == "t"]
    signatures = [value for key, value in items if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    t = int(timestamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def signature(self) -> str:
        return self.headers.get("landed-signature", "")

    def verified_by(self, secret: str, **kwargs: Any) -> bool:
        return verify_signature(self.signature, self.body, secret, **kwargs)


class Receiver:
    """`statuses`: the answers to give, in order (then `default_status`); `delay` seconds
    before answering."""

    def __init__(self, *, default_status: int = 200) -> None:
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.default_status = default_status
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = (
                        receiver.statuses.popleft()
                        if receiver.statuses
                        else receiver.default_status
                    )
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = json.dumps({"received": True, "status": status}).encode()
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.headers.get("landed-event-type") == event_type]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Received]:
        """Wait until `predicate(received)` is true; the received requests then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.05)
        raise AssertionError(
            f"receiver: condition not met in {timeout}s; got "
            f"{[(r.headers.get('landed-event-type'), r.path) for r in self.received]}"
        )


class TricklingReceiver:
    """A receiver that answers `status` and its headers at once (announcing `length` bytes of
    body), then trickles the body one byte every `interval` seconds: each socket read gets a
    byte well within any per-read timeout, while the whole body takes length x interval."""

    def __init__(self, *, status: int = 200, length: int = 2048, interval: float = 0.5) -> None:
        self.status, self.length, self.interval = status, length, interval
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            try:
                conn.sendall(
                    f"HTTP/1.1 {self.status} Trickling\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {self.length}\r\n\r\n".encode()
                )
                for _ in range(self.length):
                    if self._stopped.wait(self.interval):
                        return
                    conn.sendall(b"x")
            except OSError:
                return  # the client gave up

    def __enter__(self) -> TricklingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopped.set()
        self._listener.close()


class SilentListener:
    """A loopback port that accepts connections and never answers on them (a receiver that
    hangs): `accepted` counts the connections it holds."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._held.append(conn)

    def wait_for_connections(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"silent listener: {self.accepted} connections, not {count}")
            time.sleep(0.01)

    def __enter__(self) -> SilentListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
