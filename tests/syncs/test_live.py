"""Live progress figures: the recent rate, percent done and time left (plain arithmetic), and
how a job and its streams show them."""

import pytest

from syncs.live import (
    RecentRate,
    StreamFigures,
    eta_seconds,
    job_estimated_rows,
    job_percent,
    job_remaining_rows,
    percent,
    stream_remaining_rows,
)
from syncs.models import Job, JobStatus, JobStream
from syncs.serializers import JobSerializer
from tests.accounts.factories import AccountFactory
from tests.connectors.factories import make_connector


def feed(rate: RecentRate, start: float, seconds: int, per_second: int, total: int) -> int:
    """`per_second` rows each second for `seconds` from `start`; returns the new total."""
    for second in range(1, seconds + 1):
        total += per_second
        rate.update(total, start + second)
    return total


# --- The recent rate -------------------------------------------------------------------------
def test_a_steady_pace_is_its_rate_from_the_first_update():
    rate = RecentRate(window=10)
    assert rate.rate is None
    rate.start(0, 100.0)
    assert rate.rate is None  # no time has passed
    rate.update(500, 100.5)
    assert rate.rate == pytest.approx(1000)
    feed(rate, 100.5, 60, 1000, 500)
    assert rate.rate == pytest.approx(1000)


def test_the_rate_follows_a_change_of_pace_where_the_lifetime_average_lags():
    rate = RecentRate(window=10)
    rate.start(0, 0.0)
    total = feed(rate, 0.0, 60, 10_000, 0)  # a fast stream for a minute
    total = feed(rate, 60.0, 30, 1_000, total)  # then a slow one for half a minute
    lifetime = total / 90
    assert lifetime == pytest.approx(7000)
    # Three windows into the slow pace, the fast minute weighs e^-3 (5%).
    assert 1000 < rate.rate < 1000 + 0.06 * 9000
    total = feed(rate, 90.0, 30, 20_000, total)  # and faster again
    assert rate.rate > 19_000


def test_a_stall_brings_the_rate_down_and_a_short_start_is_a_plain_average():
    rate = RecentRate(window=10)
    rate.start(0, 0.0)
    rate.update(0, 2.0)  # the source's first rows take two seconds
    rate.update(3000, 3.0)
    assert rate.rate == pytest.approx(1000, rel=0.15)  # 3,000 rows over 3 s, not ~0
    total = feed(rate, 3.0, 10, 1000, 3000)
    rate.update(total, 33.0)  # 20 s without a row (a slow batch)
    assert rate.rate < 1000 * 0.15


def test_updates_without_time_passing_wait_for_the_next():
    rate = RecentRate(window=10)
    rate.start(0, 0.0)
    rate.update(100, 1.0)
    rate.update(200, 1.0)  # same instant: counted with the next update
    rate.update(300, 2.0)
    assert rate.rate == pytest.approx(150, rel=0.1)


# --- Percent and time left -------------------------------------------------------------------
def figures(written: int, estimated: int | None, *, succeeded=False):
    return StreamFigures(succeeded=succeeded, estimated_rows=estimated, rows_written=written)


def test_percent_and_eta_of_a_stream():
    assert percent(250, stream_remaining_rows(figures(250, 1000))) == 25.0
    assert eta_seconds(750, 50.0) == 15.0
    assert eta_seconds(750, None) is None  # no rate yet
    assert eta_seconds(750, 0.0) is None  # nothing moves
    assert eta_seconds(0, None) == 0.0  # nothing left
    assert eta_seconds(None, 50.0) is None  # no estimate
    # Beyond a low estimate: unknown, not 100% with rows still coming.
    assert stream_remaining_rows(figures(1200, 1000)) is None
    assert percent(1200, None) is None
    # Nothing to read: done.
    assert percent(0, stream_remaining_rows(figures(0, 0))) == 100.0
    assert stream_remaining_rows(figures(1200, 1000, succeeded=True)) == 0


def test_a_jobs_figures_cover_every_stream_and_wait_for_every_estimate():
    done = figures(300, 280, succeeded=True)  # finished beyond its estimate
    running = figures(100, 400)
    pending = figures(0, 300)
    streams = [done, running, pending]
    assert job_estimated_rows(streams) == 980
    assert job_remaining_rows(streams) == 600
    assert job_percent(streams) == pytest.approx(100 * 400 / 1000)
    assert job_percent([done, running, figures(0, None)]) is None
    assert job_estimated_rows([]) is None and job_percent([]) is None


# --- As a job shows them ---------------------------------------------------------------------
@pytest.mark.django_db
def test_a_running_job_shows_its_streams_figures_and_a_finished_one_its_averages():
    job = Job.objects.create(
        connector=make_connector(AccountFactory()),
        status=JobStatus.RUNNING,
        stage="loading",
        current_stream="orders",
        rows_read=900,
        rows_written=800,
        recent_rows_per_second=100.04,
    )
    JobStream.objects.create(
        job=job,
        name="customers",
        status=JobStatus.SUCCEEDED,
        sync_mode="full_refresh",
        load_mode="overwrite",
        rows_read=200,
        rows_written=200,
        estimated_rows=200,
        stage="",
    )
    JobStream.objects.create(
        job=job,
        name="orders",
        status=JobStatus.RUNNING,
        sync_mode="incremental",
        load_mode="merge",
        rows_read=700,
        rows_written=600,
        estimated_rows=1000,
        stage="merging",
        recent_rows_per_second=80.0,
        load_path="copy_passthrough",
        load_path_reason="Source and destination are PostgreSQL.",
    )
    data = JobSerializer(Job.objects.prefetch_related("streams").get(id=job.id)).data
    assert (data["stage"], data["estimated_rows"], data["percent"]) == ("loading", 1200, 66.7)
    assert (data["rows_per_second"], data["eta_seconds"]) == (100.0, 4.0)
    customers, orders = data["streams"]
    assert (customers["stage"], customers["percent"], customers["eta_seconds"]) == (
        None,
        100.0,
        None,
    )
    assert (orders["stage"], orders["percent"], orders["eta_seconds"]) == ("merging", 60.0, 5.0)
    assert orders["rows_per_second"] == 80.0
    # The load path, once chosen (null before the stream's table is ready).
    assert (orders["load_path"], orders["load_path_reason"]) == (
        "copy_passthrough",
        "Source and destination are PostgreSQL.",
    )
    assert (customers["load_path"], customers["load_path_reason"]) == (None, "")

    Job.objects.filter(id=job.id).update(status=JobStatus.FAILED)
    JobStream.objects.filter(name="orders").update(status=JobStatus.FAILED)
    data = JobSerializer(Job.objects.prefetch_related("streams").get(id=job.id)).data
    assert (data["stage"], data["eta_seconds"], data["percent"]) == (None, None, 66.7)
    assert data["streams"][1]["stage"] is None


@pytest.mark.django_db
def test_the_openapi_description_documents_the_live_fields(api, settings):
    settings.EXPOSE_API_DOCS = True
    components = api.get("/openapi.json").json()["components"]["schemas"]
    for name in ("Job", "JobStream"):
        properties = components[name]["properties"]
        for field in ("estimated_rows", "percent", "eta_seconds", "rows_per_second", "stage"):
            assert properties[field].get("nullable") is True, (name, field)
            assert properties[field].get("description"), (name, field)
        stage = properties["stage"]
        assert "swapping" in stage["description"]
        assert {"rows_read", "rows_written"} <= set(components[name]["required"])
