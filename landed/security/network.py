"""The outbound network policy: customers' connectors and webhooks reach the public internet,
never the Landed server's own network (its metadata database, its Redis, a cloud metadata
endpoint), unless the operator allows private networks (`ALLOW_PRIVATE_NETWORKS`, on by default
only for a local `make run`).

A host is resolved once, every address it resolves to is checked, and the caller is handed the
checked address to connect to (libpq's `hostaddr`), so that a second DNS answer cannot point
the connection elsewhere. The connector framework turns these answers into its own errors
(`connectors.configs.pinned_address`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

# `_forbidden` and `_resolve` keep their names here: the policy below looks them up as module
# globals (and tests substitute them).
from landed.security.addresses import forbidden as _forbidden
from landed.security.addresses import resolve as _resolve


class HostNotAllowedError(Exception):
    """The policy refuses the host (its shape, or an address it resolves to)."""


_REFUSAL = (
    "Connections to private, loopback and link-local addresses are not allowed on this "
    "server; use the system's public address (operators can set ALLOW_PRIVATE_NETWORKS)."
)


def private_allowed() -> bool:
    return bool(settings.ALLOW_PRIVATE_NETWORKS)


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


def pinned_address(host: Any, port: Any) -> str | None:
    """The checked address to connect to, or None when the policy allows any (or there is no
    host). Raises HostNotAllowedError, or OSError / UnicodeError when `host` does not
    resolve."""
    if private_allowed() or not isinstance(host, str) or not host:
        return None
    problem = _shape_problem(host)
    if problem:
        raise HostNotAllowedError(problem)
    addresses = _resolve(host, int(port or 0))
    if not addresses or any(_forbidden(a) for a in addresses):
        raise HostNotAllowedError(_REFUSAL)
    return addresses[0]
