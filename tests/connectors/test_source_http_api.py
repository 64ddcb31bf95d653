"""The declarative HTTP API source against a local JSON API (tests/http_server.py): every
pagination style, parent/child streams, the incremental boundary with ties, retries of 429,
5xx and timeouts, auth types, column inference, and the definition's validation."""

from __future__ import annotations

import copy
import json
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from rest_framework.test import APIClient

from connectors.framework.base import (
    AuthenticationError,
    Batch,
    ConnectorError,
    PermissionError_,
    ReadRequest,
    ReauthorizeRequiredError,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)
from connectors.framework.spec import validate_config
from connectors.framework.types import Column
from connectors.sources.http_api import source as source_module
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.records import to_record_batch
from connectors.sources.http_api.source import HttpApiSource, _compare
from landed.accounts import services as account_services
from landed.security import outbound
from tests.http_server import API_KEY, BASIC_PASSWORD, BASIC_USER, CLIENT_ID, CLIENT_SECRET, FakeApi

ALL_IDS = list(range(1, 24))


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    yield server
    server.stop()


STYLES: dict[str, dict[str, Any]] = {
    "offset": {
        "path": "offset/users",
        "record_selector": "data.items",
        "paginator": {"type": "offset"},
    },
    "page_number": {
        "path": "pages/users",
        "record_selector": ["results"],
        "paginator": {"type": "page_number", "page_param": "page", "size_param": "per_page"},
    },
    "cursor": {
        "path": "cursor/users",
        "record_selector": "items",
        "paginator": {"type": "cursor", "cursor_path": "meta.next_cursor", "size_param": "limit"},
    },
    "next_url": {
        "path": "next/users",
        "record_selector": "records",
        "paginator": {"type": "next_url", "next_url_path": "links.next", "size_param": "size"},
    },
    "link_header": {
        "path": "link/users",
        "paginator": {"type": "link_header", "size_param": "per_page"},
    },
}
ORDERS = {
    "name": "orders",
    "path": "users/{parent.id}/orders",
    "record_selector": "orders",
    "primary_key": "order_id",
    "parent": {"stream": "users", "field": "id", "include_as": "user_id"},
    "paginator": {"type": "page_number", "page_size": 2},
}
EVENTS = {
    "name": "events",
    "path": "events",
    "record_selector": "events",
    "primary_key": "id",
    "paginator": {"type": "offset", "page_size": 2},
    "incremental": {"cursor_field": "updated_at", "request_param": "since"},
}


def config(api: FakeApi, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "base_url": f"{api.url}/v1",
        "page_size": 5,
        "backoff_base_seconds": 0.01,
        "max_backoff_seconds": 0.2,
        "max_retries": 3,
        "request_timeout_seconds": 5,
        "streams": list(streams),
        **extra,
    }


def users_stream(style: str = "offset", **extra: Any) -> dict[str, Any]:
    return {"name": "users", "primary_key": "id", **STYLES[style], **extra}


def source(cfg: dict[str, Any]) -> HttpApiSource:
    return HttpApiSource(cfg, allow_private_networks=True)


def read(
    src: HttpApiSource, name: str, *, state: dict | None = None, **request: Any
) -> list[Batch]:
    stream = next(s for s in src.discover() if s.name == name)
    return list(src.read(ReadRequest(stream=stream, state=state, **request)))


def column(batches: list[Batch], name: str) -> list[Any]:
    return [v for b in batches for v in b.records.column(name).to_pylist()]


# --- pagination ------------------------------------------------------------------------------
@pytest.mark.parametrize("style", list(STYLES))
def test_each_pagination_style_reads_every_record_once(api, style):
    src = source(config(api, users_stream(style)))
    stream = src.discover()[0]
    api.hits.clear()
    batches = list(src.read(ReadRequest(stream=stream, batch_rows=7)))

    assert column(batches, "id") == ALL_IDS
    # 23 records, 5 a page: 5 pages, each asked for once.
    assert len(api.hits) == 5
    # Batches end on page boundaries, bounded by batch_rows plus one page.
    assert all(b.records.num_rows <= 7 + 5 for b in batches)
    assert batches[-1].state == {"position": None}
    assert sum(b.bytes_read for b in batches) > 0


@pytest.mark.parametrize("style", list(STYLES))
def test_an_interrupted_full_refresh_resumes_at_the_page_reached(api, style):
    src = source(config(api, users_stream(style)))
    first = read(src, "users", batch_rows=5)
    delivered = column(first[:2], "id")
    resumed = read(src, "users", state=first[1].state, batch_rows=5)

    assert delivered == ALL_IDS[:10]
    assert column(resumed, "id") == ALL_IDS[10:]
    # A stream read whole reads nothing more.
    assert column(read(src, "users", state={"position": None}), "id") == []


def test_parent_and_child_streams(api):
    src = source(config(api, users_stream(), ORDERS))
    batches = read(src, "orders", batch_rows=4)

    expected = [(f"{u}-{k}", u) for u in ALL_IDS for k in range(1, u % 4 + 1)]
    assert list(zip(column(batches, "order_id"), column(batches, "user_id"), strict=True)) == (
        expected
    )
    # Every user's orders were asked for, by the user's id; a user with 3 orders has 2 pages.
    assert len(api.hits_to("/v1/users/3/orders")) == 2
    assert len(api.hits_to("/v1/users/4/orders")) == 1
    assert batches[-1].state == {"position": None}

    # Resuming inside a parent's pages: the rest, nothing twice.
    middle = batches[2]
    rest = read(src, "orders", state=middle.state, batch_rows=4)
    done = column(batches[:3], "order_id")
    assert done + column(rest, "order_id") == [o for o, _ in expected]


def test_grandchild_streams_follow_the_chain(api):
    items = {
        **ORDERS,
        "name": "orders_again",
        "path": "users/{parent.user_id}/orders",
        "parent": {"stream": "orders", "field": "user_id", "include_as": "from_user"},
    }
    src = source(config(api, users_stream(), ORDERS, items))
    batches = read(src, "orders_again")
    # Each order of user u asks for u's orders again: u%4 orders, u%4 times.
    assert len(column(batches, "order_id")) == sum((u % 4) ** 2 for u in ALL_IDS)


# --- discovery and types ---------------------------------------------------------------------
def test_discover_infers_columns_from_records(api):
    src = source(config(api, users_stream(), ORDERS))
    users, orders = src.discover()
    types = {c.name: c.type for c in users.columns}
    assert types == {
        "id": "bigint",
        "name": "string",
        "active": "boolean",
        "score": "double",  # ints and floats
        "tags": "json",
        "address": "json",  # nested objects stay one json column
        "note": "string",  # only nulls
        "updated_at": "string",
    }
    assert users.primary_key == ("id",) and not users.supports_incremental
    assert {c.name: c.type for c in orders.columns} == {
        "order_id": "string",
        "amount": "double",
        "user_id": "bigint",
    }


def test_declared_types_win_and_values_are_coerced(api):
    declared = {"updated_at": "timestamptz", "id": "string", "score": "json", "name": "json"}
    src = source(config(api, users_stream(columns=declared)))
    batches = read(src, "users")
    records = pa.Table.from_batches([b.records for b in batches])

    assert records.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert records.column("id").to_pylist()[:2] == ["1", "2"]  # numbers as text
    assert records.column("name").to_pylist()[0] == '"user 1"'  # JSON text
    assert records.column("address").to_pylist()[0] == '{"city":"city 1","zip":"10001"}'


