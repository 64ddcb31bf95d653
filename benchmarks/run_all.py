"""Every performance target of Landed, measured in one run on the platform as `make run` starts it.

Run: `.venv/bin/python benchmarks/run_all.py` (needs PostgreSQL, Redis and MariaDB on
127.0.0.1; about 15 minutes at the default 1,000,000 rows on 2 cores). `--quick` makes a small
run that checks the script (20,000 rows, no 4x run); `--rows N`, `--repeat N` and `--scale N`
size it; `--skip-mysql` leaves MariaDB out. BENCH_PG, BENCH_REDIS_URL and BENCH_MYSQL_* point
at other servers; each run makes its own scratch databases (the platform's metadata included).

The platform is `scripts/run.sh` itself (the API on gunicorn, the sync and light workers, beat),
on PostgreSQL and Redis, with the rate limiter off (the benchmark polls far more often than a
client is allowed to). Every timed run starts on a settled server (CHECKPOINT, then no
autovacuum worker busy), contenders alternate, and medians of --repeat runs are compared.
Printed, with the machine they ran on:

1. full sync PostgreSQL -> PostgreSQL (1M rows x 10 mixed columns; the first sync of an
   incremental connector into a new merge table) against a psycopg binary COPY pipe and a
   `psql | psql` binary COPY pipe, timed as the user waits (trigger request -> the first poll,
   every 0.2 s, that sees the job finished) and as the job ran (started -> finished);
2. incremental sync of 1% changed rows, as a share of the full sync;
3. the first sync into an empty merge table against an append of the same table;
4. trigger -> running over 50 triggers of a 10-row table: the job's created_at -> started_at
   (the judged figure) and the client's request -> first poll (every 10 ms) that sees it run;
5. footprint: PSS (sum of /proc/<pid>/smaps_rollup Pss) and process count of the whole
   platform at rest, RSS per web process, whether a web process maps pyarrow, ADBC, DuckDB or
   ConnectorX (/proc/<pid>/maps, after it served the whole benchmark), and the sync worker's
   peak RSS (VmHWM, reset before each sync) during a --rows sync and one of --scale x rows;
6. MariaDB -> PostgreSQL (full refresh, overwrite) against ConnectorX reading the same table
   straight into Arrow.
Each target is printed as met or not met with its ratio; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform as machine
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_to_pg import (
    REDIS_URL,
    TABLE_DDL,
    Client,
    db_url,
    free_port,
    job_seconds,
    make_source,
    pg_config,
    raw_pipe,
    scratch_db,
    settle,
)

ROOT = Path(__file__).resolve().parents[1]
DATA_LIBRARIES = ("pyarrow", "adbc_driver", "duckdb", "connectorx")
POLL_SECONDS = 0.2


# --- the machine ------------------------------------------------------------------------


def machine_summary() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)[1])
    with psycopg.connect(db_url("postgres")) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores, {model[1] if model else machine.processor()}, "
        f"{mem_kb / 1024 / 1024:.1f} GiB RAM; PostgreSQL {pg_version}; "
        f"Python {machine.python_version()}; load average {load}"
    )


# --- the platform as `make run` starts it -----------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _status_kb(pid: int, field: str) -> int:
    match = re.search(rf"^{field}:\s*(\d+) kB", _read(f"/proc/{pid}/status"), re.M)
    return int(match[1]) if match else 0


def _pss_kb(pid: int) -> int:
    match = re.search(r"^Pss:\s*(\d+) kB", _read(f"/proc/{pid}/smaps_rollup"), re.M)
    return int(match[1]) if match else 0


class MakeRun:
    """`scripts/run.sh` (what `make run` runs) on scratch metadata, Redis and data directory."""

    def __init__(self, meta_db: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": db_url(meta_db).replace("postgresql://", "postgres://"),
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "benchmark-" + uuid.uuid4().hex,
            "LANDED_DATA_DIR": str(workdir),
            "PORT": str(self.port),
            "RATELIMIT_ENABLE": "false",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=self.env,
            stdout=(self.workdir / "platform.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(600):
            if self.process.poll() is not None:
                raise SystemExit(f"the platform stopped; see {self.workdir / 'platform.log'}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # migrating, or still importing on a busy machine: ask again
            time.sleep(0.2)
        else:
            raise SystemExit("the platform did not answer /health within 2 minutes")

    def tree(self) -> list[int]:
        children, pids, todo = _children(), [], [self.process.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, []))
        return pids

    def roles(self) -> dict[int, str]:
        roles = {}
        for pid in self.tree():
            cmdline = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
            if "gunicorn" in cmdline:
                roles[pid] = "web"
            elif "--queues syncs" in cmdline:
                roles[pid] = "sync worker"
            elif "worker" in cmdline and "celery" in cmdline:
                roles[pid] = "light worker"
            elif "beat" in cmdline:
                roles[pid] = "beat"
            else:
                roles[pid] = "run.sh"
        return roles

    def wait_until_quiet(self, seconds: float = 60) -> None:
        """At rest: every process of the platform asleep (the workers' start-up imports and
        pool forks done) for a few consecutive looks."""
        quiet, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline and quiet < 5:
            busy = any(
                (_read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split() or ["?"])[0] == "R"
                for pid in self.tree()
            )
            quiet = 0 if busy else quiet + 1
            time.sleep(0.5)

    def sync_worker_pids(self) -> list[int]:
        return [pid for pid, role in self.roles().items() if role == "sync worker"]

    def reset_peaks(self) -> None:
        for pid in self.sync_worker_pids():
            # 5 resets the peak resident set size (VmHWM) to the current one; a process
            # gone meanwhile has no peak to reset.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def sync_worker_peak_mib(self) -> float:
        return max((_status_kb(pid, "VmHWM") for pid in self.sync_worker_pids()), default=0) / 1024

    def stop(self) -> None:
        if self.process is None:
            return
        started = self.tree()
        if self.process.poll() is None:
            # run.sh's trap stops every process it started (bounded), then exits. SIGTERM, not
            # SIGINT: a shell started in the background ignores SIGINT and cannot trap it.
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        # Whatever outlived it (its processes run in process groups of their own) would go on
        # consuming this Redis database's queues: gone too.
        for pid in started:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def footprint(platform: MakeRun) -> dict[str, Any]:
    roles = platform.roles()
    web = [pid for pid, role in roles.items() if role == "web"]
    # The gunicorn arbiter forks the web workers: the request-serving processes are its
    # children, but the arbiter imports the application too when preloading.
    libraries: dict[int, list[str]] = {}
    for pid in web:
        maps = _read(f"/proc/{pid}/maps")
        libraries[pid] = [name for name in DATA_LIBRARIES if name in maps]
    by_role: dict[str, int] = {}
    for role in roles.values():
        by_role[role] = by_role.get(role, 0) + 1
    return {
        "pss_mib": sum(_pss_kb(pid) for pid in roles) / 1024,
        "rss_mib": sum(_status_kb(pid, "VmRSS") for pid in roles) / 1024,
        "processes": len(roles),
        "by_role": by_role,
        "web_rss_mib": [_status_kb(pid, "VmRSS") / 1024 for pid in web],
        "web_libraries": libraries,
    }


def print_footprint(label: str, fp: dict[str, Any]) -> None:
    roles = ", ".join(f"{count} {role}" for role, count in sorted(fp["by_role"].items()))
    web_rss = ", ".join(f"{mib:.0f}" for mib in fp["web_rss_mib"])
    print(
        f"{label}: {fp['pss_mib']:.0f} MiB PSS ({fp['rss_mib']:.0f} MiB RSS) in "
        f"{fp['processes']} processes ({roles}); web RSS MiB: {web_rss}"
    )


# --- the client: time what the user waits for ------------------------------------------


def timed_sync(client: Client, connector_id: str) -> tuple[dict, float]:
    """The job, and the seconds from the trigger request to the first poll that sees it
    finished."""
    started = time.perf_counter()
    job = client.call("POST", f"/connectors/{connector_id}/sync", 202, json={})
    while job["status"] in ("pending", "running"):
        time.sleep(POLL_SECONDS)
        job = client.call("GET", f"/jobs/{job['id']}", 200)
    waited = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise SystemExit(f"sync failed: {job}")
    return job, waited


def create_connector(
    client: Client, name: str, source_type: str, source_config: dict, target: str, stream: dict
) -> str:
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
            "type": source_type,
            "config": source_config,
            "destination_id": destination["id"],
            "sync_frequency_minutes": None,
        },
    )
    client.call("PUT", f"/connectors/{connector['id']}/streams", 200, json={"streams": [stream]})
    return connector["id"]


def pg_stream(load_mode: str, table: str = "public.bench") -> dict:
    return {
        "name": table,
        "enabled": True,
        "sync_mode": "incremental",
        "load_mode": load_mode,
        "cursor_field": "updated_at",
    }


class PeakSampler:
    """The sync worker's VmHWM over one sync: reset before, read after."""

    def __init__(self, platform: MakeRun) -> None:
        self.platform = platform

    def __enter__(self) -> PeakSampler:
        self.platform.reset_peaks()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak_mib = self.platform.sync_worker_peak_mib()


