"""Scratch PostgreSQL databases on the real local server, for source and destination tests."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import psycopg

# The server the suite runs against (scripts/test.sh sets DATABASE_URL).
SERVER = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))


def pg_config(database: str) -> dict[str, Any]:
    """A `postgres` source or destination config pointing at `database` on the test server."""
    return {
        "host": SERVER.hostname or "127.0.0.1",
        "port": SERVER.port or 5432,
        "database": database,
        "username": SERVER.username or "postgres",
        "password": SERVER.password or "",
    }


def dsn(database: str) -> str:
    return SERVER._replace(path=f"/{database}", scheme="postgresql").geturl()


def connect(database: str) -> psycopg.Connection:
    return psycopg.connect(dsn(database), autocommit=True)


@contextmanager
def scratch(prefix: str = "landed_scratch") -> Iterator[str]:
    """A new, empty database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect("postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
