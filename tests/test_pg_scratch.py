"""Scratch databases (tests/pg.py) are used again once emptied: the next test gets one as a
new database is, or a new one."""

import psycopg
import pytest

from tests import pg
from tests.pg import connect, scratch


def _contents(name: str) -> dict:
    with connect(name) as conn:
        return {
            "schemas": sorted(
                row[0]
                for row in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                )
            ),
            "relations": conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
            ).fetchone()[0],
            "extensions": [row[0] for row in conn.execute("SELECT extname FROM pg_extension")],
            "public": conn.execute(
                "SELECT nspowner::regrole::text, nspacl::text[] FROM pg_namespace"
                " WHERE nspname = 'public'"
            ).fetchone(),
        }


def test_a_used_database_comes_back_as_a_new_one_is() -> None:
    with scratch("landed_scratch_probe") as fresh:
        new = _contents(fresh)
        with connect(fresh) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
            conn.execute("CREATE SCHEMA shop")
            conn.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, note citext)")
            conn.execute("CREATE VIEW public.recent AS SELECT 1 AS one")
            conn.execute("REVOKE USAGE ON SCHEMA public FROM PUBLIC")
        # A connection left open, in a transaction holding a lock (ended when it is taken).
        left_open = connect(fresh)
        left_open.execute("BEGIN")
        left_open.execute("LOCK TABLE shop.orders")
    with scratch("landed_scratch_probe") as again:
        assert again == fresh
        assert _contents(again) == new
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    assert new["schemas"] == ["information_schema", "public"] and new["relations"] == 0


def test_a_database_changed_outside_its_schemas_is_dropped_not_used_again() -> None:
    with scratch("landed_scratch_probe") as changed, connect(changed) as conn:
        conn.execute(f"ALTER DATABASE \"{changed}\" SET work_mem = '8MB'")
    with scratch("landed_scratch_probe") as other:
        assert other != changed
    with connect("postgres") as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (changed,))
        assert gone.fetchone()[0] == 0
    assert changed not in pg._released
