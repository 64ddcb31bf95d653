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
    module watches (a stalled network ends with a retryable error, not a hung job).
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
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
from connectors.sources._keyset import (
    TieSafeBatcher,
    jsonable,
    order_columns,
    primary_key,
    resume_values,
    table_stream,
)

SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")

# Every session (catalog and rows): UTC for TIMESTAMP values, and no strict mode, so that a
# server running NO_ZERO_DATE & co. still lets us read the zero dates its tables hold.
SESSION_SQL = (
    "SET time_zone = '+00:00'",
    "SET SESSION sql_mode = ''",
    # ORDER BY compares only the first max_sort_length bytes of a value (1024 by default),
    # while the resume predicate `>` compares all of it: long text keys sharing a prefix would
    # come in an order the next page does not follow. (The server's maximum.)
    "SET SESSION max_sort_length = 8388608",
)
# Rows of one page: the request's batch size, at most this; and about this many bytes, once
# the first pages have shown how wide the rows are (a LIMIT counts rows, not bytes).
MAX_PAGE_ROWS = 100_000
PAGE_BYTES = 64 * 2**20
FIRST_PAGE_ROWS = 256  # small: the rows' width is not known yet
# Rows PyMySQL hands over at a time on an unordered (unbuffered) read.
UNBUFFERED_FETCH_ROWS = 5_000
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
            SpecField(
                "read_timeout_seconds",
                "integer",
                "Longest a page of rows may take on the server (max_statement_time) or a stalled "
                "read may wait before the sync fails with a retryable error.",
                default=3600,
                minimum=1,
                maximum=86400,
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
            settings.require_row_reader_tls()
            with self._catalog_connection() as conn:
                message = _check_databases(conn, settings.databases)
        except ConnectorError as error:
            return CheckResult.failure(error)
        except (pymysql.Error, OSError) as exc:
            return CheckResult.failure(_map_error(exc, hosts=self.settings.hosts))
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
            raise _map_error(exc, hosts=self.settings.hosts) from exc
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
        reads come in keyset pages (see the module docstring); the unordered one streams.
        """
        plan, flavor = self._plan(request)
        internal = _rebatch(self._pieces(plan, flavor, request.batch_rows), request.batch_rows)
        if plan.tie_safe:
            yield from TieSafeBatcher(
                plan, request.batch_rows, request.state, deliver=plan.visible
            ).batches(internal)
        else:
            for batch in internal:
                records = plan.visible(batch)
                yield Batch(records, plan.state_after(batch), bytes_read=records.nbytes)

    # --- connections -----------------------------------------------------------------------
    @property
    def settings(self) -> _Settings:
        if self._settings is None:
            self._settings = _Settings.from_config(
                with_defaults(self.spec, self.config), self.hostaddr
            )
        return self._settings

    def _catalog_connection(self) -> pymysql.connections.Connection:
        return self._connect(SESSION_SQL)

    def _connect(self, session_sql: Iterable[str], **extra: Any) -> pymysql.connections.Connection:
        hosts = self.settings.hosts
        try:
            conn = pymysql.connect(**self.settings.pymysql_kwargs(), **extra)
        except pymysql.Error as exc:
            raise _map_error(exc, hosts=hosts) from exc
        except OSError as exc:  # TLS handshake failures surface as ssl.SSLError
            raise _map_error(exc, hosts=hosts) from exc
        try:
            with conn.cursor() as cursor:
                for statement in session_sql:
                    cursor.execute(statement)
        except pymysql.Error as exc:
            conn.close()
            raise _map_error(exc, hosts=hosts) from exc
        return conn

    # --- reading ---------------------------------------------------------------------------
    def _plan(self, request: ReadRequest) -> tuple[_ReadPlan, _Flavor]:
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
                relations = _load_relations(conn, (database,), only=table)
                flavor = _Flavor(
                    tls=_uses_tls(conn),
                    mariadb="mariadb" in (conn.get_server_info() or "").lower(),
                )
        except pymysql.Error as exc:
            raise _map_error(exc, stream=name, hosts=self.settings.hosts) from exc
        if not relations:
            raise StreamNotFoundError(
                f"Stream '{name}' no longer exists or is not readable.", stream=name
            )
        return _ReadPlan.build(relations[0], request), flavor

    def _pieces(
        self, plan: _ReadPlan, flavor: _Flavor, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The rows in the read's order, as internal batches (see `_ReadPlan.visible`)."""
        if not plan.order:
            yield from self._unbuffered(plan, plan.unordered_sql(), flavor)
            return
        page_rows = max(1, min(batch_rows, MAX_PAGE_ROWS))
        limit = min(page_rows, FIRST_PAGE_ROWS)
        after = plan.resume
        while True:
            table = self._page(plan, plan.page_sql(after, limit), flavor)
            pieces = [_conform(raw, plan) for raw in table.to_batches() if raw.num_rows]
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

    def _page(self, plan: _ReadPlan, sql: str, flavor: _Flavor) -> pa.Table:
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
            raise _map_driver_error(error, plan.stream, settings.hosts) from error
        return outcome["table"]

    def _unbuffered(self, plan: _ReadPlan, sql: str, flavor: _Flavor) -> Iterator[pa.RecordBatch]:
        """`sql`'s rows through a PyMySQL unbuffered cursor, UNBUFFERED_FETCH_ROWS at a time.
        No statement time limit (the statement lasts as long as the consumer takes); each
        socket read is bounded by read_timeout instead, and the server waits as long for a
        slow consumer (net_write_timeout)."""
        settings = self.settings
        session = [*SESSION_SQL, f"SET SESSION net_write_timeout = {settings.read_timeout}"]
        conn = self._connect(session, cursorclass=pymysql.cursors.SSCursor)
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql)
                while True:
                    rows = cursor.fetchmany(UNBUFFERED_FETCH_ROWS)
                    if not rows:
                        return
                    yield _conform(_columnar(rows, cursor.description), plan)
            except (pymysql.Error, OSError) as exc:
                raise _map_error(exc, stream=plan.stream, hosts=settings.hosts) from exc
        finally:
            # Not cursor.close(): it would read the rest of an abandoned result first.
            with contextlib.suppress(pymysql.Error, OSError):
                conn.close()


