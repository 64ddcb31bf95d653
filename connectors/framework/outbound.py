"""Outbound HTTP that obeys the server's network policy: a `requests.Session` whose connections
resolve the host once, refuse it when any address it resolves to is private, loopback,
link-local or otherwise not public (unless the policy allows private networks), and connect to
the checked address, so that a second DNS answer cannot point the connection elsewhere.

The host name still goes to TLS (SNI and certificate verification) and to the `Host` header;
only the socket is opened on the checked address. Redirects are never followed (a redirect
target is a new host to check; callers that want to follow one build the next request
themselves, which goes through the same check). Environment proxies, `.netrc` and the like are
ignored (`trust_env = False`): a proxy would be a way around the check.

Generic on purpose: HTTP API sources use it, and so can outbound webhook deliveries.
"""

from __future__ import annotations

import socket
import sys
from typing import Any, ClassVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from connectors.framework.addresses import forbidden, resolve
from connectors.framework.base import ConfigError

USER_AGENT = "Landed (+https://github.com/landed)"

# The same words as the save-time check's (connectors/network.py).
REFUSAL = (
    "Connections to private, loopback and link-local addresses are not allowed on this "
    "server; use the system's public address (operators can set ALLOW_PRIVATE_NETWORKS)."
)


class AddressNotAllowedError(ConfigError):
    """The host resolves to an address the network policy refuses. Not an OSError, so that
    neither urllib3 nor requests retries or rewraps it: it reaches the caller as it is."""

    kind = "host_not_allowed"


class _CheckedConnectionMixin:
    """Opens the socket on an address checked against the policy (set per session class)."""

    allow_private: ClassVar[bool] = False
    # Set by urllib3's connection classes.
    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        if not self.allow_private and (not addresses or any(forbidden(a) for a in addresses)):
            # The plain text of the save-time check: the addresses a name resolves to inside
            # the network are not for users to see (nor to probe the network with).
            raise AddressNotAllowedError(REFUSAL)
        last_error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
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


def _adapter_class(allow_private: bool) -> type[HTTPAdapter]:
    """An adapter whose pools build checked connections under the given policy."""

    class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
        pass

    class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
        pass

    CheckedHTTPConnection.allow_private = allow_private
    CheckedHTTPSConnection.allow_private = allow_private

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
            raise AddressNotAllowedError("Proxies are not used for outbound connections.")

    return CheckedAdapter


_ADAPTERS = {policy: _adapter_class(policy) for policy in (False, True)}


class CheckedSession(requests.Session):
    """A session with a default timeout that never follows redirects."""

    def __init__(self, *, allow_private_networks: bool, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self.default_timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        adapter = _ADAPTERS[bool(allow_private_networks)]()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", self.default_timeout)
        return super().send(request, **kwargs)


def session(*, allow_private_networks: bool = False, timeout: float = 30.0) -> CheckedSession:
    """A session whose every connection is checked against the policy: private networks
    allowed or not, and the default timeout (seconds) of each request."""
    return CheckedSession(allow_private_networks=allow_private_networks, timeout=timeout)
