"""The server's limits on slow requests and on concurrent work, read from the environment.

They are the server's, not Django's: the worker (`landed.server.worker`) reads them when it
starts, the ASGI application (`landed.asgi`) when it is built.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

# A client gets this long to send a request's whole head (request line and headers), from its
# connection or its first byte after an idle keep-alive pause. Real clients send a head in one
# packet; a few seconds are plenty even on a poor mobile link.
HEADER_TIMEOUT_DEFAULT = 10.0
# While a body is being sent, each piece must follow the last within this ...
BODY_IDLE_TIMEOUT_DEFAULT = 15.0
# ... and the whole body must be in within this: at the 2.5 MiB body limit, about 43 KB/s.
BODY_TIMEOUT_DEFAULT = 60.0
# Requests that run Django code at once in one server process: each holds a thread and, while
# it queries, a database connection, so this stays below the connection pool's size (10).
REQUEST_SLOTS_DEFAULT = 8


@dataclass(frozen=True)
class Deadlines:
    """How long a client may take to send its request (seconds)."""

    header: float
    body_idle: float
    body: float


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def deadlines(environ: Mapping[str, str] = os.environ) -> Deadlines:
    return Deadlines(
        header=_seconds(environ, "WEB_HEADER_TIMEOUT_SECONDS", HEADER_TIMEOUT_DEFAULT),
        body_idle=_seconds(environ, "WEB_BODY_IDLE_TIMEOUT_SECONDS", BODY_IDLE_TIMEOUT_DEFAULT),
        body=_seconds(environ, "WEB_BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_DEFAULT),
    )


def request_slots(environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get("WEB_THREADS", "").strip()
    if not raw:
        return REQUEST_SLOTS_DEFAULT
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"WEB_THREADS must be a whole number of at least 1, not {raw!r}")
    return int(raw)
