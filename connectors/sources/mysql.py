"""MySQL and MariaDB source: catalog discovery with PyMySQL, row streaming with ConnectorX.

The catalog (a few small queries against information_schema) goes through PyMySQL, which also
gives `check` exact server error codes. The rows go through ConnectorX, whose Rust MySQL client
reads the server's binary protocol row by row straight into Arrow record batches: no Python per
row, and memory bounded by one batch whatever the table size (measured in benchmarks/).

ConnectorX takes no bound parameters, so the resume position of a read is written into the SQL
as literals that cannot carry anything but the value: numbers and dates are parsed and
re-formatted, text and bytes travel as hexadecimal literals (`X'..'`). Its MySQL client decodes
a handful of values it cannot represent by aborting (a Rust panic); the SELECT list therefore
hands it only what it reads exactly:
  * DECIMAL wider than 28 digits or with more than 10 fractional digits, and BIGINT UNSIGNED
    beyond int64, travel as text and become Arrow decimals here (exact);
  * zero dates and dates with a zero part become NULL in SQL (see docs/mysql.md);
  * TIME (which spans -838:59:59..838:59:59) travels as its text; geometry as WKT.
The session runs with time_zone '+00:00', so TIMESTAMP values arrive as UTC instants.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

import connectorx
import pyarrow as pa
import pyarrow.compute as pc
import pymysql

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
from connectors.framework.types import Column, schema_for

SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")

# Column names tried, in order, as a stream's default incremental cursor.
DEFAULT_CURSOR_NAMES = ("updated_at", "modified_at", "last_modified", "_updated_at")
CURSOR_TYPES = frozenset(
    {"smallint", "integer", "bigint", "timestamp", "timestamptz", "date", "decimal"}
)
# Every session (catalog and rows): UTC for TIMESTAMP values, and no strict mode, so that a
# server running NO_ZERO_DATE & co. still lets us read the zero dates its tables hold.
SESSION_SQL = ("SET time_zone = '+00:00'", "SET SESSION sql_mode = ''")
# ConnectorX's MySQL client reads DECIMAL through a 96-bit decimal with 10 fractional digits
# in Arrow; anything it could round travels as text.
_NATIVE_DECIMAL_PRECISION = 28
_NATIVE_DECIMAL_SCALE = 10
_DATE_TYPES = frozenset({"date", "datetime", "timestamp"})
_TEXT_TYPES = frozenset(
    {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
)
_BINARY_TYPES = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
_GEOMETRY_TYPES = frozenset(
    {
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
        "geomcollection",
    }
)
_KINDS = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}
_IDENTIFIER_WORD = re.compile(r"^\w+$")


class MySQLSource(Source):
    """Tables and views of the configured databases of a MySQL or MariaDB server."""

    spec = ConnectorSpec(
        type="mysql",
        display_name="MySQL / MariaDB",
        description="Replicate tables and views from MySQL or MariaDB databases.",
        category="database",
        auth_method="password",
        supports_incremental=True,
        host_field="host",
        fields=(
            SpecField("host", "string", "Host name or IP address of the server.", required=True),
            SpecField("port", "integer", "TCP port.", default=3306, minimum=1, maximum=65535),
            SpecField("username", "string", "User to connect as.", required=True),
            SpecField("password", "secret", "Password of the user.", default=None),
            SpecField(
                "databases",
                "string",
                "Comma-separated database names whose tables and views are exposed "
                "(streams are named <database>.<table>).",
                required=True,
            ),
            SpecField(
                "ssl_mode",
                "enum",
                "TLS mode, as MySQL clients name it (verify_identity also checks the host name).",
                default="preferred",
                choices=SSL_MODES,
            ),
            SpecField(
                "connect_timeout",
                "integer",
                "Seconds to wait for the connection to be established.",
                default=10,
                minimum=1,
                maximum=300,
            ),
        ),
    )

    def __init__(self, config: dict[str, Any], **options: Any) -> None:
        super().__init__(config, **options)  # hostaddr and whatever else Source takes
        self._settings: _Settings | None = None

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """Connect, then verify every configured database exists, may be used, and holds
        something readable. Every failure is reported, never raised."""
        try:
            settings = self.settings
            with self._catalog_connection() as conn:
                message = _check_databases(conn, settings.databases)
        except ConnectorError as error:
            return CheckResult.failure(error)
        except (pymysql.Error, OSError) as exc:
            return CheckResult.failure(_map_error(exc))
        except Exception as exc:  # check() reports, whatever happens
            return CheckResult.failure(ConnectorError(f"Unexpected error: {exc}"))
        return CheckResult.success(message)

    def discover(self) -> list[Stream]:
        """Every table and view of the configured databases the user can see."""
        try:
            with self._catalog_connection() as conn:
                _require_databases(conn, self.settings.databases)
                relations = _load_relations(conn, self.settings.databases)
        except pymysql.Error as exc:
            raise _map_error(exc) from exc
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

        The request's primary key defaults to the stream's, which is also the tie-break.
        """
        plan, tls = self._plan(request)
        reader = self._execute(plan, tls, request.batch_rows)
        conformed = (_conform(raw, plan) for raw in _driver_batches(reader, plan.stream))
        pieces = _chunks(conformed, request.batch_rows)
        if plan.tie_safe:
            yield from _TieSafeBatcher(plan, request.batch_rows, request.state).batches(pieces)
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

    def _catalog_connection(self) -> pymysql.connections.Connection:
        try:
            conn = pymysql.connect(**self.settings.pymysql_kwargs())
        except pymysql.Error as exc:
            raise _map_error(exc) from exc
        except OSError as exc:  # TLS handshake failures surface as ssl.SSLError
            raise _map_error(exc) from exc
        try:
            with conn.cursor() as cursor:
                for statement in SESSION_SQL:
                    cursor.execute(statement)
        except pymysql.Error as exc:
            conn.close()
            raise _map_error(exc) from exc
        return conn

    # --- reading ---------------------------------------------------------------------------
    def _plan(self, request: ReadRequest) -> tuple[_ReadPlan, bool]:
        """The read's SQL, from the live catalog (which also fails fast, with an exact error
        code, on a bad password or a dropped table), and whether the session uses TLS."""
        name = request.stream.name
        database, _, table = name.partition(".")
        if database not in self.settings.databases or not table:
            raise StreamNotFoundError(
                f"Stream '{name}' is not in the configured databases.", stream=name
            )
        try:
            with self._catalog_connection() as conn:
                relations = _load_relations(conn, (database,), only=table)
                tls = _uses_tls(conn)
        except pymysql.Error as exc:
            raise _map_error(exc, stream=name) from exc
        if not relations:
            raise StreamNotFoundError(
                f"Stream '{name}' no longer exists or is not readable.", stream=name
            )
        return _ReadPlan.build(relations[0], request), tls

    def _execute(self, plan: _ReadPlan, tls: bool, batch_rows: int) -> pa.RecordBatchReader:
        url = self.settings.connectorx_url(plan.database, tls=tls)
        try:
            return connectorx.read_sql(
                url,
                plan.sql,
                return_type="arrow_stream",
                # The driver's own batches; they are re-cut to `batch_rows` afterwards.
                batch_size=max(1, min(batch_rows, 65_536)),
                pre_execution_query=list(SESSION_SQL),
            )
        except BaseException as exc:  # PanicException derives from BaseException
            raise _map_driver_error(exc, plan.stream) from exc


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    host: str
    port: int
    username: str
    password: str | None
    databases: tuple[str, ...]
    ssl_mode: str
    connect_timeout: int
    hostaddr: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], hostaddr: str | None = None) -> _Settings:
        missing = [name for name in ("host", "username", "databases") if not config.get(name)]
        if missing:
            raise ConfigError(f"Missing required field(s): {', '.join(missing)}.")
        raw = config["databases"]
        if not isinstance(raw, str):
            raise ConfigError("databases must be a comma-separated string of database names.")
        databases = tuple(dict.fromkeys(d.strip() for d in raw.split(",") if d.strip()))
        if not databases:
            raise ConfigError("At least one database must be listed.")
        for database in databases:
            # Also the stream name's first part: a dot would make `<database>.<table>` ambiguous.
            if "." in database or "`" in database or len(database) > 64:
                raise ConfigError(f"Invalid database name '{database}'.")
        ssl_mode = config.get("ssl_mode", "preferred")
        if ssl_mode not in SSL_MODES:
            raise ConfigError(f"Unknown ssl_mode '{ssl_mode}'.")
        try:
            port, timeout = int(config.get("port", 3306)), int(config.get("connect_timeout", 10))
        except (TypeError, ValueError) as exc:
            raise ConfigError("port and connect_timeout must be integers.") from exc
        return cls(
            host=str(config["host"]),
            port=port,
            username=str(config["username"]),
            password=config.get("password") or None,
            databases=databases,
            ssl_mode=ssl_mode,
            connect_timeout=timeout,
            hostaddr=hostaddr,
        )

    @property
    def connect_host(self) -> str:
        """Where to connect: the checked address, except with verify_identity, whose
        certificate check needs the host name (and itself defeats a DNS answer that changes
        to another server: that server cannot present a certificate for the name)."""
        if self.hostaddr and self.ssl_mode != "verify_identity":
            return self.hostaddr
        return self.host

    def pymysql_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.connect_host,
            "port": self.port,
            "user": self.username,
            "password": self.password or "",
            "connect_timeout": self.connect_timeout,
            "read_timeout": 300,
            "charset": "utf8mb4",
            "autocommit": True,
            "program_name": "landed",
        }
        if self.ssl_mode == "disabled":
            kwargs["ssl_disabled"] = True
        elif self.ssl_mode != "preferred":  # PyMySQL's default is preferred: TLS if offered
            context = ssl.create_default_context()
            if self.ssl_mode == "required":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif self.ssl_mode == "verify_ca":
                context.check_hostname = False
            kwargs["ssl"] = context  # a context makes TLS required
        return kwargs

    def connectorx_url(self, database: str, *, tls: bool) -> str:
        """The URL of ConnectorX's MySQL client. Its `preferred` would insist on TLS, so the
        mode the catalog session actually got (`tls`) decides for `preferred`."""
        mode = {
            "disabled": "disabled",
            "preferred": "required" if tls else "disabled",
            "required": "required",
            "verify_ca": "verify_ca",
            "verify_identity": "verify_identity",
        }[self.ssl_mode]
        params = {
            # Without it, the client switches to the server's Unix socket when it thinks the
            # server is local: another path than the one checked, and no TLS.
            "prefer_socket": "false",
            "tcp_connect_timeout_ms": str(self.connect_timeout * 1000),
            "ssl-mode": mode,
        }
        user = quote(self.username, safe="")
        password = f":{quote(self.password, safe='')}" if self.password else ""
        host = self.connect_host
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return (
            f"mysql://{user}{password}@{host}:{self.port}/{quote(database, safe='')}"
            f"?{urlencode(params)}"
        )


