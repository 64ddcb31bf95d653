"""Read ahead: the source produces its next batch on a thread while the destination loads
the current one, so that the two databases work at the same time (as a COPY pipe does).
At most `depth` batches wait in between: memory stays bounded by the batch size."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_STOP_WAIT_SECONDS = 30.0


class Prefetched(Generic[T]):
    """Iterate `source` on a background thread. Use as a context manager: leaving the block
    early (an error, a cancel) stops the thread and closes the source iterator."""

    def __init__(self, source: Iterator[T], *, depth: int = 1, name: str = "prefetch") -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        # Unblock a producer waiting for room; one stuck in the source (a hung network read)
        # is left behind after a while, as a daemon thread, rather than hang the job.
        deadline = time.monotonic() + _STOP_WAIT_SECONDS
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _consume(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
