"""The MySQL source's error classification: a failure of PyMySQL (by the server's or the
client's error code) or of ConnectorX (by its text) as the connector error it stands for."""

from __future__ import annotations

import re
import ssl

import pymysql

from connectors.framework.base import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    PermissionError_,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)

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


def map_error(
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


def map_driver_error(
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
