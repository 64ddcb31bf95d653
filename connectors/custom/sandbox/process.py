"""Running the sandbox's child process (`child`) within its limits, and reading its report.

The child gets an environment of its own (PATH, LANG and PYTHONPATH, nothing of the server's:
no SECRET_KEY, DATABASE_URL, REDIS_URL, ENCRYPTION_KEYS, LLM_* or STRIPE_*), a temporary
directory as its working directory, and resource limits set before it runs any of its code
(address space, CPU seconds, open files, file size, no core dumps). The parent enforces the
wall clock (the child's whole process group is killed at the limit) and the output's size
(stdout is read up to the byte limit, never past it). The child reports as it goes (JSON
lines), so a child stopped by a limit still tells what it did until then.

Plain Python (no Django): the caller hands the limits and the network policy in.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.requester import (
    DEFAULT_MAX_REQUEST_SECONDS,
    DEFAULT_MAX_RESPONSE_BYTES,
)

CHILD_MODULE = "connectors.custom.sandbox.child"
# The directory that holds the `connectors` package: the child's only import path of ours.
PROJECT_ROOT = str(Path(__file__).resolve().parents[3])
# The child's exit status when it ran out of memory (child.EXIT_OUT_OF_MEMORY; not imported,
# so that the parent never loads the child's engine).
EXIT_OUT_OF_MEMORY = 3
# Files the child may hold open at once: the interpreter's own, a few sockets.
MAX_OPEN_FILES = 64
# The largest file the child may write (it has no reason to write any).
MAX_FILE_BYTES = 1024 * 1024
# The tail of the child's stderr kept, to say why it crashed.
STDERR_TAIL = 8 * 1024
_READ = 64 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    seconds: float  # wall clock, the child's start included
    memory_mib: int  # the child's address space
    records: int  # records read per stream
    bytes: int  # the child's output, and each response it reads

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Exchange:
    """What the child wrote, and why it stopped (None: it ended by itself)."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    stopped_for: str | None


