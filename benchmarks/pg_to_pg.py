"""PostgreSQL -> PostgreSQL throughput of Landed, side by side with a raw binary COPY pipe.

Run: `.venv/bin/python benchmarks/pg_to_pg.py` (needs PostgreSQL and Redis on 127.0.0.1).

It creates a 10-column table (bigint key, int, numeric, short and long text with NULLs, two
timestamptz, boolean, double) in a scratch source database, then in the same run:
  1. times `COPY ... TO STDOUT (FORMAT binary)` piped into `COPY ... FROM STDIN (FORMAT binary)`
     between the two databases (the raw pipe);
  2. starts the API (gunicorn) and one Celery worker, and syncs the table through the HTTP API
     (connector, destination, trigger, poll), timing the job as the worker ran it;
  3. changes 1% of the rows and times the incremental sync;
  4. repeats the full sync at 4x the rows on a fresh worker, and compares the worker's peak
     RSS (VmHWM) at both sizes.
Figures and ratios are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

TABLE_DDL = """
CREATE TABLE bench (
    id bigint PRIMARY KEY,
    qty integer,
    price numeric(12, 2),
    code text,
    note text,
    created_at timestamptz,
    updated_at timestamptz NOT NULL,
    active boolean,
    score double precision,
    region text
)
"""
FILL = """
INSERT INTO bench
SELECT g, (g * 7) %% 1000, round((g %% 100000) / 7.0, 2), 'c' || (g %% 1000),
       CASE WHEN g %% 5 = 0 THEN NULL ELSE repeat('lorem ipsum ', (1 + g %% 8)::int) END,
       timestamptz '2026-01-01 00:00+00' - make_interval(secs => g),
       timestamptz '2026-01-01 00:00+00' + make_interval(secs => g),
       g %% 2 = 0, g / 3.0, CASE WHEN g %% 3 = 0 THEN NULL ELSE 'eu-west' END