# --- errors ----------------------------------------------------------------------------------
# Server and client error codes (https://mariadb.com/kb/en/mariadb-error-codes/).
_AUTH_CODES = frozenset({1045, 1251, 1698, 2049, 2059, 1862, 1820})
_PERMISSION_CODES = frozenset({1044, 1142, 1143, 1227, 1370})
_NOT_FOUND_CODES = frozenset({1146, 1356})  # no such table; view references a missing object
_CONFIG_CODES = frozenset({1049, 1064, 1054, 2026})
_TRANSIENT_CODES = frozenset({1040, 1203, 1205, 1213, 1317, 1969, 3024, 1159, 1161})
_UNREACHABLE_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1053, 1077, 1927})


def _map_error(exc: BaseException, *, stream: str | None = None) -> ConnectorError:
    """The connector error a PyMySQL failure stands for, by the server's error code."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = _clean_message(str(exc.args[1]) if code is not None and len(exc.args) > 1 else "")
    if not message:
        message = _clean_message(str(exc)) or type(exc).__name__
    return _classify(code, message, exc, stream)


def _classify(
    code: int | None, message: str, exc: BaseException | None, stream: str | None
) -> ConnectorError:
    error_class: type[ConnectorError]
    if code in _AUTH_CODES:
        error_class = AuthenticationError
    elif code in _PERMISSION_CODES:
        error_class = PermissionError_
    elif code in _NOT_FOUND_CODES and stream is not None:
        error_class = StreamNotFoundError
    elif code in _CONFIG_CODES or isinstance(exc, ssl.SSLError) or _TLS_MISMATCH.search(message):
        error_class = ConfigError
    elif code in _TRANSIENT_CODES:
        error_class = TransientError
    elif code in _UNREACHABLE_CODES or (
        code is None and isinstance(exc, OSError | pymysql.OperationalError)
    ):
        error_class = UnreachableError
    else:
        error_class = ConnectorError
    return error_class(message, stream=stream)


_TLS_MISMATCH = re.compile(r"secure connection|ssl|tls|certificate", re.IGNORECASE)
_DRIVER_CODE = re.compile(r"ERROR (\d+) \(\w+\): (.*?)\s*\}?\s*$", re.DOTALL)
_DRIVER_UNREACHABLE = re.compile(
    r"timed out|connection refused|connection reset|broken pipe|io error|driver ?error"
    r"|unexpected eof|no route|name or service|failed to lookup",
    re.IGNORECASE,
)


def _map_driver_error(exc: BaseException, stream: str) -> ConnectorError:
    """The connector error a ConnectorX failure stands for. Its errors are text (a server
    error carries `ERROR <code> (<state>): <message>`); a panic is a value it cannot decode."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc
    text = str(exc)
    if type(exc).__name__ == "PanicException":
        return ConnectorError(f"The driver could not decode a value: {text}", stream=stream)
    match = _DRIVER_CODE.search(text)
    if match:
        return _classify(int(match.group(1)), _clean_message(match.group(2)), None, stream)
    if _DRIVER_UNREACHABLE.search(text) and not _TLS_MISMATCH.search(text):
        return UnreachableError(_clean_message(text), stream=stream)
    if _TLS_MISMATCH.search(text):
        return ConfigError(_clean_message(text), stream=stream)
    return ConnectorError(_clean_message(text) or "MySQL error.", stream=stream)


