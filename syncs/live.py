"""The figures of live progress beyond the counts: a recent rate of rows per second (measured by
the worker), and the percent done and time left (derived when a job is read, from the rows its
streams wrote, the source's estimates and that rate, so that one response agrees with itself).

Plain Python: the engine measures with `RecentRate`, the job and stream models derive with the
functions (docs/syncs.md, "Live progress").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The time constant of the recent rate: rows written longer ago than this weigh less than a
# third, longer ago than three times this, less than a twentieth.
RATE_WINDOW_SECONDS = 10.0


class RecentRate:
    """Rows per second over about the last `window` seconds.

    An exponentially weighted average of the rate between successive updates, with time
    constant `window`, normalised by the weight the time since `start` carries: over a start
    shorter than the window it is close to the plain average since the start (not a value
    pulled up slowly from zero), and after that the older rates fade. A lifetime average, by
    contrast, drifts ever more slowly and lags behind a change of pace (a faster stream, a
    stall).
    """

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self._total = 0
        self._at: float | None = None
        self._weighted = 0.0
        self._weight = 0.0

    @property
    def started(self) -> bool:
        return self._at is not None

    def start(self, total: int, now: float) -> None:
        """Measure from `now`, when `total` rows had been written."""
        self._total, self._at = total, now
        self._weighted = self._weight = 0.0

    def update(self, total: int, now: float) -> None:
        """`total` rows written by `now` (a monotonic clock, in seconds)."""
        if self._at is None:
            self.start(total, now)
            return
        elapsed = now - self._at
        if elapsed <= 0:
            return  # counted with the next update, over the time they really took
        decay = math.exp(-elapsed / self.window)
        instant = (total - self._total) / elapsed
        self._weighted = self._weighted * decay + instant * (1 - decay)
        self._weight = self._weight * decay + (1 - decay)
        self._total, self._at = total, now

    @property
    def rate(self) -> float | None:
        """None until time has passed since the start."""
        return self._weighted / self._weight if self._weight > 0 else None


@dataclass(frozen=True)
class StreamFigures:
    """What percent and time left need of one stream of a job."""

    succeeded: bool
    estimated_rows: int | None
    rows_written: int


def rounded_rate(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 1)


def stream_remaining_rows(stream: StreamFigures) -> int | None:
    """Rows the stream has still to write by its estimate: 0 once it succeeded; None when it
    has no estimate, or has written more than it (the estimate was low: unknown)."""
    if stream.succeeded:
        return 0
    if stream.estimated_rows is None or stream.rows_written > stream.estimated_rows:
        return None
    return stream.estimated_rows - stream.rows_written


def job_remaining_rows(streams: Sequence[StreamFigures]) -> int | None:
    """The streams' remaining rows (those not started included); None while one is unknown,
    or before the job knows its streams."""
    if not streams:
        return None
    remaining = [stream_remaining_rows(stream) for stream in streams]
    if any(rows is None for rows in remaining):
        return None
    return sum(rows for rows in remaining if rows is not None)


def job_estimated_rows(streams: Sequence[StreamFigures]) -> int | None:
    estimates = [stream.estimated_rows for stream in streams]
    if not estimates or any(rows is None for rows in estimates):
        return None
    return sum(rows for rows in estimates if rows is not None)


def percent(done: int, remaining: int | None) -> float | None:
    """Of `done + remaining` rows; 100 when there is nothing to do; None when unknown."""
    if remaining is None:
        return None
    total = done + remaining
    if total <= 0:
        return 100.0
    return round(min(100.0, 100.0 * done / total), 1)


def job_percent(streams: Sequence[StreamFigures]) -> float | None:
    return percent(sum(s.rows_written for s in streams), job_remaining_rows(streams))


def eta_seconds(remaining: int | None, rate: float | None) -> float | None:
    """Seconds left at the recent rate; None when either is unknown, or nothing moves."""
    if remaining is None:
        return None
    if remaining <= 0:
        return 0.0
    if rate is None or rate <= 0:
        return None
    return round(remaining / rate, 1)