def test_values_that_do_not_fit_a_column_fail_clearly(api):
    api.users[12]["active"] = "yes"  # a boolean as text: converted
    api.users[6]["tags"] = "one tag"  # text where lists were sampled: JSON text
    api.users[7]["name"] = {"first": "x"}  # an object in a text column: JSON text
    src = source(config(api, users_stream()))
    batches = read(src, "users")
    assert column(batches, "active")[12] is True
    assert column(batches, "tags")[6] == '"one tag"'
    assert column(batches, "name")[7] == '{"first":"x"}'

    api.users[14]["score"] = "a lot"  # sampled from the first page as double
    with pytest.raises(ConnectorError, match=r"column 'score' \(double\).*a lot"):
        read(src, "users")


# --- incremental -----------------------------------------------------------------------------
def test_incremental_boundary_with_ties_loses_and_repeats_nothing(api):
    for event_id, day in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)]:
        api.add_event(event_id, f"2026-02-0{day}T00:00:00Z")
    src = source(config(api, EVENTS))

    first = read(src, "events", sync_mode="incremental", cursor_field="updated_at")
    assert column(first, "id") == [1, 2, 3, 4, 5]
    assert first[-1].state == {"cursor": "2026-02-03T00:00:00Z", "tie_keys": ["[4]", "[5]"]}

    # A record arrives late with the boundary's value, and a newer one.
    api.add_event(6, "2026-02-03T00:00:00Z")
    api.add_event(7, "2026-02-04T00:00:00Z")
    stream = src.discover()[0]
    api.hits.clear()
    request = ReadRequest(stream, "incremental", "updated_at", state=first[-1].state)
    second = list(src.read(request))
    assert column(second, "id") == [6, 7]
    asked = [parse_qs(urlsplit(hit).query)["since"] for hit in api.hits_to("/v1/events")]
    assert asked and all(since == ["2026-02-03T00:00:00Z"] for since in asked)
    assert second[-1].state == {"cursor": "2026-02-04T00:00:00Z", "tie_keys": ["[7]"]}

    # Nothing new: nothing delivered, the state stays.
    third = read(
        src, "events", sync_mode="incremental", cursor_field="updated_at", state=second[-1].state
    )
    assert column(third, "id") == [] and third[-1].state == second[-1].state


def test_an_interrupted_incremental_read_resumes_without_moving_the_boundary(api):
    for event_id in range(1, 8):
        api.add_event(event_id, f"2026-03-0{1 + event_id // 3}T00:00:00Z")
    src = source(config(api, EVENTS))
    request = {"sync_mode": "incremental", "cursor_field": "updated_at", "batch_rows": 2}
    batches = read(src, "events", **request)
    middle = batches[1].state
    # Mid-read, the boundary is still the read's start; the highest value so far rides along.
    assert middle["cursor"] is None and middle["max"] == "2026-03-02T00:00:00Z"
    assert middle["position"] == {"page": 4}

    resumed = read(src, "events", state=middle, **request)
    assert column(batches[:2], "id") + column(resumed, "id") == list(range(1, 8))
    assert (
        resumed[-1].state
        == batches[-1].state
        == {
            "cursor": "2026-03-03T00:00:00Z",
            "tie_keys": ["[6]", "[7]"],
        }
    )


def test_incremental_start_value_and_keyless_ties(api):
    for event_id, day in [(1, 1), (2, 2), (3, 2)]:
        api.add_event(event_id, f"2026-04-0{day}T00:00:00Z")
    events = {**EVENTS, "primary_key": []}
    events["incremental"] = {**EVENTS["incremental"], "start_value": "2026-04-02T00:00:00Z"}
    src = source(config(api, events))
    first = read(src, "events", sync_mode="incremental", cursor_field="updated_at")
    assert column(first, "id") == [2, 3]
    # Without a primary key, a record is known at the boundary by a hash of all of it.
    api.add_event(4, "2026-04-02T00:00:00Z")
    second = read(
        src, "events", sync_mode="incremental", cursor_field="updated_at", state=first[-1].state
    )
    assert column(second, "id") == [4]


# --- robustness ------------------------------------------------------------------------------
def test_429_is_retried_after_retry_after(api):
    src = source(config(api, users_stream()))
    stream = src.discover()[0]
    api.fail("/v1/offset/users", 429, retry_after="0.15")
    api.fail("/v1/offset/users", 429, retry_after=formatdate(time.time(), usegmt=True))
    started = time.monotonic()
    batches = list(src.read(ReadRequest(stream=stream)))
    assert column(batches, "id") == ALL_IDS
    assert time.monotonic() - started >= 0.15
    # A Retry-After beyond max_backoff_seconds is capped.
    api.fail("/v1/offset/users", 429, retry_after="3600")
    started = time.monotonic()
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS
    assert time.monotonic() - started < 2


def test_5xx_is_retried_with_backoff_then_recovers(api):
    src = source(config(api, users_stream()))
    stream = src.discover()[0]
    api.hits.clear()
    api.fail("/v1/offset/users", 503, times=2)
    api.fail("/v1/offset/users", 502)
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS
    assert len(api.hits) == 5 + 3


def test_giving_up_names_stream_url_and_status_without_secrets(api):
    cfg = config(
        api,
        users_stream(path="keyed/offset/users"),
        auth_type="api_key",
        api_key_name="api_key",
        api_key_in="query",
        api_key=API_KEY,
        max_retries=2,
    )
    src = source(cfg)
    stream = src.discover()[0]
    api.fail("/v1/keyed/offset/users", 500, times=3)
    with pytest.raises(TransientError) as raised:
        list(src.read(ReadRequest(stream=stream)))
    message = raised.value.message
    assert raised.value.retryable and raised.value.stream == "users"
    assert "Stream 'users': GET http://127.0.0.1" in message and "/v1/keyed/offset/users" in message
    assert "HTTP 500 after 3 attempts" in message
    assert "api_key=***" in message and API_KEY not in message


def test_timeouts_are_retried_then_reported(api):
    src = source(config(api, users_stream(), request_timeout_seconds=0.3, max_retries=1))
    stream = src.discover()[0]
    api.stall("/v1/offset/users", 1.0)
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS

    api.stall("/v1/offset/users", 1.0, times=2)
    with pytest.raises(
        TransientError,
        match=r"Stream 'users': GET .* failed after 2 attempts: timed out after 0.3 s",
    ):
        list(src.read(ReadRequest(stream=stream)))


def test_an_unreachable_api_is_retryable(unused_port):
    cfg = {
        "base_url": f"http://127.0.0.1:{unused_port}",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "streams": [{"name": "users", "path": "users"}],
    }
    with pytest.raises(UnreachableError, match="could not connect after 2 attempts"):
        source(cfg).discover()
    result = source(cfg).check()
    assert (result.ok, result.reachable, result.error_type) == (False, False, "unreachable")


