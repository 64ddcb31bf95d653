"""The http_api engine's `body_errors` rule (errors an API answers with HTTP 200, as Slack does)
and parent fields in a child stream's query parameters, against a local API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.framework.base import (
    AuthenticationError,
    ConnectorError,
    ReadRequest,
    TransientError,
)
from connectors.sources.http_api.definition import definition_issues
from connectors.sources.http_api.source import HttpApiSource

RULE = {
    "success_path": "ok",
    "success_value": True,
    "code_path": "error",
    "auth_codes": ["token_expired", "invalid_auth"],
    "retry_codes": ["internal_error"],
}


class Api:
    """Channels, and each channel's messages by `?channel=`; errors in 200 bodies."""

    def __init__(self) -> None:
        self.valid_tokens = {"t2"}
        self.expired = {"t1"}
        self.retry_first: dict[str, int] = {}
        self.seen: list[tuple[str, dict[str, str], str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                api.seen.append((parts.path, query, token))
                body = api.answer(parts.path, query, token)
                data = json.dumps(body).encode()
                self.send_response(200)
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

    def answer(self, path: str, query: dict[str, str], token: str) -> dict[str, Any]:
        if token in self.expired:
            return {"ok": False, "error": "token_expired"}
        if token not in self.valid_tokens:
            return {"ok": False, "error": "invalid_auth"}
        left = self.retry_first.get(path, 0)
        if left:
            self.retry_first[path] = left - 1
            return {"ok": False, "error": "internal_error"}
        if path == "/channels":
            return {"ok": True, "channels": [{"id": "C1"}, {"id": "C2"}, {"id": "C3"}]}
        if path == "/history":
            channel = query.get("channel")
            if channel == "C2":
                return {"ok": False, "error": "not_in_channel"}
            return {"ok": True, "messages": [{"ts": f"{channel}-{n}"} for n in range(2)]}
        return {"ok": False, "error": "unknown_method"}


class Tokens:
    """A TokenProvider: the first token has expired; a refresh gives the valid one."""

    def __init__(self, first: str = "t1") -> None:
        self.token = first
        self.refreshes = 0

    def access_token(self, *, refresh: bool = False) -> str:
        if refresh:
            self.refreshes += 1
            self.token = "t2"
        return self.token


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.server.shutdown()
    server.server.server_close()


def definition(url: str, **stream: Any) -> dict[str, Any]:
    return {
        "base_url": url,
        "auth_type": "provided_token",
        "body_errors": RULE,
        "max_retries": 3,
        "backoff_base_seconds": 0.01,
        "streams": [
            {"name": "channels", "path": "channels", "record_selector": "channels"},
            {
                "name": "messages",
                "path": "history",
                "params": {"channel": "{parent.id}", "limit": 10},
                "parent": {"stream": "channels", "include_as": "channel"},
                "record_selector": "messages",
                "ignore_error_codes": ["not_in_channel"],
                **stream,
            },
        ],
    }


def read_all(source: HttpApiSource, name: str) -> list[dict[str, Any]]:
    (stream,) = [s for s in source.discover() if s.name == name]
    records: list[dict[str, Any]] = []
    for batch in source.read(ReadRequest(stream=stream, sync_mode="full_refresh", state=None)):
        records.extend(batch.records.to_pylist())
    return records


def test_parent_fields_fill_query_parameters_and_ignored_codes_are_empty_pages(api):
    tokens = Tokens("t2")
    source = HttpApiSource(definition(api.url), allow_private_networks=True, credentials=tokens)
    records = read_all(source, "messages")
    assert sorted(r["ts"] for r in records) == ["C1-0", "C1-1", "C3-0", "C3-1"]
    assert {r["channel"] for r in records} == {"C1", "C3"}
    histories = [q for path, q, _ in api.seen if path == "/history"]
    assert {q["channel"] for q in histories} >= {"C1", "C2", "C3"}
    assert all(q["limit"] == "10" for q in histories)


def test_a_token_refused_in_the_body_is_renewed_once(api):
    tokens = Tokens("t1")
    source = HttpApiSource(definition(api.url), allow_private_networks=True, credentials=tokens)
    assert len(read_all(source, "channels")) == 3
    assert tokens.refreshes == 1
    # Refused again after the renewal: the API's answer, authentication_failed.
    api.valid_tokens = set()
    api.expired = set()
    stale = HttpApiSource(
        definition(api.url), allow_private_networks=True, credentials=Tokens("t2")
    )
    with pytest.raises(AuthenticationError) as refused:
        read_all(stale, "channels")
    assert "invalid_auth" in refused.value.message


def test_retry_codes_are_retried_and_other_codes_fail_naming_the_code(api):
    api.retry_first["/channels"] = 2
    source = HttpApiSource(
        definition(api.url), allow_private_networks=True, credentials=Tokens("t2")
    )
    assert len(read_all(source, "channels")) == 3
    api.retry_first["/channels"] = 10
    with pytest.raises(TransientError) as transient:
        read_all(source, "channels")
    assert transient.value.retryable and "internal_error" in transient.value.message

    broken = definition(api.url)
    broken["streams"][0]["path"] = "nowhere"
    source = HttpApiSource(broken, allow_private_networks=True, credentials=Tokens("t2"))
    with pytest.raises(ConnectorError) as failed:
        read_all(source, "channels")
    assert "unknown_method" in failed.value.message and not failed.value.retryable


def test_the_rule_and_placeholders_are_checked_when_saved(api):
    config = definition(api.url)
    assert definition_issues(config) == []
    bad_rule = {**config, "body_errors": {"code_path": 3, "auth_codes": "x", "extra": 1}}
    locs = {(i.field, *i.path) for i in definition_issues(bad_rule)}
    assert {
        ("body_errors", "success_path"),
        ("body_errors", "code_path"),
        ("body_errors", "auth_codes"),
        ("body_errors", "extra"),
    } <= locs
    no_rule = {k: v for k, v in config.items() if k != "body_errors"}
    assert ("streams", 1, "ignore_error_codes") in {
        (i.field, *i.path) for i in definition_issues(no_rule)
    }
    orphan = definition(api.url)
    orphan["streams"][0]["params"] = {"channel": "{parent.id}"}
    assert ("streams", 0, "params", "channel") in {
        (i.field, *i.path) for i in definition_issues(orphan)
    }
    typo = definition(api.url)
    typo["streams"][1]["params"] = {"channel": "{parent.id"}
    typo_locs = {(i.field, *i.path) for i in definition_issues(typo)}
    assert ("streams", 1, "params", "channel") in typo_locs or ("streams", 1, "path") in typo_locs
