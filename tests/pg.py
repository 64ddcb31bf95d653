"""Scratch PostgreSQL databases on the real local server, for source and destination tests."""

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


# Databases of finished `scratch`es, emptied and used again by the next ones of this process:
# creating and dropping a database took about a second on the test server (hundreds of them
# in a run), emptying one takes milliseconds. Emptied when taken again, not when given back:
# by then the processes of the test that used it (workers, servers) have been stopped, and
# none of them can write in it any more. Dropped when the process exits.
_released: list[str] = []

# Everything a test may leave in a database that outlives its schemas; nothing of it in a new
# database (PostgreSQL 15), and a database with any of it is dropped, never reused.
_LEFT_OUTSIDE_SCHEMAS = """
    SELECT (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
         + (SELECT count(*) FROM pg_publication)
         + (SELECT count(*) FROM pg_event_trigger)
         + (SELECT count(*) FROM pg_largeobject_metadata)
         + (SELECT count(*) FROM pg_default_acl)
         + (SELECT count(*) FROM pg_foreign_server)
         + (SELECT count(*) FROM pg_db_role_setting s
              JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database())
         + (SELECT count(*) FROM pg_replication_slots WHERE database = current_database())
         + (SELECT count(*) FROM pg_database
              WHERE datname = current_database()
                AND (datacl IS NOT NULL OR datconnlimit <> -1 OR NOT datallowconn
                     OR datdba <> (SELECT oid FROM pg_roles WHERE rolname = current_user)))
"""


def _create(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect("postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop(name: str) -> None:
    with connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(name: str) -> bool:
    """Make `name` as a new database is: its other connections ended (as DROP DATABASE ...
    WITH (FORCE) ends them), every schema dropped and `public` made again as PostgreSQL 15
    makes it. False when something outside the schemas was left (then it must be dropped)."""
    with connect(name) as conn:
        # Not forever behind a lock that a connection on its way out still holds: dropped then.
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.execute(
            """
            DO $$
            DECLARE schema_name name;
            BEGIN
                FOR schema_name IN
                    SELECT nspname FROM pg_namespace
                    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
                LOOP
                    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
                END LOOP;
            END $$;
            CREATE SCHEMA public AUTHORIZATION pg_database_owner;
            COMMENT ON SCHEMA public IS 'standard public schema';
            GRANT USAGE ON SCHEMA public TO PUBLIC;
            """
        )
        (left,) = conn.execute(_LEFT_OUTSIDE_SCHEMAS).fetchone()
    return left == 0


@atexit.register
def _drop_released() -> None:
    while _released:
        with suppress(psycopg.Error):
            _drop(_released.pop())


def _take(prefix: str) -> str:
    while _released:
        name = _released.pop()
        try:
            if _empty(name):
                return name
        except psycopg.Error:
            pass
        _drop(name)
    return _create(prefix)


@contextmanager
def scratch(prefix: str = "landed_scratch") -> Iterator[str]:
    """An empty database: new, or one an earlier `scratch` used, emptied."""
    name = _take(prefix)
    try:
        yield name
    finally:
        _released.append(name)