def test_404_and_redirects_are_clear_errors(api):
    src = source(config(api, users_stream(path="offset/nobody")))
    with pytest.raises(StreamNotFoundError, match=r"GET .*/v1/offset/nobody.* HTTP 404"):
        src.discover()
    src = source(config(api, users_stream(path="redirect")))
    with pytest.raises(ConnectorError, match="redirects are not followed"):
        src.discover()
    assert api.hits_to("/v1/offset/users") == []


def test_a_selector_that_matches_nothing_is_an_error(api):
    src = source(config(api, users_stream(record_selector="data.rows")))
    with pytest.raises(ConnectorError, match=r"record_selector 'data\.rows' matches nothing"):
        src.discover()


# --- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prefix", "auth"),
    [
        ("keyed", {"auth_type": "api_key", "api_key_name": "X-Api-Key", "api_key": API_KEY}),
        (
            "keyed",
            {
                "auth_type": "api_key",
                "api_key_name": "api_key",
                "api_key_in": "query",
                "api_key": API_KEY,
            },
        ),
        ("basic", {"auth_type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD}),
        ("secure", {"auth_type": "bearer", "bearer_token": "static-token"}),
    ],
)
def test_auth_types(api, prefix, auth):
    api.tokens.add("static-token")
    src = source(config(api, users_stream(path=f"{prefix}/offset/users"), **auth))
    assert src.check().ok
    assert column(read(src, "users"), "id") == ALL_IDS

    wrong = {
        k: "wrong" if k in ("api_key", "password", "bearer_token") else v for k, v in auth.items()
    }
    src = source(config(api, users_stream(path=f"{prefix}/offset/users"), **wrong))
    result = src.check()
    assert (result.ok, result.reachable, result.authenticated) == (False, True, False)
    with pytest.raises(AuthenticationError, match="HTTP 401"):
        src.discover()


OAUTH = {
    "auth_type": "oauth2_client_credentials",
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "scopes": "read:users",
}


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_oauth2_token_is_cached_and_renewed_once_on_401(api, client_auth):
    cfg = config(
        api,
        users_stream(path="secure/offset/users"),
        token_url=f"{api.url}/oauth/token",
        client_auth_method=client_auth,
        **OAUTH,
    )
    src = source(cfg)
    assert column(read(src, "users"), "id") == ALL_IDS
    assert api.token_requests == 1  # one token for every page

    api.revoke_tokens()
    assert column(read(src, "users"), "id") == ALL_IDS
    assert api.token_requests == 2


def test_oauth2_refused_credentials(api):
    cfg = config(
        api,
        users_stream(path="secure/offset/users"),
        token_url=f"{api.url}/oauth/token",
        **{**OAUTH, "client_secret": "nope"},
    )
    result = source(cfg).check()
    assert (result.ok, result.authenticated, result.error_type) == (
        False,
        False,
        "authentication_failed",
    )
    assert "invalid_client" in result.message and "nope" not in result.message


# --- definition validation -------------------------------------------------------------------
def issue_locs(cfg: dict[str, Any]) -> list[tuple]:
    return [(i.field, *i.path) for i in HttpApiSource.config_issues(cfg)]


def good() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "base_url": "https://api.example.com/v1",
            "streams": [users_stream(), ORDERS, EVENTS],
        }
    )


def _in(index: int, **change: Any) -> Any:
    """A change to the index-th stream definition of a config."""
    return lambda c: c["streams"][index].update(change)


def _top(**change: Any) -> Any:
    return lambda c: c.update(change)


def _orders_parent(c: dict[str, Any]) -> None:
    c["streams"][1]["parent"]["stream"] = "nobody"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (_top(base_url="ftp://x"), ("base_url",)),
        (_top(streams=[]), ("streams",)),
        (_in(0, paginator={"type": "pages"}), ("streams", 0, "paginator", "type")),
        (_in(0, paginator={"type": "cursor"}), ("streams", 0, "paginator", "cursor_path")),
        (
            _in(0, paginator={"type": "offset", "cursor_path": "x"}),
            ("streams", 0, "paginator", "cursor_path"),
        ),
        (_in(0, colour="red"), ("streams", 0, "colour")),
        (lambda c: c["streams"][0].pop("path"), ("streams", 0, "path")),
        (_in(0, path="https://evil.example/x"), ("streams", 0, "path")),
        (_in(0, path="users/{parent.id}"), ("streams", 0, "path")),
        (_in(0, record_selector={"a": 1}), ("streams", 0, "record_selector")),
        (_in(1, name="users"), ("streams", 1, "name")),
        (_orders_parent, ("streams", 1, "parent", "stream")),
        (_in(1, path="orders"), ("streams", 1, "path")),
        (_in(1, path="users/{user.id}/orders"), ("streams", 1, "path")),
        (_in(1, path="users/{parent.}/orders"), ("streams", 1, "path")),
        (
            _in(2, incremental={"request_param": "since"}),
            ("streams", 2, "incremental", "cursor_field"),
        ),
        (_in(2, columns={"id": "bignum"}), ("streams", 2, "columns", "id")),
        (_top(auth_type="bearer"), ("bearer_token",)),
        (
            _top(auth_type="oauth2_client_credentials", client_id="x", client_secret="y"),
            ("token_url",),
        ),
        (_top(headers={"X-A": 1}), ("headers", "X-A")),
    ],
)
def test_definition_issues_name_the_bad_part(change, loc):
    assert issue_locs(good()) == []
    cfg = good()
    change(cfg)
    assert loc in issue_locs(cfg)


def test_parent_cycles_are_refused():
    cfg = good()
    cfg["streams"][0]["parent"] = {"stream": "orders", "field": "user_id"}
    cfg["streams"][0]["path"] = "u/{parent.user_id}"
    assert ("streams", 0, "parent", "stream") in issue_locs(cfg)
    assert ("streams", 1, "parent", "stream") in issue_locs(cfg)


@pytest.mark.django_db
def test_create_with_a_bad_definition_is_422_naming_the_part(user, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path))
    _, raw_key = account_services.api_key_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    destination = client.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}},
        format="json",
    ).json()
    cfg = good()
    cfg["streams"][0]["paginator"] = {"type": "pagez"}
    body = {"name": "api", "type": "http_api", "config": cfg, "destination_id": destination["id"]}
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 422, response.content
    (issue,) = response.json()["detail"]
    assert issue["loc"] == ["body", "config", "streams", 0, "paginator", "type"]
    assert issue["type"] == "enum"

    cfg["streams"][0]["paginator"] = {"type": "offset"}
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 201, response.content
    # The same checks on update; secrets are never returned.
    connector = response.json()
    cfg["streams"].append({"name": "users", "path": "again"})
    response = client.patch(f"/connectors/{connector['id']}", {"config": cfg}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "config", "streams", 3, "name"]