@dataclass(frozen=True)
class _Flavor:
    tls: bool  # the catalog session got TLS (decides `preferred` for ConnectorX)
    mariadb: bool

    def statement_limit(self, settings: _Settings) -> str:
        """The session setting that bounds each page on the server."""
        if self.mariadb:
            return f"SET SESSION max_statement_time = {settings.read_timeout}"
        return f"SET SESSION max_execution_time = {settings.read_timeout * 1000}"


def _columnar(rows: list[tuple[Any, ...]], description: Any) -> pa.RecordBatch:
    """PyMySQL's rows as an Arrow batch of inferred types (`_conform` casts them)."""
    names = [d[0] for d in description]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [pa.array(list(values)) for values in columns]
    return pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(names))])


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
    read_timeout: int = 3600
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
            read_timeout = int(config.get("read_timeout_seconds", 3600))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                "port, connect_timeout and read_timeout_seconds must be integers."
            ) from exc
        if read_timeout < 1:
            raise ConfigError("read_timeout_seconds must be at least 1.")
        return cls(
            host=str(config["host"]),
            port=port,
            username=str(config["username"]),
            password=config.get("password") or None,
            databases=databases,
            ssl_mode=ssl_mode,
            connect_timeout=timeout,
            read_timeout=read_timeout,
            hostaddr=hostaddr,
        )

    @property
    def connect_host(self) -> str:
        """Where to connect: the checked address (the host name only serves TLS checks)."""
        return self.hostaddr or self.host

    @property
    def hosts(self) -> tuple[str, ...]:
        """The host texts an error message may quote (never evidence of anything)."""
        return tuple(h for h in (self.host, self.hostaddr) if h)

    @property
    def stall_seconds(self) -> int:
        """How long a page may go without an answer before the read gives up: past the
        server's own limit (read_timeout), which normally ends a slow page first."""
        return self.read_timeout + min(self.read_timeout, 60)

    def require_row_reader_tls(self) -> None:
        """ConnectorX verifies a certificate against the host it connects to and cannot be
        told another name: with a pinned address, verify_identity would check the certificate
        against the IP address (or, connecting by name, let DNS pick another server)."""
        if self.ssl_mode == "verify_identity" and self.hostaddr and self.hostaddr != self.host:
            raise ConfigError(
                "ssl_mode verify_identity is not available on this Landed server, which pins "
                "each connection to the address it checked; use verify_ca (the certificate "
                "chain is still verified) or ask the operator."
            )

    def pymysql_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.connect_host,
            "port": self.port,
            "user": self.username,
            # Bytes: PyMySQL would encode a str password as latin-1, refusing (or mangling)
            # anything else; servers hash the UTF-8 bytes.
            "password": (self.password or "").encode("utf-8"),
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "write_timeout": self.read_timeout,
            "charset": "utf8mb4",
            "autocommit": True,
            "program_name": "landed",
        }
        if self.ssl_mode == "disabled":
            kwargs["ssl_disabled"] = True
        elif self.ssl_mode != "preferred":  # PyMySQL's default is preferred: TLS if offered
            context = _NamedContext(self.host)
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
        self.require_row_reader_tls()
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
            # A peer that vanishes (no FIN, no RST) is noticed by keepalive probes, and data
            # left unacknowledged for two minutes ends the connection.
            "tcp_keepalive_time_ms": "30000",
            "tcp_keepalive_probe_interval_secs": "10",
            "tcp_keepalive_probe_count": "6",
            "tcp_user_timeout_ms": "120000",
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


