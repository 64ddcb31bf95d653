"""Per-client-IP rate limits with django-ratelimit, by the reference's tiers.

Each view names a tier per HTTP method; a tier is one or more rates (Signup is 5/minute and
20/hour), all counted in the shared cache so that they hold across server processes.

`client_ip` is the one answer to "where did this request come from": django-ratelimit calls
it (settings.RATELIMIT_IP_META_KEY) and so does the sign-in lockout.
"""

import functools
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from landed.api.errors import RateLimitedError

logger = logging.getLogger("landed.api.ratelimit")

READ = "read"
READ_HIGH = "read_high"
WRITE = "write"
SENSITIVE = "sensitive"
SIGNUP = "signup"
LOGIN = "login"

UNKNOWN_CLIENT_IP = "0.0.0.0"  # noqa: S104 (an address to count by, not to bind to)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, unless that is one of TRUSTED_PROXIES. Then the
    right-most address of X-Forwarded-For that is not a trusted proxy: each proxy appends the
    address it received from, so entries to the left of the first untrusted one were written
    by the client itself and prove nothing. An IPv6 client counts as its /64
    (RATELIMIT_IPV6_MASK): one host commonly holds a whole /64 and could rotate through it."""
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    address = _parse_ip(request.META.get("REMOTE_ADDR") or "")
    # An empty REMOTE_ADDR is a Unix socket: the peer is on this machine, which is a proxy
    # when any are configured.
    from_proxy = (address is None and bool(trusted)) or (
        address is not None and any(address in network for network in trusted)
    )
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if from_proxy else []
    while from_proxy and hops:
        forwarded = _parse_ip(hops.pop())
        if forwarded is None:
            break  # garbage in the chain: trust stops at the last good hop
        address = forwarded
        from_proxy = any(address in network for network in trusted)
    if address is None:
        # All unidentifiable clients share one address, and so its limits.
        return UNKNOWN_CLIENT_IP
    if address.version == 6:
        mask = getattr(settings, "RATELIMIT_IPV6_MASK", 64)
        return str(ipaddress.ip_network(f"{address}/{mask}", strict=False).network_address)
    return str(address)


def enforce_rate_limit(request: HttpRequest, *, group: str, tier: str) -> None:
    """Count this request against every rate of `tier`; raise 429 when one is exceeded."""
    retry_after = 0
    for rate in settings.RATE_LIMIT_TIERS[tier]:
        try:
            usage = get_usage(request, group=f"{group}:{tier}", key="ip", rate=rate, increment=True)
        except Exception:
            # A cache outage must not take the API down with it; /health reports the cache.
            logger.exception("rate-limit cache unavailable; request allowed")
            return
        if usage and usage["should_limit"]:
            retry_after = max(retry_after, usage["time_left"])
    if retry_after:
        raise RateLimitedError(retry_after)