def _clean_message(text: str) -> str:
    return " ".join(text.split())


# --- catalog ---------------------------------------------------------------------------------
def _use_database(conn: pymysql.connections.Connection, database: str) -> None:
    """USE tells apart what information_schema hides: a database that does not exist (1049)
    and one the user may not use (1044)."""
    with conn.cursor() as cursor:
        try:
            cursor.execute(f"USE {_quote(database)}")
        except pymysql.Error as exc:
            code = exc.args[0] if exc.args else None
            if code == 1049:
                raise ConfigError(f"Database not found: {database}.") from exc
            if code == 1044:
                raise PermissionError_(f"The user may not use database {database}.") from exc
            raise


def _require_databases(conn: pymysql.connections.Connection, databases: Iterable[str]) -> None:
    for database in databases:
        _use_database(conn, database)


def _check_databases(conn: pymysql.connections.Connection, databases: tuple[str, ...]) -> str:
    """Raise unless every database may be used and holds a table or view the user can read;
    return a summary for the user."""
    _require_databases(conn, databases)
    relations = _load_relations(conn, databases)
    if not relations:
        raise PermissionError_(
            f"No readable tables or views in database(s) {', '.join(databases)} "
            "(the user needs SELECT on them)."
        )
    # information_schema lists a table on any privilege; reading it needs SELECT.
    with conn.cursor() as cursor:
        first = relations[0]
        cursor.execute(
            f"SELECT 1 FROM {_quote(first.database)}.{_quote(first.name)} LIMIT 0"  # noqa: S608
        )
    return f"Connected; {len(relations)} tables and views in {', '.join(databases)}."