# --- review regressions ----------------------------------------------------------------------
def events_route(api: FakeApi, path: str, events: list[dict[str, Any]], field: str) -> None:
    """`path` answers the events whose `field` is at least `since` (as numbers when both are
    numeric, else as ISO instants or text), like an inclusive API filter."""

    def answer(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        since = query.get("since")
        kept = [e for e in events if since is None or _compare(e[field], since) >= 0]
        return 200, {"events": kept}, {}

    api.route(path, answer)


def incremental(src: HttpApiSource, state: dict | None, cursor: str) -> list[Batch]:
    return read(src, "events", sync_mode="incremental", cursor_field=cursor, state=state)


def test_numeric_text_cursors_compare_as_numbers(api):
    events = [{"id": i, "seq": str(i)} for i in range(95, 105)]  # "95" .. "104"
    events_route(api, "/v1/seq", events, "seq")
    stream = {**EVENTS, "path": "seq", "paginator": None}
    stream["incremental"] = {"cursor_field": "seq", "request_param": "since"}
    src = source(config(api, stream))
    first = incremental(src, None, "seq")
    # As text, "99" would be the highest and every later record would be dropped for ever.
    assert first[-1].state == {"cursor": "104", "tie_keys": ["[104]"]}
    events.extend({"id": i, "seq": str(i)} for i in range(105, 110))
    second = incremental(src, first[-1].state, "seq")
    assert column(second, "id") == list(range(105, 110))


def test_iso_cursors_compare_as_instants(api):
    events = [{"id": 1, "ts": "2026-01-01T10:00:00Z"}]
    events_route(api, "/v1/iso", events, "ts")
    stream = {**EVENTS, "path": "iso", "paginator": None}
    stream["incremental"] = {"cursor_field": "ts", "request_param": "since"}
    src = source(config(api, stream))
    first = incremental(src, None, "ts")
    # 250 ms later, though "...:00.250Z" < "...:00Z" as text; and the same instant with an
    # offset, already delivered, is not delivered again.
    events.append({"id": 2, "ts": "2026-01-01T10:00:00.250Z"})
    events.append({"id": 3, "ts": "2026-01-01T11:00:00+02:00"})  # 09:00Z: before the boundary
    second = incremental(src, first[-1].state, "ts")
    assert column(second, "id") == [2]
    assert second[-1].state == {"cursor": "2026-01-01T10:00:00.250Z", "tie_keys": ["[2]"]}


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("100", "99", 1),
        (100, "99", 1),
        ("1e3", 999, 1),
        ("12345678901234567891", "12345678901234567890", 1),  # beyond float precision
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00.250Z", -1),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00.000Z", 0),
        ("2026-01-01T12:00:00+02:00", "2026-01-01T10:00:00Z", 0),
        ("2026-01-01T10:00:00.0000001Z", "2026-01-01T10:00:00Z", 1),  # past microseconds
        ("2026-01-02", "2026-01-01T23:59:59Z", 1),
        ("b", "a", 1),  # text
        ("10", "9a", -1),  # one side is not a number: text
    ],
)
def test_cursor_order(a, b, order):
    assert _compare(a, b) == order and _compare(b, a) == -order


def test_declared_temporal_cursors_compare_as_instants_in_any_iso_form():
    # 20260101T100000Z is ISO 8601 (basic format): an instant once the column says so.
    assert _compare("20260101T090000Z", "2026-01-01T10:30:00Z", temporal=True) == -1
    assert _compare("20260101T090000Z", "2026-01-01T10:30:00Z") == 1  # as text


def test_fractions_are_never_cut_in_integer_columns():
    def batch(values: list[Any], kind: str) -> list[Any]:
        col = Column("v", kind, nullable=True)
        return to_record_batch([{"v": v} for v in values], (col,), stream="s").column(0).to_pylist()

    assert batch([1, 2.0, "3", None], "bigint") == [1, 2, 3, None]
    with pytest.raises(ConnectorError, match=r"column 'v' \(bigint\).*1\.5 is not a bigint"):
        batch([1.5, 2], "bigint")
    with pytest.raises(ConnectorError, match=r"\"2\.5\" is not a integer"):
        batch([1, "2.5"], "integer")
    with pytest.raises(ConnectorError, match="70000 is out of range for smallint"):
        batch([1, 70000], "smallint")
    with pytest.raises(ConnectorError, match="true is not a bigint"):
        batch([True], "bigint")
    with pytest.raises(ConnectorError, match="true is not a double"):
        batch([True, 1.5], "double")
    with pytest.raises(ConnectorError, match=r"1e\+39 is not a real"):
        batch([1.0, 1e39], "real")
    assert batch([1, 1.5, "2.5"], "double") == [1.0, 1.5, 2.5]


def test_a_fraction_after_sampled_integers_fails_the_stream(api):
    api.users[20]["id"] = 21.75  # the first page sampled whole numbers: a bigint column
    src = source(config(api, users_stream()))
    with pytest.raises(ConnectorError, match=r"column 'id' \(bigint\).*21\.75"):
        read(src, "users")


def _repeat_routes(api: FakeApi) -> None:
    page = [{"id": i} for i in range(5)]
    api.route("/v1/ignores_offset", lambda h, q: (200, {"items": page}, {}))
    api.route("/v1/ignores_page", lambda h, q: (200, {"items": page}, {}))
    api.route(
        "/v1/cursor_cycle",
        lambda h, q: (200, {"items": [{"id": 1}], "next": "B" if q.get("c") == "A" else "A"}, {}),
    )
    api.route(
        "/v1/next_cycle",
        lambda h, q: (
            200,
            {"items": [{"id": 1}], "next": "next_cycle?p=2" if q.get("p") != "2" else "?p=1"},
            {},
        ),
    )


@pytest.mark.parametrize(
    ("path", "paginator", "repeated"),
    [
        ("ignores_offset", {"type": "offset"}, "offset=5"),
        ("ignores_page", {"type": "page_number", "size_param": None}, "page=2"),
        ("cursor_cycle", {"type": "cursor", "cursor_path": "next", "cursor_param": "c"}, "c=A"),
        ("next_cycle", {"type": "next_url", "next_url_path": "next"}, "p=2"),
    ],
)
def test_paging_that_repeats_itself_stops_with_an_error(api, path, paginator, repeated):
    _repeat_routes(api)
    stream = {"name": "x", "path": path, "record_selector": "items", "paginator": paginator}
    src = source(config(api, stream))
    with pytest.raises(ConnectorError, match="paging would never end") as raised:
        read(src, "x")
    assert not raised.value.retryable and raised.value.stream == "x"
    assert f"Stream 'x': GET {api.url}/v1/" in raised.value.message
    assert repeated in raised.value.message
    assert len(api.hits_to(f"/v1/{path}")) < 10


def test_max_pages_is_a_last_safety_net(api):
    src = source(config(api, users_stream(paginator={"type": "offset", "max_pages": 2})))
    with pytest.raises(ConnectorError, match=r"page 3 is past the paginator's max_pages \(2\)"):
        read(src, "users")
    # Discovery's page, then two and the third (it would not count had it been empty).
    assert len(api.hits_to("/v1/offset/users")) == 1 + 3
    assert ("streams", 0, "paginator", "max_pages") in issue_locs(
        {**good(), "streams": [users_stream(paginator={"type": "offset", "max_pages": 0})]}
    )


