"""Live progress through the in-process runner (sample source, DuckDB): every progress write
is recorded with what the job's rows then hold, as a reader polling the job would see them."""

import time

import pytest

from connectors import services as connector_services
from connectors.destinations.duckdb import DuckDBStreamLoader
from connectors.framework.base import ConnectorError
from connectors.sources.sample import SampleSource
from syncs import services
from syncs.engine import progress as progress_module
from syncs.engine.runner import run_sync_job
from syncs.models import Job, JobStatus, JobStream
from syncs.serializers import JobSerializer
from tests.accounts.factories import AccountFactory

pytestmark = pytest.mark.django_db

SIZE = 50  # customers; orders 150, events 500
ROWS = {"customers": SIZE, "orders": 3 * SIZE, "events": 10 * SIZE}


@pytest.fixture
def connector(tmp_path, monkeypatch, settings):
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
        config={"size": SIZE},
        destination=destination,
        sync_frequency_minutes=None,
    )
    services.connector_streams_update(
        connector=connector,
        entries=[
            {
                "name": "customers",
                "enabled": True,
                "sync_mode": "full_refresh",
                "load_mode": "overwrite",
            },
            {
                "name": "orders",
                "enabled": True,
                "sync_mode": "incremental",
                "load_mode": "merge",
                "cursor_field": "updated_at",
            },
            {
                "name": "events",
                "enabled": True,
                "sync_mode": "incremental",
                "load_mode": "append",
                "cursor_field": "updated_at",
            },
        ],
    )
    return connector


@pytest.fixture
def seen(monkeypatch) -> list[dict]:
    """Each progress write, with the job and its streams as their rows hold them after it."""
    real, writes = progress_module.job_progress_record, []

    def recording(*, job_id, job, streams):
        alive = real(job_id=job_id, job=job, streams=streams)
        row = Job.objects.get(id=job_id)
        writes.append(
            {
                "written": set(streams),
                "job": row,
                "streams": {s.name: s for s in JobStream.objects.filter(job_id=job_id)},
            }
        )
        return alive

    monkeypatch.setattr(progress_module, "job_progress_record", recording)
    return writes