def sandbox_read(
    *,
    config: dict[str, Any],
    max_records: int,
    limits: SandboxLimits,
    allow_private_networks: bool,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """Check and a bounded read of each stream of `config` (an http_api config, credentials
    included) in the child; the result as `POST /custom-connectors/{id}/test` answers it
    (without `version`). `secrets`: more values to mask (a custom type's secret fields)."""
    started = time.monotonic()
    records = max(1, min(max_records, limits.records))
    bounded = _bounded_config(config, limits)
    request = {
        "config": bounded,
        "max_records": records,
        "allow_private_networks": allow_private_networks,
        "secrets": list(secrets),
    }
    with tempfile.TemporaryDirectory(prefix="landed-sandbox-") as workdir:
        exchange = _run_child(json.dumps(request).encode(), workdir, limits)
    masker = Masker.from_config(bounded)
    for secret in secrets:
        masker.add(secret)
    result = _result(exchange, bounded, limits, masker)
    result["limits"] = {**limits.as_dict(), "records": records}
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _bounded_config(config: dict[str, Any], limits: SandboxLimits) -> dict[str, Any]:
    """The config with its own bounds no looser than the sandbox's: a response no larger than
    the output may be, a request no longer than the test."""
    bounded = dict(config)
    response_bytes = int(config.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES)
    bounded["max_response_bytes"] = min(response_bytes, limits.bytes)
    request_seconds = float(config.get("max_request_seconds") or DEFAULT_MAX_REQUEST_SECONDS)
    bounded["max_request_seconds"] = min(request_seconds, limits.seconds)
    return bounded


def child_environment(workdir: str) -> dict[str, str]:
    """The child's whole environment: nothing of the server's settings or secrets."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONPATH": PROJECT_ROOT,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }


def _resource_limiter(limits: SandboxLimits) -> Callable[[], None]:
    """The function the child runs between fork and exec: its resource limits, computed here
    (in the parent) so that the forked child only makes system calls."""
    memory = limits.memory_mib * 1024 * 1024
    cpu = max(1, math.ceil(limits.seconds))
    wanted = [
        (resource.RLIMIT_AS, memory, memory),
        # The soft limit sends SIGXCPU (the child ends), the hard one SIGKILL.
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES),
        (resource.RLIMIT_FSIZE, MAX_FILE_BYTES, MAX_FILE_BYTES),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    applied = []
    for kind, soft, hard in wanted:
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:  # a limit may be lowered, never raised
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        applied.append((kind, (soft, hard)))

    def limit() -> None:
        for kind, values in applied:
            resource.setrlimit(kind, values)

    return limit


def child_command() -> list[str]:
    """The child's command line: this interpreter (its virtualenv), no user site directory,
    no bytecode written."""
    return [sys.executable, "-B", "-s", "-m", CHILD_MODULE]


def _run_child(
    payload: bytes, workdir: str, limits: SandboxLimits, command: list[str] | None = None
) -> _Exchange:
    deadline = time.monotonic() + limits.seconds
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            command or child_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=child_environment(workdir),
            # System calls only, with values computed before the fork.
            preexec_fn=_resource_limiter(limits),
            start_new_session=True,  # its own process group, killed whole
            close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        # The server cannot start a process now (out of processes, of memory): the test's
        # failure, reported like a crash.
        message = f"the sandbox could not start: {type(exc).__name__}".encode()
        return _Exchange(b"", message, None, None)
    try:
        return _exchange(process, payload, deadline, limits.bytes)
    finally:
        _kill(process)


def _exchange(
    process: subprocess.Popen[bytes], payload: bytes, deadline: float, max_bytes: int
) -> _Exchange:
    """Hand the child its input and read what it writes, until it ends, the deadline passes
    or its output passes `max_bytes`."""
    assert process.stdin and process.stdout and process.stderr  # all three are pipes
    stdout, stderr = bytearray(), bytearray()
    stopped_for: str | None = None
    with selectors.DefaultSelector() as selector:
        for stream in (process.stdin, process.stdout, process.stderr):
            os.set_blocking(stream.fileno(), False)
        pending = memoryview(payload)
        if pending:
            selector.register(process.stdin, selectors.EVENT_WRITE)
        else:
            process.stdin.close()
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped_for = "time_limit"
                break
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    try:
                        written = os.write(key.fd, pending[:_READ])
                    except BlockingIOError:
                        written = 0
                    except BrokenPipeError:
                        written = len(pending)  # the child is gone: its exit says why
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                chunk = os.read(key.fd, _READ)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                if key.fileobj is process.stdout:
                    stdout += chunk[: max_bytes + 1 - len(stdout)]
                    if len(stdout) > max_bytes:
                        stopped_for = "output_limit"
                        break
                else:
                    stderr = (stderr + chunk)[-STDERR_TAIL:]
            if stopped_for:
                break
    if stopped_for is None:
        try:
            process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            stopped_for = "time_limit"
    return _Exchange(bytes(stdout[:max_bytes]), bytes(stderr), process.poll(), stopped_for)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The child's whole process group, gone (a no-op once it has ended by itself)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _events(stdout: bytes) -> list[dict[str, Any]]:
    """The child's complete JSON lines (a line cut by a limit is not one)."""
    events = []
    for line in stdout.split(b"\n")[:-1]:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # not the protocol: the exit status tells what went wrong
        if isinstance(event, dict):
            events.append(event)
    return events


def _error(
    exchange: _Exchange, limits: SandboxLimits, done: bool, out_of_memory: bool, masker: Masker
) -> dict[str, str] | None:
    """Why the child did not finish its work (or ran out of memory doing part of it), or None
    when it did."""
    if exchange.stopped_for == "time_limit":
        return {
            "type": "time_limit",
            "message": f"The test took longer than the sandbox's {limits.seconds:g} s "
            "(SANDBOX_SECONDS).",
        }
    if exchange.stopped_for == "output_limit":
        return {
            "type": "output_limit",
            "message": f"The test's output passed the sandbox's {limits.bytes} bytes "
            "(SANDBOX_MAX_BYTES): ask for fewer records (max_records).",
        }
    code = exchange.returncode
    if code == EXIT_OUT_OF_MEMORY or b"MemoryError" in exchange.stderr or out_of_memory:
        return {
            "type": "memory_limit",
            "message": f"The test ran out of the sandbox's {limits.memory_mib} MiB "
            "(SANDBOX_MEMORY_MIB).",
        }
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return {
            "type": "time_limit",
            "message": f"The test used more CPU time than the sandbox's {limits.seconds:g} s "
            "(SANDBOX_SECONDS).",
        }
    if code != 0 or not done:
        lines = exchange.stderr.decode(errors="replace").strip().splitlines()
        last = masker.mask(lines[-1])[:300] if lines else "no message"
        return {"type": "crashed", "message": f"The sandbox ended unexpectedly ({code}): {last}"}
    return None


def _result(
    exchange: _Exchange, config: dict[str, Any], limits: SandboxLimits, masker: Masker
) -> dict[str, Any]:
    events = _events(exchange.stdout)
    requests = [e["request"] for e in events if e.get("event") == "request"]
    checks = [e["check"] for e in events if e.get("event") == "check"]
    reported = {e["stream"]["name"]: e["stream"] for e in events if e.get("event") == "stream"}
    done = any(e.get("event") == "done" for e in events)
    out_of_memory = any(
        (item.get("error_type") or (item.get("error") or {}).get("type")) == "memory_limit"
        for item in [*checks, *reported.values()]
    )
    error = _error(exchange, limits, done, out_of_memory, masker)
    check = checks[0] if checks else None
    if check is None:
        message = error["message"] if error else "The check did not run."
        check = {"status": "failed", "message": message, "error_type": error and error["type"]}
    streams = []
    for stream in config.get("streams") or []:
        name = stream.get("name") if isinstance(stream, dict) else None
        if not isinstance(name, str):
            continue
        outcome = reported.get(name)
        if outcome is None:
            failure = error or {"type": "crashed", "message": "The stream was not read."}
            outcome = {
                "name": name,
                "status": "failed",
                "records": [],
                "record_count": 0,
                "columns": [],
                "truncated": False,
                "error": failure,
            }
        streams.append(outcome)
    succeeded = (
        error is None
        and check["status"] == "succeeded"
        and all(s["status"] == "succeeded" for s in streams)
    )
    return {
        "status": "succeeded" if succeeded else "failed",
        "check": check,
        "streams": streams,
        "requests": requests,
        "error": error,
    }