def test_a_cursor_of_0_is_a_cursor_not_the_end(api):
    def answer(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        following = {None: 0, "0": 1}.get(query.get("cursor"))
        return 200, {"items": [{"id": query.get("cursor")}], "next": following}, {}

    api.route("/v1/zero", answer)
    stream = {"name": "x", "path": "zero", "record_selector": "items"}
    stream["paginator"] = {"type": "cursor", "cursor_path": "next"}
    assert column(read(source(config(api, stream)), "x"), "id") == [None, "0", "1"]


def test_boolean_params_are_sent_as_json_booleans(api):
    src = source(config(api, users_stream(params={"active": True, "archived": False})))
    read(src, "users")
    query = parse_qs(urlsplit(api.hits_to("/v1/offset/users")[0]).query)
    assert query["active"] == ["true"] and query["archived"] == ["false"]


# --- secrets and causes in messages
def test_connection_failures_name_their_cause_without_secrets(unused_port, monkeypatch):
    key = "SUPER+SECRET/KEY123"
    cfg = {
        "base_url": f"http://127.0.0.1:{unused_port}",
        "auth_type": "api_key",
        "api_key_name": "api_key",
        "api_key_in": "query",
        "api_key": key,
        "max_retries": 0,
        "streams": [{"name": "x", "path": "items", "paginator": {"type": "offset"}}],
    }
    result = source(cfg).check()
    assert result.message.endswith("could not connect after 1 attempt: connection refused.")
    assert "SUPER" not in result.message and "Max retries" not in result.message
    with pytest.raises(UnreachableError) as raised:
        source(cfg).discover()
    assert "SUPER" not in raised.value.message and "api_key=***" in raised.value.message

    def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound, "resolve", no_such_host)
    result = source({**cfg, "base_url": "http://api.example.test"}).check()
    assert result.message.endswith("could not resolve host api.example.test.")


def test_an_invalid_header_never_shows_the_secret_it_holds():
    cfg = {
        "base_url": "http://127.0.0.1:1",
        "auth_type": "api_key",
        "api_key_name": "X-Key",
        "api_key": "SECRET\nVALUE",
        "max_retries": 0,
        "streams": [{"name": "x", "path": "items"}],
    }
    result = source(cfg).check()
    assert not result.ok and "header name or value is not valid" in result.message
    assert "SECRET" not in result.message


def test_secrets_echoed_by_the_api_are_masked(api):
    def echo(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        return 400, {"error": "bad", "auth": handler.headers.get("Authorization")}, {}

    api.route("/v1/echo", echo)
    basic = {"auth_type": "basic", "username": "alice", "password": "hunter2"}
    result = source(config(api, {"name": "x", "path": "echo"}, **basic)).check()
    assert "Basic ***" in result.message and "YWxpY2U6aHVudGVyMg" not in result.message

    # An OAuth2 access token is a secret too once fetched.
    oauth = {**OAUTH, "token_url": f"{api.url}/oauth/token"}
    with pytest.raises(ConnectorError) as raised:
        read(source(config(api, {"name": "x", "path": "echo"}, **oauth)), "x")
    assert "Bearer ***" in raised.value.message and "tok-" not in raised.value.message


def test_a_token_endpoint_echoing_the_client_secret_is_masked(api):
    secret = "very-secret-client"

    def token(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        return 401, {"error_description": f"client {CLIENT_ID}:{secret} is unknown"}, {}

    api.route("/oauth/bad-token", token)
    cfg = config(
        api,
        users_stream(path="secure/offset/users"),
        **{**OAUTH, "client_secret": secret, "token_url": f"{api.url}/oauth/bad-token"},
    )
    result = source(cfg).check()
    assert result.error_type == "authentication_failed"
    assert "is unknown" in result.message and secret not in result.message


def test_the_masker_covers_every_form_of_a_secret():
    masker = Masker.from_config(
        {"auth_type": "basic", "username": "u", "password": "p@ss word", "api_key": "k/1+2"}
    )
    text = "p@ss word p%40ss%20word p%40ss+word k%2F1%2B2 dTpwQHNzIHdvcmQ="
    assert masker.mask(text) == "*** *** *** *** ***"


# --- limits of one request
def test_a_trickling_body_is_stopped_by_the_request_deadline(api):
    def trickle(handler: Any, query: dict[str, str]) -> None:
        body = b"[" + b" " * 40 + b"]"
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.1)  # each byte well within the read timeout
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    api.route("/v1/trickle", trickle)
    cfg = config(api, {"name": "x", "path": "trickle"}, max_request_seconds=0.3, max_retries=0)
    with pytest.raises(TransientError, match=r"took longer than max_request_seconds \(0.3 s\)"):
        source(cfg).discover()


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_larger_than_max_response_bytes_fails_without_retries(api, declared):
    body = json.dumps([{"id": i, "pad": "x" * 100} for i in range(50)]).encode()

    def large(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]] | None:
        if declared:
            return 200, body, {}
        handler.send_response(200)  # no Content-Length: counted while read
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True
        return None

    api.route("/v1/large", large)
    src = source(config(api, {"name": "x", "path": "large"}, max_response_bytes=2048))
    with pytest.raises(ConnectorError, match=r"more than max_response_bytes \(2048 bytes\)") as e:
        src.discover()
    assert not e.value.retryable and len(api.hits_to("/v1/large")) == 1


# --- incremental state
def test_tie_keys_are_capped_and_the_rest_delivered_again(api, monkeypatch):
    monkeypatch.setattr(source_module, "MAX_TIE_KEYS", 3)
    for event_id in range(1, 9):
        api.add_event(event_id, "2026-05-01T00:00:00Z")
    src = source(config(api, EVENTS))
    first = incremental(src, None, "updated_at")
    assert column(first, "id") == list(range(1, 9))
    assert all(len(b.state.get("max_keys", b.state["tie_keys"])) <= 3 for b in first)
    assert first[-1].state == {"cursor": "2026-05-01T00:00:00Z", "tie_keys": ["[1]", "[2]", "[3]"]}
    # Those not remembered come again (at least once at the boundary), none is lost.
    api.add_event(9, "2026-05-01T00:00:00Z")
    second = incremental(src, first[-1].state, "updated_at")
    assert column(second, "id") == [4, 5, 6, 7, 8, 9]


# --- parents and resumed reads
def test_a_child_404_is_a_parent_deleted_meanwhile(api):
    api.fail_matching("/v1/users/5/orders", 404)
    api.fail_matching("/v1/users/23/orders", 404)  # the last parent too
    src = source(config(api, users_stream(), ORDERS))
    batches = read(src, "orders")
    users = set(column(batches, "user_id"))
    assert 5 not in users and 23 not in users and {3, 7, 22} <= users
    assert batches[-1].state == {"position": None}

    # Every parent's children missing: the path is wrong, not every parent deleted.
    src = source(config(api, users_stream(), {**ORDERS, "path": "users/{parent.id}/order"}))
    with pytest.raises(StreamNotFoundError, match="every parent's orders answered 404"):
        read(src, "orders")