FROM generate_series(%s::bigint, %s::bigint) AS g
"""


def db_url(name: str) -> str:
    return f"{SERVER}/{name}"


@contextmanager
def scratch_db(prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_source(database: str, rows: int) -> None:
    with psycopg.connect(db_url(database), autocommit=True) as conn:
        conn.execute(TABLE_DDL)
        step = 1_000_000
        for first in range(1, rows + 1, step):
            conn.execute(FILL, (first, min(first + step - 1, rows)))
        # An incremental sync by updated_at reads through this index.
        conn.execute("CREATE INDEX bench_updated_at ON bench (updated_at, id)")
        conn.execute("VACUUM ANALYZE bench")


def settle() -> None:
    """Let the server finish the previous run's background work (its checkpoint, autovacuum
    of the tables just written) so that it does not land on the next run's clock: both
    contenders start from a quiet server."""
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        for _ in range(120):
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()[0]
            if not busy:
                return
            time.sleep(0.5)


def raw_pipe(source: str, target: str) -> float:
    with psycopg.connect(db_url(target), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_bench")
        conn.execute(TABLE_DDL.replace("bench", "raw_bench"))
    with psycopg.connect(db_url(source)) as src, psycopg.connect(db_url(target)) as dst:
        started = time.perf_counter()
        with (
            src.cursor().copy("COPY bench TO STDOUT (FORMAT binary)") as out,
            dst.cursor().copy("COPY raw_bench FROM STDIN (FORMAT binary)") as into,
        ):
            for chunk in out:
                into.write(chunk)
        dst.commit()
        return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Platform:
    """The API and one worker, as `make run` starts them, on a scratch metadata database."""

    def __init__(self, meta_db: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url(meta_db).replace("postgresql://", "postgres://"),
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "benchmark-" + uuid.uuid4().hex,
            "LANDED_DATA_DIR": str(workdir),
            "RATELIMIT_ENABLE": "false",
            # Source and destination are on this machine's loopback.
            "ALLOW_PRIVATE_NETWORKS": "true",
            "PORT": str(self.port),
            "JOB_PROGRESS_INTERVAL_SECONDS": "1",
        }
        self.processes: list[subprocess.Popen] = []
        self.worker: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=(self.workdir / log).open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start_api(self) -> None:
        python = sys.executable
        subprocess.run(
            [python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        self._spawn(
            [python, "-m", "gunicorn", "--config", "python:landed.gunicorn_conf", "landed.asgi"],
            "api.log",
        )
        for _ in range(100):
            try:
                requests.get(f"{self.url}/health", timeout=1)
                return
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or still importing on a busy machine: ask again.
                time.sleep(0.2)
        raise SystemExit("the API did not start; see api.log")

    def start_worker(self) -> None:
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait()
        # Solo pool: the sync runs in this very process, so its VmHWM is the sync's peak.
        self.worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "landed",
                "worker",
                "--pool",
                "solo",
                "--queues",
                "syncs,default",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            f"worker-{len(self.processes)}.log",
        )
        time.sleep(3)

    def worker_peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.worker.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=30)


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        signup = self.session.post(
            f"{url}/auth/signup",
            json={
                "email": f"bench-{uuid.uuid4().hex[:6]}@example.com",
                "password": "bench-" + uuid.uuid4().hex,
            },
            timeout=30,
        )
        signup.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {signup.json()['access_token']}"
        self.session.cookies.clear()

    def call(self, method: str, path: str, expected: int, **kwargs):
        response = self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)
        if response.status_code != expected:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def sync(self, connector_id: str) -> dict:
        job = self.call("POST", f"/connectors/{connector_id}/sync", 202, json={})
        while True:
            job = self.call("GET", f"/jobs/{job['id']}", 200)
            if job["status"] not in ("pending", "running"):
                break
            # Polling is light but not free: on 2 cores every request takes CPU from the
            # sync. The job's own start and end times are what is measured.
            time.sleep(0.5)
        if job["status"] != "succeeded":
            raise SystemExit(f"sync failed: {job}")
        return job


def job_seconds(job: dict) -> float:
    from datetime import datetime

    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    return (finished - started).total_seconds()


def pg_config(database: str) -> dict:
    return {"host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres"}


def landed_sync(
    platform: Platform, client: Client, source: str, target: str, name: str
) -> tuple[dict, str]:
    destination = client.call(
        "POST",
        "/destinations",
        201,
        json={"name": name, "type": "postgres", "config": pg_config(target)},
    )
    connector = client.call(
        "POST",
        "/connectors",
        201,
        json={
            "name": name,
            "type": "postgres",
            "config": pg_config(source),
            "destination_id": destination["id"],
        },
    )
    client.call(
        "PUT",
        f"/connectors/{connector['id']}/streams",
        200,
        json={
            "streams": [
                {
                    "name": "public.bench",
                    "enabled": True,
                    "sync_mode": "incremental",
                    "load_mode": "merge",
                    "cursor_field": "updated_at",
                }
            ]
        },
    )
    return client.sync(connector["id"]), connector["id"]


def report(label: str, rows: int, seconds: float) -> None:
    print(f"{label + ':':<22} {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--scale", type=int, default=4, help="the RSS run has rows x scale (1: skip it)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of the pipe and the sync")
    args = parser.parse_args()
    rows, big_rows = args.rows, args.rows * args.scale

    base = Path(os.environ.get("BENCH_WORKDIR", tempfile.gettempdir()))
    workdir = base / f"landed-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    with (
        scratch_db("bench_src") as source,
        scratch_db("bench_dst") as target,
        scratch_db("bench_meta") as meta,
        scratch_db("bench_src_big") as big_source,
    ):
        print(f"creating {rows:,} rows ...", flush=True)
        make_source(source, rows)
        platform = Platform(meta, workdir)
        try:
            platform.start_api()
            client = Client(platform.url)

            # Alternate the two, several times, and compare medians: this machine's disk
            # and CPU are shared, and single runs vary by tens of percent.
            raw_runs, full_runs, connector_id = [], [], None
            for run in range(args.repeat):
                settle()
                raw_runs.append(raw_pipe(source, target))
                platform.start_worker()
                settle()
                job, connector = landed_sync(platform, client, source, target, f"bench_{run}")
                full_runs.append(job_seconds(job))
                connector_id = connector_id or connector
                rss_small = platform.worker_peak_rss_mb()
            raw_seconds, seconds = statistics.median(raw_runs), statistics.median(full_runs)
            raw_rate, rate = rows / raw_seconds, rows / seconds
            print("raw pipe runs (s):    " + ", ".join(f"{r:.2f}" for r in raw_runs))
            print("Landed runs (s):      " + ", ".join(f"{r:.2f}" for r in full_runs))
            report("raw binary COPY pipe", rows, raw_seconds)
            report("Landed full sync", rows, seconds)
            print(f"  ratio to raw pipe:   {rate / raw_rate:.0%}  (medians; target >= 60%)")

            with psycopg.connect(db_url(source), autocommit=True) as conn:
                changed = conn.execute(
                    "UPDATE bench SET score = score + 1, "
                    "updated_at = updated_at + interval '1 year' WHERE id % 100 = 0"
                ).rowcount
            settle()
            incremental = client.sync(connector_id)
            inc_seconds = job_seconds(incremental)
            print(
                f"incremental sync:      {incremental['rows_read']:,} changed rows ({changed:,}) "
                f"in {inc_seconds:.3f} s = {inc_seconds / seconds:.1%} of the full (target < 5%)"
            )

            if args.scale <= 1:
                return
            print(f"creating {big_rows:,} rows ...", flush=True)
            make_source(big_source, big_rows)
            platform.start_worker()
            settle()
            big_job, _ = landed_sync(platform, client, big_source, target, "bench_big")
            rss_big = platform.worker_peak_rss_mb()
            big_seconds = job_seconds(big_job)
            report("Landed full sync", big_job["rows_written"], big_seconds)
            print(
                f"worker peak RSS:       {rss_small:.0f} MB at {rows:,} rows, "
                f"{rss_big:.0f} MB at {big_rows:,} rows "
                f"({rss_big / rss_small - 1:+.1%}; target within 10%)"
            )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
