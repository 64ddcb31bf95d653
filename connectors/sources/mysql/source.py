"""The MySQL and MariaDB source: its contract (check, discover, read) over the catalog, the
read plan and the row reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql

from connectors.framework.base import (
    Batch,
    CheckResult,
    ReadRequest,
    Source,
    Stream,
    StreamNotFoundError,
)
from connectors.framework.spec import with_defaults
from connectors.sources.mysql.catalog import (
    check_databases,
    load_relations,
    require_databases,
    uses_tls,
)
from connectors.sources.mysql.errors import map_error
from connectors.sources.mysql.read_plan import ReadPlan
from connectors.sources.mysql.reader import PageReader, ServerFlavor, rebatch
from connectors.sources.mysql.settings import SESSION_SQL, SPEC, Settings
from connectors.sources.sql.catalog import stream_gone
from connectors.sources.sql.check import report_check
from connectors.sources.sql.keyset import keyset_batches

# The server's bound on an estimate's statements (a catalog read, one EXPLAIN).
ESTIMATE_TIMEOUT_SECONDS = 5


class MySQLSource(Source):
    """Tables and views of the configured databases of a MySQL or MariaDB server."""

    spec = SPEC

    def __init__(self, config: dict[str, Any], **options: Any) -> None:
        super().__init__(config, **options)  # hostaddr and whatever else Source takes
        self._settings: Settings | None = None

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Connect, then verify every configured database exists, may be used, and holds
        something readable. Every failure is reported, never raised."""

        def probe() -> str:
            settings = self.settings
            settings.require_row_reader_tls()
            with self._catalog_connection() as conn:
                return check_databases(conn, settings.databases)

        return report_check(
            probe,
            driver_errors=(pymysql.Error, OSError),
            map_error=lambda exc: map_error(exc, hosts=self.settings.hosts),
        )

    def discover(self) -> list[Stream]:
        """Every table and view of the configured databases the user can see."""
        try:
            with self._catalog_connection() as conn:
                require_databases(conn, self.settings.databases)
                relations = load_relations(conn, self.settings.databases)
        except pymysql.Error as exc:
            raise map_error(exc, hosts=self.settings.hosts) from exc
        return [relation.stream() for relation in relations]

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """Stream `request.stream` as Arrow batches of at most `request.batch_rows` rows.

        * incremental (cursor C, key K, possibly empty): rows ordered by (C, K...), resumed
          strictly after the state's `{"cursor": [C, K...]}` (each column listed once). Rows
          whose cursor is NULL (or a zero date, read as NULL) are never read incrementally.
          Without a key, a batch never ends inside a group of equal cursor values unless the
          group is larger than a batch; such a group's batches keep the previous state, so an
          interrupted read may repeat rows but never skips one.
        * full_refresh with a key: ordered by K, state `{"after": [K...]}` for resuming.
          Without a key the rows come unordered and every state is None.

        The request's primary key defaults to the stream's, which is also the tie-break. Ordered
        reads come in keyset pages (see the package docstring); the unordered one streams.
        """
        plan, flavor = self._plan(request)
        pieces = PageReader(self.settings).pieces(plan, flavor, request.batch_rows)
        internal = rebatch(pieces, request.batch_rows)
        yield from keyset_batches(
            plan, internal, request.batch_rows, request.state, deliver=plan.visible
        )

    def estimate_rows(self, request: ReadRequest) -> int | None:
        """A read from the start: `information_schema.TABLES.TABLE_ROWS` (InnoDB's estimate
        from its statistics; exact for MyISAM). A read that resumes after a position (an
        incremental sync's cursor): the optimizer's estimate of the rows past it (EXPLAIN,
        `rows` x `filtered`), which index dives make close when the cursor is indexed; None
        when the optimizer would scan the whole table (it then has no estimate of its own).
        None for views (they have no row count). Nothing is read."""
        plan, flavor = self._plan(request)
        with self._catalog_connection() as conn, conn.cursor(pymysql.cursors.DictCursor) as cursor:
            # Bounds the EXPLAIN and the catalog read on the server (milliseconds as a rule).
            cursor.execute(flavor.statement_limit_for(ESTIMATE_TIMEOUT_SECONDS))
            if plan.resume is None:
                if not flavor.mariadb:
                    # MySQL 8 caches these statistics for a day by default.
                    cursor.execute("SET SESSION information_schema_stats_expiry = 0")
                cursor.execute(
                    "SELECT TABLE_ROWS FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (plan.database, request.stream.name.partition(".")[2]),
                )
                row = cursor.fetchone()
                rows = None if row is None else row["TABLE_ROWS"]
                return None if rows is None else max(int(rows), 0)
            cursor.execute(f"EXPLAIN {plan.remaining_sql()}")
            explained = cursor.fetchall()
        if len(explained) != 1 or str(explained[0].get("type") or "").upper() == "ALL":
            return None
        rows = float(explained[0].get("rows") or 0)
        filtered = float(explained[0].get("filtered") or 100.0)
        return max(round(rows * filtered / 100.0), 0)

    # --- connections -----------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_config(
                with_defaults(self.spec, self.config), self.hostaddr
            )
        return self._settings

    def _catalog_connection(self) -> pymysql.connections.Connection:
        return self.settings.connect(SESSION_SQL)

    # --- reading ---------------------------------------------------------------------------
    def _plan(self, request: ReadRequest) -> tuple[ReadPlan, ServerFlavor]:
        """The read's SQL, from the live catalog (which also fails fast, with an exact error
        code, on a bad password or a dropped table), and what the session needs to know of the
        server (TLS in use, MariaDB or MySQL)."""
        name = request.stream.name
        database, _, table = name.partition(".")
        if database not in self.settings.databases or not table:
            raise StreamNotFoundError(
                f"Stream '{name}' is not in the configured databases.", stream=name
            )
        self.settings.require_row_reader_tls()
        try:
            with self._catalog_connection() as conn:
                relations = load_relations(conn, (database,), only=table)
                flavor = ServerFlavor(
                    tls=uses_tls(conn),
                    mariadb="mariadb" in (conn.get_server_info() or "").lower(),
                )
        except pymysql.Error as exc:
            raise map_error(exc, stream=name, hosts=self.settings.hosts) from exc
        if not relations:
            raise stream_gone(name)
        return ReadPlan.build(relations[0], request), flavor
