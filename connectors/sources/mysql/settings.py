"""The MySQL source's config spec and connection settings: what a connector's config says,
checked, and how each driver (PyMySQL for the catalog and unordered reads, ConnectorX for
keyset pages) is told to connect with it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pymysql

from connectors.framework.base import ConfigError
from connectors.framework.spec import ConnectorSpec, SpecField
from connectors.sources.mysql.errors import map_error
from connectors.sources.sql.settings import name_list, require_fields

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


SPEC = ConnectorSpec(
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


@dataclass(frozen=True)
class Settings:
    """A MySQL connector's config, checked, with its defaults."""

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
    def from_config(cls, config: dict[str, Any], hostaddr: str | None = None) -> Settings:
        require_fields(config, ("host", "username", "databases"))
        raw = config["databases"]
        if not isinstance(raw, str):
            raise ConfigError("databases must be a comma-separated string of database names.")
        databases = name_list(raw)
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
            context = NamedTLSContext(self.host)
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

    def connect(self, session_sql: Iterable[str], **extra: Any) -> pymysql.connections.Connection:
        """A PyMySQL connection that has run `session_sql`; failures mapped to connector
        errors."""
        hosts = self.hosts
        try:
            conn = pymysql.connect(**self.pymysql_kwargs(), **extra)
        except pymysql.Error as exc:
            raise map_error(exc, hosts=hosts) from exc
        except OSError as exc:  # TLS handshake failures surface as ssl.SSLError
            raise map_error(exc, hosts=hosts) from exc
        try:
            with conn.cursor() as cursor:
                for statement in session_sql:
                    cursor.execute(statement)
        except pymysql.Error as exc:
            conn.close()
            raise map_error(exc, hosts=hosts) from exc
        return conn


class NamedTLSContext(ssl.SSLContext):
    """A client TLS context that verifies the certificate against the configured host name
    whatever address the socket was opened to (PyMySQL passes the address it connected to)."""

    def __new__(cls, server_name: str) -> NamedTLSContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        self.load_default_certs()

    def wrap_socket(  # type: ignore[override]
        self, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)
