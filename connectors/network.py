"""The outbound network policy for connectors: customers' connectors reach the public
internet, never the Landed server's own network (its metadata database, its Redis, a cloud
metadata endpoint), unless the operator allows private networks (`ALLOW_PRIVATE_NETWORKS`,
on by default only for a local `make run`).

A host is resolved once, every address it resolves to is checked, and the connector is handed
the checked address to connect to (libpq's `hostaddr`), so that a second DNS answer cannot
point the connection elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from django.conf import settings

from connectors.framework.base import ConfigError, UnreachableError
from connectors.framework.spec import ConnectorSpec


class HostNotAllowedError(ConfigError):
    kind = "host_not_allowed"


# Not global, though Python's tables (3.11) call some of them so.
_ALSO_DENIED = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("100.64.0.0/10"))
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (well-known and
# local-use) and the deprecated IPv4-compatible form. The address inside is checked too.
_IPV4_CARRIERS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)

_REFUSAL = (
    "Connections to private, loopback and link-local addresses are not allowed on this "
    "server; use the system's public address (operators can set ALLOW_PRIVATE_NETWORKS)."
)


def private_allowed() -> bool:
    return bool(settings.ALLOW_PRIVATE_NETWORKS)


def _forbidden(address: str) -> bool:
    """Anything but a globally routable unicast address: private, loopback, link-local,
    shared (100.64/10, where some clouds serve instance metadata), IETF-reserved (192.0.0/24),
    multicast, unspecified; and IPv6 forms that carry such an IPv4 address inside (mapped,
    6to4, Teredo)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.sixtofour or ip.teredo:
            return True  # tunnels to somewhere else: refused whatever they wrap
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if any(ip in net for net in _IPV4_CARRIERS):
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return any(
        not c.is_global or c.is_multicast or any(c in net for net in _ALSO_DENIED)
        for c in candidates
    )


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _shape_problem(host: str) -> str | None:
    if host.startswith("/") or host.startswith("@"):
        return "A Unix socket path is not allowed as host on this server."
    if "," in host:
        return "Give one host name; lists of hosts are not allowed on this server."
    return None


def host_problem(host: Any, port: Any = 5432) -> str | None:
    """Why `host` may not be used, for a 422 when a config is saved; None when it may (or
    when it does not resolve now: the connection test reports that)."""
    if private_allowed() or not isinstance(host, str) or not host:
        return None
    problem = _shape_problem(host)
    if problem:
        return problem
    try:
        addresses = _resolve(host, int(port) if isinstance(port, int) else 5432)
    except (OSError, UnicodeError):
        return None
    return _REFUSAL if any(_forbidden(a) for a in addresses) else None


def pinned_address(spec: ConnectorSpec, config: dict[str, Any]) -> str | None:
    """The checked address to connect to, or None when the policy allows any (or the type
    names no host). Raises HostNotAllowedError, or UnreachableError when it does not resolve."""
    if spec.host_field is None or private_allowed():
        return None
    host = config.get(spec.host_field)
    if not isinstance(host, str) or not host:
        return None
    problem = _shape_problem(host)
    if problem:
        raise HostNotAllowedError(problem)
    try:
        addresses = _resolve(host, int(config.get("port") or 0))
    except (OSError, UnicodeError) as exc:
        raise UnreachableError(f"The host {host!r} could not be resolved.") from exc
    if not addresses or any(_forbidden(a) for a in addresses):
        raise HostNotAllowedError(_REFUSAL)
    return addresses[0]
