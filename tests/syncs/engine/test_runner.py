"""The sync runner, in-process, on the sample source and a DuckDB destination: state and
tables across syncs that fail, resync and change their streams."""

import duckdb
import pytest

from connectors import services as connector_services
from connectors.destinations.duckdb import DuckDBStreamLoader
from connectors.framework.base import ConnectorError
from connectors.models import Connector
from syncs import services
from syncs.engine.runner import run_sync_job
from syncs.models import Job, JobStatus
from tests.accounts.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tmp_path, monkeypatch, settings, django_capture_on_commit_callbacks):
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
    path = tmp_path / str(account.id) / "lake.duckdb"
    return connector, path


def select(connector, *entries):
    services.connector_streams_update(connector=connector, entries=list(entries))


def sync(connector, **kwargs) -> Job:
    job = services.sync_trigger(connector=connector, **kwargs)
    run_sync_job(str(job.id))
    job.refresh_from_db()
    return job


def counts(path, table) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(f"SELECT count(*), count(DISTINCT id) FROM demo.{table}").fetchone()


CUSTOMERS_APPEND = {
    "name": "customers",
    "enabled": True,
    "sync_mode": "incremental",
    "load_mode": "append",
    "cursor_field": "updated_at",
}
OFF = {"sync_mode": "full_refresh", "load_mode": "overwrite", "enabled": False}


def test_a_failed_full_resync_does_not_move_the_incremental_cursor(
    setup, monkeypatch, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == JobStatus.SUCCEEDED
    assert counts(path, "customers") == (50, 50)

    real_write, calls = DuckDBStreamLoader.write, []

    def failing_write(self, records, state):
        calls.append(1)
        if len(calls) == 4:
            raise ConnectorError("the destination went away")
        return real_write(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", failing_write)
    with django_capture_on_commit_callbacks(execute=False):
        failed = sync(connector, full_resync=True)
    assert failed.status == JobStatus.FAILED
    monkeypatch.setattr(DuckDBStreamLoader, "write", real_write)

    # The live table is the old one; the next sync goes on from its cursor: nothing again.
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == JobStatus.SUCCEEDED
    assert counts(path, "customers") == (50, 50)


def test_a_saved_mode_the_engine_does_not_know_fails_the_sync_without_a_retry(
    setup, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    # Written around the API (by an older version, or by hand): not read as some other mode.
    streams = [
        {**entry, "load_mode": "upsert"} if entry["name"] == "customers" else entry
        for entry in connector.streams
    ]
    Connector.objects.filter(id=connector.id).update(streams=streams)
    connector.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    assert job.status == JobStatus.FAILED
    assert job.error["type"] == "config_error"
    assert job.error["stream"] == "customers"
    assert job.error["retryable"] is False
    assert "unknown load_mode 'upsert'" in job.error["message"]
    assert not Job.objects.filter(retry_of=job).exists()
    assert not path.exists()


def test_tables_keep_their_names_when_other_streams_are_enabled(
    setup, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        sync(connector)
    select(
        connector,
        {"name": "orders", "enabled": True, "sync_mode": "full_refresh", "load_mode": "overwrite"},
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).status == JobStatus.SUCCEEDED
    connector.refresh_from_db()
    # Every discovered stream has its name, the disabled ones included.
    assert connector.stream_tables == {
        "customers": "customers",
        "orders": "orders",
        "events": "events",
    }
    assert counts(path, "customers") == (50, 50)
    assert counts(path, "orders") == (150, 150)


def test_a_new_connector_in_an_old_schema_starts_afresh(setup, django_capture_on_commit_callbacks):
    connector, path = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        sync(connector)
    destination = connector.destination
    services.connector_delete(connector=connector)
    successor = connector_services.connector_create(
        account=destination.account,
        name="demo",
        type="sample",
        config={"size": 60},
        destination=destination,
        sync_frequency_minutes=None,
        destination_schema="demo",
    )
    merge = {**CUSTOMERS_APPEND, "load_mode": "merge"}
    select(successor, merge, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(successor)
    # The old connector's cursor (at 50) is not inherited: all 60 are read.
    assert job.rows_read == 60
    assert counts(path, "customers") == (60, 60)


def test_a_changed_key_of_an_incremental_append_stream_replaces_the_table_once(
    setup, django_capture_on_commit_callbacks
):
    connector, path = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        sync(connector)
    select(connector, {**CUSTOMERS_APPEND, "primary_key": ["id", "email"]})
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    # The old position means nothing in the new order: read again, and replace, not append.
    assert job.status == JobStatus.SUCCEEDED and job.rows_read == 50
    assert counts(path, "customers") == (50, 50)
    # Then incremental again, from the new position.
    with django_capture_on_commit_callbacks(execute=False):
        assert sync(connector).rows_read == 0
    assert counts(path, "customers") == (50, 50)


def test_an_update_of_the_connector_keeps_the_table_names_a_sync_assigned(
    setup, django_capture_on_commit_callbacks
):
    connector, _ = setup
    stale = type(connector).objects.get(pk=connector.pk)
    with django_capture_on_commit_callbacks(execute=False):
        sync(connector)
    connector.refresh_from_db()
    assert connector.stream_tables
    services.connector_update(connector=stale, data={"paused": True})
    stale.refresh_from_db()
    assert stale.paused is True
    assert stale.stream_tables == connector.stream_tables


def test_an_overwrite_records_its_schema_changes_once_with_the_swap(
    setup, monkeypatch, django_capture_on_commit_callbacks
):
    from syncs.models import SchemaChange

    connector, path = setup
    overwrite = {"sync_mode": "full_refresh", "load_mode": "overwrite", "enabled": True}
    select(
        connector,
        {"name": "customers", **overwrite},
        {"name": "orders", **OFF},
        {"name": "events", **OFF},
    )
    real_write, calls = DuckDBStreamLoader.write, []

    def failing_write(self, records, state):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectorError("the destination went away")
        return real_write(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", failing_write)
    with django_capture_on_commit_callbacks(execute=False):
        failed = sync(connector)
    assert failed.status == JobStatus.FAILED
    assert not SchemaChange.objects.filter(connector=connector).exists()

    with django_capture_on_commit_callbacks(execute=False):
        retry = services.job_retry(job=failed)
    run_sync_job(str(retry.id))
    retry.refresh_from_db()
    assert retry.status == JobStatus.SUCCEEDED
    changes = SchemaChange.objects.filter(connector=connector, stream="customers")
    assert [c.change for c in changes] == ["table_created"]
    assert counts(path, "customers") == (50, 50)


def test_each_stream_records_its_load_path_and_why(
    setup, settings, django_capture_on_commit_callbacks
):
    connector, _ = setup
    select(connector, CUSTOMERS_APPEND, {"name": "orders", **OFF}, {"name": "events", **OFF})
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    stream = job.streams.get(name="customers")
    assert (stream.load_path, stream.load_path_reason) == (
        "arrow",
        "The source does not read PostgreSQL binary COPY.",
    )

    settings.SYNC_LOAD_PATH = "arrow"
    with django_capture_on_commit_callbacks(execute=False):
        job = sync(connector)
    stream = job.streams.get(name="customers")
    assert (stream.load_path, stream.load_path_reason) == (
        "arrow",
        "Binary COPY pass-through is turned off (SYNC_LOAD_PATH=arrow).",
    )
