"""How a stream's rows travel from the source to the destination: the load path, planned per
stream once its table is ready, with the reason for the choice (shown in the job's stream).

* `arrow`: the source's Arrow batches, written by the destination's loader (every source and
  destination; the general path).
* `copy_passthrough`: the source's binary COPY chunks, loaded by the destination as they are
  (`connectors.framework.passthrough`): when both ends are PostgreSQL, every column of the
  table written into has the type the source's values are in, and the read has a key to
  bound chunks by. No row is decoded.

Both yield units with the state reached after them; the runner writes each with its state in
one transaction whichever the path, so exactly-once and resuming are the same on both (a
state one path wrote resumes on the other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from django.conf import settings

from connectors.framework.base import Batch, LoadResult, ReadRequest, Source, StreamLoader
from connectors.framework.passthrough import CopyChunk, CopyOffer, CopyRefused

LoadPathName = Literal["arrow", "copy_passthrough"]
ARROW: LoadPathName = "arrow"
COPY_PASSTHROUGH: LoadPathName = "copy_passthrough"


@dataclass(frozen=True)
class Unit:
    """One batch or chunk as the runner handles it, whatever its path."""

    rows: int
    bytes_read: int
    state: dict[str, Any] | None
    write: Callable[[dict[str, Any] | None], LoadResult]  # the unit, with the state given


@dataclass(frozen=True)
class LoadPath:
    name: LoadPathName
    reason: str
    offer: CopyOffer | None = None

    def units(self, source: Source, writer: StreamLoader, request: ReadRequest) -> Iterator[Unit]:
        """The stream's rows as the path reads them, each ready to be written."""
        if self.offer is not None:
            return _copy_units(source.read_copy(request, self.offer), writer)
        return _arrow_units(source.read(request), writer)


def choose(source: Source, writer: StreamLoader, request: ReadRequest) -> LoadPath:
    """The stream's load path: pass-through when the source offers binary COPY and the
    destination's table takes it as it is, Arrow otherwise (with the reason)."""
    if settings.SYNC_LOAD_PATH == "arrow":
        return LoadPath(ARROW, "Binary COPY pass-through is turned off (SYNC_LOAD_PATH=arrow).")
    try:
        offer = source.copy_offer(request)
    except CopyRefused as refused:
        return LoadPath(ARROW, refused.reason)
    refusal = writer.copy_refusal(offer)
    if refusal is not None:
        return LoadPath(ARROW, refusal)
    return LoadPath(
        COPY_PASSTHROUGH,
        "Source and destination are PostgreSQL and every column has the source's type: "
        "binary COPY passes through without decoding.",
        offer,
    )


def _arrow_units(batches: Iterator[Batch], writer: StreamLoader) -> Iterator[Unit]:
    try:
        for batch in batches:
            records = batch.records
            yield Unit(
                rows=records.num_rows,
                bytes_read=batch.bytes_read,
                state=batch.state,
                write=partial(writer.write, records),
            )
    finally:
        _close(batches)


def _copy_units(chunks: Iterator[CopyChunk], writer: StreamLoader) -> Iterator[Unit]:
    try:
        for chunk in chunks:
            yield Unit(
                rows=chunk.rows,
                bytes_read=chunk.bytes_read,
                state=chunk.state,
                write=partial(writer.write_copy, chunk),
            )
    finally:
        _close(chunks)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