def test_a_resumed_read_whose_position_expired_starts_again_from_the_boundary(api):
    for event_id in range(1, 8):
        api.add_event(event_id, f"2026-03-0{1 + event_id // 3}T00:00:00Z")
    src = source(config(api, EVENTS))
    request = {"sync_mode": "incremental", "cursor_field": "updated_at", "batch_rows": 2}
    interrupted = read(src, "events", **request)[1].state
    assert interrupted["position"] == {"page": 4}

    # In a later sync the stored page is refused (an expired cursor would be): read again.
    stream = src.discover()[0]
    api.fail("/v1/events", 410)
    api.hits.clear()
    resumed = list(src.read(ReadRequest(stream, state=interrupted, **request)))
    assert column(resumed, "id") == list(range(1, 8))
    offsets = [parse_qs(urlsplit(h).query)["offset"][0] for h in api.hits_to("/v1/events")]
    assert offsets[:2] == ["4", "0"]  # the stored page, then the start
    assert resumed[-1].state == {"cursor": "2026-03-03T00:00:00Z", "tie_keys": ["[6]", "[7]"]}

    # Another failure is not an expired position: it stands.
    api.fail("/v1/events", 403)
    with pytest.raises(PermissionError_):
        list(src.read(ReadRequest(stream, state=interrupted, **request)))
    # A read from the start is not restarted either.
    api.fail("/v1/events", 410)
    with pytest.raises(ConnectorError, match="HTTP 410"):
        list(src.read(ReadRequest(stream, **request)))


# --- validation
def test_issues_of_a_duplicated_stream_point_at_the_right_definition():
    cfg = good()
    cfg["streams"] = [
        users_stream(),
        {**ORDERS, "parent": {"stream": "nobody"}},
        {"name": "orders", "path": "again"},
    ]
    locs = issue_locs(cfg)
    assert ("streams", 1, "parent", "stream") in locs and ("streams", 2, "name") in locs
    assert ("streams", 2, "parent", "stream") not in locs