@dataclass(frozen=True)
class _MyColumn:
    """A live column as information_schema describes it."""

    name: str
    nullable: bool
    data_type: str  # DATA_TYPE, lower case ("int", "varchar", ...)
    column_type: str  # COLUMN_TYPE ("int(10) unsigned", "enum('a','b')", ...)
    precision: int | None
    scale: int | None
    charset: str | None
    collation: str | None
    is_json: bool

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type

    @property
    def bit_width(self) -> int:
        match = re.search(r"\((\d+)\)", self.column_type)
        return int(match.group(1)) if match else 1

    def logical(self) -> tuple[str, int | None, int | None]:
        """(logical type, precision, scale); the table is in docs/mysql.md."""
        t = self.data_type
        if t == "tinyint":
            return "smallint", None, None
        if t == "smallint":
            return ("integer" if self.unsigned else "smallint"), None, None
        if t in ("mediumint", "int", "integer"):
            return ("bigint" if t != "mediumint" and self.unsigned else "integer"), None, None
        if t == "bigint":
            return ("decimal", 20, 0) if self.unsigned else ("bigint", None, None)
        if t in ("decimal", "numeric", "dec", "fixed"):
            return "decimal", self.precision, self.scale or 0
        if t == "float":
            return "real", None, None
        if t in ("double", "real", "double precision"):
            return "double", None, None
        if t == "bit":
            if self.bit_width == 1:
                return "boolean", None, None
            return ("bigint", None, None) if self.bit_width < 64 else ("decimal", 20, 0)
        if t == "year":
            return "smallint", None, None
        if t == "date":
            return "date", None, None
        if t == "datetime":
            return "timestamp", None, None
        if t == "timestamp":
            return "timestamptz", None, None
        if t == "json" or self.is_json:
            return "json", None, None
        if t in _BINARY_TYPES:
            return "binary", None, None
        if t == "uuid":
            return "uuid", None, None
        return "string", None, None  # text, enum, set, time, geometry, inet4/6, others

    def column(self) -> Column:
        logical, precision, scale = self.logical()
        return Column(
            name=self.name,
            type=logical,
            nullable=self.nullable,
            precision=precision,
            scale=scale,
            source_type=self.column_type,
        )


