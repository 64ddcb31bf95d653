"""The declarative HTTP API source against a local JSON API (tests/http_server.py): every
pagination style, parent/child streams, the incremental boundary with ties, retries of 429,
5xx and timeouts, auth types, column inference, and the definition's validation."""

from __future__ import annotations

import copy
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
    ReadRequest,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)
from connectors.sources.http_api import HttpApiSource
from landed.accounts import services as account_services
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
    with pytest.raises(TransientError, match=r"Stream 'users': GET .* timed out after 2 attempts"):
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
        (_in(1, path="users/{parent.uid}/orders"), ("streams", 1, "path")),
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
