"""Outbound HTTP that obeys the server's network policy: a `requests.Session` whose connections
resolve the host once, refuse it when any address it resolves to is private, loopback,
link-local or otherwise not public (unless the policy allows private networks), and connect to
the checked address, so that a second DNS answer cannot point the connection elsewhere.

The host name still goes to TLS (SNI and certificate verification) and to the `Host` header;
only the socket is opened on the checked address. Redirects are never followed (a redirect
target is a new host to check; callers that want to follow one build the next request
themselves, which goes through the same check). Environment proxies, `.netrc` and the like are
ignored (`trust_env = False`): a proxy would be a way around the check.

Generic on purpose, and plain Python (no Django): HTTP API sources use it through the connector
framework (`connectors/framework/http.py`), and webhook deliveries use it directly.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.response import BaseHTTPResponse
from urllib3.util import connection as urllib3_connection

from landed.security.addresses import forbidden, resolve

if TYPE_CHECKING:
    # The protocol urllib3 types its pools' connections with (it is not exported).
    from urllib3._base_connection import BaseHTTPConnection

USER_AGENT = "Landed (+https://github.com/landed)"

# The same words as the save-time check's (landed/security/network.py).
REFUSAL = (
    "Connections to private, loopback and link-local addresses are not allowed on this "
    "server; use the system's public address (operators can set ALLOW_PRIVATE_NETWORKS)."
)


class AddressNotAllowedError(Exception):
    """The host resolves to an address the network policy refuses. Not an OSError, so that
    neither urllib3 nor requests retries or rewraps it: it reaches the caller as it is.

    A caller with an error family of its own hands the session a subclass to raise instead
    (`session(refusal=...)`): the connector framework's is also one of its config errors."""

    kind: ClassVar[str] = "host_not_allowed"
    # The policy answers the same on every try.
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _CheckedConnectionMixin:
    """Opens the socket on an address checked against the policy (set per session class)."""

    allow_private: ClassVar[bool] = False
    refusal: ClassVar[type[AddressNotAllowedError]] = AddressNotAllowedError
    # Set by urllib3's connection classes.
    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        # The request's watchdog (if any) cannot cut a name lookup or a connect in progress
        # (there is no socket to shut yet): both are bounded by its deadline here instead.
        watch = CURRENT_WATCH.get()
        deadline = watch.deadline if watch is not None else None
        try:
            addresses = _resolve_until(self._dns_host, self.port, deadline)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Resolving {self.host} took longer than the request's deadline."
            ) from exc
        if not self.allow_private and (not addresses or any(forbidden(a) for a in addresses)):
            # The plain text of the save-time check: the addresses a name resolves to inside
            # the network are not for users to see (nor to probe the network with).
            raise self.refusal(REFUSAL)
        last_error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    _timeout_until(self.timeout, deadline),
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self,
                    f"Connection to {self.host} timed out. (connect timeout={self.timeout})",
                ) from exc
            except OSError as exc:
                last_error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        # Chained, so that callers can tell the cause (refused, unreachable) from the type.
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {last_error}",
        ) from last_error


def _resolve_until(host: str, port: int, deadline: float | None) -> list[str]:
    """`resolve`, given up (TimeoutError) at `deadline` (monotonic): the system resolver has
    no timeout of its own to set, and a slow name server is the host's owner's to make. The
    lookup runs on in a daemon thread until the resolver gives up by itself."""
    if deadline is None:
        return resolve(host, port)
    # What the lookup thread ends with: the addresses, or the error it raised.
    outcome: list[list[str] | BaseException] = []

    def lookup() -> None:
        try:
            outcome.append(resolve(host, port))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name="outbound-resolve", daemon=True)
    thread.start()
    thread.join(max(deadline - time.monotonic(), 0.0))
    if thread.is_alive():
        raise TimeoutError(f"resolving {host} took too long")
    # The thread has ended, and `lookup` appends on either way out.
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _timeout_until(timeout: Any, deadline: float | None) -> Any:
    """The connect timeout, no later than `deadline` (monotonic)."""
    if deadline is None:
        return timeout
    remaining = max(deadline - time.monotonic(), 0.001)
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        return min(timeout, remaining)
    return remaining


@functools.cache
def _adapter_class(allow_private: bool, refusal: type[AddressNotAllowedError]) -> type[HTTPAdapter]:
    """An adapter whose pools build checked connections under the given policy, refusing an
    address with `refusal` (built once per policy and error class)."""

    class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
        pass

    class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
        pass

    for connection_class in (CheckedHTTPConnection, CheckedHTTPSConnection):
        connection_class.allow_private = allow_private
        connection_class.refusal = refusal

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    class CheckedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": CheckedHTTPPool,
                "https": CheckedHTTPSPool,
            }

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            raise refusal("Proxies are not used for outbound connections.")

    return CheckedAdapter


class CheckedSession(requests.Session):
    """A session with a default timeout that never follows redirects."""

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        timeout: float,
        refusal: type[AddressNotAllowedError] = AddressNotAllowedError,
    ) -> None:
        super().__init__()
        self.trust_env = False
        self.default_timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        # A class is hashable; mypy's check of lru_cache's Hashable arguments says not
        # (python/mypy#11470).
        adapter = _adapter_class(bool(allow_private_networks), refusal)()  # type: ignore[arg-type]
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", self.default_timeout)
        return super().send(request, **kwargs)


