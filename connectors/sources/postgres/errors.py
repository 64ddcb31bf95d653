"""The PostgreSQL source's error classification: a failure of psycopg or ADBC as the connector
error it stands for, by SQLSTATE or, for connection errors (which carry none), by message."""

from __future__ import annotations

import re

import adbc_driver_manager
import psycopg

from connectors.framework.base import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    PermissionError_,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)

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


def map_error(exc: BaseException, *, stream: str | None = None) -> ConnectorError:
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