def slow_writes(monkeypatch, seconds: float) -> None:
    """The destination takes its time: the source's read-ahead gets ahead of it."""
    real = DuckDBStreamLoader.write

    def write(self, records, state):
        time.sleep(seconds)
        return real(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", write)


def sync(connector, django_capture_on_commit_callbacks) -> Job:
    with django_capture_on_commit_callbacks(execute=False):
        job = services.sync_trigger(connector=connector)
        run_sync_job(str(job.id))
    return Job.objects.prefetch_related("streams").get(id=job.id)


def stages_of(seen: list[dict], stream: str) -> list[str]:
    """The stream's stages as written, each once, in order."""
    stages: list[str] = []
    for write in seen:
        if stream in write["written"]:
            stage = write["streams"][stream].stage
            if stage and (not stages or stages[-1] != stage):
                stages.append(stage)
    return stages


def test_a_sync_shows_totals_stages_and_honest_counts_as_they_happen(
    connector, seen, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # No periodic write at all: what shows, shows from the stage changes.
    settings.JOB_PROGRESS_INTERVAL_SECONDS = 3600
    slow_writes(monkeypatch, 0.01)
    job = sync(connector, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.SUCCEEDED, job.error

    assert stages_of(seen, "customers") == ["reading", "loading", "swapping", "finishing"]
    assert stages_of(seen, "orders") == ["reading", "merging", "finishing"]
    assert stages_of(seen, "events") == ["reading", "loading", "finishing"]
    for name, rows in ROWS.items():
        # From the stream's start: its total (the sample source's is exact; asked ahead, so
        # often known before), and the job names it as its current stream.
        first = next(w for w in seen if w["streams"][name].stage)
        assert first["streams"][name].stage == "reading"
        assert first["streams"][name].estimated_rows == rows
        assert first["streams"][name].started_at is not None
        assert (first["job"].current_stream, first["job"].stage) == (name, "reading")
        # Rows show with the first batch, not an interval later.
        loading = next(w for w in seen if w["streams"][name].stage in ("loading", "merging"))
        assert loading["streams"][name].rows_read >= 10
    for write in seen:
        streams = write["streams"].values()
        # The job's counts are its streams' sums in every write.
        for field in ("rows_read", "rows_written", "bytes_read", "bytes_written"):
            assert getattr(write["job"], field) == sum(getattr(s, field) for s in streams)
        assert all(s.rows_read >= s.rows_written for s in streams)
    # Read is what the source yielded, ahead of what the destination committed.
    assert any(s.rows_read > s.rows_written for w in seen for s in w["streams"].values())
    assert seen[-1]["job"].stage == "finishing" and seen[-1]["job"].current_stream == ""

    data = JobSerializer(job).data
    assert data["rows_read"] == data["rows_written"] == sum(ROWS.values())
    assert (data["estimated_rows"], data["percent"], data["stage"]) == (700, 100.0, None)
    assert data["rows_per_second"] > 0 and data["eta_seconds"] is None
    assert {s["name"]: s["estimated_rows"] for s in data["streams"]} == ROWS
    assert all(s["percent"] == 100.0 and s["rows_per_second"] > 0 for s in data["streams"])


def test_recent_rates_and_time_left_are_written_while_rows_flow(
    connector, seen, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.JOB_PROGRESS_INTERVAL_SECONDS = 0
    slow_writes(monkeypatch, 0.01)
    sync(connector, django_capture_on_commit_callbacks)
    events = [w for w in seen if w["job"].current_stream == "events"]
    flowing = [w for w in events if w["streams"]["events"].stage == "loading"]
    assert len(flowing) > 10
    middle = flowing[len(flowing) // 2]
    stream = middle["streams"]["events"]
    # About 10 rows per 10 ms: hundreds of rows a second, whatever the machine's load.
    assert stream.recent_rows_per_second > 50
    assert 0 < stream.eta_seconds < 500 / 50
    assert 0 < stream.percent < 100
    assert middle["job"].recent_rows_per_second > 50


def test_a_failed_stream_keeps_its_counts_in_its_jobs_totals(
    connector, monkeypatch, django_capture_on_commit_callbacks
):
    real, calls = DuckDBStreamLoader.write, []

    def write(self, records, state):
        if self.load.stream == "orders":
            calls.append(1)
            if len(calls) == 3:
                raise ConnectorError("the destination refused a row")
        return real(self, records, state)

    monkeypatch.setattr(DuckDBStreamLoader, "write", write)
    job = sync(connector, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.FAILED
    streams = {s.name: s for s in job.streams.all()}
    orders = streams["orders"]
    assert (orders.status, orders.rows_written, orders.stage) == ("failed", 20, "")
    assert orders.rows_read > orders.rows_written  # the batch that failed was read
    assert streams["events"].rows_written == ROWS["events"]  # the others went on
    for field in ("rows_read", "rows_written", "bytes_read", "bytes_written"):
        assert getattr(job, field) == sum(getattr(s, field) for s in streams.values())
    assert JobSerializer(job).data["percent"] == pytest.approx(100 * (50 + 20 + 500) / 700, abs=0.1)


@pytest.mark.parametrize("trouble", ["fails", "hangs"])
def test_a_source_that_cannot_estimate_neither_fails_nor_holds_up_the_sync(
    trouble, connector, monkeypatch, django_capture_on_commit_callbacks
):
    def estimate_rows(self, request):
        if trouble == "fails":
            raise ConnectionError("statistics unavailable")
        time.sleep(5)  # beyond the engine's patience; the thread is left behind

    monkeypatch.setattr(SampleSource, "estimate_rows", estimate_rows)
    started = time.monotonic()
    job = sync(connector, django_capture_on_commit_callbacks)
    # One stream's wait at most (a second), however many streams come after it.
    assert time.monotonic() - started < 3.5
    assert job.status == JobStatus.SUCCEEDED
    data = JobSerializer(job).data
    assert data["estimated_rows"] is None
    assert [s["estimated_rows"] for s in data["streams"]] == [None, None, None]
    assert data["percent"] == 100.0  # succeeded
