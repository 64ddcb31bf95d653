"""Connections a worker process keeps open from one sync to the next.

Opening a database connection is not free: an ADBC PostgreSQL connection loads the server's
type catalog as it opens (tens of milliseconds, more than a small incremental sync spends
moving its rows). A worker process that syncs the same database again soon takes the
connection its last sync left instead of opening another.

The rules:
- Off unless the process turns it on (`enable`): a worker that runs syncs does, as it starts;
  the API, tests and scripts open and close their connections as before.
- Bounded: at most `max_idle` idle connections per process, the least recently used closed
  first, and none kept idle longer than `idle_seconds` (a timer closes them: a worker left
  idle does not hold connections to a customer's database).
- Health-checked: a connection taken from the pool is probed first (`probe`); one that fails
  is closed and a new one opened in its place.
- Closed on config change: connections are kept under their full connection string (the
  credentials and options included) and grouped by `target` (what they connect to, without
  the credentials). Asking for a target with another connection string, a changed password
  say, closes the target's idle connections made with the old one.
- Clean: only a connection its user hands back as reusable (`release`) is kept, and only if
  `reset` returns it to a pristine session (no transaction, no lock); anything else is closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

C = TypeVar("C")


@dataclass
class _Idle(Generic[C]):
    target: Hashable
    conninfo: str
    connection: C
    since: float


class ConnectionPool(Generic[C]):
    """Idle connections of one kind (one driver), shared by the threads of a process."""

    def __init__(
        self,
        *,
        connect: Callable[[str], C],
        probe: Callable[[C], None],
        reset: Callable[[C], None],
        close: Callable[[C], None],
        max_idle: int = 4,
        idle_seconds: float = 300.0,
    ) -> None:
        self._connect = connect
        self._probe = probe
        self._reset = reset
        self._close = close
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self.enabled = False
        self._idle: list[_Idle[C]] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def acquire(self, target: Hashable, conninfo: str) -> C:
        """An open connection to `conninfo`: an idle one that answers its probe, else a new
        one (the driver's errors propagate)."""
        while True:
            with self._lock:
                doomed = self._expire(time.monotonic())
                doomed += [i for i in self._idle if i.target == target and i.conninfo != conninfo]
                self._idle = [i for i in self._idle if i not in doomed]
                # The most recently used first: the likeliest to be alive.
                match = next((i for i in reversed(self._idle) if i.conninfo == conninfo), None)
                if match is not None:
                    self._idle.remove(match)
            self._close_all(doomed)
            if match is None:
                return self._connect(conninfo)
            try:
                self._probe(match.connection)
            except Exception:
                # Dropped by the server, the network or a restart meanwhile: try the next.
                self._close_quietly(match.connection)
                continue
            return match.connection

    def release(self, target: Hashable, conninfo: str, connection: C) -> None:
        """Hand a connection back once its user is done with it and it is in a known state.
        Kept if the pool is on and `reset` succeeds; closed otherwise."""
        if not self.enabled:
            self._close_quietly(connection)
            return
        try:
            self._reset(connection)
        except Exception:
            self._close_quietly(connection)
            return
        with self._lock:
            self._idle.append(_Idle(target, conninfo, connection, time.monotonic()))
            doomed = self._expire(time.monotonic())
            excess = len(self._idle) - len(doomed) - self.max_idle
            if excess > 0:
                doomed += [i for i in self._idle if i not in doomed][:excess]
            self._idle = [i for i in self._idle if i not in doomed]
            self._schedule_expiry()
        self._close_all(doomed)

    def discard(self, connection: C) -> None:
        """Close a connection that is not to be reused (its state is unknown: an error, a read
        stopped half way)."""
        self._close_quietly(connection)

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            doomed, self._idle = self._idle, []
        self._close_all(doomed)

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def _schedule_expiry(self) -> None:
        """(Under the lock.) A timer that closes what has been idle too long, while any is."""
        if self._timer is None and self._idle:
            self._timer = threading.Timer(self.idle_seconds + 1, self._expire_idle)
            self._timer.daemon = True
            self._timer.start()

    def _expire_idle(self) -> None:
        with self._lock:
            self._timer = None
            doomed = self._expire(time.monotonic())
            self._idle = [i for i in self._idle if i not in doomed]
            self._schedule_expiry()
        self._close_all(doomed)

    def _expire(self, now: float) -> list[_Idle[C]]:
        return [i for i in self._idle if now - i.since > self.idle_seconds]

    def _close_all(self, idle: list[_Idle[C]]) -> None:
        for item in idle:
            self._close_quietly(item.connection)

    def _close_quietly(self, connection: C) -> None:
        # Closing a connection that is already broken: nothing more to release.
        with contextlib.suppress(Exception):
            self._close(connection)


_POOLS: list[ConnectionPool[Any]] = []


def register(pool: ConnectionPool[C]) -> ConnectionPool[C]:
    """Make a driver's pool one that `enable` and `close_all` reach."""
    _POOLS.append(pool)
    return pool


def enable(*, max_idle: int | None = None, idle_seconds: float | None = None) -> None:
    """Keep connections across syncs in this process (a worker that runs syncs, as it starts)."""
    for pool in _POOLS:
        pool.enabled = True
        if max_idle is not None:
            pool.max_idle = max_idle
        if idle_seconds is not None:
            pool.idle_seconds = idle_seconds


def close_all() -> None:
    """Close every idle connection of every pool (a worker shutting down, a test's end)."""
    for pool in _POOLS:
        pool.clear()
