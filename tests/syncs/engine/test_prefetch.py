"""Read-ahead of source batches on a thread."""

import threading
import time

import pytest

from syncs.engine.prefetch import Prefetched


def test_yields_every_item_in_order():
    with Prefetched(iter(range(1000))) as items:
        assert list(items) == list(range(1000))


def test_reads_ahead_by_at_most_the_depth():
    produced = []

    def source():
        for n in range(10):
            produced.append(n)
            yield n

    with Prefetched(source(), depth=2) as items:
        assert next(items) == 0
        time.sleep(0.3)
        # One handed out, two waiting in the queue, one held by the blocked producer.
        assert len(produced) <= 4


def test_a_source_error_reaches_the_consumer():
    def source():
        yield 1
        raise ValueError("source broke")

    with Prefetched(source()) as items, pytest.raises(ValueError, match="source broke"):
        list(items)


def test_leaving_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    prefetch = Prefetched(source())
    with prefetch as items:
        assert next(items) == 0
    assert closed.wait(5)
    assert not prefetch._thread.is_alive()