class _NamedContext(ssl.SSLContext):
    """A client TLS context that verifies the certificate against the configured host name
    whatever address the socket was opened to (PyMySQL passes the address it connected to)."""

    def __new__(cls, server_name: str) -> _NamedContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        self.load_default_certs()

    def wrap_socket(  # type: ignore[override]
        self, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)


# --- errors ----------------------------------------------------------------------------------
# Server and client error codes (https://mariadb.com/kb/en/mariadb-error-codes/).
_AUTH_CODES = frozenset({1045, 1251, 1698, 2049, 2059, 1862, 1820})
_HOST_REFUSED = {
    1129: "the server blocks this host after too many failed connections (an administrator "
    "can lift it with FLUSH HOSTS or mariadb-admin flush-hosts)",
    1130: "the server does not let the user connect from this host (see the user's host part, "
    "e.g. 'landed'@'%')",
}
_PERMISSION_CODES = frozenset({1044, 1142, 1143, 1227, 1370})
_NOT_FOUND_CODES = frozenset({1146, 1356})  # no such table; view references a missing object
_TLS_CODES = frozenset({2026, 2061})  # TLS connection error; auth plugin requires TLS
_CONFIG_CODES = frozenset({1049, 1064, 1054}) | _TLS_CODES
# 1317 query interrupted (KILL QUERY, a server shutting down), 1969/3024 statement time limit.
_TRANSIENT_CODES = frozenset({1040, 1203, 1205, 1213, 1317, 1969, 3024, 1159, 1161})
_UNREACHABLE_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1053, 1077, 1927})


