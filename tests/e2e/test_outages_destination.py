"""Destination outages mid-sync, with real processes: nothing lost, nothing loaded twice,
nothing stuck.

- The destination PostgreSQL (a cluster of the test's own, never the shared server) is stopped
  mid-sync for some seconds and started again: the attempt fails as retryable, the retries back
  off past the outage, and the attempt that succeeds resumes after the last committed batch.
- The disk of a DuckDB destination fills up mid-sync (a small tmpfs): the job fails with an
  error that says so, the file opens and holds exactly its last committed state, and once
  space is freed the next sync makes the destination exact.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import BIG_ORDERS_ROWS, Api, Processes, create_pg_connector
from tests.e2e.test_postgres_sync import (
    fingerprint,
    fingerprint_on,
    select_streams,
)
from tests.pg import connect
from tests.servers import OwnPostgres

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = BIG_ORDERS_ROWS
BATCH = 2000
OUTAGE_SECONDS = 6
# Retries 4 s and then 8 s more after the failure: the first comes while the destination is
# still down (and fails to connect), the second after it is back (it is started again 6 s
# after it stopped, and the second retry leaves it as long again to come up), so the test
# sees both. (With the production defaults, 30 s then 60 s, a first retry outlasts an outage
# of a few seconds; short clocks keep the test within seconds, as in the other e2e tests.)
RETRY_BACKOFF_SECONDS = 4
MAX_ATTEMPTS = 3  # SYNC_MAX_ATTEMPTS's default


@pytest.fixture
def big_source(big_orders_source: str) -> str:
    """The source every test here syncs, and only reads."""
    return big_orders_source


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    server = OwnPostgres(tmp_path / "destination-pg")
    server.start()
    try:
        yield server
    finally:
        server.close()


def _wait_rows_written(api: Api, celery: Processes, job_id: str, rows: int) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = api.ok("GET", f"/jobs/{job_id}")
        if job["rows_written"] >= rows:
            return job
        assert job["status"] in ("pending", "running"), job
        assert time.monotonic() < deadline, celery.logs()
        time.sleep(0.02)


def _attempts(api: Api, connector_id: str) -> list[dict]:
    """The sync's jobs, first attempt first, each with its detail."""
    jobs = api.ok("GET", f"/jobs?connector_id={connector_id}")["items"]
    return [api.ok("GET", f"/jobs/{j['id']}") for j in sorted(jobs, key=lambda j: j["attempt"])]


def test_destination_postgres_down_mid_sync_resumes_exactly_once(
    celery: Processes, api: Api, big_source: str, own_postgres: OwnPostgres
) -> None:
    own_postgres.create_database("warehouse")
    destination = api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "own", "type": "postgres", "config": own_postgres.config("warehouse")},
    )
    celery.start(
        "worker",
        SYNC_BATCH_ROWS=str(BATCH),
        SYNC_RETRY_BACKOFF_SECONDS=str(RETRY_BACKOFF_SECONDS),
    )
    connector = create_pg_connector(api, big_source, destination)
    # Append: a batch loaded twice would show as duplicate keys (a merge would hide it).
    select_streams(
        api, connector["id"], sync_mode="incremental", load_mode="append", cursor_field="updated_at"
    )
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)

    _wait_rows_written(api, celery, job["id"], 10 * BATCH)
    own_postgres.stop("fast")
    down_at = time.monotonic()

    # The attempt fails at once, as retryable, saying what happened; its retry is scheduled.
    failed = api.wait_for_job(job["id"], statuses=("succeeded", "failed"), timeout=30)
    assert failed["status"] == "failed", failed
    error = failed["error"]
    assert set(error) == {"type", "message", "stream", "retryable"}
    assert (error["type"], error["retryable"], error["stream"]) == (
        "transient",
        True,
        "public.orders",
    ), error
    assert error["message"].startswith(
        "Lost the connection to the destination PostgreSQL server"
    ), error
    assert 0 < failed["rows_written"] < ROWS

    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    own_postgres.start()

    # An attempt that starts while the server is down fails to connect (retryable too); the
    # first one after it is back loads the rest.
    deadline = time.monotonic() + 90
    while True:
        attempts = _attempts(api, connector["id"])
        last = attempts[-1]
        if last["status"] in ("succeeded", "cancelled") or (
            last["status"] == "failed"
            and (not last["error"]["retryable"] or last["attempt"] >= MAX_ATTEMPTS)
        ):
            break
        assert time.monotonic() < deadline, (attempts, celery.logs())
        time.sleep(0.5)
    assert last["status"] == "succeeded", (attempts, celery.logs())
    assert all(a["run_id"] == job["run_id"] for a in attempts)
    assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
    for earlier in attempts[1:-1]:
        # Started while the server was down: could not connect, retried again.
        assert earlier["status"] == "failed", earlier
        assert (earlier["error"]["type"], earlier["error"]["retryable"]) == ("unreachable", True)
        assert earlier["rows_written"] == 0, earlier

    # Resumed after the last committed batch: every row was written by exactly one attempt,
    # and the last read only what the earlier ones had not committed.
    assert sum(a["rows_written"] for a in attempts) == ROWS, attempts
    assert last["rows_read"] == last["rows_written"] == ROWS - failed["rows_written"], attempts

    # Exact: every row once, every value equal.
    with own_postgres.connect("warehouse") as conn:
        assert fingerprint_on(conn, "shop.orders") == fingerprint(big_source, "orders")


