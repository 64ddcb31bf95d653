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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.framework.base import (
    AuthenticationError,
    Batch,
    CheckResult,
    ConfigError,
    ConnectorError,
    PermissionError_,
    ReadRequest,
    Source,
    Stream,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)
from connectors.framework.spec import ConnectorSpec, SpecField, with_defaults
from connectors.framework.types import MAX_ARROW_DECIMAL_PRECISION, Column, schema_for
from connectors.sources.sql.keyset import (
    TieSafeBatcher,
    chunks,
    jsonable,
    order_columns,
    primary_key,
    resume_values,
    table_stream,
)

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


# PostgreSQL base types (pg_type.typname) with a logical type of their own. Anything else
# (interval, inet, money, timetz, enums, ranges, ...) is read as its text form.
_LOGICAL_BY_TYPNAME = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double",
    "bool": "boolean",
    "bytea": "binary",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "name": "string",
    "citext": "string",
}
# Text types ADBC already returns as Arrow strings. Casting bpchar to text would strip its
# padding, so these are selected as they are.
_NATIVE_TEXT = frozenset({"text", "varchar", "bpchar", "name"})
_RELKINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}
_RESUME_SETTING = "landed.resume_{}"


class PostgresSource(Source):
    """Tables, views and materialized views of the configured schemas of one database."""

    spec = ConnectorSpec(
        type="postgres",
        display_name="PostgreSQL",
        description="Replicate tables and views from a PostgreSQL database.",
        category="database",
        auth_method="password",
        supports_incremental=True,
        host_field="host",
        fields=(
            SpecField("host", "string", "Host name or IP address of the server.", required=True),
            SpecField("port", "integer", "TCP port.", default=5432, minimum=1, maximum=65535),
            SpecField("database", "string", "Database to read from.", required=True),
            SpecField("username", "string", "Role to connect as.", required=True),
            SpecField("password", "secret", "Password of the role.", default=None),
            SpecField(
                "schemas",
                "string",
                "Comma-separated schema names whose tables and views are exposed (case-sensitive).",
                default="public",
            ),
            SpecField(
                "sslmode", "enum", "TLS mode (libpq sslmode).", default="prefer", choices=SSL_MODES
            ),
            SpecField(
                "connect_timeout",
                "integer",
                "Seconds to wait for the connection to be established (libpq and psycopg treat "
                "values below 2 as 2).",
                default=10,
                minimum=1,
                maximum=300,
            ),
        ),
    )

    def __init__(self, config: dict[str, Any], *, hostaddr: str | None = None) -> None:
        super().__init__(config, hostaddr=hostaddr)
        self._settings: _Settings | None = None

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Connect, then verify every configured schema exists, is usable, and that the role can
        read its tables. Every failure is reported, never raised."""
        try:
            settings = self.settings
            with self._catalog_connection() as conn:
                message = _check_schemas(conn, settings.schemas)
        except ConnectorError as error:
            return CheckResult.failure(error)
        except (psycopg.Error, OSError) as exc:
            return CheckResult.failure(_map_error(exc))
        except Exception as exc:  # check() reports, whatever happens
            return CheckResult.failure(ConnectorError(f"Unexpected error: {exc}"))
        return CheckResult.success(message)

    def discover(self) -> list[Stream]:
        """Every readable table, view and materialized view of the configured schemas."""
        try:
            with self._catalog_connection() as conn:
                _require_schemas(conn, self.settings.schemas)
                relations = _load_relations(conn, self.settings.schemas)
        except psycopg.Error as exc:
            raise _map_error(exc) from exc
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
        with self._adbc_connection(request.stream.name) as conn, conn.cursor() as cursor:
            reader = self._execute(cursor, plan)
            conformed = (
                _conform(raw, plan) for raw in _driver_batches(reader, request.stream.name)
            )
            pieces = chunks(conformed, request.batch_rows)
            if plan.tie_safe:
                yield from TieSafeBatcher(plan, request.batch_rows, request.state).batches(pieces)
            else:
                for piece in pieces:
                    yield Batch(piece, plan.state_after(piece), bytes_read=piece.nbytes)

    # --- connections -----------------------------------------------------------------------
    @property
    def settings(self) -> _Settings:
        if self._settings is None:
            self._settings = _Settings.from_config(
                with_defaults(self.spec, self.config), self.hostaddr
            )
        return self._settings

    def _catalog_connection(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.settings.conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise _map_error(exc) from exc

    def _adbc_connection(self, stream: str) -> adbc.Connection:
        try:
            return adbc.connect(self.settings.conninfo(), autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise _map_error(exc, stream=stream) from exc

    # --- reading ---------------------------------------------------------------------------
    def _plan(self, request: ReadRequest) -> _ReadPlan:
        try:
            with self._catalog_connection() as conn:
                relations = _load_relations(conn, self.settings.schemas, only=request.stream.name)
        except psycopg.Error as exc:
            raise _map_error(exc, stream=request.stream.name) from exc
        if not relations:
            raise StreamNotFoundError(
                f"Stream '{request.stream.name}' no longer exists or is not readable.",
                stream=request.stream.name,
            )
        return _ReadPlan.build(relations[0], request)

    @staticmethod
    def _execute(cursor: adbc.Cursor, plan: _ReadPlan) -> pa.RecordBatchReader:
        try:
            cursor.execute("SET TIME ZONE 'UTC'")
            if plan.params:
                cursor.execute(plan.bind_sql, plan.params)
                cursor.fetchall()
            cursor.execute(plan.sql)
            return cursor.fetch_record_batch()
        except adbc_driver_manager.Error as exc:
            raise _map_error(exc, stream=plan.stream) from exc


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    host: str
    port: int
    database: str
    username: str
    password: str | None
    schemas: tuple[str, ...]
    sslmode: str
    connect_timeout: int
    hostaddr: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], hostaddr: str | None = None) -> _Settings:
        missing = [name for name in ("host", "database", "username") if not config.get(name)]
        if missing:
            raise ConfigError(f"Missing required field(s): {', '.join(missing)}.")
        schemas = tuple(s.strip() for s in str(config.get("schemas", "public")).split(","))
        schemas = tuple(dict.fromkeys(s for s in schemas if s))
        if not schemas:
            raise ConfigError("At least one schema must be listed.")
        sslmode = config.get("sslmode", "prefer")
        if sslmode not in SSL_MODES:
            raise ConfigError(f"Unknown sslmode '{sslmode}'.")
        try:
            port, timeout = int(config.get("port", 5432)), int(config.get("connect_timeout", 10))
        except (TypeError, ValueError) as exc:
            raise ConfigError("port and connect_timeout must be integers.") from exc
        return cls(
            host=str(config["host"]),
            port=port,
            database=str(config["database"]),
            username=str(config["username"]),
            password=config.get("password") or None,
            schemas=schemas,
            sslmode=sslmode,
            connect_timeout=timeout,
            hostaddr=hostaddr,
        )

    def conninfo(self) -> str:
        """A libpq keyword/value string, understood by both psycopg and ADBC."""
        extra = {"hostaddr": self.hostaddr} if self.hostaddr else {}
        return make_conninfo(
            host=self.host,
            port=self.port,
            dbname=self.database,
            user=self.username,
            password=self.password,
            sslmode=self.sslmode,
            connect_timeout=self.connect_timeout,
            application_name="landed",
            # A dead server surfaces in about a minute instead of the kernel's two hours.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
            **extra,
        )


# --- errors ----------------------------------------------------------------------------------
_AUTH_PATTERNS = re.compile(
    r"password authentication failed|authentication failed|role \".*\" does not exist"
    r"|no pg_hba\.conf entry|no password supplied|password is required|scram",
    re.IGNORECASE,
)
_CONFIG_PATTERNS = re.compile(
    r"database \".*\" does not exist|does not support ssl|certificate|invalid .*sslmode"
    r"|invalid connection option|invalid integer value",
    re.IGNORECASE,
)
_PERMISSION_PATTERNS = re.compile(r"permission denied", re.IGNORECASE)
_TRANSIENT_SQLSTATES = ("40001", "40P01", "53", "57014", "55P03")
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_CONFIG_SQLSTATES = ("3D000", "3F000", "55000", "22")
_CONNECTION_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    adbc_driver_manager.OperationalError,
    adbc_driver_manager.InterfaceError,
    OSError,
)


def _map_error(exc: BaseException, *, stream: str | None = None) -> ConnectorError:
    """The connector error a driver failure stands for.

    Errors raised while connecting carry no SQLSTATE (libpq reports them as text), so those are
    told apart by the server's message; errors from queries are told apart by SQLSTATE.
    """
    message = _clean_message(str(exc))
    sqlstate = getattr(exc, "sqlstate", None) or ""
    error_class: type[ConnectorError]
    if sqlstate.startswith("28") or _AUTH_PATTERNS.search(message):
        error_class = AuthenticationError
    elif sqlstate == "42501" or _PERMISSION_PATTERNS.search(message):
        error_class = PermissionError_
    elif sqlstate in ("42P01", "3F000") and stream is not None:
        error_class = StreamNotFoundError
    elif sqlstate.startswith(_CONFIG_SQLSTATES) or _CONFIG_PATTERNS.search(message):
        error_class = ConfigError
    elif sqlstate.startswith(_TRANSIENT_SQLSTATES):
        error_class = TransientError
    elif sqlstate.startswith(_UNREACHABLE_SQLSTATES) or (
        not sqlstate and isinstance(exc, _CONNECTION_ERRORS)
    ):
        # A connection-level failure without SQLSTATE: refused, timed out, name not resolved,
        # connection lost.
        error_class = UnreachableError
    else:
        error_class = ConnectorError
    return error_class(message, stream=stream)


def _clean_message(text: str) -> str:
    """The driver's message without its prefixes and the query echo ADBC appends."""
    text = re.sub(r"^(IO|NOT_FOUND|INVALID_ARGUMENT|UNKNOWN|INTERNAL): ", "", text.strip())
    text = re.sub(r"^\[libpq\] ", "", text)
    text = text.split("\nQuery was:")[0]
    return " ".join(text.split()) or "PostgreSQL error."


