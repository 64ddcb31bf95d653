"""Outbound HTTP for sources: the platform's checked session (`landed.security.outbound`),
whose refusal of an address is one of the framework's config errors, so that a sync or a
connection test reports it as `host_not_allowed` and does not retry it."""

from __future__ import annotations

from connectors.framework.base import HostNotAllowedError
from landed.security import outbound


class AddressNotAllowedError(HostNotAllowedError, outbound.AddressNotAllowedError):
    """An address the network policy refuses, met while connecting."""


def session(
    *, allow_private_networks: bool = False, timeout: float = 30.0
) -> outbound.CheckedSession:
    """`landed.security.outbound.session`, raising AddressNotAllowedError above on refusal."""
    return outbound.session(
        allow_private_networks=allow_private_networks,
        timeout=timeout,
        refusal=AddressNotAllowedError,
    )
