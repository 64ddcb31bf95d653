"""MySQL and MariaDB source: catalog discovery with PyMySQL, rows in keyset pages with ConnectorX.

The catalog (a few small queries against information_schema) goes through PyMySQL, which also
gives `check` exact server error codes. The rows go through ConnectorX, whose Rust MySQL client
reads the server's binary protocol straight into Arrow, one page at a time:
`SELECT ... WHERE (order columns) > (last row's values) ORDER BY order columns LIMIT n`.
Pages rather than one streamed result, because:
  * `read_sql(return_type="arrow")` releases the GIL for the whole query, while iterating its
    `arrow_stream` reader holds it as long as the server is silent (a long sort would starve the
    runner's heartbeat thread, and the reaper would fail a live job);
  * ConnectorX buffers a streamed result without bound when the consumer is slower than the
    server; a page is bounded by rows and (adaptively) by bytes;
  * each page is a statement of its own, which the server bounds (max_statement_time) and this
    reader watches (a stalled network ends with a retryable error, not a hung job).
A read without an order (a full refresh without a key) streams through a PyMySQL unbuffered
cursor instead: slower (Python decodes each row) but bounded, and its socket reads let other
threads run.

ConnectorX takes no bound parameters, so the resume position of a page is written into the SQL
as literals that cannot carry anything but the value: numbers and dates are parsed and
re-formatted, text and bytes travel as hexadecimal literals (`X'..'`). Its MySQL client decodes
a handful of values it cannot represent by aborting (a Rust panic); the SELECT list therefore
hands it only what it reads exactly:
  * DECIMAL wider than 28 digits or with more than 10 fractional digits, and BIGINT UNSIGNED
    beyond int64, travel as text and become Arrow decimals here (exact);
  * zero dates, dates with a zero part and invalid dates become NULL in SQL (docs/mysql.md);
  * TIME (which spans -838:59:59..838:59:59) travels as its text; geometry as WKT;
  * a column of type NULL (a view's `NULL AS x`) is cast to a typed expression.
The session runs with time_zone '+00:00', so TIMESTAMP values arrive as UTC instants.

The package by concern: `settings` (config spec, connection settings), `catalog` (discovery),
`casts` (type mapping, Arrow casts), `read_plan` (the SQL of a read, resume literals),
`reader` (pages and batches), `errors` (error classification), `source` (the contract).
"""

from connectors.sources.mysql.source import MySQLSource

__all__ = ["MySQLSource"]