# --- catalog ---------------------------------------------------------------------------------
def _check_schemas(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> str:
    """Raise unless every schema exists and is usable and some relation in them is readable;
    return a summary for the user."""
    _require_schemas(conn, schemas)
    readable, unreadable = conn.execute(
        """
        SELECT count(*) FILTER (WHERE has_any_column_privilege(c.oid, 'SELECT')),
               count(*) FILTER (WHERE NOT has_any_column_privilege(c.oid, 'SELECT'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND NOT c.relispartition
        """,
        (list(schemas),),
    ).fetchone() or (0, 0)
    if unreadable and not readable:
        raise PermissionError_(
            f"The role may not SELECT from any of the {unreadable} tables and views in "
            f"schema(s) {', '.join(schemas)}."
        )
    message = f"Connected; {readable} readable tables and views in {', '.join(schemas)}."
    if unreadable:
        message += f" {unreadable} without SELECT privilege will be skipped."
    return message


def _require_schemas(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> None:
    rows = conn.execute(
        "SELECT nspname, has_schema_privilege(oid, 'USAGE') FROM pg_namespace"
        " WHERE nspname = ANY(%s)",
        (list(schemas),),
    ).fetchall()
    usage = dict(rows)
    missing = [s for s in schemas if s not in usage]
    if missing:
        raise ConfigError(f"Schema(s) not found: {', '.join(missing)}.")
    denied = [s for s in schemas if not usage[s]]
    if denied:
        raise PermissionError_(f"The role lacks USAGE on schema(s): {', '.join(denied)}.")


@dataclass(frozen=True)
class _PgColumn:
    """A live column with its type resolved through domains to the base type."""

    name: str
    not_null: bool
    source_type: str  # format_type() of the declared type: valid SQL for casts
    base_type: str  # pg_type.typname of the base type
    base_typmod: int
    is_array: bool

    def column(self) -> Column:
        logical, precision, scale = _logical_type(self.base_type, self.base_typmod, self.is_array)
        return Column(
            name=self.name,
            type=logical,
            nullable=not self.not_null,
            precision=precision,
            scale=scale,
            source_type=self.source_type,
        )


@dataclass(frozen=True)
class _PgRelation:
    schema: str
    name: str
    kind: str
    columns: tuple[_PgColumn, ...]
    primary_key: tuple[str, ...]

    @property
    def stream_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> _PgColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def stream(self) -> Stream:
        columns = tuple(c.column() for c in self.columns)
        return table_stream(self.stream_name, columns, self.primary_key, self.kind)


def _logical_type(typname: str, typmod: int, is_array: bool) -> tuple[str, int | None, int | None]:
    """(logical type, precision, scale) of a PostgreSQL base type."""
    if is_array:
        return "json", None, None
    if typname == "numeric":
        if typmod < 4:  # unconstrained numeric
            return "decimal", None, None
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (typmod - 4) & 0x7FF
        if scale & 0x400:  # PostgreSQL 15+ allows a negative scale (11-bit signed)
            scale -= 0x800
        return "decimal", precision, scale
    return _LOGICAL_BY_TYPNAME.get(typname, "string"), None, None


_RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND NOT c.relispartition
  AND has_any_column_privilege(c.oid, 'SELECT')
  AND (%(only)s::text IS NULL OR n.nspname || '.' || c.relname = %(only)s::text)
ORDER BY n.nspname, c.relname
"""
_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, a.attnotnull, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""
_TYPES_SQL = """
SELECT oid, typname, typtype, typbasetype, typtypmod, typcategory = 'A'
FROM pg_type WHERE oid = ANY(%s)
"""
_PRIMARY_KEYS_SQL = """
SELECT i.indrelid, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisprimary AND i.indrelid = ANY(%s)
GROUP BY i.indrelid
"""


def _load_relations(
    conn: psycopg.Connection[Any], schemas: Sequence[str], only: str | None = None
) -> list[_PgRelation]:
    """The readable relations of `schemas` (or just the one named `only`, as "schema.table")."""
    relations = conn.execute(_RELATIONS_SQL, {"schemas": list(schemas), "only": only}).fetchall()
    oids = [row[0] for row in relations]
    columns = conn.execute(_COLUMNS_SQL, (oids,)).fetchall()
    keys = dict(conn.execute(_PRIMARY_KEYS_SQL, (oids,)).fetchall())
    bases = _resolve_base_types(conn, {row[3] for row in columns})
    by_relation: dict[int, list[_PgColumn]] = {oid: [] for oid in oids}
    for relid, name, not_null, type_oid, typmod, source_type in columns:
        base_type, base_typmod, is_array = bases[type_oid]
        by_relation[relid].append(
            _PgColumn(
                name=name,
                not_null=not_null,
                source_type=source_type,
                base_type=base_type,
                base_typmod=typmod if typmod >= 0 else base_typmod,
                is_array=is_array,
            )
        )
    return [
        _PgRelation(
            schema=schema,
            name=name,
            kind=_RELKINDS[relkind],
            columns=tuple(by_relation[oid]),
            primary_key=tuple(keys.get(oid) or ()),
        )
        for oid, schema, name, relkind in relations
    ]


def _resolve_base_types(
    conn: psycopg.Connection[Any], type_oids: Iterable[int]
) -> dict[int, tuple[str, int, bool]]:
    """{type oid: (base typname, base typmod, is array)}, following domains (which may be
    stacked) down to the type they constrain."""
    info: dict[int, tuple[str, str, int, int, bool]] = {}
    wanted = set(type_oids)
    while wanted - info.keys():
        rows = conn.execute(_TYPES_SQL, (list(wanted - info.keys()),)).fetchall()
        if not rows:
            break
        for oid, typname, typtype, basetype, typtypmod, is_array in rows:
            info[oid] = (typname, typtype, basetype, typtypmod, is_array)
            if typtype == "d":
                wanted.add(basetype)

    def resolve(oid: int, typmod: int) -> tuple[str, int, bool]:
        typname, typtype, basetype, typtypmod, is_array = info[oid]
        if typtype == "d" and basetype in info:
            return resolve(basetype, typmod if typmod >= 0 else typtypmod)
        return typname, typmod, is_array

    return {oid: resolve(oid, -1) for oid in type_oids if oid in info}


# --- read plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ReadPlan:
    """The SQL of one read and what is needed to turn its output into the stream's schema."""

    stream: str
    sql: str
    bind_sql: str  # binds the resume values (params) for `sql` to read back
    params: tuple[str, ...]
    schema: pa.Schema  # schema_for(request.stream.columns)
    selected: tuple[bool, ...]  # per requested column: read (True) or gone upstream (NULLs)
    key_indices: tuple[int, ...]  # output columns of the state, in order
    state_key: str | None  # "cursor", "after", or None (no resumable order)
    tie_safe: bool  # incremental without a key: batches must not split cursor ties

    @classmethod
    def build(cls, relation: _PgRelation, request: ReadRequest) -> _ReadPlan:
        stream = request.stream
        names = [c.name for c in stream.columns]
        key_names, state_key = order_columns(request)
        for name in key_names:
            if name not in names:
                raise ConfigError(
                    f"Column '{name}' is not among the stream's columns.", stream=stream.name
                )
            if relation.column(name) is None:
                raise ConfigError(
                    f"Column '{name}' no longer exists in {stream.name}; refresh the schema.",
                    stream=stream.name,
                )
        live = [relation.column(c.name) for c in stream.columns]
        expressions = [
            _select_expression(c, pg) for c, pg in zip(stream.columns, live, strict=True) if pg
        ]
        order = [relation.column(name) for name in key_names]
        resume = resume_values(request.state, state_key, key_names, stream.name)
        # Key columns are qualified: unqualified, ORDER BY would pick the SELECT's `x::text AS x`
        # and sort by the text form rather than the values the WHERE compares.
        qualified = [sql.Identifier(relation.schema, relation.name, name) for name in key_names]
        where, params = _where_clause(
            qualified, [c for c in order if c], resume, cursor_not_null=state_key == "cursor"
        )
        query = sql.SQL("SELECT {columns} FROM {table}{where}{order}").format(
            columns=sql.SQL(", ").join(expressions),
            table=sql.Identifier(relation.schema, relation.name),
            where=where,
            order=_order_by(qualified),
        )
        return cls(
            stream=stream.name,
            sql=query.as_string(None),
            bind_sql=_bind_sql(len(params)),
            params=params,
            schema=schema_for(list(stream.columns)),
            selected=tuple(pg is not None for pg in live),
            key_indices=tuple(names.index(name) for name in key_names),
            state_key=state_key,
            tie_safe=state_key == "cursor" and len(key_names) == 1 and not primary_key(request),
        )

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None:
        """The state once `batch` (the rows up to its last one) is loaded."""
        if self.state_key is None or batch.num_rows == 0:
            return None
        return {self.state_key: [jsonable(batch.column(i)[-1].as_py()) for i in self.key_indices]}


def _select_expression(column: Column, live: _PgColumn) -> sql.Composable:
    """The SELECT item for `column`: ADBC's own Arrow type where it is already the column's
    (or castable to it in Arrow, as decimals are), the text form otherwise."""
    ident = sql.Identifier(column.name)
    if column.type in ("string", "json", "uuid"):
        if live.is_array:
            return sql.SQL("to_json({0})::text AS {0}").format(ident)
        if live.base_type in _NATIVE_TEXT:
            return ident
        return sql.SQL("{0}::text AS {0}").format(ident)
    if column.type == "decimal" and (
        column.precision is None or column.precision > MAX_ARROW_DECIMAL_PRECISION
    ):
        return sql.SQL("{0}::text AS {0}").format(ident)
    return ident


def _where_clause(
    qualified: list[sql.Identifier],
    order: list[_PgColumn],
    resume: list[Any] | None,
    *,
    cursor_not_null: bool,
) -> tuple[sql.Composable, tuple[str, ...]]:
    """Rows after the resume point (and, incrementally, only rows with a cursor value)."""
    conditions: list[sql.Composable] = []
    if cursor_not_null:
        conditions.append(sql.SQL("{} IS NOT NULL").format(qualified[0]))
    params: tuple[str, ...] = ()
    if resume is not None:
        columns = sql.SQL(", ").join(qualified)
        values = sql.SQL(", ").join(_resume_parameter(c, i + 1) for i, c in enumerate(order))
        conditions.append(sql.SQL("({}) > ({})").format(columns, values))
        params = tuple(_parameter_text(v) for v in resume)
    if not conditions:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), params


def _resume_parameter(column: _PgColumn, position: int) -> sql.Composable:
    """The resume value `position`, read back from the session and cast to the column's own
    type so the comparison is exact (bytea travels as hex)."""
    setting = sql.SQL("current_setting({})").format(sql.Literal(_RESUME_SETTING.format(position)))
    if column.base_type == "bytea":
        return sql.SQL("decode({}, 'hex')").format(setting)
    return sql.SQL("{}::{}").format(setting, sql.SQL(column.source_type))


def _bind_sql(count: int) -> str:
    calls = ", ".join(
        f"set_config('{_RESUME_SETTING.format(i)}', ${i}, false)" for i in range(1, count + 1)
    )
    return f"SELECT {calls}"


def _order_by(columns: list[sql.Identifier]) -> sql.Composable:
    if not columns:
        return sql.SQL("")
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(columns)


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- batches ---------------------------------------------------------------------------------
def _driver_batches(reader: pa.RecordBatchReader, stream: str) -> Iterator[pa.RecordBatch]:
    """The driver's batches, with its failures (a lost connection, a cancelled query) mapped."""
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
            raise _map_error(exc, stream=stream) from exc
        yield batch


def _conform(raw: pa.RecordBatch, plan: _ReadPlan) -> pa.RecordBatch:
    """`raw` with exactly the plan's schema: extension types unwrapped, numeric strings cast to
    decimal128, columns gone upstream filled with NULLs. Vectorized, column by column."""
    arrays: list[pa.Array] = []
    raw_columns = iter(raw.columns)
    for target, selected in zip(plan.schema, plan.selected, strict=True):
        if not selected:
            arrays.append(pa.nulls(raw.num_rows, target.type))
            continue
        arrays.append(_cast(next(raw_columns), target, plan.stream))
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def _cast(array: pa.Array, target: pa.Field, stream: str) -> pa.Array:
    if array.type == target.type:
        return array
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if array.type == target.type:
        return array
    try:
        return pc.cast(array, target.type)
    except pa.ArrowInvalid as exc:
        if pa.types.is_decimal(target.type) and pa.types.is_string(array.type):
            return _cast_decimal_with_specials(array, target.type)
        raise ConnectorError(
            f"Column '{target.name}' no longer reads as {target.type} ({exc}); refresh the schema.",
            stream=stream,
        ) from exc


def _cast_decimal_with_specials(array: pa.Array, target: pa.DataType) -> pa.Array:
    """NaN and +/-Infinity are valid PostgreSQL numerics with no decimal128 equivalent; they
    become NULL (only this slow path, taken when a plain cast fails, pays for the check)."""
    special = pc.match_substring_regex(array, r"^[+-]?(nan|inf)", ignore_case=True)
    cleaned = pc.if_else(special, pa.scalar(None, pa.string()), array)
    return pc.cast(cleaned, target)