# --- second review round ------------------------------------------------------------------
def test_a_next_link_echoing_credentials_is_stored_without_them(api):
    key = "sekret-KEY-42"
    seen: list[dict[str, list[str]]] = []

    def echo(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        seen.append(parse_qs(urlsplit(handler.path).query))
        start = int(query.get("from", 0))
        following = None
        if start < 10:
            # The key, and the bearer-like token of the Authorization header, echoed back.
            following = f"/v1/echo?api_key={key}&from={start + 5}&token=tok-XYZ-987"
        return 200, {"records": [{"id": i} for i in range(start, start + 5)], "next": following}, {}

    api.route("/v1/echo", echo)
    stream = {
        "name": "e",
        "path": "echo",
        "record_selector": "records",
        "paginator": {"type": "next_url", "next_url_path": "next"},
    }
    cfg = config(
        api,
        stream,
        auth_type="api_key",
        api_key_name="api_key",
        api_key=key,
        api_key_in="query",
        headers={"X-Token": "tok-XYZ-987"},
    )
    src = source(cfg)
    src.masker.add("tok-XYZ-987")  # like an OAuth2 access token fetched meanwhile
    batches = read(src, "e", batch_rows=5)
    assert column(batches, "id") == list(range(15))
    states = json.dumps([b.state for b in batches])
    assert key not in states and "tok-XYZ-987" not in states
    assert batches[0].state == {"position": {"page": f"{api.url}/v1/echo?from=5"}}
    # Every request carries the key once (auth adds it back).
    assert all(q["api_key"] == [key] for q in seen)
    # A state stored before (with the key in the URL) resumes without sending it twice.
    old = {"position": {"page": f"{api.url}/v1/echo?api_key={key}&from=10"}}
    seen.clear()
    assert column(read(src, "e", state=old), "id") == list(range(10, 15))
    assert seen[-1]["api_key"] == [key]


def test_empty_link_pages_and_a_clamped_last_page_are_not_repeats(api):
    def sparse(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        page = int(query.get("page", 1))
        link = {"Link": f'<{api.url}/v1/sparse?page={page + 1}>; rel="next"'} if page < 4 else {}
        return 200, [{"id": page}] if page in (1, 4) else [], link

    def clamp(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        page = min(int(query.get("page", 1)), 2)  # 10 records, 5 a page: page 3 is page 2
        return 200, {"results": [{"id": i} for i in range((page - 1) * 5, page * 5)]}, {}

    api.route("/v1/sparse", sparse)
    api.route("/v1/clamp", clamp)
    link = {"name": "s", "path": "sparse", "paginator": {"type": "link_header"}}
    assert column(read(source(config(api, link)), "s"), "id") == [1, 4]
    numbered = {
        "name": "c",
        "path": "clamp",
        "record_selector": "results",
        "paginator": {"type": "page_number"},
    }
    batches = read(source(config(api, numbered)), "c")
    assert column(batches, "id") == list(range(10))
    assert batches[-1].state == {"position": None}


def test_max_pages_does_not_count_the_last_empty_page(api):
    api.route(
        "/v1/ten", lambda h, q: (200, [{"id": i} for i in range(int(q["offset"]), 10)][:5], {})
    )
    stream = {"name": "t", "path": "ten", "paginator": {"type": "offset", "max_pages": 2}}
    assert column(read(source(config(api, stream)), "t"), "id") == list(range(10))


@pytest.mark.parametrize(
    "edge", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01"]
)
def test_cursor_dates_at_the_calendar_limits_are_instants(api, edge):
    assert _compare(edge, "2024-01-01T00:00:00Z") == (-1 if edge.startswith("0001") else 1)
    assert _compare(edge, "2024-01-01", temporal=True) == (-1 if edge.startswith("0001") else 1)
    events = [{"id": 1, "t": "2024-01-01T00:00:00Z"}, {"id": 2, "t": edge}]
    api.route("/v1/edge", lambda h, q: (200, events, {}))
    stream = {"name": "events", "path": "edge", "primary_key": "id"}
    stream["incremental"] = {"cursor_field": "t"}
    state = incremental(source(config(api, stream)), None, "t")[-1].state
    assert state["cursor"] == max(events, key=lambda e: e["t"][:4])["t"]


def test_a_float_start_value_keeps_the_first_matching_record(api):
    api.route("/v1/ev", lambda h, q: (200, [{"id": 1, "v": "0.1"}, {"id": 2, "v": 0.2}], {}))
    stream = {"name": "events", "path": "ev", "primary_key": "id"}
    stream["incremental"] = {"cursor_field": "v", "start_value": 0.1}
    assert column(incremental(source(config(api, stream)), None, "v"), "id") == [1, 2]
    assert _compare(0.1, "0.1") == 0 and _compare(0.3, 0.1 + 0.2) == -1


def test_cursor_order_is_total_across_kinds():
    import functools
    import itertools

    values = [
        "9",
        "10",
        "1a",
        9.5,
        -3,
        "2024-01-01T10:00:00+05:00",
        "2024-01-01T07:00:00Z",
        "2024-01-01T08:00:00 UTC",
        "2024-01-01",
        "abc",
        True,
        None,
    ]
    for temporal in (False, True):
        ordered = sorted(
            values, key=functools.cmp_to_key(functools.partial(_compare, temporal=temporal))
        )
        for i, j in itertools.combinations(range(len(ordered)), 2):
            assert _compare(ordered[i], ordered[j], temporal) <= 0, (ordered[i], ordered[j])
    # Numbers before instants before text.
    assert _compare("10", "1a") == -1 and _compare("1a", "9") == 1
    assert _compare(10**30, "0001-01-01") == -1 and _compare("2024-01-01", "a") == -1


def test_non_finite_cursor_values_are_no_cursor(api):
    events = [{"id": 1, "n": 5}, {"id": 2, "n": float("nan")}, {"id": 3, "n": float("inf")}]
    api.route("/v1/nan", lambda h, q: (200, events, {}))
    stream = {"name": "events", "path": "nan", "primary_key": "id"}
    stream["incremental"] = {"cursor_field": "n"}
    batches = incremental(source(config(api, stream)), None, "n")
    assert column(batches, "id") == [1]
    assert batches[-1].state == {"cursor": 5, "tie_keys": ["[1]"]}


def test_a_deeply_nested_body_and_an_invalid_next_url_are_connector_errors(api):
    api.route("/v1/deep", lambda h, q: (200, b"[" * 100_000 + b"]" * 100_000, {}))
    api.route(
        "/v1/badnext", lambda h, q: (200, {"r": [{"id": 1}], "next": f"{api.url}:99999/x"}, {})
    )
    with pytest.raises(ConnectorError, match="nested too deeply") as raised:
        read(source(config(api, {"name": "d", "path": "deep"})), "d")
    assert not raised.value.retryable and raised.value.stream == "d"
    stream = {"name": "g", "path": "badnext", "record_selector": "r"}
    stream["paginator"] = {"type": "next_url", "next_url_path": "next"}
    with pytest.raises(ConnectorError, match="the next page's URL is not valid") as raised:
        read(source(config(api, stream)), "g")
    assert not raised.value.retryable and raised.value.stream == "g"


def _slow_headers(handler: Any, query: dict[str, str]) -> None:
    try:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        for _ in range(100):  # 5 s of headers, each byte well within the read timeout
            for byte in b"X-Pad: a\r\n":
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.005)
        handler.wfile.write(b"Content-Length: 2\r\n\r\n[]")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up, as it should
    handler.close_connection = True


def test_slow_response_headers_are_stopped_by_the_request_deadline(api):
    api.route("/v1/slowheaders", _slow_headers)
    cfg = config(api, {"name": "x", "path": "slowheaders"}, max_request_seconds=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"took longer than max_request_seconds \(0.5 s\)"):
        source(cfg).discover()
    assert time.monotonic() - started < 2.5
    # The OAuth2 token request too.
    api.route("/oauth/slowtoken", _slow_headers)
    cfg = config(
        api,
        {"name": "x", "path": "secure/offset/users"},
        auth_type="oauth2_client_credentials",
        token_url=f"{api.url}/oauth/slowtoken",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        max_request_seconds=0.5,
        max_retries=0,
    )
    started = time.monotonic()
    with pytest.raises(TransientError, match="max_request_seconds"):
        source(cfg).discover()
    assert time.monotonic() - started < 2.5


# --- platform-supplied tokens ------------------------------------------------------------------
class Tokens:
    """A TokenProvider as the platform hands one to a source: it counts what it is asked."""

    def __init__(self, api: FakeApi, *, gone_after: int | None = None) -> None:
        self.api = api
        self.minted = 0
        self.refreshes = 0
        self.current: str | None = None
        self.gone_after = gone_after  # mints allowed before the grant is withdrawn

    def access_token(self, *, refresh: bool = False) -> str:
        self.refreshes += refresh
        if self.current is None or refresh:
            if self.gone_after is not None and self.minted >= self.gone_after:
                raise ReauthorizeRequiredError("The installation was uninstalled: reconnect.")
            self.minted += 1
            self.current = f"provided-{self.minted}"
            self.api.tokens.add(self.current)
        return self.current


def test_a_provided_token_is_sent_and_renewed_once_when_refused(api):
    tokens = Tokens(api)
    cfg = config(api, users_stream(path="secure/offset/users"), auth_type="provided_token")
    src = HttpApiSource(cfg, allow_private_networks=True, credentials=tokens)
    assert column(read(src, "users"), "id") == ALL_IDS
    assert (tokens.minted, tokens.refreshes) == (1, 0)  # one token for every page

    api.revoke_tokens()  # refused from now on: renewed once, then read on with the new one
    assert column(read(src, "users"), "id") == ALL_IDS
    assert (tokens.minted, tokens.refreshes) == (2, 1)
    assert api.hits_to("/v1/secure/offset/users")


def test_a_withdrawn_grant_is_a_reauthorize_error_never_retried(api):
    tokens = Tokens(api, gone_after=1)
    cfg = config(api, users_stream(path="secure/offset/users"), auth_type="provided_token")
    src = HttpApiSource(cfg, allow_private_networks=True, credentials=tokens)
    stream = src.discover()[0]
    api.revoke_tokens()
    api.hits.clear()
    with pytest.raises(ReauthorizeRequiredError, match="reconnect") as raised:
        list(src.read(ReadRequest(stream=stream)))
    assert raised.value.retryable is False
    assert len(api.hits) == 1  # the refused request, and no retry after the grant is gone
    result = src.check()
    assert (result.ok, result.error_type) == (False, "reauthorize_required")
    assert (result.reachable, result.authenticated) == (True, False)


def test_a_403_renews_a_provided_token_and_a_second_403_is_the_apis_answer(api):
    tokens = Tokens(api)
    cfg = config(api, users_stream(path="offset/users"), auth_type="provided_token")
    src = HttpApiSource(cfg, allow_private_networks=True, credentials=tokens)
    stream = src.discover()[0]
    api.fail("/v1/offset/users", 403, times=2)
    with pytest.raises(PermissionError_, match="HTTP 403"):
        list(src.read(ReadRequest(stream=stream)))
    assert tokens.refreshes == 1


def test_provided_tokens_are_not_offered_to_users_nor_work_without_a_provider(api):
    spec = HttpApiSource.spec
    assert "provided_token" not in spec.field_named("auth_type").choices
    issues = validate_config(spec, {**good(), "auth_type": "provided_token"})
    assert [(i.field, i.type) for i in issues] == [("auth_type", "enum")]
    cfg = config(api, users_stream(), auth_type="provided_token")
    result = HttpApiSource(cfg, allow_private_networks=True).check()
    assert (result.ok, result.error_type) == (False, "config_error")


# --- the API's rate-limit headers --------------------------------------------------------------
GITHUB_LIKE_LIMIT = {"rate_limit": {"max_wait_seconds": 5}}


def limited(api: FakeApi, path: str, status: int, **headers: str) -> None:
    """The next request to `path` is refused as over the limit, with `headers`."""

    def answer(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        del api.routes[path]
        return status, {"message": "API rate limit exceeded"}, headers

    api.route(path, answer)


@pytest.mark.parametrize("status", [403, 429])
def test_a_limit_with_remaining_0_waits_for_the_reset(api, status):
    src = source(config(api, users_stream(), **GITHUB_LIKE_LIMIT))
    stream = src.discover()[0]
    reset = int(time.time()) + 1
    exhausted = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    limited(api, "/v1/offset/users", status, **exhausted)
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS
    # Not before the reset, though the retries' backoff is 0.01 s.
    assert time.time() >= reset


def test_a_403_with_retry_after_is_a_secondary_limit(api):
    src = source(config(api, users_stream(), **GITHUB_LIKE_LIMIT))
    stream = src.discover()[0]
    limited(api, "/v1/offset/users", 403, **{"Retry-After": "0.3"})
    started = time.monotonic()
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS
    assert time.monotonic() - started >= 0.3


def test_a_403_without_limit_headers_is_a_refusal_not_a_wait(api):
    src = source(config(api, users_stream(), **GITHUB_LIKE_LIMIT))
    stream = src.discover()[0]
    api.fail("/v1/offset/users", 403)
    api.hits.clear()
    with pytest.raises(PermissionError_):
        list(src.read(ReadRequest(stream=stream)))
    assert len(api.hits) == 1


def test_a_reset_beyond_the_bound_is_a_retryable_error_naming_it(api):
    src = source(config(api, users_stream(), **GITHUB_LIKE_LIMIT))
    stream = src.discover()[0]
    reset = int(time.time()) + 3600
    limited(
        api,
        "/v1/offset/users",
        403,
        **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    started = time.monotonic()
    with pytest.raises(TransientError, match="rate limit until about") as raised:
        list(src.read(ReadRequest(stream=stream)))
    assert raised.value.retryable is True
    assert time.monotonic() - started < 2
    assert time.strftime("%Y-%m-%dT%H", time.gmtime(reset)) in raised.value.message


def test_the_last_request_of_a_window_holds_the_next_until_the_reset(api):
    src = source(config(api, users_stream("link_header"), **GITHUB_LIKE_LIMIT))
    stream = src.discover()[0]
    reset = int(time.time()) + 1

    def first_page(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        del api.routes["/v1/link/users"]
        link = f"{api.url}/v1/link/users?per_page=5&page=2"
        headers = {
            "Link": f'<{link}>; rel="next"',
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        return 200, api.users[:5], headers

    api.route("/v1/link/users", first_page)
    assert column(list(src.read(ReadRequest(stream=stream))), "id") == ALL_IDS
    # The second page was asked for after the reset, and never refused.
    assert time.time() >= reset


def test_without_a_rule_rate_limit_headers_are_not_read(api):
    src = source(config(api, users_stream()))
    stream = src.discover()[0]
    limited(
        api, "/v1/offset/users", 403, **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}
    )
    with pytest.raises(PermissionError_):
        list(src.read(ReadRequest(stream=stream)))


@pytest.mark.parametrize(
    ("rule", "loc"),
    [
        ("fast", ("rate_limit",)),
        ({"colour": "red"}, ("rate_limit", "colour")),
        ({"reset_format": "iso"}, ("rate_limit", "reset_format")),
        ({"statuses": [200]}, ("rate_limit", "statuses")),
        ({"max_wait_seconds": 7200}, ("rate_limit", "max_wait_seconds")),
        ({"remaining_header": ""}, ("rate_limit", "remaining_header")),
    ],
)
def test_rate_limit_rules_are_checked(rule, loc):
    assert loc in issue_locs({**good(), "rate_limit": rule})


# --- child paths, added fields, ignored statuses, newest-first records ---------------------------
def test_a_child_path_may_name_several_and_nested_parent_fields():
    small = FakeApi(users=3).start()
    try:
        for user in small.users:
            city = user["address"]["city"].replace(" ", "%20")

            def answer(handler: Any, query: dict[str, str], user=user):
                return 200, {"visits": [{"visit": f"{user['id']}@{user['address']['city']}"}]}, {}

            small.route(f"/v1/cities/{city}/users/{user['id']}/visits", answer)
        visits = {
            "name": "visits",
            "path": "cities/{parent.address.city}/users/{parent.id}/visits",
            "record_selector": "visits",
            "parent": {"stream": "users", "field": "address.zip", "include_as": "zip"},
        }
        src = source(config(small, users_stream(), visits))
        rows = read(src, "visits")[0].records.to_pylist()
        assert [(r["visit"], r["zip"]) for r in rows] == [
            ("1@city 1", "10001"),
            ("2@city 2", "10002"),
            ("3@city 3", "10003"),
        ]
    finally:
        small.stop()


def test_added_fields_lift_nested_values_and_can_be_cursors(api):
    events = [
        {"sha": f"c{i}", "commit": {"committer": {"date": f"2026-05-0{i}T00:00:00Z"}}}
        for i in range(1, 5)
    ]
    events_route(
        api, "/v1/commits", [{**e, "at": e["commit"]["committer"]["date"]} for e in events], "at"
    )
    stream = {
        "name": "events",
        "path": "commits",
        "record_selector": "events",
        "primary_key": "sha",
        "add_fields": {"committed_at": "commit.committer.date"},
        "incremental": {"cursor_field": "committed_at", "request_param": "since"},
    }
    src = source(config(api, stream))
    (discovered,) = src.discover()
    assert "committed_at" in [c.name for c in discovered.columns]
    first = incremental(src, None, "committed_at")
    assert column(first, "committed_at") == [e["commit"]["committer"]["date"] for e in events]
    assert first[-1].state["cursor"] == "2026-05-04T00:00:00Z"


def test_ignored_statuses_are_requests_without_records(api):
    orders = {**ORDERS, "ignore_statuses": [410]}
    api.fail_matching("/v1/users/2/orders", 410)
    src = source(config(api, users_stream(), orders))
    rows = column(read(src, "orders"), "user_id")
    assert 2 not in rows and 3 in rows
    # Without it, the same answer fails the stream.
    src = source(config(api, users_stream(), ORDERS))
    with pytest.raises(ConnectorError, match="HTTP 410"):
        read(src, "orders")


@pytest.mark.parametrize("status", [401, 429, 200])
def test_credentials_and_rate_limits_cannot_be_ignored(status):
    cfg = good()
    cfg["streams"][1]["ignore_statuses"] = [status]
    assert ("streams", 1, "ignore_statuses") in issue_locs(cfg)


def test_newest_first_records_stop_paging_at_the_boundary(api):
    events = [{"id": i, "updated_at": f"2026-06-{i:02d}T00:00:00Z"} for i in range(1, 21)]

    def newest_first(handler: Any, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        ordered = sorted(events, key=lambda e: e["updated_at"], reverse=True)
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
        return 200, {"events": ordered[offset : offset + limit]}, {}

    api.route("/v1/recent", newest_first)
    stream = {
        "name": "events",
        "path": "recent",
        "record_selector": "events",
        "primary_key": "id",
        "paginator": {"type": "offset", "page_size": 3},
        "incremental": {"cursor_field": "updated_at", "records_order": "descending"},
    }
    src = source(config(api, stream))
    first = incremental(src, None, "updated_at")
    assert sorted(column(first, "id")) == list(range(1, 21))
    events.append({"id": 21, "updated_at": "2026-06-21T00:00:00Z"})
    events.append({"id": 22, "updated_at": "2026-06-20T00:00:00Z"})  # a tie at the boundary
    api.hits.clear()
    second = incremental(src, first[-1].state, "updated_at")
    assert sorted(column(second, "id")) == [21, 22]
    # Pages of 3, newest first: 21, 22, 20 | 19, ...: the second page holds older records, and
    # none after it is asked for (the first request is discovery's sample).
    assert [urlsplit(hit).query for hit in api.hits_to("/v1/recent")] == [
        "limit=3&offset=0",
        "limit=3&offset=0",
        "limit=3&offset=3",
    ]