@dataclass(frozen=True)
class _MyRelation:
    database: str
    name: str
    kind: str
    columns: tuple[_MyColumn, ...]
    primary_key: tuple[str, ...]

    @property
    def stream_name(self) -> str:
        return f"{self.database}.{self.name}"

    def column(self, name: str) -> _MyColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def stream(self) -> Stream:
        columns = tuple(c.column() for c in self.columns)
        candidates = tuple(c.name for c in columns if c.type in CURSOR_TYPES)
        default = next((n for n in DEFAULT_CURSOR_NAMES if n in candidates), None)
        return Stream(
            name=self.stream_name,
            columns=columns,
            primary_key=self.primary_key,
            cursor_candidates=candidates,
            default_cursor=default,
            supports_incremental=bool(candidates),
            kind=self.kind,
        )


_RELATIONS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN %(databases)s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW')
  AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME
"""
_COLUMNS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, IS_NULLABLE, LOWER(DATA_TYPE), COLUMN_TYPE,
       NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_SET_NAME, COLLATION_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN %(databases)s AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""
_PRIMARY_KEYS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA IN %(databases)s AND INDEX_NAME = 'PRIMARY'
  AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX
"""
# MariaDB's JSON is LONGTEXT with a CHECK (json_valid(`column`)) constraint named after the
# column; MySQL has a real JSON type (and a CHECK_CONSTRAINTS table without TABLE_NAME).
_JSON_CHECKS_SQL = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN %(databases)s AND (%(only)s IS NULL OR TABLE_NAME = %(only)s)
  AND CHECK_CLAUSE LIKE '%%json_valid%%'
