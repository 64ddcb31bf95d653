"""MariaDB -> PostgreSQL throughput of Landed, beside the raw read rate of the same table.

Run: `.venv/bin/python benchmarks/mysql_to_pg.py` (needs MariaDB, PostgreSQL and Redis on
127.0.0.1; BENCH_MYSQL_USER / BENCH_MYSQL_PASSWORD if root has a password).

It builds a 10-column table (bigint key, int, decimal, short and long text with NULLs, a
DATETIME and a TIMESTAMP, tinyint, double, varchar) of --rows rows in a scratch MariaDB database
(INSERT ... SELECT from the sequence engine), then alternates, --repeat times:
  1. `mariadb --quick --batch` reading the whole table into /dev/null (the C client: a baseline
     of what the server and the wire deliver);
  2. ConnectorX streaming the whole table straight into Arrow batches (`arrow_stream`: the
     driver's best case, which Landed no longer uses: it holds the GIL while waiting and
     buffers without bound ahead of a slow consumer);
  3. ConnectorX reading the table in keyset pages of 100,000 rows
     (`WHERE id > last ORDER BY id LIMIT n`, `return_type="arrow"`), as Landed reads it;
  4. a Landed sync through the HTTP API and a Celery worker into PostgreSQL (full refresh,
     overwrite), timed as the worker ran it.
Medians and ratios are printed, with the worker's peak RSS (and, with --big-rows, the peak RSS of
a sync of a table of that many rows); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import connectorx
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_to_pg import Client, Platform, job_seconds, pg_config, report, scratch_db

MYSQL_HOST = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("BENCH_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("BENCH_MYSQL_PASSWORD", "")

TABLE_DDL = """
CREATE TABLE bench (
    id BIGINT PRIMARY KEY,
    qty INT,
    price DECIMAL(12, 2),
    code VARCHAR(16),
    note TEXT,
    created_at DATETIME(6),
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    active TINYINT,
    score DOUBLE,
    region VARCHAR(16)
)
"""
FILL = """
INSERT INTO bench
SELECT seq, (seq * 7) % 1000, ROUND((seq % 100000) / 7.0, 2), CONCAT('c', seq % 1000),
       IF(seq % 5 = 0, NULL, REPEAT('lorem ipsum ', 1 + seq % 8)),
       TIMESTAMP'2026-01-01 00:00:00' - INTERVAL seq SECOND,
       TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
       seq % 2, seq / 3.0, IF(seq % 3 = 0, NULL, 'eu-west')