def session(
    *,
    allow_private_networks: bool = False,
    timeout: float = 30.0,
    refusal: type[AddressNotAllowedError] = AddressNotAllowedError,
) -> CheckedSession:
    """A session whose every connection is checked against the policy: private networks
    allowed or not, the default timeout (seconds) of each request, and the error a refused
    address raises (AddressNotAllowedError or a subclass)."""
    return CheckedSession(
        allow_private_networks=allow_private_networks, timeout=timeout, refusal=refusal
    )


# --- A wall-clock deadline per request ----------------------------------------------------
# The read timeout bounds each socket read only: a server trickling its headers or body could
# hold a request for ever. A watchdog cuts the request's socket when its deadline passes.
_CHUNK = 64 * 1024


class DeadlineExceeded(requests.Timeout):
    """The whole request took longer than its deadline (retried like a timeout)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


class Watch:
    """The watchdog of one request: when max_request_seconds have passed, it shuts the
    request's socket down, so that a server trickling its response headers (or going silent
    within the read timeout) cannot hold the request past the deadline; the read in progress
    fails at once. The socket is the connection's that urllib3 sends the request on
    (`_WatchedPool`); until it is open, the watchdog looks again every few milliseconds."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.conn: Any = None
        self.fired = False
        self._stopped = False
        self._lock = threading.Lock()
        self._timer = self._arm(seconds)

    def _arm(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self._fire)
        timer.daemon = True
        timer.start()
        return timer

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            sock = getattr(self.conn, "sock", None)
            if sock is None:  # not connected yet (the connect timeout bounds that)
                self._timer = self._arm(0.05)
                return
            # The plain socket's shutdown, under TLS too: the reading thread gets an end of
            # stream (SSLSocket.shutdown would pull its TLS object from under it).
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Disarm; whether the watchdog had fired."""
        with self._lock:
            self._stopped = True
            self._timer.cancel()
            return self.fired


# The watch of the request this thread (context) is sending.
CURRENT_WATCH: contextvars.ContextVar[Watch | None] = contextvars.ContextVar(
    "outbound_watch", default=None
)


class _WatchedPoolMixin(HTTPConnectionPool):
    """Tells the current request's watchdog the connection the request is sent on."""

    def _make_request(
        self, conn: BaseHTTPConnection, *args: Any, **kwargs: Any
    ) -> BaseHTTPResponse:
        watch = CURRENT_WATCH.get()
        if watch is not None:
            watch.conn = conn
        return super()._make_request(conn, *args, **kwargs)


def _watched(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    if issubclass(pool_class, _WatchedPoolMixin):
        return pool_class
    # Built with type(): the base is only known at run time.
    return type(f"Watched{pool_class.__name__}", (_WatchedPoolMixin, pool_class), {})


def watch_connections(session: requests.Session) -> None:
    """Make the session's connection pools tell the current request's watchdog which
    connection it is sent on (urllib3's `_make_request` gets it, connected or not)."""
    for adapter in session.adapters.values():
        if isinstance(adapter, HTTPAdapter):
            manager = adapter.poolmanager
            manager.pool_classes_by_scheme = {
                scheme: _watched(cls) for scheme, cls in manager.pool_classes_by_scheme.items()
            }


def read_chunks(response: requests.Response, deadline: float, seconds: float) -> Iterator[bytes]:
    raw = response.raw
    try:
        while True:
            if time.monotonic() > deadline:
                raise DeadlineExceeded(seconds)
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                return
            yield chunk
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.HTTPError as exc:  # a connection cut, an incomplete body
        raise requests.ConnectionError(exc) from exc


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and what it wraps: causes, contexts, urllib3's `reason`s and exceptions among
    the arguments (requests wraps urllib3's errors that way), each once."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner.extend(current.args)
        pending.extend(e for e in inner if isinstance(e, BaseException))


def is_timeout(error: BaseException) -> bool:
    """Whether the request failed for time (its deadline, a connect or read timeout) rather
    than for an answer or a refusal: the same reading as `error_cause`'s."""
    return any(isinstance(c, requests.Timeout | TimeoutError) for c in _causes(error))


def error_cause(
    error: BaseException | None, url: str, timeout: float, *, deadline_name: str = ""
) -> str:
    """What went wrong, in words that quote no URL; `deadline_name` names the setting of the
    request's deadline for the user to raise (none: the deadline in seconds alone)."""
    if error is None:
        return "unknown error"
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, DeadlineExceeded):
            if deadline_name:
                return f"took longer than {deadline_name} ({cause.seconds:g} s)"
            return str(cause)
    for cause in causes:
        if isinstance(cause, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return f"could not resolve host {urlsplit(url).hostname}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS error: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause.strerror or type(cause).__name__}"
        if isinstance(cause, ConnectionResetError):
            return "the connection was reset"
        if isinstance(cause, requests.exceptions.InvalidHeader):
            # Its text quotes the header value: perhaps a secret.
            return "a header name or value is not valid (a line break or a leading space?)"
        if isinstance(cause, requests.exceptions.ContentDecodingError):
            return "the response body could not be decompressed"
    if any(isinstance(c, requests.Timeout | TimeoutError) for c in causes):
        return f"timed out after {timeout:g} s"
    if any(isinstance(c, urllib3.exceptions.ProtocolError) for c in causes):
        return "the connection closed before the response was complete"
    if isinstance(error, requests.ConnectionError):
        return "the connection failed"
    # Not a connection failure (an invalid URL, say): its own words.
    return str(error)