# --- the baselines --------------------------------------------------------------------


def psql_pipe(source: str, target: str, rows: int) -> float:
    with psycopg.connect(db_url(target), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_bench")
        conn.execute(TABLE_DDL.replace("bench", "raw_bench"))
    out = ["psql", "-X", "-q", db_url(source), "-c", "COPY bench TO STDOUT (FORMAT binary)"]
    into = ["psql", "-X", "-q", db_url(target), "-c", "COPY raw_bench FROM STDIN (FORMAT binary)"]
    started = time.perf_counter()
    reader = subprocess.Popen(out, stdout=subprocess.PIPE)
    subprocess.run(into, stdin=reader.stdout, check=True, stdout=subprocess.DEVNULL)
    reader.stdout.close()
    if reader.wait() != 0:
        raise SystemExit("psql COPY TO failed")
    seconds = time.perf_counter() - started
    with psycopg.connect(db_url(target)) as conn:
        count = conn.execute("SELECT count(*) FROM raw_bench").fetchone()[0]
    if count != rows:
        raise SystemExit(f"psql | psql copied {count} rows, not {rows}")
    return seconds


# --- the report ---------------------------------------------------------------------------

RESULTS: list[tuple[str, str, str]] = []


def target(name: str, figure: str, met: bool | None, gap: str = "") -> None:
    verdict = "n/a" if met is None else ("met" if met else f"NOT met{f' ({gap})' if gap else ''}")
    RESULTS.append((name, figure, verdict))
    print(f"  -> {name}: {figure}: {verdict}", flush=True)


def runs(label: str, values: list[float], unit: str = "s") -> float:
    median = statistics.median(values)
    shown = ", ".join(f"{v:.3f}" for v in values)
    print(f"  {label:<34} median {median:.3f} {unit}  (runs: {shown})", flush=True)
    return median


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def seconds_between(first: str, second: str) -> float:
    return (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()


# --- the measurements ------------------------------------------------------------------------


def measure_trigger_latency(client: Client, connector_id: str, triggers: int) -> None:
    print(f"\n[4] trigger -> running, {triggers} triggers of a 10-row table", flush=True)
    server, seen = [], []
    for _ in range(triggers):
        started = time.perf_counter()
        job = client.call("POST", f"/connectors/{connector_id}/sync", 202, json={})
        while job["status"] == "pending":
            time.sleep(0.01)
            job = client.call("GET", f"/jobs/{job['id']}", 200)
        seen.append(time.perf_counter() - started)
        while job["status"] in ("pending", "running"):
            time.sleep(0.05)
            job = client.call("GET", f"/jobs/{job['id']}", 200)
        if job["status"] != "succeeded":
            raise SystemExit(f"sync failed: {job}")
        server.append(seconds_between(job["created_at"], job["started_at"]))
    p50, p95 = percentile(server, 0.5) * 1000, percentile(server, 0.95) * 1000
    seen50, seen95 = percentile(seen, 0.5) * 1000, percentile(seen, 0.95) * 1000
    print(f"  created_at -> started_at: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"  request -> running seen:  p50 {seen50:.0f} ms, p95 {seen95:.0f} ms")
    target(
        "4 trigger->running p50 < 200 ms",
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms (client sees p50 {seen50:.0f} ms)",
        p50 < 200,
        f"{p50 - 200:.0f} ms over",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows of the table (1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender")
    parser.add_argument("--scale", type=int, default=None, help="the RSS run has rows x scale")
    parser.add_argument("--triggers", type=int, default=50, help="triggers for trigger->running")
    parser.add_argument("--quick", action="store_true", help="a small run to check the script")
    parser.add_argument("--skip-mysql", action="store_true", help="leave MariaDB out")
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    scale = args.scale if args.scale is not None else (1 if args.quick else 4)
    triggers = 10 if args.quick and args.triggers == 50 else args.triggers
    repeat = max(1, args.repeat)

    print(machine_summary())
    print(f"code: {ROOT} at {git_head()}; {rows:,} rows, medians of {repeat} runs", flush=True)
    base = Path(os.environ.get("BENCH_WORKDIR", tempfile.gettempdir()))
    workdir = base / f"landed-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        source = stack.enter_context(scratch_db("bench_src"))
        target_db = stack.enter_context(scratch_db("bench_dst"))
        meta = stack.enter_context(scratch_db("bench_meta"))
        print(f"creating {rows:,} rows ...", flush=True)
        make_source(source, rows)
        # The 10-row table of the trigger latency, in a database of its own: each connector
        # syncs every table of its database.
        tiny_source = stack.enter_context(scratch_db("bench_tiny"))
        with psycopg.connect(db_url(tiny_source), autocommit=True) as conn:
            conn.execute(TABLE_DDL.replace("bench", "tiny"))
            conn.execute(
                "INSERT INTO tiny SELECT g, g, g, 'c', 'n', now(), now(), true, g, 'r' "
                "FROM generate_series(1, 10) AS g"
            )
        platform = MakeRun(meta, workdir)
        stack.callback(platform.stop)
        platform.start()
        platform.wait_until_quiet()
        at_rest = footprint(platform)
        print()
        print_footprint("[5] platform at rest", at_rest)

        client = Client(platform.url)
        tiny = create_connector(
            client,
            "tiny",
            "postgres",
            pg_config(tiny_source),
            target_db,
            {
                "name": "public.tiny",
                "enabled": True,
                "sync_mode": "full_refresh",
                "load_mode": "overwrite",
            },
        )
        timed_sync(client, tiny)  # the first sync creates the table; the rest replace it
        measure_trigger_latency(client, tiny, triggers)

        print(f"\n[1-3] full syncs of {rows:,} rows, {repeat} runs", flush=True)
        pipe, psql, merge_wait, merge_ran, append_wait, append_ran = [], [], [], [], [], []
        merge_connectors, peaks = [], []
        for run in range(repeat):
            settle()
            pipe.append(raw_pipe(source, target_db))
            settle()
            psql.append(psql_pipe(source, target_db, rows))
            for load_mode, waits, ran in (
                ("merge", merge_wait, merge_ran),
                ("append", append_wait, append_ran),
            ):
                connector = create_connector(
                    client,
                    f"{load_mode}_{run}",
                    "postgres",
                    pg_config(source),
                    target_db,
                    pg_stream(load_mode),
                )
                settle()
                with PeakSampler(platform) as peak:
                    job, waited = timed_sync(client, connector)
                if job["rows_written"] != rows:
                    raise SystemExit(f"the sync wrote {job['rows_written']} rows, not {rows}")
                peaks.append(peak.peak_mib)
                waits.append(waited)
                ran.append(job_seconds(job))
                if load_mode == "merge":
                    merge_connectors.append(connector)
        pipe_s = runs("psycopg binary COPY pipe", pipe)
        psql_s = runs("psql | psql (binary COPY)", psql)
        merge_w = runs("Landed merge, user waits", merge_wait)
        merge_r = runs("Landed merge, started->finished", merge_ran)
        append_w = runs("Landed append, user waits", append_wait)
        append_r = runs("Landed append, started->finished", append_ran)
        for label, seconds in (
            ("psycopg pipe", pipe_s),
            ("psql | psql", psql_s),
            ("Landed merge (user waits)", merge_w),
            ("Landed append (user waits)", append_w),
        ):
            print(f"  {label:<28} {rows / seconds:>12,.0f} rows/s")
        print(
            f"  Landed merge / psycopg pipe: {pipe_s / merge_w:.2f}x as the user waits, "
            f"{pipe_s / merge_r:.2f}x started->finished; / psql pipe: {psql_s / merge_w:.2f}x"
        )
        print(
            f"  Landed append / psycopg pipe: {pipe_s / append_w:.2f}x as the user waits, "
            f"{pipe_s / append_r:.2f}x started->finished; / psql pipe: {psql_s / append_w:.2f}x"
        )
        ratio = pipe_s / merge_w
        target(
            "1 full PG->PG >= 1.0x psycopg pipe",
            f"{ratio:.2f}x as the user waits ({pipe_s / merge_r:.2f}x started->finished)",
            ratio >= 1.0,
            f"{merge_w - pipe_s:.2f} s slower than the pipe",
        )

        with psycopg.connect(db_url(source), autocommit=True) as conn:
            changed = conn.execute(
                "UPDATE bench SET score = score + 1, "
                "updated_at = updated_at + interval '1 year' WHERE id % 100 = 0"
            ).rowcount
        print(f"\n[2] incremental sync of {changed:,} changed rows ({changed / rows:.1%})")
        inc_wait, inc_ran = [], []
        for connector in merge_connectors:
            settle()
            job, waited = timed_sync(client, connector)
            if job["rows_read"] != changed:
                raise SystemExit(f"the incremental sync read {job['rows_read']}, not {changed}")
            inc_wait.append(waited)
            inc_ran.append(job_seconds(job))
        inc_w = runs("incremental, user waits", inc_wait)
        inc_r = runs("incremental, started->finished", inc_ran)
        share = inc_w / merge_w
        target(
            "2 incremental 1% <= 5% of full",
            f"{share:.1%} as the user waits ({inc_r / merge_r:.1%} started->finished)",
            share <= 0.05,
            f"{inc_w - 0.05 * merge_w:.2f} s over 5%",
        )

        print("\n[3] first sync into an empty merge table vs an append")
        cost = merge_w / append_w
        target(
            "3 first merge sync <= append",
            f"{cost:.2f}x the append as the user waits ({merge_r / append_r:.2f}x "
            "started->finished)",
            cost <= 1.05,  # within the run-to-run noise of the medians
            f"{merge_w - append_w:.2f} s more",
        )

        if not args.skip_mysql:
            measure_mysql(client, target_db, rows, repeat)

        after = footprint(platform)
        print("\n[5] footprint")
        print_footprint("  platform at rest (start)", at_rest)
        print_footprint("  platform after the run", after)
        loaded = {pid: libs for pid, libs in after["web_libraries"].items() if libs}
        print(f"  web processes mapping {', '.join(DATA_LIBRARIES)}: {loaded or 'none'}")
        target(
            "5a platform at rest <= 500 MiB PSS",
            f"{at_rest['pss_mib']:.0f} MiB PSS in {at_rest['processes']} processes",
            at_rest["pss_mib"] <= 500,
            f"{at_rest['pss_mib'] - 500:.0f} MiB over",
        )
        target(
            "5b web processes import no data library",
            f"{len(loaded)} of {len(after['web_libraries'])} web processes map one",
            not loaded,
            "; ".join(f"{pid}: {', '.join(libs)}" for pid, libs in loaded.items()),
        )
        peak_small = max(peaks)
        target(
            "5c worker peak RSS during the sync <= 300 MiB",
            f"{peak_small:.0f} MiB at {rows:,} rows",
            peak_small <= 300,
            f"{peak_small - 300:.0f} MiB over",
        )
        if scale > 1:
            big_rows = rows * scale
            big_source = stack.enter_context(scratch_db("bench_src_big"))
            print(f"\ncreating {big_rows:,} rows ...", flush=True)
            make_source(big_source, big_rows)
            connector = create_connector(
                client, "big", "postgres", pg_config(big_source), target_db, pg_stream("append")
            )
            settle()
            with PeakSampler(platform) as peak:
                job, waited = timed_sync(client, connector)
            print(
                f"  {big_rows:,} rows: user waits {waited:.2f} s, "
                f"{big_rows / waited:,.0f} rows/s; worker peak {peak.peak_mib:.0f} MiB"
            )
            growth = peak.peak_mib / peak_small - 1
            target(
                f"5d worker peak RSS flat at {scale}x",
                f"{peak.peak_mib:.0f} MiB at {big_rows:,} rows ({growth:+.0%} vs {rows:,})",
                growth <= 0.10,
                f"{growth:+.0%}",
            )

    print("\nsummary")
    for name, figure, verdict in sorted(RESULTS):
        print(f"  {name:<44} {verdict:<10} {figure}")
    shutil.rmtree(workdir, ignore_errors=True)


def measure_mysql(client: Client, target_db: str, rows: int, repeat: int) -> None:
    import mysql_to_pg as mysql_bench

    print(f"\n[6] MariaDB -> PostgreSQL, {rows:,} rows", flush=True)
    with mysql_bench.scratch_mysql("bench_src") as source:
        mysql_bench.make_source(source, rows)
        driver, wait, ran = [], [], []
        for run in range(repeat):
            settle()
            driver.append(mysql_bench.driver_read(source, rows))
            connector = create_connector(
                client,
                f"mysql_{run}",
                "mysql",
                mysql_bench.mysql_config(source),
                target_db,
                {
                    "name": f"{source}.bench",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "overwrite",
                },
            )
            settle()
            job, waited = timed_sync(client, connector)
            if job["rows_written"] != rows:
                raise SystemExit(f"the sync wrote {job['rows_written']} rows, not {rows}")
            wait.append(waited)
            ran.append(job_seconds(job))
    driver_s = runs("ConnectorX -> Arrow (stream)", driver)
    wait_s = runs("Landed MariaDB -> PG, user waits", wait)
    ran_s = runs("Landed, started->finished", ran)
    ratio = driver_s / wait_s
    target(
        "6 MySQL->PG >= 0.8x ConnectorX read",
        f"{ratio:.2f}x as the user waits ({driver_s / ran_s:.2f}x started->finished)",
        ratio >= 0.8,
        f"{wait_s - driver_s / 0.8:.2f} s over",
    )


def git_head() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or os.environ.get("BENCH_CODE_LABEL", "(not a git checkout)")


if __name__ == "__main__":
    main()
