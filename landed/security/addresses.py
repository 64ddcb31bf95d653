"""Which network addresses the server may reach for a customer (a connector's host, a webhook's
URL): the pure address check behind the outbound network policy (Django-free, so that the
outbound HTTP session, which the connector framework uses, shares it with `network`)."""

from __future__ import annotations

import ipaddress
import socket

# Not global, though Python's tables (3.11) call some of them so.
_ALSO_DENIED = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("100.64.0.0/10"))
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (well-known and
# local-use) and the deprecated IPv4-compatible form. The address inside is checked too.
_IPV4_CARRIERS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


def forbidden(address: str) -> bool:
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


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