# --- DuckDB: disk full -----------------------------------------------------------------------
TMPFS_MB = 24
# Left free by the filler file: room for the first batches of the sync, not for all of them.
FREE_MB = 3

# The business columns as one text per row, spelt alike by DuckDB and PostgreSQL (amount with
# its two decimals, the time as microseconds since the epoch), and hashed in key order.
_DUCKDB_DIGEST = """
    SELECT count(*), count(DISTINCT id), md5(coalesce(string_agg(
        id::VARCHAR || '|' || coalesce(customer, '~') || '|' || coalesce(amount::VARCHAR, '~')
        || '|' || coalesce(note, '~') || '|' || epoch_us(updated_at)::VARCHAR, ',' ORDER BY id
    ), ''))
    FROM shop.orders WHERE id <= ?
"""
_PG_DIGEST = """
    SELECT count(*), count(DISTINCT id), md5(coalesce(string_agg(
        id::text || '|' || coalesce(customer, '~') || '|' || coalesce(amount::text, '~')
        || '|' || coalesce(note, '~') || '|'
        || (extract(epoch FROM updated_at) * 1000000)::bigint::text, ',' ORDER BY id
    ), ''))
    FROM orders WHERE id <= %s
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The workers' DuckDB directory on a tmpfs of TMPFS_MB, unmounted whatever happens."""
    mount_point = tmp_path / "data" / "duckdb"
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        # Lazy: detached at once even if a process still holds a file there.
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _destination_file(mount_point: Path) -> Path:
    (path,) = mount_point.glob("*/warehouse.duckdb")  # under the account's own directory
    return path


def _committed(path: Path) -> tuple[dict, tuple]:
    """The stream's committed state and the digest of the rows it says are loaded, read from
    the file as any DuckDB client would open it."""
    with duckdb.connect(str(path), read_only=True) as conn:
        (state,) = conn.execute(
            "SELECT state FROM shop._landed_state WHERE stream = 'public.orders'"
        ).fetchone()
        state = json.loads(state)
        last_id = state["source"]["cursor"][1]
        (total,) = conn.execute("SELECT count(*) FROM shop.orders").fetchone()
        digest = conn.execute(_DUCKDB_DIGEST, [last_id]).fetchone()
    assert total == digest[0], "rows past the committed state"
    return state, digest


def _source_digest(database: str, last_id: int) -> tuple:
    with connect(database) as conn:
        return conn.execute(_PG_DIGEST, (last_id,)).fetchone()


def test_duckdb_disk_full_fails_clearly_keeps_the_file_and_the_next_sync_is_exact(
    small_disk: Path, celery: Processes, api: Api, big_source: str
) -> None:
    filler = small_disk / "filler"
    with filler.open("wb") as out:
        out.write(b"\0" * ((TMPFS_MB - FREE_MB) * 1024 * 1024))
    destination = api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "local", "type": "duckdb", "config": {"path": "warehouse.duckdb"}},
    )
    celery.start("worker", SYNC_BATCH_ROWS=str(BATCH))
    connector = create_pg_connector(api, big_source, destination)
    select_streams(
        api, connector["id"], sync_mode="incremental", load_mode="append", cursor_field="updated_at"
    )

    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    failed = api.wait_for_job(job["id"], timeout=90)
    assert failed["status"] == "failed", (failed, celery.logs())
    error = failed["error"]
    assert error["type"] == "storage_full" and error["retryable"] is False, error
    assert error["stream"] == "public.orders"
    assert "'warehouse.duckdb' is full" in error["message"], error
    # The user's own words only: no server path, no DuckDB internals.
    assert str(small_disk) not in error["message"] and ".wal" not in error["message"], error
    assert 0 < failed["rows_written"] < ROWS, failed
    # Not retried: the disk stays full until someone frees it.
    jobs = api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
    assert [j["id"] for j in jobs] == [job["id"]]

    # The file opens, and holds exactly the rows its committed state covers.
    path = _destination_file(small_disk)
    state, digest = _committed(path)
    last_id = state["source"]["cursor"][1]
    assert digest == _source_digest(big_source, last_id)
    assert last_id == failed["rows_written"], (state, failed)

    # Space freed, the next sync loads the rest, from where the file's state says.
    filler.unlink()
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    finished = api.wait_for_job(job["id"], timeout=90)
    assert finished["status"] == "succeeded", (finished, celery.logs())
    assert finished["rows_read"] == ROWS - last_id
    state, digest = _committed(path)
    assert digest == _source_digest(big_source, ROWS)
    assert digest[0] == digest[1] == ROWS