"""
_JSON_VALID = re.compile(r"^\s*json_valid\(`((?:[^`]|``)+)`\)\s*$", re.IGNORECASE)


def _load_relations(
    conn: pymysql.connections.Connection, databases: Iterable[str], only: str | None = None
) -> list[_MyRelation]:
    """The tables and views of `databases` the user can see (or just the table `only`)."""
    params = {"databases": tuple(databases), "only": only}
    with conn.cursor() as cursor:
        cursor.execute(_RELATIONS_SQL, params)
        relations = cursor.fetchall()
        cursor.execute(_COLUMNS_SQL, params)
        columns = cursor.fetchall()
        cursor.execute(_PRIMARY_KEYS_SQL, params)
        keys = cursor.fetchall()
        json_columns: set[tuple[str, str, str]] = set()
        if "mariadb" in (conn.get_server_info() or "").lower():
            cursor.execute(_JSON_CHECKS_SQL, params)
            for database, table, clause in cursor.fetchall():
                match = _JSON_VALID.match(clause or "")
                if match:
                    json_columns.add((database, table, match.group(1).replace("``", "`")))
    by_relation: dict[tuple[str, str], list[_MyColumn]] = {}
    for database, table, name, nullable, data_type, column_type, prec, scale, cs, coll in columns:
        by_relation.setdefault((database, table), []).append(
            _MyColumn(
                name=name,
                nullable=nullable == "YES",
                data_type=data_type,
                column_type=str(column_type).lower(),
                precision=int(prec) if prec is not None else None,
                scale=int(scale) if scale is not None else None,
                charset=cs,
                collation=coll,
                is_json=(database, table, name) in json_columns,
            )
        )
    primary: dict[tuple[str, str], list[str]] = {}
    for database, table, name in keys:
        primary.setdefault((database, table), []).append(name)
    return [
        _MyRelation(
            database=database,
            name=table,
            kind=_KINDS[kind],
            columns=tuple(by_relation.get((database, table), ())),
            primary_key=tuple(primary.get((database, table), ())),
        )
        for database, table, kind in relations
        if by_relation.get((database, table))
    ]


def _uses_tls(conn: pymysql.connections.Connection) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cursor.fetchone()
    return bool(row and row[1])


# --- read plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ReadPlan:
    """The SQL of one read and what is needed to turn its output into the stream's schema."""

    stream: str
    database: str
    sql: str
    schema: pa.Schema  # schema_for(request.stream.columns)
    selected: tuple[bool, ...]  # per requested column: read (True) or gone upstream (NULLs)
    key_indices: tuple[int, ...]  # output columns of the state, in order
    state_key: str | None  # "cursor", "after", or None (no resumable order)
    tie_safe: bool  # incremental without a key: batches must not split cursor ties

    @classmethod
    def build(cls, relation: _MyRelation, request: ReadRequest) -> _ReadPlan:
        stream = request.stream
        names = [c.name for c in stream.columns]
        key_names, state_key = _order_columns(request)
        order: list[_MyColumn] = []
        for name in key_names:
            if name not in names:
                raise ConfigError(
                    f"Column '{name}' is not among the stream's columns.", stream=stream.name
                )
            live_column = relation.column(name)
            if live_column is None:
                raise ConfigError(
                    f"Column '{name}' no longer exists in {stream.name}; refresh the schema.",
                    stream=stream.name,
                )
            order.append(live_column)
        live = [relation.column(c.name) for c in stream.columns]
        expressions = [
            f"{_select_expression(c, my)} AS {_quote(c.name)}"
            for c, my in zip(stream.columns, live, strict=True)
            if my
        ]
        if not expressions:  # every column is gone upstream: still count the rows
            expressions = ["NULL AS `landed_no_columns`"]
        table = f"{_quote(relation.database)}.{_quote(relation.name)}"
        # Order and compare by the table's own columns: an unqualified name would resolve to
        # the SELECT list's alias, which may be an expression (a zero date read as NULL).
        qualified = [f"{table}.{_quote(c.name)}" for c in order]
        resume = _resume_values(request.state, state_key, key_names, stream.name)
        conditions: list[str] = []
        if state_key == "cursor":
            conditions.append(f"{qualified[0]} IS NOT NULL")
            if order[0].data_type in _DATE_TYPES:
                conditions.append(f"NOT {_zero_date_test(qualified[0])}")
        if resume is not None:
            literals = [_literal(c, v, stream.name) for c, v in zip(order, resume, strict=True)]
            conditions.append(_after(qualified, literals))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        order_by = f" ORDER BY {', '.join(qualified)}" if qualified else ""
        query = f"SELECT {', '.join(expressions)} FROM {table}{where}{order_by}"  # noqa: S608
        return cls(
            stream=stream.name,
            database=relation.database,
            sql=query,
            schema=schema_for(list(stream.columns)),
            selected=tuple(my is not None for my in live),
            key_indices=tuple(names.index(name) for name in key_names),
            state_key=state_key,
            tie_safe=state_key == "cursor" and len(key_names) == 1 and not _primary_key(request),
        )

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None:
        """The state once `batch` (the rows up to its last one) is loaded."""
        if self.state_key is None or batch.num_rows == 0:
            return None
        return {self.state_key: [_jsonable(batch.column(i)[-1].as_py()) for i in self.key_indices]}


def _primary_key(request: ReadRequest) -> tuple[str, ...]:
    return tuple(request.primary_key or request.stream.primary_key)


def _order_columns(request: ReadRequest) -> tuple[list[str], str | None]:
    """The columns the read is ordered (and resumed) by, and the state's key."""
    key = list(_primary_key(request))
    if request.sync_mode == "incremental":
        cursor_field = request.cursor_field or request.stream.default_cursor
        if not cursor_field:
            raise ConfigError(
                "An incremental read needs a cursor field.", stream=request.stream.name
            )
        return list(dict.fromkeys([cursor_field, *key])), "cursor"
    if request.sync_mode == "full_refresh":
        return key, ("after" if key else None)
    raise ConfigError(f"Unknown sync mode '{request.sync_mode}'.", stream=request.stream.name)


