"""Reading a MySQL plan's rows (why in pages, see the package docstring): keyset pages through
ConnectorX, each on a thread of its own so that the GIL is released while the server works,
or one PyMySQL unbuffered result for a read without an order; then conformed to the stream's
schema and cut into batches of the requested size."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import connectorx
import pyarrow as pa
import pyarrow.compute as pc
import pymysql

from connectors.framework.base import TransientError
from connectors.sources.mysql.casts import cast, columnar
from connectors.sources.mysql.errors import map_driver_error, map_error
from connectors.sources.mysql.read_plan import ReadPlan
from connectors.sources.mysql.settings import SESSION_SQL, Settings
from connectors.sources.sql.read_plan import requested_arrays

# Rows of one page: the request's batch size, at most this; and about this many bytes, once
# the first pages have shown how wide the rows are (a LIMIT counts rows, not bytes).
MAX_PAGE_ROWS = 100_000
PAGE_BYTES = 64 * 2**20
FIRST_PAGE_ROWS = 256  # small: the rows' width is not known yet
# Rows PyMySQL hands over at a time on an unordered (unbuffered) read.
UNBUFFERED_FETCH_ROWS = 5_000


@dataclass(frozen=True)
class ServerFlavor:
    """What the row reader's sessions need to know of the server."""

    tls: bool  # the catalog session got TLS (decides `preferred` for ConnectorX)
    mariadb: bool

    def statement_limit(self, settings: Settings) -> str:
        """The session setting that bounds each page on the server."""
        return self.statement_limit_for(settings.read_timeout)

    def statement_limit_for(self, seconds: int) -> str:
        """The session setting that bounds each statement on the server to `seconds`."""
        if self.mariadb:
            return f"SET SESSION max_statement_time = {int(seconds)}"
        return f"SET SESSION max_execution_time = {int(seconds) * 1000}"


class PageReader:
    """The rows of a read plan, from the server the settings name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pieces(
        self, plan: ReadPlan, flavor: ServerFlavor, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The rows in the read's order, as internal batches (see `ReadPlan.visible`)."""
        if not plan.order:
            yield from self._unbuffered(plan, plan.unordered_sql(), flavor)
            return
        page_rows = max(1, min(batch_rows, MAX_PAGE_ROWS))
        limit = min(page_rows, FIRST_PAGE_ROWS)
        after = plan.resume
        while True:
            table = self._page(plan, plan.page_sql(after, limit), flavor)
            pieces = [conform(raw, plan) for raw in table.to_batches() if raw.num_rows]
            rows = table.num_rows
            if rows < limit:  # the last page
                yield from pieces
                return
            last = pieces[-1]
            if plan.tie_safe:
                # A LIMIT may cut the trailing group of equal cursor values: deliver the rows
                # before it, then the whole group (streamed: it may be large), then go on
                # strictly after its value.
                value = plan.state_values(last)[0]
                cursor = last.column(plan.key_indices[0])[-1]
                for piece in pieces:
                    head = piece.filter(pc.not_equal(piece.column(plan.key_indices[0]), cursor))
                    if head.num_rows:
                        yield head
                yield from self._unbuffered(plan, plan.group_sql(value), flavor)
                after = [value]
            else:
                yield from pieces
                after = plan.state_values(last)
            # Bound the next page by bytes too, from the width of the rows seen so far.
            width = max(1, table.nbytes // rows)
            limit = max(1, min(page_rows, PAGE_BYTES // width, limit * 16))

    def _page(self, plan: ReadPlan, sql: str, flavor: ServerFlavor) -> pa.Table:
        """One page through ConnectorX, on a thread of its own: `read_sql` releases the GIL
        while it waits, and if it is still waiting well past the server-side limit (a network
        that stalls without closing, which neither side notices), the read fails with a
        retryable error. The abandoned thread ends when its socket does."""
        settings = self.settings
        url = settings.connectorx_url(plan.database, tls=flavor.tls)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["table"] = connectorx.read_sql(
                    url,
                    sql,
                    return_type="arrow",
                    pre_execution_query=[*SESSION_SQL, flavor.statement_limit(settings)],
                )
            except BaseException as exc:  # PanicException derives from BaseException
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="mysql-page", daemon=True)
        worker.start()
        worker.join(settings.stall_seconds)
        if worker.is_alive():
            raise TransientError(
                f"No answer from the server for {settings.stall_seconds} s while reading a page; "
                "the connection seems stalled.",
                stream=plan.stream,
            )
        if "error" in outcome:
            error = outcome["error"]
            raise map_driver_error(error, plan.stream, settings.hosts) from error
        return outcome["table"]

    def _unbuffered(
        self, plan: ReadPlan, sql: str, flavor: ServerFlavor
    ) -> Iterator[pa.RecordBatch]:
        """`sql`'s rows through a PyMySQL unbuffered cursor, UNBUFFERED_FETCH_ROWS at a time.
        No statement time limit (the statement lasts as long as the consumer takes); each
        socket read is bounded by read_timeout instead, and the server waits as long for a
        slow consumer (net_write_timeout)."""
        settings = self.settings
        session = [*SESSION_SQL, f"SET SESSION net_write_timeout = {settings.read_timeout}"]
        conn = settings.connect(session, cursorclass=pymysql.cursors.SSCursor)
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql)
                while True:
                    rows = cursor.fetchmany(UNBUFFERED_FETCH_ROWS)
                    if not rows:
                        return
                    yield conform(columnar(rows, cursor.description), plan)
            except (pymysql.Error, OSError) as exc:
                raise map_error(exc, stream=plan.stream, hosts=settings.hosts) from exc
        finally:
            # Not cursor.close(): it would read the rest of an abandoned result first.
            with contextlib.suppress(pymysql.Error, OSError):
                conn.close()


def conform(raw: pa.RecordBatch, plan: ReadPlan) -> pa.RecordBatch:
    """`raw` as an internal batch: exactly the plan's schema (integers widened, decimals
    rescaled or parsed from text, large binaries narrowed, TIMESTAMP labelled UTC, columns gone
    upstream filled with NULLs), then the hidden position columns. Vectorized."""
    arrays = requested_arrays(raw, plan, cast)
    if not plan.hidden_types:
        return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
    hidden = raw.columns[raw.num_columns - len(plan.hidden_types) :]
    fields = list(plan.schema)
    for i, (array, arrow_type) in enumerate(zip(hidden, plan.hidden_types, strict=True)):
        arrays.append(pc.cast(array, arrow_type))
        fields.append(pa.field(f"landed_position_{i}", arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def rebatch(pieces: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `rows` rows (the last one excepted) from pieces of any size: pages
    and fetches do not fall on batch boundaries. At most one batch is held."""
    rows = max(1, rows)
    held: list[pa.RecordBatch] = []
    count = 0
    for piece in pieces:
        while piece.num_rows:
            take = min(rows - count, piece.num_rows)
            held.append(piece.slice(0, take))
            count += take
            piece = piece.slice(take)
            if count == rows:
                yield held[0] if len(held) == 1 else pa.concat_batches(held)
                held, count = [], 0
    if count:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)
