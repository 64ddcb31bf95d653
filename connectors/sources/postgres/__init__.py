"""PostgreSQL source: catalog discovery with psycopg, row streaming with ADBC.

The catalog (a few small queries) goes through psycopg; the rows go through the ADBC driver,
which reads PostgreSQL's binary COPY output straight into Arrow record batches, so the hot path
runs no Python per row and holds one driver batch (~16 MB) at a time whatever the table size.

Resuming a read needs the last delivered key in a WHERE clause. ADBC executes a query that has
bound parameters with a plain prepared statement and buffers its whole result set in libpq
before returning the first batch (a 200 MB table then costs ~700 MB of memory), while a query
without parameters is streamed through COPY. So the resume values are bound as parameters of a
tiny `set_config()` statement first, and the streamed query reads them back with
`current_setting()`, cast to the column's own SQL type. No value is ever formatted into SQL.

The package by concern: `settings` (config spec, connection settings), `catalog` (discovery),
`casts` (type mapping, Arrow casts), `read_plan` (the SQL of a read, its bound resume values),
`reader` (ADBC batches), `errors` (error classification), `source` (the contract).
"""

from connectors.sources.postgres.settings import SSL_MODES
from connectors.sources.postgres.source import PostgresSource

# SSL_MODES: libpq's TLS modes, which the PostgreSQL destination offers too.
__all__ = ["SSL_MODES", "PostgresSource"]
