"""The http_api engine's POST search queries (`method`, `request_body` placeholders), the
boundary sent as a Unix time (`request_format`), a query's `result_window` moved past by new
queries from the last cursor value, and the `rate_limit` rule's `requests_per_second` and
`interval_milliseconds`, against a local search API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.framework.base import ConnectorError, ReadRequest
from connectors.sources.http_api import requester as requester_module
from connectors.sources.http_api.bodies import fill_body, request_value
from connectors.sources.http_api.definition import definition_issues
from connectors.sources.http_api.source import HttpApiSource

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def stamp(seconds: int) -> str:
    return (
        (BASE + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def millis(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


class SearchApi:
    """POST /search: `{"since": <ms>, "limit", "after"}` in the body; records with
    `modified >= since`, oldest first (ties by id); at most `window` records a query (400 for
    an `after` past it, as HubSpot's search does)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.records: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []
        self.queries: list[str] = []
        self.unsorted = False
        self.limited: list[int] = []  # answer 429 with an interval header, then go on
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                api.bodies.append(body)
                api.queries.append(self.path)
                status, answer, headers = api.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.limited:
            self.limited.pop()
            return (
                429,
                {"status": "error", "category": "RATE_LIMITS"},
                {"X-Limit-Remaining": "0", "X-Limit-Interval-Milliseconds": "250"},
            )
        after = int(body.get("after") or 0)
        limit = int(body["limit"])
        if after >= self.window:
            return 400, {"status": "error", "message": "past the window"}, {}
        since = int(body.get("filter", {}).get("value", 0))
        rows = sorted(
            (r for r in self.records if millis(r["modified"]) >= since),
            key=lambda r: (millis(r["modified"]), r["id"]),
        )
        if self.unsorted:
            rows.reverse()
        page = rows[after : after + limit]
        following = after + limit
        paging = {"next": {"after": str(following)}} if following < len(rows) else None
        return 200, {"total": len(rows), "results": page, "paging": paging}, {}


@pytest.fixture
def api() -> Iterator[SearchApi]:
    server = SearchApi(window=10)
    # 25 records, three to a second: ties at every value, and at the windows' edges.
    server.records = [{"id": n, "modified": stamp(n // 3)} for n in range(25)]
    yield server
    server.server.shutdown()
    server.server.server_close()


def definition(url: str, **changes: Any) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "name": "things",
        "path": "search",
        "method": "POST",
        "request_body": {
            "filter": {"property": "modified", "value": "{since}"},
            "limit": "{limit}",
            "after": "{after}",
        },
        "record_selector": "results",
        "primary_key": "id",
        "paginator": {
            "type": "cursor",
            "cursor_path": "paging.next.after",
            "cursor_param": "after",
            "size_param": "limit",
            "page_size": 4,
        },
        "incremental": {
            "cursor_field": "modified",
            "request_param": "since",
            "request_format": "epoch_milliseconds",
            "records_order": "ascending",
            "start_value": "2026-01-01T00:00:00Z",
        },
        "result_window": 10,
        "columns": {"id": "bigint", "modified": "timestamptz"},
    }
    stream.update(changes)
    return {
        "base_url": url,
        "streams": [stream],
        "max_retries": 2,
        "backoff_base_seconds": 0.01,
    }


def read(source: HttpApiSource, mode: str = "full_refresh", state: Any = None) -> tuple:
    (stream,) = source.declared_streams()
    records: list[dict[str, Any]] = []
    states = []
    request = ReadRequest(stream=stream, sync_mode=mode, state=state, batch_rows=3)  # type: ignore[arg-type]
    for batch in source.read(request):
        records.extend(batch.records.to_pylist())
        states.append(batch.state)
    return records, states


def test_body_placeholders_take_the_parameters_and_absent_ones_are_left_out():
    template = {
        "filterGroups": [{"filters": [{"value": "{since}", "operator": "GTE"}]}],
        "limit": "{limit}",
        "after": "{after}",
        "query": "{ literal braces }",
        "tags": ["{tag}", "x"],
    }
    body, query = fill_body(template, {"since": 5, "limit": 200, "after": None, "extra": "q"})
    assert body == {
        "filterGroups": [{"filters": [{"value": 5, "operator": "GTE"}]}],
        "limit": 200,
        "query": "{ literal braces }",
        "tags": ["x"],
    }
    assert query == {"extra": "q"}


def test_request_formats():
    assert request_value("2026-03-01T00:00:01.250Z", "epoch_milliseconds") == 1772323201250
    assert request_value("2026-03-01T01:00:01+01:00", "epoch_seconds") == 1772323201
    assert request_value("2026-03-01", "epoch_milliseconds") == 1772323200000
    assert request_value(1772323200000, "epoch_milliseconds") == 1772323200000
    assert request_value("soon", "epoch_milliseconds") is None
    assert request_value("soon", "as_is") == "soon"


def test_a_window_is_moved_past_by_new_queries_without_loss_or_repeats(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    records, states = read(source)
    assert [r["id"] for r in records] == list(range(25))
    # Never paged past the window (the API would answer 400); several queries, each from the
    # last value delivered (ms, in the body).
    assert all(int(b.get("after") or 0) < 10 for b in api.bodies)
    starts = sorted({b["filter"]["value"] for b in api.bodies})
    assert starts[0] == millis("2026-01-01T00:00:00+00:00") and len(starts) >= 3
    assert all("limit" in b and "since" not in b for b in api.bodies)
    assert states[-1] == {"position": None}
    # A middle position names its query: resumed there, the rest comes once.
    middle = next(s for s in states if s["position"] and s["position"]["from"])
    rest, _ = read(HttpApiSource(definition(api.url), allow_private_networks=True), state=middle)
    assert len({r["id"] for r in rest}) == len(rest) and rest[-1]["id"] == 24


def test_incremental_reads_send_the_boundary_in_the_body(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    records, states = read(source, "incremental")
    assert len(records) == 25
    final = states[-1]
    assert final["cursor"] == stamp(8) and len(final["tie_keys"]) == 1  # id 24 alone at 8 s
    api.records.append({"id": 25, "modified": stamp(8)})
    api.records.append({"id": 26, "modified": stamp(30)})
    api.bodies.clear()
    again, _ = read(source, "incremental", final)
    assert [r["id"] for r in again] == [25, 26]
    assert api.bodies[0]["filter"]["value"] == millis(stamp(8))


def test_a_window_of_one_value_and_unsorted_answers_fail_clearly(api):
    api.records = [{"id": n, "modified": stamp(0)} for n in range(12)]
    with pytest.raises(ConnectorError) as crowded:
        read(HttpApiSource(definition(api.url), allow_private_networks=True))
    assert "share 'modified'" in crowded.value.message
    api.records = [{"id": n, "modified": stamp(n)} for n in range(6)]
    api.unsorted = True
    with pytest.raises(ConnectorError) as unsorted:
        read(HttpApiSource(definition(api.url), allow_private_networks=True))
    assert "oldest first" in unsorted.value.message


def test_rate_limit_interval_and_requests_per_second(api, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(requester_module.time, "sleep", waits.append)
    config = definition(api.url)
    config["rate_limit"] = {
        "statuses": [429],
        "remaining_header": "X-Limit-Remaining",
        "reset_header": "X-Limit-Interval-Milliseconds",
        "reset_format": "interval_milliseconds",
        "requests_per_second": 4,
    }
    assert definition_issues(config) == []
    api.limited = [1, 1]
    records, _ = read(HttpApiSource(config, allow_private_networks=True))
    assert len(records) == 25
    assert waits.count(0.25) == 2  # each 429 waited one window (250 ms)
    # The other waits space the requests at 4 a second.
    assert all(0 < w <= 0.25 for w in waits) and len(waits) > 2


def test_the_new_keys_are_checked_when_saved(api):
    def locs(config: dict[str, Any]) -> set[tuple]:
        return {(i.field, *i.path) for i in definition_issues(config)}

    assert definition_issues(definition(api.url)) == []
    here = ("streams", 0)
    assert (*here, "method") in locs(definition(api.url, method="PUT"))
    assert (*here, "request_body") in locs(definition(api.url, method="GET"))
    typo = definition(api.url, request_body={"limit": "{limmit}"})
    assert (*here, "request_body") in locs(typo)
    unsorted = definition(api.url)
    unsorted["streams"][0]["incremental"]["records_order"] = "any"
    assert (*here, "result_window") in locs(unsorted)
    assert (*here, "result_window") in locs(definition(api.url, result_window=0))
    bad_start = definition(api.url)
    bad_start["streams"][0]["incremental"]["start_value"] = "yesterday"
    assert (*here, "incremental", "start_value") in locs(bad_start)
    bad_format = definition(api.url)
    bad_format["streams"][0]["incremental"]["request_format"] = "epoch_minutes"
    assert (*here, "incremental", "request_format") in locs(bad_format)
    bad_rate = {**definition(api.url), "rate_limit": {"requests_per_second": 0}}
    assert ("rate_limit", "requests_per_second") in locs(bad_rate)