def _resume_values(
    state: dict[str, Any] | None, state_key: str | None, key_names: list[str], stream: str
) -> list[Any] | None:
    if not state or state_key is None:
        return None
    values = state.get(state_key)
    if not isinstance(values, list) or len(values) != len(key_names):
        raise ConfigError(
            f"The saved state {state!r} does not match the read's order ({', '.join(key_names)});"
            " reset the stream.",
            stream=stream,
        )
    return values


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _zero_date_test(expression: str) -> str:
    """True for '0000-00-00' and for dates with a zero year, month or day, which no calendar
    (nor Python, Arrow's consumers or PostgreSQL) holds: these are read as NULL."""
    return f"(YEAR({expression}) = 0 OR MONTH({expression}) = 0 OR DAYOFMONTH({expression}) = 0)"


def _select_expression(column: Column, live: _MyColumn) -> str:
    """The SELECT item for `column`, in a form ConnectorX decodes exactly (see the module
    docstring); `_conform` casts it to the column's Arrow type."""
    ident = _quote(live.name)
    t = live.data_type
    if t in _DATE_TYPES:
        return f"IF({_zero_date_test(ident)}, NULL, {ident})"
    if column.type == "decimal":
        if t == "bit":
            return f"CAST({ident} + 0 AS CHAR)"
        if (
            t == "decimal"
            and column.precision is not None
            and column.precision <= _NATIVE_DECIMAL_PRECISION
            and (column.scale or 0) <= _NATIVE_DECIMAL_SCALE
        ):
            return ident
        return f"CAST({ident} AS CHAR)"
    if t == "bit":
        return f"CAST({ident} AS UNSIGNED)"
    if t in _GEOMETRY_TYPES:
        return f"ST_AsText({ident})"
    if t == "json":  # MySQL's binary JSON: its text, in UTF-8
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"
    if column.type in ("string", "json", "uuid") and t not in _TEXT_TYPES and not live.is_json:
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"  # time, uuid, inet6, ...
    return ident


def _literal(column: _MyColumn, value: Any, stream: str) -> str:
    """`value` (from a saved state) as a SQL literal of `column`'s type. Every value is parsed
    into its type and formatted anew, text and bytes as hexadecimal: nothing of the state
    reaches the SQL as it was written."""
    t = column.data_type
    try:
        if value is None:
            raise ValueError("null")
        if t in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
            return str(int(value))
        if t == "bit":
            return str(int(Decimal(str(value))))
        if t in ("decimal", "numeric", "float", "double", "real"):
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not finite")
            return format(number, "f")
        if t == "date":
            return f"DATE'{date.fromisoformat(str(value)).isoformat()}'"
        if t in ("datetime", "timestamp"):
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is not None:  # timestamptz states are UTC, as is the session
                moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
            return f"TIMESTAMP'{moment.isoformat(sep=' ', timespec='microseconds')}'"
        if t in _BINARY_TYPES:
            return f"X'{bytes.fromhex(str(value)).hex()}'"
        text = str(value).encode("utf-8").hex()
        charset, collation = column.charset or "utf8mb4", column.collation
        converted = f"CONVERT(_utf8mb4 X'{text}' USING {_word(charset)})"
        return f"{converted} COLLATE {_word(collation)}" if collation else converted
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ConfigError(
            f"The saved state value {value!r} is not a valid {column.column_type} for column "
            f"'{column.name}'; reset the stream.",
            stream=stream,
        ) from exc


def _word(name: str) -> str:
    """A character set or collation name (from information_schema), checked to be one."""
    if not _IDENTIFIER_WORD.match(name):
        raise ValueError(f"unexpected name {name!r}")
    return name


def _after(columns: list[str], literals: list[str]) -> str:
    """(c1, c2, ...) > (v1, v2, ...), spelled out with a leading `c1 >= v1` that the range
    optimizer of every MySQL and MariaDB version turns into an index range."""
    alternatives = []
    for i in range(len(columns)):
        equal = [f"{columns[j]} = {literals[j]}" for j in range(i)]
        alternatives.append(" AND ".join([*equal, f"{columns[i]} > {literals[i]}"]))
    return f"{columns[0]} >= {literals[0]} AND ({' OR '.join(f'({a})' for a in alternatives)})"


