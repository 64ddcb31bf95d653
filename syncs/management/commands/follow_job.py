"""Follow a job until it finishes: a progress bar on a terminal, plain lines otherwise (a log,
a CI job), then a summary. The exit status says how it ended, for scripts."""

from __future__ import annotations

import shutil
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncs.selectors import job_find
from syncs.serializers import JobSerializer

BAR_WIDTH = 24
# Without a terminal a line is printed when the stream or stage changes, else this often.
PLAIN_EVERY_SECONDS = 10.0
EXIT_FAILED, EXIT_CANCELLED, EXIT_UNKNOWN_JOB, EXIT_INTERRUPTED = 1, 2, 3, 130


def clock(seconds: float) -> str:
    """1:02:03, 2:03 or 0:07."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(job: dict[str, Any]) -> str:
    """A pending or running job in one line: bar and percent (when the sources estimated
    their rows), rows, recent rate, time left, and where it is."""
    if job["status"] == "pending":
        return "pending: waiting for a worker"
    parts = []
    percent = job["percent"]
    if percent is not None:
        filled = int(BAR_WIDTH * percent / 100)
        parts.append(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:5.1f}%")
    rows = f"{job['rows_written']:,}"
    if job["estimated_rows"] is not None:
        rows += f" of ~{job['estimated_rows']:,}"
    parts.append(f"{rows} rows")
    if job["rows_per_second"] is not None:
        parts.append(f"{job['rows_per_second']:,.0f} rows/s")
    if job["eta_seconds"] is not None:
        parts.append(f"ETA {clock(job['eta_seconds'])}")
    stage = job["stage"] or ""
    where = f"{job['current_stream']}: {stage}" if job["current_stream"] else stage
    if where:
        parts.append(where)
    return "  ".join(parts)


def summary_lines(job: dict[str, Any]) -> list[str]:
    """How a finished job ended, and what each stream moved."""
    duration = job["duration_seconds"]
    took = f" in {clock(duration)}" if duration is not None else ""
    rate = job["rows_per_second"]
    head = f"{job['status']}{took}: {job['rows_written']:,} rows written"
    lines = [head + (f" ({rate:,.0f} rows/s)" if rate else "")]
    width = max((len(s["name"]) for s in job["streams"]), default=0)
    for stream in job["streams"]:
        name, status, rows = stream["name"], stream["status"], stream["rows_written"]
        lines.append(f"  {name:<{width}}  {status:<9}  {rows:>12,} rows")
    return lines


class Command(BaseCommand):
    help = (
        "Follow a job's progress until it finishes: a progress bar on a terminal, a line per "
        "change otherwise. Exits 0 when the job succeeded, 1 when it failed, 2 when it was "
        "cancelled, 3 when there is no such job (Ctrl-C stops following, not the job: 130)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", help="The job's id (GET /jobs lists them).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between reads (default 1)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job_id = uuid.UUID(str(options["job_id"]))
        except ValueError as exc:
            raise CommandError(
                f"Not a job id: {options['job_id']!r}.", returncode=EXIT_UNKNOWN_JOB
            ) from exc
        interval = max(float(options["interval"]), 0.1)
        terminal = self.stdout.isatty()
        try:
            job = self._follow(job_id, interval, terminal)
        except KeyboardInterrupt:
            self.stdout.write("")
            raise CommandError(
                "Stopped following; the job goes on.", returncode=EXIT_INTERRUPTED
            ) from None
        for line in summary_lines(job):
            self.stdout.write(line)
        if job["status"] == "failed":
            error = job["error"] or {}
            where = f" (stream {error['stream']})" if error.get("stream") else ""
            raise CommandError(
                f"{error.get('message', 'The job failed.')}{where}", returncode=EXIT_FAILED
            )
        if job["status"] == "cancelled":
            reason = job["cancel_reason"]
            raise CommandError(
                "The job was cancelled" + (f": {reason}" if reason else "."),
                returncode=EXIT_CANCELLED,
            )

    def _follow(self, job_id: uuid.UUID, interval: float, terminal: bool) -> dict[str, Any]:
        """Read the job every `interval` seconds and show it, until it has finished."""
        shown: tuple[Any, ...] | None = None
        shown_at = 0.0
        width = shutil.get_terminal_size().columns - 1
        while True:
            job = job_find(job_id=job_id)
            if job is None:
                raise CommandError(f"Job {job_id} not found.", returncode=EXIT_UNKNOWN_JOB)
            data = JobSerializer(job).data
            if data["status"] not in ("pending", "running"):
                if terminal and shown is not None:
                    self.stdout.write("\r" + " " * width + "\r", ending="")
                return data
            line = progress_line(data)
            if terminal:
                # One line, redrawn in place.
                self.stdout.write("\r" + line[:width].ljust(width), ending="")
                self.stdout.flush()
                shown = ()
            else:
                where = (data["status"], data["current_stream"], data["stage"])
                if where != shown or time.monotonic() - shown_at >= PLAIN_EVERY_SECONDS:
                    self.stdout.write(line)
                    shown, shown_at = where, time.monotonic()
            time.sleep(interval)
