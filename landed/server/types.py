"""The ASGI shapes the server's middleware passes along (as Django's ASGI handler types them)."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The value of request header `name` (lower case), the first if it is repeated."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
