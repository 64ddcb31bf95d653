"""The PostgreSQL source: its contract (check, discover, read) over the catalog, the read plan
and the ADBC reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from connectors.framework.base import Batch, CheckResult, ReadRequest, Source, Stream
from connectors.framework.passthrough import CopyChunk, CopyOffer
from connectors.framework.spec import with_defaults
from connectors.sources.postgres.catalog import (
    PostgresRelation,
    check_schemas,
    load_relations,
    require_schemas,
)
from connectors.sources.postgres.copy_read import (
    CopyReadPlan,
    copy_offer,
    read_chunks,
    snapshot_connection,
)
from connectors.sources.postgres.errors import map_error
from connectors.sources.postgres.read_plan import RESUME_SETTING, ReadPlan
from connectors.sources.postgres.reader import conform, connect, driver_batches, execute
from connectors.sources.postgres.settings import SPEC, Settings
from connectors.sources.sql.catalog import stream_gone
from connectors.sources.sql.check import report_check
from connectors.sources.sql.keyset import chunks, keyset_batches

# An estimate is a few catalog reads and one EXPLAIN: this is already very slow for one.
ESTIMATE_TIMEOUT_MS = 5000
# Relations whose file is empty when they hold no row (a partitioned table's never is).
_STORED_KINDS = ("r", "m")


class PostgresSource(Source):
    """Tables, views and materialized views of the configured schemas of one database."""

    spec = SPEC

    def __init__(self, config: dict[str, Any], *, hostaddr: str | None = None) -> None:
        super().__init__(config, hostaddr=hostaddr)
        self._settings: Settings | None = None

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Connect, then verify every configured schema exists, is usable, and that the role can
        read its tables. Every failure is reported, never raised."""

        def probe() -> str:
            settings = self.settings
            with self._catalog_connection() as conn:
                return check_schemas(conn, settings.schemas)

        return report_check(probe, driver_errors=(psycopg.Error, OSError), map_error=map_error)

    def discover(self) -> list[Stream]:
        """Every readable table, view and materialized view of the configured schemas."""
        try:
            with self._catalog_connection() as conn:
                require_schemas(conn, self.settings.schemas)
                relations = load_relations(conn, self.settings.schemas)
        except psycopg.Error as exc:
            raise map_error(exc) from exc
        return [relation.stream() for relation in relations]

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """Stream `request.stream` as Arrow batches of at most `request.batch_rows` rows.

        * incremental (cursor C, key K, possibly empty): rows ordered by (C, K...), resumed after
          the state's `{"cursor": [C, K...]}` (each column listed once). Rows whose cursor is
          NULL are never read incrementally. Without a key, a batch never ends inside a group
          of equal cursor values unless the group is larger than a batch; such a group's
          batches keep the previous state, so an interrupted read may repeat rows but never
          skips one.
        * full_refresh with a key: ordered by K, state `{"after": [K...]}` for resuming. Without
          a key the rows come unordered and every state is None: such a read cannot resume
          mid-stream and starts over.

        The request's primary key defaults to the stream's, which is also the tie-break.
        """
        plan = self._plan(request)
        with connect(self.settings, request.stream.name) as conn, conn.cursor() as cursor:
            reader = execute(cursor, plan)
            conformed = (conform(raw, plan) for raw in driver_batches(reader, request.stream.name))
            pieces = chunks(conformed, request.batch_rows)
            yield from keyset_batches(plan, pieces, request.batch_rows, request.state)

    def copy_offer(self, request: ReadRequest) -> CopyOffer:
        """The read as binary COPY chunks (see `copy_read`), when every column is of a
        built-in type and an index leads with the read's order; CopyRefused otherwise."""
        try:
            with self._catalog_connection() as conn:
                relation = self._relation(conn, request)
                return copy_offer(conn, relation, request)
        except psycopg.Error as exc:
            raise map_error(exc, stream=request.stream.name) from exc

    def read_copy(self, request: ReadRequest, offer: CopyOffer) -> Iterator[CopyChunk]:
        """The read as binary COPY chunks of at most `request.batch_rows` rows, each with the
        state reached after it (the states `read` yields), in one snapshot."""
        name = request.stream.name
        try:
            with snapshot_connection(self.settings.conninfo()) as conn:
                plan = CopyReadPlan.build(self._relation(conn, request), request, offer)
                yield from read_chunks(conn, plan, request)
        except psycopg.Error as exc:
            raise map_error(exc, stream=name) from exc
        except OSError as exc:
            raise map_error(exc, stream=name) from exc

    def estimate_rows(self, request: ReadRequest) -> int | None:
        """The planner's estimate of the rows the read returns: EXPLAIN of the read's own
        query, with its resume values bound as the read binds them. So it comes from the
        statistics ANALYZE keeps (`pg_class.reltuples`, scaled by the planner to the table's
        current size) and, for a read that starts after a cursor value or a key, from the
        column's histogram. No row is read. A table never analyzed and still empty on disk
        is 0 (the planner would guess a few thousand rows)."""
        with self._catalog_connection() as conn:
            conn.execute(f"SET statement_timeout = {ESTIMATE_TIMEOUT_MS}")
            conn.execute("SET TIME ZONE 'UTC'")
            relations = load_relations(conn, self.settings.schemas, only=request.stream.name)
            if not relations:
                return None
            relation = relations[0]
            stored = conn.execute(
                "SELECT c.relkind::text, c.reltuples, pg_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                (relation.namespace, relation.name),
            ).fetchone()
            if stored is not None:
                relkind, reltuples, size = stored
                if relkind in _STORED_KINDS and reltuples < 0 and size == 0:
                    return 0
            plan = ReadPlan.build(relation, request)
            for position, value in enumerate(plan.params, start=1):
                conn.execute(
                    "SELECT set_config(%s, %s, false)", (RESUME_SETTING.format(position), value)
                )
            row = conn.execute("EXPLAIN (FORMAT JSON) " + plan.sql).fetchone()
        if row is None:
            return None
        return max(int(row[0][0]["Plan"]["Plan Rows"]), 0)

    # --- connections -----------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_config(
                with_defaults(self.spec, self.config), self.hostaddr
            )
        return self._settings

    def _catalog_connection(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.settings.conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise map_error(exc) from exc

    # --- reading ---------------------------------------------------------------------------
    def _plan(self, request: ReadRequest) -> ReadPlan:
        try:
            with self._catalog_connection() as conn:
                relation = self._relation(conn, request)
        except psycopg.Error as exc:
            raise map_error(exc, stream=request.stream.name) from exc
        return ReadPlan.build(relation, request)

    def _relation(self, conn: psycopg.Connection[Any], request: ReadRequest) -> PostgresRelation:
        """The live relation of the request's stream (StreamNotFoundError when gone)."""
        relations = load_relations(conn, self.settings.schemas, only=request.stream.name)
        if not relations:
            raise stream_gone(request.stream.name)
        return relations[0]