FROM seq_{first}_to_{last}
"""


def mysql(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=MYSQL_PASSWORD,
        database=database,
        autocommit=True,
    )


@contextmanager
def scratch_mysql(prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with mysql() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        with mysql() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def make_source(database: str, rows: int) -> None:
    with mysql(database) as conn, conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute(TABLE_DDL)
        step = 1_000_000
        for first in range(1, rows + 1, step):
            cursor.execute(FILL.format(first=first, last=min(first + step - 1, rows)))
        cursor.execute("ANALYZE TABLE bench")
        cursor.fetchall()


def cli_read(database: str) -> float:
    """The C client, unbuffered (--quick), tab-separated output thrown away."""
    args = ["mariadb", "--quick", "--batch", "--skip-column-names", "--protocol=TCP"]
    args += [f"--host={MYSQL_HOST}", f"--port={MYSQL_PORT}", f"--user={MYSQL_USER}"]
    env = {**os.environ, "MYSQL_PWD": MYSQL_PASSWORD}
    started = time.perf_counter()
    subprocess.run(
        [*args, database, "-e", "SELECT * FROM bench"],
        stdout=subprocess.DEVNULL,
        check=True,
        env=env,
    )
    return time.perf_counter() - started


def driver_read(database: str, rows: int) -> float:
    """ConnectorX straight to Arrow, with the session settings Landed uses."""
    password = f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else ""
    url = (
        f"mysql://{MYSQL_USER}{password}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"
        "?prefer_socket=false&ssl-mode=disabled"
    )
    started = time.perf_counter()
    reader = connectorx.read_sql(
        url,
        "SELECT * FROM bench",
        return_type="arrow_stream",
        batch_size=65_536,
        pre_execution_query=["SET time_zone = '+00:00'"],
    )
    count = sum(batch.num_rows for batch in reader)
    seconds = time.perf_counter() - started
    if count != rows:
        raise SystemExit(f"the driver read {count} rows, not {rows}")
    return seconds


def paged_read(database: str, rows: int, page: int = 100_000) -> float:
    """ConnectorX in keyset pages (`return_type="arrow"`), as Landed reads a keyed table."""
    password = f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else ""
    url = (
        f"mysql://{MYSQL_USER}{password}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"
        "?prefer_socket=false&ssl-mode=disabled"
    )
    started = time.perf_counter()
    count, last = 0, None
    while True:
        where = "" if last is None else f" WHERE id > {int(last)}"
        table = connectorx.read_sql(
            url,
            f"SELECT * FROM bench{where} ORDER BY id LIMIT {page}",
            return_type="arrow",
            pre_execution_query=["SET time_zone = '+00:00'"],
        )
        count += table.num_rows
        if table.num_rows < page:
            break
        last = table.column("id")[-1].as_py()
    seconds = time.perf_counter() - started
    if count != rows:
        raise SystemExit(f"the paged read got {count} rows, not {rows}")
    return seconds


def mysql_config(database: str) -> dict:
    return {
        "host": MYSQL_HOST,
        "port": MYSQL_PORT,
        "username": MYSQL_USER,
        "password": MYSQL_PASSWORD,
        "databases": database,
        "ssl_mode": "disabled",
    }


def landed_sync(client: Client, source: str, target: str, name: str) -> dict:
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
            "type": "mysql",
            "config": mysql_config(source),
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
                    "name": f"{source}.bench",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "overwrite",
                }
            ]
        },
    )
    return client.sync(connector["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender")
    parser.add_argument(
        "--big-rows", type=int, default=2_000_000, help="rows of the peak-RSS run (0: skip)"
    )
    args = parser.parse_args()
    rows = args.rows

    base = Path(os.environ.get("BENCH_WORKDIR", tempfile.gettempdir()))
    workdir = base / f"landed-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    with (
        scratch_mysql("bench_src") as source,
        scratch_db("bench_dst") as target,
        scratch_db("bench_meta") as meta,
    ):
        print(f"creating {rows:,} rows ...", flush=True)
        started = time.perf_counter()
        make_source(source, rows)
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        platform = Platform(meta, workdir)
        try:
            platform.start_api()
            client = Client(platform.url)
            cli_runs, driver_runs, paged_runs, sync_runs, rss = [], [], [], [], 0.0
            # Alternate the contenders and compare medians: this machine is shared, and
            # single runs vary by tens of percent.
            for run in range(args.repeat):
                cli_runs.append(cli_read(source))
                driver_runs.append(driver_read(source, rows))
                paged_runs.append(paged_read(source, rows))
                platform.start_worker()
                job = landed_sync(client, source, target, f"bench_{run}")
                if job["rows_written"] != rows:
                    raise SystemExit(f"the sync wrote {job['rows_written']} rows, not {rows}")
                sync_runs.append(job_seconds(job))
                rss = max(rss, platform.worker_peak_rss_mb())
            print("mariadb CLI runs (s):  " + ", ".join(f"{r:.2f}" for r in cli_runs))
            print("ConnectorX runs (s):   " + ", ".join(f"{r:.2f}" for r in driver_runs))
            print("CX paged runs (s):     " + ", ".join(f"{r:.2f}" for r in paged_runs))
            print("Landed runs (s):       " + ", ".join(f"{r:.2f}" for r in sync_runs))
            cli, driver, paged, landed = (
                statistics.median(cli_runs),
                statistics.median(driver_runs),
                statistics.median(paged_runs),
                statistics.median(sync_runs),
            )
            report("mariadb --quick", rows, cli)
            report("ConnectorX -> Arrow (stream)", rows, driver)
            report("ConnectorX keyset pages", rows, paged)
            report("Landed MariaDB -> PG", rows, landed)
            print(f"  Landed / raw driver read: {driver / landed:.0%}  (medians, stream)")
            print(f"  Landed / paged read:      {paged / landed:.0%}")
            print(f"  paged / stream read:      {driver / paged:.0%}")
            print(f"  Landed / mariadb CLI:     {cli / landed:.0%}")
            print(f"  driver / mariadb CLI:     {cli / driver:.0%}")
            print(f"worker peak RSS:       {rss:.0f} MB  ({rows:,} rows)")
            if args.big_rows:
                with scratch_mysql("bench_big") as big:
                    print(f"creating {args.big_rows:,} rows ...", flush=True)
                    make_source(big, args.big_rows)
                    platform.start_worker()  # a fresh worker: its own peak
                    job = landed_sync(client, big, target, "bench_big")
                    if job["rows_written"] != args.big_rows:
                        raise SystemExit(f"the big sync wrote {job['rows_written']} rows")
                    report("Landed MariaDB -> PG", args.big_rows, job_seconds(job))
                    big_rss = platform.worker_peak_rss_mb()
                    print(f"worker peak RSS:       {big_rss:.0f} MB  ({args.big_rows:,} rows)")
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
