"""A worker SIGKILLed mid-sync: the reaper (on beat) notices its silence, the job is retried on
a new worker from the last committed checkpoint, and the destination ends with exactly the
source's rows, in every load mode, on both load paths of PostgreSQL -> PostgreSQL (binary COPY
passed through, and Arrow batches)."""

import time

import pytest

from tests.e2e.conftest import Api, Processes, create_pg_connector
from tests.e2e.test_postgres_sync import ORDERS, fingerprint, seed_orders, select_streams
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = 300_000
BATCH = 2000


@pytest.fixture(scope="module")
def big_source():
    from tests.pg import scratch

    with scratch("landed_e2e_kill") as name:
        with connect(name) as conn:
            conn.execute(ORDERS)
            # An incremental read passes binary COPY through only with an index on its order.
            conn.execute("CREATE INDEX orders_updated_at ON orders (updated_at, id)")
        seed_orders(name, 1, ROWS)
        yield name


def start_rescuer_once_running(api: Api, celery: Processes, job_id: str, **env: str) -> None:
    """Another worker of the fleet, on the same queues, started as soon as the doomed worker
    has taken the sync (so that it cannot take the first attempt itself): its start-up, seconds
    long, overlaps the first batches instead of following the kill. It runs the reaper's ticks
    meanwhile, which leave alone a job whose worker still beats."""
    deadline = time.monotonic() + 60
    while (status := api.ok("GET", f"/jobs/{job_id}")["status"]) == "pending":
        assert time.monotonic() < deadline, celery.logs()
        time.sleep(0.02)
    assert status == "running", (status, celery.logs())
    celery.start("worker", name="rescuer", **env)


FULL_APPEND = {"sync_mode": "full_refresh", "load_mode": "append"}
FULL_OVERWRITE = {"sync_mode": "full_refresh", "load_mode": "overwrite"}
INCREMENTAL_MERGE = {"sync_mode": "incremental", "load_mode": "merge", "cursor_field": "updated_at"}
INCREMENTAL_APPEND = {
    "sync_mode": "incremental",
    "load_mode": "append",
    "cursor_field": "updated_at",
}


@pytest.mark.parametrize(
    ("stream_settings", "load_path"),
    [
        (FULL_APPEND, "copy_passthrough"),
        (FULL_OVERWRITE, "copy_passthrough"),
        (INCREMENTAL_MERGE, "copy_passthrough"),
        (INCREMENTAL_APPEND, "copy_passthrough"),
        # The Arrow path, in the modes whose writes differ most (a staging table swapped in;
        # an upsert by key).
        (FULL_OVERWRITE, "arrow"),
        (INCREMENTAL_MERGE, "arrow"),
    ],
    ids=lambda v: f"{v['sync_mode']}-{v['load_mode']}" if isinstance(v, dict) else v,
)
def test_worker_killed_mid_sync_resumes_exactly_once(
    celery, api, big_source, dest_db, pg_destination, stream_settings, load_path
):
    paths = {"SYNC_LOAD_PATH": "arrow" if load_path == "arrow" else "auto"}
    worker = celery.start("worker", name="doomed", SYNC_BATCH_ROWS=str(BATCH), **paths)
    celery.start("beat")
    connector = create_pg_connector(api, big_source, pg_destination)
    select_streams(api, connector["id"], **stream_settings)
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    start_rescuer_once_running(api, celery, job["id"], SYNC_BATCH_ROWS=str(BATCH), **paths)

    # Kill the worker once some batches are committed and the rest are still to come.
    deadline = time.monotonic() + 60
    while True:
        progress = api.ok("GET", f"/jobs/{job['id']}")
        if progress["rows_written"] >= 10 * BATCH:
            break
        assert progress["status"] in ("pending", "running"), progress
        assert time.monotonic() < deadline, celery.logs()
        time.sleep(0.02)
    celery.kill(worker)
    killed_at = api.ok("GET", f"/jobs/{job['id']}")
    assert killed_at["status"] == "running"
    assert killed_at["rows_written"] < ROWS, "the sync finished before the kill"

    # The rescuer runs the reaper (scheduled by beat): it fails the silent job and schedules
    # attempt 2, which it then takes.
    failed = api.wait_for_job(job["id"], statuses=("failed",), timeout=30)
    assert failed["error"]["type"] == "worker_lost"
    assert failed["streams"][0]["load_path"] == load_path, failed["streams"]
    jobs = api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
    retry = next(j for j in jobs if j["retry_of"] == job["id"])
    assert retry["attempt"] == 2 and retry["run_id"] == job["run_id"]
    finished = api.wait_for_job(retry["id"], timeout=120)
    assert finished["status"] == "succeeded", (finished, celery.logs())
    assert finished["streams"][0]["load_path"] == load_path, finished["streams"]
    # The resumed attempt read only what the first had not committed.
    assert finished["rows_read"] < ROWS

    assert fingerprint(dest_db, "shop.orders") == fingerprint(big_source, "orders")


MARIA_ORDERS = """
    CREATE TABLE orders (
        id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12, 2), note TEXT,
        updated_at DATETIME(6) NOT NULL, KEY (updated_at, id)
    )
"""


@pytest.fixture(scope="module")
def big_maria_source():
    from tests.e2e.test_mysql_sync import seed_orders as seed_maria_orders
    from tests.mariadb import run, scratch

    with scratch("landed_e2e_kill") as name:
        run(name, MARIA_ORDERS)
        seed_maria_orders(name, 1, ROWS)
        yield name


@pytest.mark.parametrize(
    "stream_settings",
    [
        {"sync_mode": "full_refresh", "load_mode": "append"},
        {"sync_mode": "incremental", "load_mode": "merge", "cursor_field": "updated_at"},
    ],
    ids=lambda s: f"{s['sync_mode']}-{s['load_mode']}",
)
def test_worker_killed_mid_mariadb_sync_resumes_exactly_once(
    celery, api, big_maria_source, dest_db, pg_destination, stream_settings
):
    from tests.e2e.test_mysql_sync import create_connector, maria_rows, pg_rows

    worker = celery.start("worker", name="doomed", SYNC_BATCH_ROWS=str(BATCH))
    celery.start("beat")
    connector = create_connector(api, big_maria_source, pg_destination)
    entry = {"name": f"{big_maria_source}.orders", "enabled": True, **stream_settings}
    api.ok("PUT", f"/connectors/{connector['id']}/streams", json={"streams": [entry]})
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    start_rescuer_once_running(api, celery, job["id"], SYNC_BATCH_ROWS=str(BATCH))

    deadline = time.monotonic() + 60
    while api.ok("GET", f"/jobs/{job['id']}")["rows_written"] < 10 * BATCH:
        assert time.monotonic() < deadline, celery.logs()
        time.sleep(0.02)
    celery.kill(worker)
    assert api.ok("GET", f"/jobs/{job['id']}")["rows_written"] < ROWS, "finished before the kill"

    assert api.wait_for_job(job["id"], statuses=("failed",), timeout=30)["error"]["type"] == (
        "worker_lost"
    )
    retry = next(
        j
        for j in api.ok("GET", f"/jobs?connector_id={connector['id']}")["items"]
        if j["retry_of"] == job["id"]
    )
    finished = api.wait_for_job(retry["id"], timeout=120)
    assert finished["status"] == "succeeded", (finished, celery.logs())
    assert finished["rows_read"] < ROWS
    # Row for row, every value: nothing lost, nothing loaded twice.
    assert pg_rows(dest_db) == maria_rows(big_maria_source)
