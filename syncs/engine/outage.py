"""A running sync's reads and writes of the metadata database, made through a brief outage of
it (a restart, a failover).

The rows a sync moves and the state they reach are committed in the destination, not in the
metadata database: a restart of the latter stops nothing but the job's own figures. So the
engine waits for the database to come back, for as long as the reaper would wait for a silent
worker (JOB_STALE_SECONDS), and goes on where it was, rather than failing a healthy sync. A
longer outage fails the write; the job is then settled (or reaped) and retried from its last
checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger("syncs.engine.outage")

T = TypeVar("T")

# Errors of the database's availability (a lost or refused connection, the server shutting
# down), as Django raises them; not those of a statement it refused (an IntegrityError).
UNAVAILABLE = (OperationalError, InterfaceError)

# The wait between two tries: short at first (most restarts take a second or two), capped.
FIRST_WAIT_SECONDS = 0.2
MAX_WAIT_SECONDS = 2.0


def through_outage(operation: Callable[[], T], *, job_id: Any, what: str) -> T:
    """`operation()`, tried again while the database is unavailable, up to JOB_STALE_SECONDS.
    Each operation passed here is safe to repeat: it writes absolute figures, or settles a
    job conditionally on its status, in a transaction of its own."""
    deadline = time.monotonic() + settings.JOB_STALE_SECONDS
    wait = FIRST_WAIT_SECONDS
    while True:
        try:
            return operation()
        except UNAVAILABLE as exc:
            # Inside a transaction begun outside `operation`, nothing can be redone here.
            if connection.in_atomic_block or time.monotonic() + wait > deadline:
                raise
            logger.warning(
                "syncs.metadata_unavailable job=%s during=%s retry_in=%.1fs error=%s",
                job_id,
                what,
                wait,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            # The broken connection goes (back to the pool, which discards it); the next try
            # opens another.
            connection.close()
            time.sleep(wait)
            wait = min(wait * 2, MAX_WAIT_SECONDS)
