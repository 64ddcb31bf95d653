"""The http_api engine's delta-link incremental mode (an API that hands out a link to "the
changes since", as Microsoft Graph's delta queries do), against a local API: the state is the
link of the last complete round, a round's pages are resumed by their next URL, a refused link
starts a full round, and the definition's rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from connectors.framework.base import ConnectorError, ReadRequest
from connectors.framework.selection import default_selection
from connectors.sources.http_api.definition import definition_issues
from connectors.sources.http_api.source import HttpApiSource

PAGE = 2


class Api:
    """Items listed by `/items/delta` in rounds: `?token=N` gives the changes after version N
    (deleted items as `@removed`), `?page=K&at=N` a round's later pages. A token older than
    `oldest` answers 410."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, bool]] = {}  # id -> (version, deleted)
        self.version = 0
        self.oldest = 0
        self.delta_link_host: str | None = None
        self.omit_delta_link = False
        self.seen: list[dict[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                api.seen.append({"path": parts.path, **query})
                status, body = api.answer(parts.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
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

    def put(self, item_id: str, *, deleted: bool = False) -> None:
        self.version += 1
        self.items[item_id] = (self.version, deleted)

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path != "/items/delta":
            return 404, {"error": {"code": "NotFound"}}
        since = int(query["token"]) if "token" in query else None
        if since is not None and since < self.oldest:
            return 410, {"error": {"code": "syncStateNotFound"}}
        at = int(query.get("at", self.version))
        since = int(query["since"]) if "since" in query else since
        rows = [
            {"id": key, "@removed": {"reason": "deleted"}} if gone else {"id": key, "v": version}
            for key, (version, gone) in sorted(self.items.items())
            if ((since is None and not gone) or (since is not None and version > since))
            and version <= at
        ]
        page = int(query.get("page", 0))
        body: dict[str, Any] = {"value": rows[page * PAGE : (page + 1) * PAGE]}
        if (page + 1) * PAGE < len(rows):
            following = {"page": page + 1, "at": at, **({"since": since} if since else {})}
            body["@odata.nextLink"] = f"{self.url}/items/delta?{urlencode(following)}"
        elif not self.omit_delta_link:
            host = self.delta_link_host or self.url
            body["@odata.deltaLink"] = f"{host}/items/delta?token={at}"
        return 200, body


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    for n in range(1, 6):
        server.put(f"i{n}")
    yield server
    server.server.shutdown()
    server.server.server_close()


def definition(url: str, **incremental: Any) -> dict[str, Any]:
    return {
        "base_url": url,
        "max_retries": 0,
        "streams": [
            {
                "name": "items",
                "path": "items",
                "params": {"$top": 999},
                "record_selector": "value",
                "primary_key": "id",
                "paginator": {"type": "next_url", "next_url_path": ["@odata.nextLink"]},
                "incremental": {
                    "cursor_field": "_synced_at",
                    "delta_link_path": ["@odata.deltaLink"],
                    "path": "items/delta",
                    "params": {},
                    **incremental,
                },
                "add_fields": {"_removed": ["@removed", "reason"]},
                "columns": {
                    "id": "string",
                    "v": "bigint",
                    "_synced_at": "timestamptz",
                    "_removed": "string",
                },
            }
        ],
    }


def read(
    source: HttpApiSource, state: dict[str, Any] | None, batch_rows: int = 1000
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stream = source.declared_streams()[0]
    request = ReadRequest(
        stream=stream,
        sync_mode="incremental",
        cursor_field="_synced_at",
        primary_key=("id",),
        state=state,
        batch_rows=batch_rows,
    )
    records, states = [], []
    for batch in source.read(request):
        records.extend(batch.records.to_pylist())
        states.append(batch.state)
    return records, states


def test_a_round_keeps_the_delta_link_and_the_next_reads_only_changes(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    stream = source.declared_streams()[0]
    # An incremental stream by the selection's rules: its cursor is the engine's column.
    assert (stream.default_cursor, stream.cursor_candidates) == ("_synced_at", ("_synced_at",))
    assert default_selection(stream).sync_mode == "incremental"

    records, states = read(source, None)
    assert [r["id"] for r in records] == ["i1", "i2", "i3", "i4", "i5"]
    assert all(r["_synced_at"] is not None for r in records)
    assert states == [{"delta_link": f"{api.url}/items/delta?token=5"}]
    assert api.seen[0] == {"path": "/items/delta"}  # the delta's own params, not the stream's

    api.put("i2")
    api.put("i6")
    api.put("i3", deleted=True)
    records, states = read(source, states[-1])
    assert [(r["id"], r["v"], r["_removed"]) for r in records] == [
        ("i2", 6, None),
        ("i3", None, "deleted"),
        ("i6", 7, None),
    ]
    assert states[-1] == {"delta_link": f"{api.url}/items/delta?token=8"}
    records, states = read(source, states[-1])
    assert (records, states) == ([], [{"delta_link": f"{api.url}/items/delta?token=8"}])


def test_the_link_moves_only_with_the_last_batch_and_a_round_resumes_at_its_page(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    records, states = read(source, None, batch_rows=2)
    assert len(records) == 5 and len(states) == 3
    first = states[0]
    assert first["delta_link"] is None and "page=1" in first["position"]["page"]
    assert states[-1] == {"delta_link": f"{api.url}/items/delta?token=5"}

    # An attempt interrupted after its first batch goes on from the page it reached.
    api.seen.clear()
    rest, after = read(source, first, batch_rows=2)
    assert [r["id"] for r in rest] == ["i3", "i4", "i5"]
    assert api.seen[0]["page"] == "1"
    assert after[-1] == states[-1]


def test_a_link_the_api_no_longer_honours_starts_a_full_round(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    _, states = read(source, None)
    api.put("i7")
    api.oldest = 100  # every token refused: 410
    records, after = read(source, states[-1])
    assert [r["id"] for r in records] == ["i1", "i2", "i3", "i4", "i5", "i7"]
    assert after[-1] == {"delta_link": f"{api.url}/items/delta?token=6"}


def test_a_round_without_a_delta_link_or_with_one_elsewhere_fails(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    api.omit_delta_link = True
    with pytest.raises(ConnectorError, match=r"no delta link at @odata\.deltaLink"):
        read(source, None)
    api.omit_delta_link = False
    api.delta_link_host = "http://127.0.0.2:9"
    with pytest.raises(ConnectorError, match="on another site"):
        read(source, None)


def test_a_full_refresh_of_a_delta_stream_reads_its_listing(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    stream = source.declared_streams()[0]
    with pytest.raises(ConnectorError):  # /items is not served: the listing is what is read
        list(source.read(ReadRequest(stream=stream, sync_mode="full_refresh")))
    assert api.seen[-1] == {"path": "/items", "$top": "999"}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"request_param": "since"}, ("incremental", "request_param")),
        ({"start_value": "2026-01-01"}, ("incremental", "start_value")),
        ({"path": "https://elsewhere.example.com/delta"}, ("incremental", "path")),
        ({"path": "items/{parent.id}/delta"}, ("incremental", "path")),
        ({"params": {"a": {"b": 1}}}, ("incremental", "params")),
        ({"delta_link_path": 5}, ("incremental", "delta_link_path")),
    ],
)
def test_the_definition_refuses_what_a_delta_round_cannot_use(change, loc):
    issues = definition_issues(definition("https://api.example.com", **change))
    assert [(i.field, i.path[1:]) for i in issues] == [("streams", loc)], issues


def test_a_delta_stream_pages_by_url_and_has_no_parent():
    config = definition("https://api.example.com")
    config["streams"][0]["paginator"] = {"type": "cursor", "cursor_path": "next"}
    assert [i.path for i in definition_issues(config)] == [(0, "paginator", "type")]

    config = definition("https://api.example.com")
    child = {**config["streams"][0], "name": "children", "path": "items/{parent.id}/c"}
    child["parent"] = {"stream": "parents"}
    config["streams"] = [{"name": "parents", "path": "p"}, child]
    assert [i.path for i in definition_issues(config)] == [(1, "incremental")]


def test_only_a_delta_round_takes_its_own_path():
    plain = {"name": "items", "path": "items"}
    plain["incremental"] = {"cursor_field": "updated_at", "path": "items/changes"}
    issues = definition_issues({"base_url": "https://api.example.com", "streams": [plain]})
    assert [i.path for i in issues] == [(0, "incremental", "path")]


def test_a_full_refresh_position_does_not_resume_a_delta_round(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    listing = {"position": {"page": f"{api.url}/items?$top=999&page=3"}}
    records, states = read(source, listing)
    assert [r["id"] for r in records] == ["i1", "i2", "i3", "i4", "i5"]
    assert api.seen[0] == {"path": "/items/delta"}
    assert states[-1] == {"delta_link": f"{api.url}/items/delta?token=5"}


def test_a_stored_link_off_the_base_urls_site_is_not_followed(api):
    source = HttpApiSource(definition(api.url), allow_private_networks=True)
    stale = {"delta_link": "http://127.0.0.2:9/items/delta?token=3"}
    records, states = read(source, stale)
    assert len(records) == 5 and api.seen[0] == {"path": "/items/delta"}
    assert states[-1] == {"delta_link": f"{api.url}/items/delta?token=5"}
