"""The shape of what a SQL source's live catalog describes: relations (tables and views) and
their columns, each database's column type knowing the framework column it maps to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from connectors.framework.base import Stream, StreamNotFoundError
from connectors.framework.types import Column
from connectors.sources.sql.keyset import table_stream


class LiveColumn(Protocol):
    """A column as a database's catalog describes it."""

    @property
    def name(self) -> str: ...

    def column(self) -> Column: ...


ColumnT = TypeVar("ColumnT", bound=LiveColumn)


@dataclass(frozen=True)
class Relation(Generic[ColumnT]):
    """A readable table or view as the live catalog describes it. Its stream is named
    `<namespace>.<name>`; the namespace is a MySQL database or a PostgreSQL schema."""

    namespace: str
    name: str
    kind: str  # "table" or "view"
    columns: tuple[ColumnT, ...]
    primary_key: tuple[str, ...]

    @property
    def stream_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    def column(self, name: str) -> ColumnT | None:
        return next((c for c in self.columns if c.name == name), None)

    def stream(self) -> Stream:
        columns = tuple(c.column() for c in self.columns)
        return table_stream(self.stream_name, columns, self.primary_key, self.kind)


def stream_gone(name: str) -> StreamNotFoundError:
    """The error of a read whose relation the live catalog no longer lists."""
    return StreamNotFoundError(f"Stream '{name}' no longer exists or is not readable.", stream=name)
