"""Binary COPY pass-through: the contract between a source that can stream a stream's rows as
PostgreSQL binary COPY data and a destination that can load that data as it is.

Decoding rows into Arrow and encoding them back costs most of a PostgreSQL -> PostgreSQL
sync's CPU. When both ends are PostgreSQL and every column's destination type is the very
type the source's values are in, the bytes `COPY ... TO STDOUT (FORMAT binary)` produces are
valid input for `COPY ... FROM STDIN (FORMAT binary)`, and need no decoding at all.

A source offers the stream (`Source.copy_offer`: the columns and the PostgreSQL type each
one's values are in) or refuses, saying why; the destination's stream loader accepts the
offer or refuses it (`StreamLoader.copy_refusal`), checking the types of the table it writes
into. When both agree, the source yields `CopyChunk`s (`Source.read_copy`) and the loader
writes each with the state it reaches (`StreamLoader.write_copy`), in one transaction, as
for Arrow batches: each chunk is bounded by keys, so its state is a resume point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class CopyRefused(Exception):
    """A source or destination cannot pass this stream's rows through as binary COPY;
    `reason` says why, for the job's stream detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CopyColumn:
    name: str
    # The PostgreSQL type whose binary format the column's values are in, spelled as
    # `format_type` does (the `Column.postgres_type` the destination created the column with).
    postgres_type: str


@dataclass(frozen=True)
class CopyOffer:
    """A stream the source can read as binary COPY: its columns, in the data's order."""

    stream: str
    columns: tuple[CopyColumn, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class CopyChunk:
    """Rows of one stream as one complete binary COPY stream (signature, header, tuples,
    trailer), and the stream's state once these rows are loaded."""

    data: bytes | bytearray
    rows: int
    state: dict[str, Any] | None
    columns: tuple[str, ...]  # the data's columns, in order (the offer's)

    @property
    def bytes_read(self) -> int:
        return len(self.data)
