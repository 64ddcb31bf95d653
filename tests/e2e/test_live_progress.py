"""Live progress as a client polling GET /jobs/{id} sees it, with a real worker syncing the
sample source into DuckDB: estimated totals from the start, counts and percent that only
grow, stages in their order, and every response consistent with itself; and
`manage.py follow_job` following the same job, on a terminal and off it."""

import itertools
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.e2e.conftest import ROOT, Api, Processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZE = 40_000  # customers; orders 3x, events 10x: 560,000 rows
ROWS = {"customers": SIZE, "orders": 3 * SIZE, "events": 10 * SIZE}
ORDER = ["preparing", "reading", "loading", "merging", "swapping", "finishing"]
RANK = {stage: i for i, stage in enumerate(ORDER)} | {"merging": ORDER.index("loading")}
STREAMS = [
    {"name": "customers", "enabled": True, "sync_mode": "full_refresh", "load_mode": "overwrite"},
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
]


@contextmanager
def follow(celery: Processes, job_id: str, *, terminal: bool) -> Iterator[dict]:
    """`manage.py follow_job` on the job, its output collected (on a pseudo-terminal, or a
    pipe); stopped at the end of the block if still running."""
    result: dict = {"output": b""}
    command = [sys.executable, "manage.py", "follow_job", job_id, "--interval", "0.2"]
    env = celery.env()
    if terminal:
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=follower, stderr=follower, start_new_session=True
        )
        os.close(follower)

        def collect() -> None:
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the terminal closed with the process
                    return
                if not chunk:
                    return
                result["output"] += chunk

        reader = threading.Thread(target=collect, daemon=True)
        reader.start()
    else:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield result
        if terminal:
            result["code"] = process.wait(timeout=30)
            reader.join(timeout=5)
        else:
            result["output"], _ = process.communicate(timeout=30)
            result["code"] = process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if terminal:
            os.close(leader)


def check_response(job: dict) -> None:
    """What every response holds, whenever it was read."""
    streams = job["streams"]
    for field in ("rows_read", "rows_written", "bytes_read", "bytes_written"):
        assert job[field] == sum(s[field] for s in streams), (field, job)
    for stream in streams:
        assert stream["rows_read"] >= stream["rows_written"], stream
        if stream["status"] == "running":
            assert job["current_stream"] == stream["name"], job
            assert stream["stage"] in ORDER and job["stage"] == stream["stage"], job
            # The sample source knows its rows exactly, from the stream's read on.
            if stream["stage"] != "preparing":
                assert stream["estimated_rows"] == ROWS[stream["name"]], stream
        elif stream["status"] == "pending":
            assert stream["rows_read"] == 0 and stream["stage"] is None
    estimates = [s["estimated_rows"] for s in streams]
    if streams and None not in estimates:
        assert job["estimated_rows"] == sum(estimates)
    if job["percent"] is not None:
        assert 0 <= job["percent"] <= 100


def test_a_polling_client_sees_consistent_growing_progress_in_stage_order(
    celery: Processes, api: Api
):
    celery.start("worker", SYNC_BATCH_ROWS="5000")
    destination = api.ok(
        "POST",
        "/destinations",
        201,
        json={"name": "lake", "type": "duckdb", "config": {"path": "live.duckdb"}},
    )
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "demo",
            "type": "sample",
            "config": {"size": SIZE},
            "destination_id": destination["id"],
        },
    )
    api.ok("PUT", f"/connectors/{connector['id']}/streams", json={"streams": STREAMS})
    job_id = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)["id"]

    responses: list[dict] = []
    with (
        follow(celery, job_id, terminal=True) as on_terminal,
        follow(celery, job_id, terminal=False) as plain,
    ):
        deadline = time.monotonic() + 60
        while True:
            job = api.ok("GET", f"/jobs/{job_id}")
            check_response(job)
            responses.append(job)
            if job["status"] not in ("pending", "running"):
                break
            assert time.monotonic() < deadline, (job, celery.logs())
            time.sleep(0.05)
    assert job["status"] == "succeeded", (job, celery.logs())

    running = [r for r in responses if r["status"] == "running"]
    assert len(running) > 10, len(running)
    # Counts and percent only grow; stages only move forward, stream by stream.
    for before, after in itertools.pairwise(running):
        assert after["rows_read"] >= before["rows_read"]
        assert after["rows_written"] >= before["rows_written"]
        if before["percent"] is not None and after["percent"] is not None:
            assert after["percent"] >= before["percent"]
        # (A job's streams appear once it has discovered them.)
        streams = {s["name"]: s for s in after["streams"]}
        for was in before["streams"]:
            now = streams[was["name"]]
            assert now["rows_written"] >= was["rows_written"]
            if was["stage"] and now["stage"]:
                assert RANK[now["stage"]] >= RANK[was["stage"]], (was, now)
    seen = {
        (s["name"], s["stage"]) for r in running for s in r["streams"] if s["stage"] is not None
    }
    # The biggest streams are seen moving rows, each in its own way, with a time left.
    assert {("orders", "merging"), ("events", "loading")} <= seen, seen
    assert any(r["eta_seconds"] is not None and r["eta_seconds"] > 0 for r in running)
    assert any(0 < r["percent"] < 100 for r in running if r["percent"] is not None)
    # Rows read ahead of rows committed: two different counts.
    assert any(r["rows_read"] > r["rows_written"] for r in running)

    assert (job["percent"], job["eta_seconds"], job["stage"]) == (100.0, None, None)
    assert job["rows_read"] == job["rows_written"] == sum(ROWS.values())
    assert job["estimated_rows"] == sum(ROWS.values()) and job["rows_per_second"] > 0

    # The follower on a terminal redraws one line in place, then sums the job up.
    assert on_terminal["code"] == 0, on_terminal["output"]
    drawn = on_terminal["output"].decode()
    assert "\r[" in drawn and "% " in drawn and " rows/s" in drawn, drawn[-2000:]
    assert "succeeded in " in drawn and f"{ROWS['events']:>12,} rows" in drawn
    # Off a terminal: a line per stream and stage, no carriage returns.
    assert plain["code"] == 0, plain["output"]
    lines = plain["output"].decode().splitlines()
    assert "\r" not in plain["output"].decode()
    assert any("orders: merging" in line for line in lines), lines
    assert lines[-4].startswith("succeeded in "), lines
