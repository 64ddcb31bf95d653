"""Scratch databases on the real local MariaDB server, for the mysql source's tests."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

HOST = os.environ.get("MYSQL_TEST_HOST", "127.0.0.1")
PORT = int(os.environ.get("MYSQL_TEST_PORT", "3306"))
USER = os.environ.get("MYSQL_TEST_USER", "root")
PASSWORD = os.environ.get("MYSQL_TEST_PASSWORD", "")


def mysql_connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password=PASSWORD,
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def run(database: str, *statements: str) -> None:
    with mysql_connect(database) as conn, conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def config(database: str, **extra: Any) -> dict[str, Any]:
    """A `mysql` source config reading `database` on the test server."""
    return {
        "host": HOST,
        "port": PORT,
        "username": USER,
        "password": PASSWORD,
        "databases": database,
        **extra,
    }


@contextmanager
def scratch(prefix: str = "landed_test") -> Iterator[str]:
    """A new, empty database; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with mysql_connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with mysql_connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
