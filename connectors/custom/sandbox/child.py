"""The sandbox's child process: `python -m connectors.custom.sandbox.child`.

It reads one JSON object on stdin:
    {"config": {... an http_api config, credentials included ...}, "max_records": 20,
     "allow_private_networks": false}
and writes JSON lines on stdout, one event each, as they happen, so that the parent keeps what
was done before a limit stopped the child:
    {"event": "request", "request": {"method", "url" (masked), "status", "duration_ms", "bytes"}}
    {"event": "check", "check": {"status", "message", "error_type"}}
    {"event": "stream_started", "name": "pets"}
    {"event": "stream", "stream": {"name", "status", "records", "record_count", "columns",
                                    "truncated", "error"}}
    {"event": "done"}

It never imports Django, nor anything that reads the platform's settings, database or secrets:
it knows only what it was handed (tests assert it). The parent (`runner`) sets its resource
limits, scrubs its environment and kills it at the wall-clock limit.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Generator
from typing import IO, Any

import requests

from connectors.framework.base import ConnectorError
from connectors.sources.http_api.records import infer_columns
from connectors.sources.http_api.requester import Requester
from connectors.sources.http_api.source import HttpApiSource
from connectors.sources.http_api.source import _Page as Page

# The exit status of a child that ran out of memory where it could not report it otherwise.
EXIT_OUT_OF_MEMORY = 3


class Events:
    """The child's stdout, one JSON document a line, flushed at once (the parent may kill the
    child any time)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def emit(self, event: str, **payload: Any) -> None:
        line = json.dumps({"event": event, **payload}, default=str, separators=(",", ":"))
        self.out.write(line + "\n")
        self.out.flush()


class RecordingRequester(Requester):
    """A requester that reports each request it sends (each try of a retried one too): the
    method, the URL with its secrets masked, the status, how long it took and the body's size."""

    events: Events

    def _send(
        self, method: str, url: str, stream: str | None, attempt: int, **kwargs: Any
    ) -> requests.Response | None:
        entry: dict[str, Any] = {"method": method, "url": url, "status": None, "bytes": 0}
        full = self._full_url(method, url, kwargs.get("params"))
        entry["url"] = self.mask(full)
        started = time.monotonic()
        self._entry = entry
        try:
            return super()._send(method, url, stream, attempt, **kwargs)
        finally:
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            self.events.emit("request", request=entry)

    def _read_body(self, response: requests.Response, deadline: float) -> None:
        entry = self._entry
        entry["status"] = response.status_code
        try:
            super()._read_body(response, deadline)
        finally:
            content = response.__dict__.get("_content")
            if isinstance(content, bytes | bytearray):
                entry["bytes"] = len(content)

    @staticmethod
    def _full_url(method: str, url: str, params: Any) -> str:
        try:
            return requests.Request(method, url, params=params).prepare().url or url
        except requests.RequestException:
            return url


class SandboxSource(HttpApiSource):
    """The http_api source whose requests are reported, read a few records a stream."""

    def __init__(self, config: dict[str, Any], *, events: Events, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.events = events
        self.out_of_memory = False

    requester_class = RecordingRequester

    def _new_requester(self, *, check: bool = False) -> Requester:
        requester = super()._new_requester(check=check)
        assert isinstance(requester, RecordingRequester)  # requester_class
        requester.events = self.events
        return requester

    def _pages(self, *args: Any, **kwargs: Any) -> Generator[Page, None, None]:
        try:
            yield from super()._pages(*args, **kwargs)
        except MemoryError:
            self.out_of_memory = True
            raise

    def sample(self, name: str, max_records: int) -> dict[str, Any]:
        """The stream's first `max_records` records (fewer pages are not asked for), the
        columns inferred from them, and whether there were more."""
        stream = self.definition.stream(name)
        assert stream is not None  # names come from the definition
        records: list[dict[str, Any]] = []
        truncated = False
        pages = self._pages(stream, None, {})
        try:
            for page in pages:
                room = max_records - len(records)
                records.extend(page.records[:room])
                if len(page.records) > room or (
                    len(records) >= max_records and page.after is not None
                ):
                    truncated = True
                    break
        finally:
            pages.close()
        cursor = stream.incremental.cursor_field if stream.incremental else None
        required = [*stream.primary_key, *([cursor] if cursor else [])]
        columns = infer_columns(records, stream.columns, required)
        return {
            "records": records,
            "record_count": len(records),
            "columns": [{"name": c.name, "type": c.type} for c in columns],
            "truncated": truncated,
        }


def run(request: dict[str, Any], events: Events) -> None:
    config = request["config"]
    max_records = int(request["max_records"])
    source = SandboxSource(
        config,
        events=events,
        allow_private_networks=bool(request.get("allow_private_networks")),
    )
    for secret in request.get("secrets") or ():
        source.masker.add(str(secret))
    result = source.check()
    check: dict[str, Any] = {
        "status": "succeeded" if result.ok else "failed",
        "message": result.message,
        "error_type": result.error_type,
    }
    if source.out_of_memory:
        check["error_type"] = "memory_limit"
        check["message"] = "The check ran out of memory."
        source.out_of_memory = False
    events.emit("check", check=check)
    try:
        names = [stream.name for stream in source.definition.streams]
    except ConnectorError:
        names = []  # the check said why
    for name in names:
        events.emit("stream_started", name=name)
        outcome: dict[str, Any] = {"name": name}
        try:
            outcome |= {"status": "succeeded", **source.sample(name, max_records), "error": None}
        except ConnectorError as error:
            source.masker.masked(error)
            outcome |= _failed({"type": error.kind, "message": error.message})
        except MemoryError:
            outcome |= _failed({"type": "memory_limit", "message": "The read ran out of memory."})
        except Exception as exc:  # one stream's failure does not stop the others
            message = source.masker.mask(f"Unexpected error: {type(exc).__name__}: {exc}")
            outcome |= _failed({"type": "crashed", "message": message[:500]})
        events.emit("stream", stream=outcome)
    events.emit("done")


def _failed(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "failed",
        "records": [],
        "record_count": 0,
        "columns": [],
        "truncated": False,
        "error": error,
    }


def main() -> int:
    events = Events(sys.stdout)
    try:
        run(json.load(sys.stdin), events)
    except MemoryError:
        # Whatever memory is left may not do for a traceback: a status the parent reads.
        return EXIT_OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main())
