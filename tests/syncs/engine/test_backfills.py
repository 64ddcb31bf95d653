"""Backfills and receipts through the in-process runner (sample source, DuckDB): a column
added between the attempts of a backfill or of a full resync, a backfill given up for an
append load, and a crashed job's counters."""

import dataclasses

import duckdb
import pyarrow as pa
import pytest

from connectors import services as connector_services
from connectors.destinations.duckdb import DuckDBStreamLoader
from connectors.framework.base import Column, TransientError
from connectors.sources import sample
from syncs import services
from syncs.engine.runner import run_sync_job
from syncs.models import Backfill, Job, SyncReceipt
from tests.accounts.factories import AccountFactory

pytestmark = pytest.mark.django_db

# Whether the sample source grows a "tier" column on its customers stream.
FLAG = {"extra": False}
_real_discover = sample.SampleSource.discover
_real_read = sample.SampleSource.read


def _discover(self):
    streams = _real_discover(self)
    if not FLAG["extra"]:
        return streams
    out = []
    for s in streams:
        if s.name == "customers":
            cols = list(s.columns)
            cols.insert(1, Column("tier", "string", nullable=True, source_type="string"))
            s = dataclasses.replace(s, columns=tuple(cols))
        out.append(s)
    return out


def _read(self, request):
    for batch in _real_read(self, request):
        if FLAG["extra"] and request.stream.name == "customers":
            rb = batch.records
            arrays = list(rb.columns)
            names = list(rb.schema.names)
            arrays.insert(1, pa.array(["gold"] * rb.num_rows, pa.string()))
            names.insert(1, "tier")
            batch = dataclasses.replace(
                batch, records=pa.RecordBatch.from_arrays(arrays, names=names)
            )
        yield batch


@pytest.fixture
def setup(tmp_path, monkeypatch, settings):
    FLAG["extra"] = False
    monkeypatch.setattr(sample.SampleSource, "discover", _discover)
    monkeypatch.setattr(sample.SampleSource, "read", _read)
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path))
    settings.SYNC_BATCH_ROWS = 10
    account = AccountFactory()
    destination = connector_services.destination_create(
        account=account, name="lake", type="duckdb", config={"path": "lake.duckdb"}
    )
    connector = connector_services.connector_create(
        account=account,
        name="demo",
        type="sample",
        config={"size": 50},
        destination=destination,
        sync_frequency_minutes=None,
    )
    return connector, tmp_path / str(account.id) / "lake.duckdb"


OFF = {"sync_mode": "full_refresh", "load_mode": "overwrite", "enabled": False}


def select(connector, **customers):
    entry = {
        "name": "customers",
        "enabled": True,
        "sync_mode": "incremental",
        "load_mode": "merge",
        "cursor_field": "updated_at",
        **customers,
    }
    services.connector_streams_update(
        connector=connector, entries=[entry, {"name": "orders", **OFF}, {"name": "events", **OFF}]
    )


def sync(connector, **kw):
    job = services.sync_trigger(connector=connector, **kw)
    run_sync_job(str(job.id))
    job.refresh_from_db()
    return job


def q(path, sql):
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(sql).fetchall()


def fail_on_write(monkeypatch, n, exc=None):
    real, calls = DuckDBStreamLoader.write, []

    def write(self, records, state):
        calls.append(1)
        if len(calls) == n:
            raise exc or TransientError("the destination went away")
        return real(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", write)
    return real


def pending(connector) -> list[tuple[str, str]]:
    return list(
        Backfill.objects.filter(connector=connector, status="pending").values_list(
            "reason", "column"
        )
    )


def nulls(path, column: str = "tier") -> int:
    return q(path, f"select count(*) from demo.customers where {column} is null")[0][0]


def test_a_column_added_between_attempts_of_a_backfill_gets_a_backfill_of_its_own(
    setup, monkeypatch, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector)
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == "succeeded"
    select(connector, enabled=False)
    select(connector)  # enabled again: a backfill is pending
    assert pending(connector) == [("stream_reenabled", "")]
    real = fail_on_write(monkeypatch, 3)
    with django_capture_on_commit_callbacks(execute=False):
        failed = sync(connector)
    assert failed.status == "failed"
    monkeypatch.setattr(DuckDBStreamLoader, "write", real)

    # The column appears between the attempts: the retry resumes the backfill, so the rows
    # loaded by the first attempt lack it.
    FLAG["extra"] = True
    retry = Job.objects.get(retry_of=failed)
    with django_capture_on_commit_callbacks(execute=False):
        run_sync_job(str(retry.id))
    retry.refresh_from_db()
    assert retry.status == "succeeded"
    assert nulls(path) == 20
    assert pending(connector) == [("column_added", "tier")]

    with django_capture_on_commit_callbacks(execute=False):
        following = sync(connector)
    assert following.status == "succeeded" and following.rows_read == 50
    assert nulls(path) == 0 and pending(connector) == []
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).rows_read == 0


def test_a_backfill_given_up_goes_on_from_where_the_stream_was(
    setup, monkeypatch, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector)
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == "succeeded"
    select(connector, enabled=False)
    select(connector)
    real = fail_on_write(monkeypatch, 3, TransientError("gone"))
    with django_capture_on_commit_callbacks(execute=False):
        failed = sync(connector)
    monkeypatch.setattr(DuckDBStreamLoader, "write", real)
    services.job_cancel(job=Job.objects.get(retry_of=failed))

    # Switched to append, the stream gives the backfill up: it must go on from the cursor
    # it had reached before the backfill, not from where the backfill stopped.
    select(connector, load_mode="append")
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    assert job.status == "succeeded", job.error
    assert job.rows_read == 0
    assert q(path, "select count(*), count(distinct id) from demo.customers")[0] == (50, 50)
    assert list(Backfill.objects.values_list("status", flat=True)) == ["skipped"]


def test_a_crashed_job_receipt_counts_what_it_committed(
    setup, monkeypatch, settings, django_capture_on_commit_callbacks
):
    connector, path = setup
    settings.JOB_PROGRESS_INTERVAL_SECONDS = 3600
    select(connector)
    fail_on_write(monkeypatch, 4, RuntimeError("boom"))
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    assert job.status == "failed"
    receipt = SyncReceipt.objects.get(job=job)
    committed = q(path, "select count(*) from demo.customers")[0][0]
    assert committed == 30
    assert receipt.rows_written == committed
    (stream,) = [s for s in receipt.streams if s["name"] == "customers"]
    assert (stream["status"], stream["rows_written"]) == ("failed", committed)


def test_a_column_added_between_attempts_of_a_full_resync_is_backfilled(
    setup, monkeypatch, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector)
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == "succeeded"
    real = fail_on_write(monkeypatch, 3)
    with django_capture_on_commit_callbacks(execute=False):
        failed = sync(connector, full_resync=True)
    monkeypatch.setattr(DuckDBStreamLoader, "write", real)
    FLAG["extra"] = True
    retry = Job.objects.get(retry_of=failed)
    with django_capture_on_commit_callbacks(execute=False):
        run_sync_job(str(retry.id))
    retry.refresh_from_db()
    assert retry.status == "succeeded"
    assert nulls(path) == 20 and pending(connector) == [("column_added", "tier")]
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == "succeeded"
    assert nulls(path) == 0 and pending(connector) == []