def _jsonable(value: Any) -> Any:
    """A state value as JSON can hold it (and `_literal` can parse back)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


# --- batches ---------------------------------------------------------------------------------
def _driver_batches(reader: pa.RecordBatchReader, stream: str) -> Iterator[pa.RecordBatch]:
    """The driver's batches, with its failures (a lost connection, a killed query) mapped."""
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except BaseException as exc:  # PanicException derives from BaseException
            raise _map_driver_error(exc, stream) from exc
        yield batch


def _conform(raw: pa.RecordBatch, plan: _ReadPlan) -> pa.RecordBatch:
    """`raw` with exactly the plan's schema: integers widened, decimals rescaled or parsed from
    text, large binaries narrowed, TIMESTAMP labelled UTC, columns gone upstream filled with
    NULLs. Vectorized, column by column."""
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
    try:
        if pa.types.is_timestamp(target.type) and pa.types.is_timestamp(array.type):
            # The session is UTC: a TIMESTAMP's wall clock is its UTC instant. Relabelling
            # (not converting) keeps the values.
            return array.cast(pa.timestamp("us")).view(target.type)
        return pc.cast(array, target.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConnectorError(
            f"Column '{target.name}' no longer reads as {target.type} ({exc}); refresh the schema.",
            stream=stream,
        ) from exc


def _chunks(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Zero-copy slices of at most `rows` rows."""
    rows = max(1, rows)
    for batch in batches:
        for offset in range(0, batch.num_rows, rows):
            yield batch.slice(offset, rows)


class _TieSafeBatcher:
    """Batches of an incremental read without a key, whose state only ever advances past a
    complete group of equal cursor values (as in the PostgreSQL source): resuming with
    `cursor > state` would otherwise skip the rest of a group split between two batches.

    The trailing group of each slice is held back until a larger cursor value (or the end of
    the stream) shows it is complete. A group bigger than a batch is delivered as it comes, its
    batches keeping the previous state: an interruption then repeats rows instead of losing
    any. At most about two batches' worth of rows is ever held.
    """

    def __init__(
        self, plan: _ReadPlan, batch_rows: int, start: dict[str, Any] | None = None
    ) -> None:
        self.plan = plan
        self.batch_rows = batch_rows
        self.cursor_index = plan.key_indices[0]
        self.safe_state: dict[str, Any] | None = start
        self.held: list[pa.RecordBatch] = []
        self.held_value: pa.Scalar | None = None

    def batches(self, pieces: Iterable[pa.RecordBatch]) -> Iterator[Batch]:
        for piece in pieces:
            yield from self._feed(piece)
        yield from self._release(complete=True)

    def _feed(self, piece: pa.RecordBatch) -> Iterator[Batch]:
        if self.held_value is not None:
            continuing = self._count_equal(piece, self.held_value)
            if continuing:
                self.held.append(piece.slice(0, continuing))
                piece = piece.slice(continuing)
            if piece.num_rows == 0:
                if sum(p.num_rows for p in self.held) > self.batch_rows:
                    yield from self._release(complete=False)
                return
            yield from self._release(complete=True)
        self.held_value = piece.column(self.cursor_index)[-1]
        tail = self._count_equal(piece, self.held_value)
        head = piece.slice(0, piece.num_rows - tail)
        if head.num_rows:
            self.safe_state = self.plan.state_after(head)
            yield Batch(head, self.safe_state, bytes_read=head.nbytes)
        self.held = [piece.slice(piece.num_rows - tail)]

    def _release(self, *, complete: bool) -> Iterator[Batch]:
        release = self.held if complete else self.held[:-1]
        self.held = [] if complete else self.held[-1:]
        if not release:
            return
        rows = pa.concat_batches(release) if len(release) > 1 else release[0]
        parts = list(_chunks([rows], self.batch_rows))
        for i, part in enumerate(parts):
            state = self.safe_state
            if complete and i == len(parts) - 1:
                state = self.safe_state = self.plan.state_after(part)
            yield Batch(part, state, bytes_read=part.nbytes)

    def _count_equal(self, piece: pa.RecordBatch, value: pa.Scalar) -> int:
        return pc.sum(pc.equal(piece.column(self.cursor_index), value)).as_py() or 0
