"""Reading a PostgreSQL plan's rows through ADBC: the resume values bound first, then the
query streamed through binary COPY straight into Arrow batches (see the package docstring),
each conformed to the stream's schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from connectors.framework import connections
from connectors.framework.connections import ConnectionPool
from connectors.sources.postgres.casts import cast
from connectors.sources.postgres.errors import map_error
from connectors.sources.postgres.read_plan import ReadPlan
from connectors.sources.postgres.settings import Settings
from connectors.sources.sql.read_plan import requested_arrays


def _run(connection: adbc.Connection, sql: str) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        cursor.fetchall()
    finally:
        cursor.close()


# A worker's reads reuse their connections across syncs (see connectors.framework.connections):
# an ADBC connection loads the server's type catalog as it opens.
_READ_CONNECTIONS: ConnectionPool[adbc.Connection] = connections.register(
    ConnectionPool(
        connect=lambda conninfo: adbc.connect(conninfo, autocommit=True),
        probe=lambda connection: _run(connection, "SELECT 1"),
        # The session's settings (time zone, resume values) back to the connection's own.
        reset=lambda connection: _run(connection, "RESET ALL"),
        close=lambda connection: connection.close(),
    )
)


@contextmanager
def connect(settings: Settings, stream: str) -> Iterator[adbc.Connection]:
    """An ADBC connection for reading `stream`'s rows. A read that ends, read whole, hands it
    back to the worker's pool; one that stops half way (a failure, a cancelled sync) closes
    it, its COPY unfinished."""
    target = ("postgres", settings.host, str(settings.port), settings.database)
    conninfo = settings.conninfo()
    try:
        connection = _READ_CONNECTIONS.acquire(target, conninfo)
    except adbc_driver_manager.Error as exc:
        raise map_error(exc, stream=stream) from exc
    try:
        yield connection
    except BaseException:
        _READ_CONNECTIONS.discard(connection)
        raise
    _READ_CONNECTIONS.release(target, conninfo, connection)


def execute(cursor: adbc.Cursor, plan: ReadPlan) -> pa.RecordBatchReader:
    """The plan's rows as the driver streams them, its resume values bound first."""
    try:
        cursor.execute("SET TIME ZONE 'UTC'")
        if plan.params:
            cursor.execute(plan.bind_sql, plan.params)
            cursor.fetchall()
        cursor.execute(plan.sql)
        return cursor.fetch_record_batch()
    except adbc_driver_manager.Error as exc:
        raise map_error(exc, stream=plan.stream) from exc


def driver_batches(reader: pa.RecordBatchReader, stream: str) -> Iterator[pa.RecordBatch]:
    """The driver's batches, with its failures (a lost connection, a cancelled query) mapped."""
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
            raise map_error(exc, stream=stream) from exc
        yield batch


def conform(raw: pa.RecordBatch, plan: ReadPlan) -> pa.RecordBatch:
    """`raw` with exactly the plan's schema: extension types unwrapped, numeric strings cast to
    decimal128, columns gone upstream filled with NULLs. Vectorized, column by column."""
    return pa.RecordBatch.from_arrays(requested_arrays(raw, plan, cast), schema=plan.schema)
