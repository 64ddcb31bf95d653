"""Connections a worker keeps from one sync to the next: reused while the config is the same,
probed before reuse, closed when the config changes, bounded, and not kept at all unless the
process turned reuse on. The PostgreSQL loader's and reader's use of it, against the server."""

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connectors.destinations import postgres as pg_dest
from connectors.destinations.postgres import PostgresDestination
from connectors.framework.base import ReadRequest
from connectors.framework.connections import ConnectionPool
from connectors.sources.postgres import PostgresSource
from connectors.sources.postgres import reader as pg_reader
from tests.pg import connect, pg_config


@dataclass
class Fake:
    conninfo: str
    alive: bool = True
    clean: bool = True
    closed: bool = False


def fake_pool(**kwargs) -> tuple[ConnectionPool[Fake], list[Fake]]:
    opened: list[Fake] = []

    def connect_fake(conninfo: str) -> Fake:
        opened.append(Fake(conninfo))
        return opened[-1]

    def probe(connection: Fake) -> None:
        if not connection.alive:
            raise OSError("server closed the connection")

    def reset(connection: Fake) -> None:
        if not connection.clean:
            raise OSError("in a failed transaction")

    def close(connection: Fake) -> None:
        connection.closed = True

    pool = ConnectionPool(connect=connect_fake, probe=probe, reset=reset, close=close, **kwargs)
    pool.enabled = True
    return pool, opened


def test_a_released_connection_is_reused_for_the_same_config():
    pool, opened = fake_pool()
    first = pool.acquire("db", "host=a password=1")
    pool.release("db", "host=a password=1", first)
    assert pool.acquire("db", "host=a password=1") is first
    assert len(opened) == 1


def test_a_changed_config_closes_the_connections_made_with_the_old_one():
    pool, _ = fake_pool()
    old = pool.acquire("db", "host=a password=1")
    pool.release("db", "host=a password=1", old)
    new = pool.acquire("db", "host=a password=2")
    assert new is not old
    assert old.closed
    assert pool.idle_count() == 0


def test_a_dead_connection_is_replaced_by_a_new_one():
    pool, _ = fake_pool()
    dead = pool.acquire("db", "x")
    pool.release("db", "x", dead)
    dead.alive = False
    fresh = pool.acquire("db", "x")
    assert fresh is not dead and dead.closed and not fresh.closed


def test_a_connection_that_cannot_be_reset_or_is_discarded_is_closed():
    pool, _ = fake_pool()
    dirty, broken = pool.acquire("db", "x"), pool.acquire("db", "x")
    dirty.clean = False
    pool.release("db", "x", dirty)
    pool.discard(broken)
    assert dirty.closed and broken.closed
    assert pool.idle_count() == 0


def test_idle_connections_are_bounded_least_recently_used_first():
    pool, _ = fake_pool(max_idle=2)
    connections = [pool.acquire(f"db{n}", f"x{n}") for n in range(3)]
    for n, connection in enumerate(connections):
        pool.release(f"db{n}", f"x{n}", connection)
    assert [c.closed for c in connections] == [True, False, False]
    assert pool.idle_count() == 2


def test_idle_connections_are_closed_after_idle_seconds():
    pool, _ = fake_pool(idle_seconds=0.05)
    connection = pool.acquire("db", "x")
    pool.release("db", "x", connection)
    deadline = time.monotonic() + 5
    while not connection.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert connection.closed
    assert pool.idle_count() == 0


def test_nothing_is_kept_unless_reuse_is_on():
    pool, _ = fake_pool()
    pool.enabled = False
    connection = pool.acquire("db", "x")
    pool.release("db", "x", connection)
    assert connection.closed and pool.idle_count() == 0


# --- The PostgreSQL loader and reader ------------------------------------------------------
@pytest.fixture
def reuse() -> Iterator[None]:
    pools = (pg_dest._LOADER_CONNECTIONS, pg_reader._READ_CONNECTIONS)
    for pool in pools:
        pool.clear()
        pool.enabled = True
    yield
    for pool in pools:
        pool.enabled = False
        pool.clear()


def backend_pid(loader) -> int:
    return loader.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_the_loader_reuses_its_connection_with_the_namespace_lock_released(scratch_database, reuse):
    destination = PostgresDestination(pg_config(scratch_database))
    with destination.open_loader("reused") as loader:
        pid = backend_pid(loader)
    with connect(scratch_database) as conn:
        # Another session can take the namespace's lock: the pooled session let it go.
        locks = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", (pid,)
        ).fetchone()[0]
        assert locks == 0
    with destination.open_loader("reused") as loader:
        assert backend_pid(loader) == pid


def test_the_loader_opens_anew_and_closes_the_old_connection_when_its_config_changes(
    scratch_database, reuse
):
    with PostgresDestination(pg_config(scratch_database)).open_loader("changed") as loader:
        old = backend_pid(loader)
    changed = {**pg_config(scratch_database), "connect_timeout": 7}
    with PostgresDestination(changed).open_loader("changed") as loader:
        assert backend_pid(loader) != old
    # The server ends the backend once the client has hung up: look until it has.
    with connect(scratch_database) as conn:
        for _ in range(100):
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (old,)).fetchone():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the connection made with the old config is still open")


def test_a_read_read_whole_hands_its_connection_back_and_one_stopped_half_way_closes_it(
    scratch_database, reuse
):
    with connect(scratch_database) as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY)")
        conn.execute("INSERT INTO items SELECT generate_series(1, 50)")
    source = PostgresSource(pg_config(scratch_database))
    stream = next(s for s in source.discover() if s.name == "public.items")
    request = ReadRequest(stream=stream, sync_mode="full_refresh", batch_rows=10)
    assert sum(b.records.num_rows for b in source.read(request)) == 50
    assert pg_reader._READ_CONNECTIONS.idle_count() == 1
    batches = source.read(request)
    next(batches)  # the pooled connection, now half way through its COPY
    assert pg_reader._READ_CONNECTIONS.idle_count() == 0
    batches.close()
    assert pg_reader._READ_CONNECTIONS.idle_count() == 0
    assert sum(b.records.num_rows for b in source.read(request)) == 50