def _map_error(
    exc: BaseException, *, stream: str | None = None, hosts: tuple[str, ...] = ()
) -> ConnectorError:
    """The connector error a PyMySQL failure stands for, by the server's error code."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = _clean_message(str(exc.args[1]) if code is not None and len(exc.args) > 1 else "")
    if not message:
        message = _clean_message(str(exc)) or type(exc).__name__
    if isinstance(exc, pymysql.InterfaceError):  # PyMySQL's "connection lost" (code 0)
        return TransientError(f"The connection to the server was lost ({message}).", stream=stream)
    return _classify(code, message, exc, stream)


def _classify(
    code: int | None, message: str, exc: BaseException | None, stream: str | None
) -> ConnectorError:
    """By the error code, then by the exception's type; never by the message's text, which
    quotes the host name (a host may well be called mysql-ssl.example.com)."""
    error_class: type[ConnectorError]
    if code in _HOST_REFUSED:
        return AuthenticationError(f"{message}: {_HOST_REFUSED[code]}.", stream=stream)
    if code in _AUTH_CODES:
        error_class = AuthenticationError
    elif code in _PERMISSION_CODES:
        error_class = PermissionError_
    elif code in _NOT_FOUND_CODES and stream is not None:
        error_class = StreamNotFoundError
    elif code in _CONFIG_CODES or isinstance(exc, ssl.SSLError):
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


# ConnectorX's errors are text. Phrases of its MySQL client (the Rust `mysql` crate, native-tls):
_DRIVER_TLS = re.compile(
    r"secure connection|tls ?error|ssl ?error|certificate|handshake failure|does not support ssl",
    re.IGNORECASE,
)
_DRIVER_CODE = re.compile(r"ERROR (\d+) \(\w+\): (.*?)\s*\}?\s*$", re.DOTALL)
_DRIVER_UNREACHABLE = re.compile(
    r"timed out|connection refused|connection reset|broken pipe|io ?error|driver ?error"
    r"|unexpected eof|no route|name or service|failed to lookup|codec ?error"
    r"|bytes remaining|connection (?:was )?(?:closed|aborted)|server has gone away",
    re.IGNORECASE,
)


def _map_driver_error(
    exc: BaseException, stream: str, hosts: tuple[str, ...] = ()
) -> ConnectorError:
    """The connector error a ConnectorX failure stands for. A server error carries
    `ERROR <code> (<state>): <message>`; a network failure, its I/O error. A panic is the
    driver giving up: mid-read it wraps the I/O error of a lost server (checked first), else
    it is a value it cannot decode."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc
    text = _clean_message(str(exc))
    match = _DRIVER_CODE.search(str(exc))
    if match:
        return _classify(int(match.group(1)), _clean_message(match.group(2)), None, stream)
    unquoted = text
    for host in hosts:  # the host name is no evidence of a TLS problem
        unquoted = unquoted.replace(host, "<host>")
    if _DRIVER_TLS.search(unquoted):
        return ConfigError(text, stream=stream)
    if _DRIVER_UNREACHABLE.search(unquoted):
        return UnreachableError(text, stream=stream)
    if type(exc).__name__ == "PanicException":
        return ConnectorError(f"The driver could not decode a value: {text}", stream=stream)
    return ConnectorError(text or "MySQL error.", stream=stream)


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
        return table_stream(self.stream_name, columns, self.primary_key, self.kind)


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
    """The SQL of one read and what is needed to turn its output into the stream's schema.

    The SELECT list is the stream's columns, then one hidden column per order column whose
    output value cannot serve as its resume position (an ENUM's index, a zero date's text).
    Internal batches carry the hidden columns after the stream's; `visible` drops them."""

    stream: str
    database: str
    select: str  # SELECT ... FROM ...
    conditions: tuple[str, ...]  # of every page (cursor not NULL, ...)
    order: tuple[str, ...]  # qualified order columns, in order
    order_columns: tuple[_MyColumn, ...]
    resume: list[Any] | None  # the state's values, to start strictly after
    schema: pa.Schema  # schema_for(request.stream.columns)
    selected: tuple[bool, ...]  # per requested column: read (True) or gone upstream (NULLs)
    key_indices: tuple[int, ...]  # output columns of the state, in order
    hidden: tuple[int | None, ...]  # per order column: its hidden column's index, if any
    hidden_types: tuple[pa.DataType, ...]
    state_key: str | None  # "cursor", "after", or None (no resumable order)
    tie_safe: bool  # incremental without a key: batches must not split cursor ties

    @classmethod
    def build(cls, relation: _MyRelation, request: ReadRequest) -> _ReadPlan:
        stream = request.stream
        names = [c.name for c in stream.columns]
        key_names, state_key = order_columns(request)
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
            expressions = ["0 AS `landed_no_columns`"]
        table = f"{_quote(relation.database)}.{_quote(relation.name)}"
        # Order and compare by the table's own columns: an unqualified name would resolve to
        # the SELECT list's alias, which may be an expression (a zero date read as NULL).
        qualified = [f"{table}.{_quote(c.name)}" for c in order]
        hidden: list[int | None] = []
        hidden_types: list[pa.DataType] = []
        for i, (column, ident) in enumerate(zip(order, qualified, strict=True)):
            extra = _position_expression(column, ident)
            if extra is None:
                hidden.append(None)
                continue
            expression, arrow_type = extra
            hidden.append(len(stream.columns) + len(hidden_types))
            hidden_types.append(arrow_type)
            expressions.append(f"{expression} AS `landed_position_{i}`")
        resume = resume_values(request.state, state_key, key_names, stream.name)
        if resume is not None:  # parsed now: a bad state fails before anything is read
            for column, value in zip(order, resume, strict=True):
                if value is not None:  # NULL: a nullable key column's (views have no PK)
                    _literal(column, value, stream.name)
        conditions: list[str] = []
        if state_key == "cursor":
            conditions.append(f"{qualified[0]} IS NOT NULL")
            if order[0].data_type in _DATE_TYPES:
                conditions.append(f"NOT {_zero_date_test(qualified[0])}")
        return cls(
            stream=stream.name,
            database=relation.database,
            select=f"SELECT {', '.join(expressions)} FROM {table}",  # noqa: S608
            conditions=tuple(conditions),
            order=tuple(qualified),
            order_columns=tuple(order),
            resume=resume,
            schema=schema_for(list(stream.columns)),
            selected=tuple(my is not None for my in live),
            key_indices=tuple(names.index(name) for name in key_names),
            hidden=tuple(hidden),
            hidden_types=tuple(hidden_types),
            state_key=state_key,
            tie_safe=state_key == "cursor" and len(key_names) == 1 and not primary_key(request),
        )

    # --- SQL ------------------------------------------------------------------------------
    def _sql(self, extra: list[str], suffix: str = "") -> str:
        conditions = [*self.conditions, *extra]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"{self.select}{where}{suffix}"

    def unordered_sql(self) -> str:
        return self._sql([])

    def page_sql(self, after: list[Any] | None, limit: int) -> str:
        """The next page: rows strictly after `after` (state values) in the read's order."""
        extra = [] if after is None else [self._after(after)]
        return self._sql(extra, f" ORDER BY {', '.join(self.order)} LIMIT {int(limit)}")

    def group_sql(self, cursor: Any) -> str:
        """Every row whose cursor equals `cursor` (a state value), of a read without a key."""
        literal = _literal(self.order_columns[0], cursor, self.stream)
        return self._sql([f"{self.order[0]} = {literal}"])

    def _after(self, values: list[Any]) -> str:
        """(c1, c2, ...) > (v1, v2, ...) in the order of ORDER BY c1, c2, ..., where NULL sorts
        first (as MySQL and MariaDB sort it), spelled out with a leading `c1 >= v1` that the
        range optimizer of every MySQL and MariaDB version turns into an index range."""
        literals = [
            None if v is None else _literal(c, v, self.stream)
            for c, v in zip(self.order_columns, values, strict=True)
        ]
        alternatives = []
        for i, column in enumerate(self.order):
            equal = [
                f"{self.order[j]} IS NULL" if literals[j] is None else f"{self.order[j]} = {lit}"
                for j, lit in enumerate(literals[:i])
            ]
            greater = (
                f"{column} IS NOT NULL" if literals[i] is None else f"{column} > {literals[i]}"
            )
            alternatives.append(" AND ".join([*equal, greater]))
        spelled = " OR ".join(f"({a})" for a in alternatives)
        if literals[0] is None:
            return f"({spelled})"
        return f"{self.order[0]} >= {literals[0]} AND ({spelled})"

    # --- batches --------------------------------------------------------------------------
    def visible(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """An internal batch without its hidden columns."""
        if batch.num_columns == len(self.schema):
            return batch
        return pa.RecordBatch.from_arrays(batch.columns[: len(self.schema)], schema=self.schema)

    def state_values(self, batch: pa.RecordBatch) -> list[Any]:
        """The resume position after the last row of the internal batch `batch`."""
        values = []
        for output, hidden in zip(self.key_indices, self.hidden, strict=True):
            value = batch.column(hidden)[-1].as_py() if hidden is not None else None
            if value is None:
                value = batch.column(output)[-1].as_py()
            values.append(jsonable(value))
        return values

    def state_after(self, batch: pa.RecordBatch) -> dict[str, Any] | None:
        """The state once the internal batch `batch` (the rows up to its last one) is loaded."""
        if self.state_key is None or batch.num_rows == 0:
            return None
        return {self.state_key: self.state_values(batch)}


def _position_expression(column: _MyColumn, ident: str) -> tuple[str, pa.DataType] | None:
    """The hidden SELECT item giving an order column's resume position where its output value
    cannot: ENUM and SET sort (and compare with a number) by their index, not their label;
    a zero or invalid date reads as NULL but sorts, and resumes, as its text."""
    if column.data_type in ("enum", "set"):
        return f"{ident} + 0", pa.int64()
    if column.data_type in _DATE_TYPES:
        return f"IF({_zero_date_test(ident)}, CAST({ident} AS CHAR), NULL)", pa.string()
    return None


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _zero_date_test(expression: str) -> str:
    """True for '0000-00-00', dates with a zero year, month or day, and invalid dates a server
    with ALLOW_INVALID_DATES keeps ('2023-02-30'), which no calendar holds (nor Python, Arrow's
    consumers or PostgreSQL): these are read as NULL. False for NULL. Date arithmetic is NULL
    for exactly those (DAYNAME would not do: MariaDB names the day of '2023-02-30'), and costs
    next to nothing, where testing the parts one by one doubled the time of a read."""
    return f"({expression} IS NOT NULL AND {_valid_date(expression)} IS NULL)"


def _valid_date(expression: str) -> str:
    """`expression` itself when it is a real date (or date-time: its type and fraction are
    kept), else NULL."""
    return f"{expression} + INTERVAL 0 DAY"


def _select_expression(column: Column, live: _MyColumn) -> str:
    """The SELECT item for `column`, in a form ConnectorX decodes exactly (see the module
    docstring); `_conform` casts it to the column's Arrow type. Decided by the live column
    (a DECIMAL widened since discovery travels as text rather than rounded)."""
    ident = _quote(live.name)
    t = live.data_type
    if t in _DATE_TYPES:
        return _valid_date(ident)
    if column.type == "decimal":
        if t == "bit":
            return f"CAST({ident} + 0 AS CHAR)"
        if (
            t == "decimal"
            and live.precision is not None
            and live.precision <= _NATIVE_DECIMAL_PRECISION
            and (live.scale or 0) <= _NATIVE_DECIMAL_SCALE
        ):
            return ident
        return f"CAST({ident} AS CHAR)"
    if t == "bit":
        return f"CAST({ident} AS UNSIGNED)"
    if t in _GEOMETRY_TYPES:
        return f"ST_AsText({ident})"
    if t in _BINARY_TYPES and live.column_type == "binary(0)":
        # A view's `NULL AS x` has type NULL (shown as binary(0)), which ConnectorX cannot
        # decode at all; the cast gives it a type.
        return f"CAST({ident} AS BINARY)"
    if t == "json":  # MySQL's binary JSON: its text, in UTF-8
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"
    if column.type in ("string", "json", "uuid") and t not in _TEXT_TYPES and not live.is_json:
        return f"CAST({ident} AS CHAR CHARACTER SET utf8mb4)"  # time, uuid, inet6, ...
    return ident


_RAW_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?$")


def _literal(column: _MyColumn, value: Any, stream: str) -> str:
    """`value` (from a saved state) as a SQL literal of `column`'s type. Every value is parsed
    into its type and formatted anew, text and bytes as hexadecimal: nothing of the state
    reaches the SQL as it was written."""
    t = column.data_type
    try:
        if value is None:
            raise ValueError("null")
        if isinstance(value, list | dict):
            raise TypeError("not a scalar")
        if t in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
            return str(int(value))
        if t == "bit":  # a BIT(1) state holds true/false, a wider one a number (or its text)
            return str(int(value)) if isinstance(value, bool | int) else str(int(str(value)))
        if t in ("enum", "set"):  # the index (or bitmask); a label from an older state
            return str(_enum_position(column, value))
        if t in ("double", "real"):
            # Python's shortest round-trip form, which the server reads as the same DOUBLE:
            # a plain-digit literal is cut to 65 digits (1e308) and about 38 decimals (5e-324
            # would compare as 0).
            number = float(value)
            if not math.isfinite(number):
                raise ValueError("not finite")
            return repr(number)
        if t in ("decimal", "numeric", "float"):
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not finite")
            return format(number, "f")
        if t in _DATE_TYPES and isinstance(value, str) and _RAW_DATE.match(value):
            # The server's own text of a date (a zero or invalid date's, which only compares
            # as text): digits and separators only.
            return f"'{value}'"
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


def _enum_position(column: _MyColumn, value: Any) -> int:
    """An ENUM's 1-based index or a SET's bitmask, from a number or from label(s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("negative")
        return value
    labels = [
        label.replace("''", "'")
        for label in re.findall(
            r"'((?:[^']|'')*)'", column.column_type[column.column_type.find("(") :]
        )
    ]
    text = str(value)
    if column.data_type == "enum":
        # Labels compare case-insensitively in the usual collations; an exact match first.
        if text in labels:
            return labels.index(text) + 1
        lowered = [label.lower() for label in labels]
        if text.lower() in lowered:
            return lowered.index(text.lower()) + 1
        if text == "":
            return 0  # the error value '' of a non-strict insert
        raise ValueError("unknown label")
    mask = 0
    for part in filter(None, text.split(",")):
        if part not in labels:
            raise ValueError("unknown label")
        mask |= 1 << labels.index(part)
    return mask


def _word(name: str) -> str:
    """A character set or collation name (from information_schema), checked to be one."""
    if not _IDENTIFIER_WORD.match(name):
        raise ValueError(f"unexpected name {name!r}")
    return name


# --- batches ---------------------------------------------------------------------------------
def _conform(raw: pa.RecordBatch, plan: _ReadPlan) -> pa.RecordBatch:
    """`raw` as an internal batch: exactly the plan's schema (integers widened, decimals
    rescaled or parsed from text, large binaries narrowed, TIMESTAMP labelled UTC, columns gone
    upstream filled with NULLs), then the hidden position columns. Vectorized."""
    arrays: list[pa.Array] = []
    raw_columns = iter(raw.columns)
    for target, selected in zip(plan.schema, plan.selected, strict=True):
        if not selected:
            arrays.append(pa.nulls(raw.num_rows, target.type))
            continue
        arrays.append(_cast(next(raw_columns), target, plan.stream))
    if not plan.hidden_types:
        return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
    hidden = raw.columns[raw.num_columns - len(plan.hidden_types) :]
    fields = list(plan.schema)
    for i, (array, arrow_type) in enumerate(zip(hidden, plan.hidden_types, strict=True)):
        arrays.append(pc.cast(array, arrow_type))
        fields.append(pa.field(f"landed_position_{i}", arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


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


def _rebatch(pieces: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
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
