"""The source's estimates of each stream's rows (`Source.estimate_rows`), asked on a thread of
their own, stream after stream in the order the job loads them, while the job goes on.

An estimate is for live progress only: one that fails or never comes must not fail or hold
up the sync. So the engine never waits on this thread but briefly (`wait`, before a stream's
read, so that its first progress already shows the total), and takes the answers as they
come (`take`). The thread touches no database of Landed's: the engine writes what it takes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from connectors.framework.base import ReadRequest, Source

logger = logging.getLogger("syncs.engine.estimates")


class Estimates(threading.Thread):
    def __init__(self, source: Source, requests: Sequence[tuple[str, ReadRequest]]) -> None:
        super().__init__(name="estimates", daemon=True)
        self._source = source
        self._requests = list(requests)
        self._answered: set[str] = set()
        self._new: dict[str, int] = {}
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        # Set once a wait went unanswered: a source that slow is not waited for again (a
        # hung estimate would otherwise hold every later stream up in turn).
        self._slow = False

    def run(self) -> None:
        for name, request in self._requests:
            if self._stopped.is_set():
                return
            started = time.monotonic()
            rows: int | None = None
            try:
                estimate = self._source.estimate_rows(request)
                if estimate is not None and estimate >= 0:
                    rows = int(estimate)
            except Exception as exc:
                # Progress without a total: worth a line in the log, not a failure.
                logger.info("syncs.estimate_failed stream=%s error=%r", name, exc)
            logger.debug(
                "syncs.estimated stream=%s rows=%s seconds=%.3f",
                name,
                rows,
                time.monotonic() - started,
            )
            with self._changed:
                self._answered.add(name)
                if rows is not None:
                    self._new[name] = rows
                self._changed.notify_all()

    def wait(self, stream: str, timeout: float) -> None:
        """Until the source answered for `stream` (or gave up on it), at most `timeout`; not
        at all once a wait went unanswered."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while stream not in self._answered and self.is_alive() and not self._slow:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._slow = True
                    logger.info("syncs.estimate_late stream=%s (not waited for again)", stream)
                    return
                self._changed.wait(left)

    def take(self) -> dict[str, int]:
        """The estimates that came since the last call, by stream."""
        with self._changed:
            new, self._new = self._new, {}
        return new

    def stop(self) -> None:
        """Ask no more (a question under way is left to end on its own: the thread is a
        daemon, and sources bound their estimates' time)."""
        self._stopped.set()
