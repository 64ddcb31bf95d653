"""The PostgreSQL source's config spec and connection settings: what a connector's config
says, checked, as the libpq keyword/value string both psycopg and ADBC connect with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.conninfo import make_conninfo

from connectors.framework.base import ConfigError
from connectors.framework.spec import ConnectorSpec, SpecField
from connectors.sources.sql.settings import name_list, require_fields

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

SPEC = ConnectorSpec(
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


@dataclass(frozen=True)
class Settings:
    """A PostgreSQL connector's config, checked, with its defaults."""

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
    def from_config(cls, config: dict[str, Any], hostaddr: str | None = None) -> Settings:
        require_fields(config, ("host", "database", "username"))
        schemas = name_list(str(config.get("schemas", "public")))
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
