"""The declarative HTTP API source through the HTTP API and a real worker process, against a
local JSON API (tests/http_server.py), into PostgreSQL: every pagination style, a child
stream, the incremental boundary across two syncs, recovery from 429 and 5xx, and the network
policy refusing the API's loopback address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import Api
from tests.http_server import FakeApi
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USER_STYLES: dict[str, dict[str, Any]] = {
    "users_offset": {
        "path": "offset/users",
        "record_selector": "data.items",
        "paginator": {"type": "offset"},
    },
    "users_pages": {
        "path": "pages/users",
        "record_selector": "results",
        "paginator": {"type": "page_number"},
    },
    "users_cursor": {
        "path": "cursor/users",
        "record_selector": "items",
        "paginator": {"type": "cursor", "cursor_path": "meta.next_cursor", "size_param": "limit"},
    },
    "users_next": {
        "path": "next/users",
        "record_selector": "records",
        "paginator": {"type": "next_url", "next_url_path": "links.next", "size_param": "size"},
    },
    "users_link": {
        "path": "link/users",
        "paginator": {"type": "link_header", "size_param": "per_page"},
    },
}
ORDERS = {
    "name": "orders",
    "path": "users/{parent.id}/orders",
    "record_selector": "orders",
    "primary_key": "order_id",
    "parent": {"stream": "users_offset", "include_as": "user_id"},
    "paginator": {"type": "page_number", "page_size": 2},
}
EVENTS = {
    "name": "events",
    "path": "events",
    "record_selector": "events",
    "primary_key": "id",
    "paginator": {"type": "offset", "page_size": 2},
    "incremental": {"cursor_field": "updated_at", "request_param": "since"},
    "columns": {"updated_at": "timestamptz"},
}
ORDERS_OF_CURSOR = {**ORDERS, "parent": {"stream": "users_cursor", "include_as": "user_id"}}


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    yield server
    server.stop()


def create_connector(api: Api, fake: FakeApi, destination: dict, *streams: dict) -> dict:
    config = {
        "base_url": f"{fake.url}/v1",
        "page_size": 5,
        "max_retries": 3,
        "backoff_base_seconds": 0.05,
        "max_backoff_seconds": 0.5,
        "streams": list(streams),
    }
    body = {"name": "restapi", "type": "http_api", "config": config}
    return api.ok("POST", "/connectors", 201, json={**body, "destination_id": destination["id"]})


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def rows(database: str, query: str) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(query).fetchall()


def test_every_pagination_style_and_a_child_stream(celery, api, fake_api, dest_db, pg_destination):
    celery.start("worker")
    users = [{"name": name, "primary_key": "id", **spec} for name, spec in USER_STYLES.items()]
    connector = create_connector(api, fake_api, pg_destination, *users, ORDERS)
    assert "api_key" not in connector["config"]

    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    expected_orders = sum(u % 4 for u in range(1, 24))
    assert job["rows_written"] == 5 * 23 + expected_orders

    for name in USER_STYLES:
        ((count, distinct, low, high),) = rows(
            dest_db, f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM restapi.{name}"
        )
        assert (count, distinct, low, high) == (23, 23, 1, 23), name
    # Nested objects land as one JSON column; ints mixed with floats as double precision.
    ((city, score),) = rows(
        dest_db, "SELECT address->>'city', score FROM restapi.users_offset WHERE id = 3"
    )
    assert (city, score) == ("city 3", 3.0)
    orders = rows(dest_db, "SELECT order_id, user_id FROM restapi.orders ORDER BY user_id")
    assert len(orders) == expected_orders == len({o for o, _ in orders})
    assert all(order.startswith(f"{user}-") for order, user in orders)


def test_incremental_boundary_across_two_syncs(celery, api, fake_api, dest_db, pg_destination):
    celery.start("worker")
    for event_id, day in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)]:
        fake_api.add_event(event_id, f"2026-02-0{day}T00:00:00Z")
    connector = create_connector(api, fake_api, pg_destination, EVENTS)
    # Appending makes a record delivered twice visible as a duplicate row.
    entry = {
        "name": "events",
        "enabled": True,
        "sync_mode": "incremental",
        "load_mode": "append",
        "cursor_field": "updated_at",
        "primary_key": ["id"],
    }
    api.ok("PUT", f"/connectors/{connector['id']}/streams", json={"streams": [entry]})

    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", first
    assert first["rows_written"] == 5

    # A late record at the boundary's value (2026-02-03), and a newer one.
    fake_api.add_event(6, "2026-02-03T00:00:00Z")
    fake_api.add_event(7, "2026-02-04T00:00:00Z")
    fake_api.hits.clear()
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    assert second["rows_read"] == 2
    # Every read asks from the boundary on (the sync's discovery samples without it).
    asked = [parse_qs(urlsplit(hit).query).get("since") for hit in fake_api.hits_to("/v1/events")]
    assert asked.count(None) == 1 and asked.count(["2026-02-03T00:00:00Z"]) == len(asked) - 1

    loaded = rows(dest_db, "SELECT id FROM restapi.events ORDER BY id")
    assert [r[0] for r in loaded] == [1, 2, 3, 4, 5, 6, 7]
    ((kind,),) = rows(
        dest_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = 'restapi' AND table_name = 'events' AND column_name = 'updated_at'",
    )
    assert kind == "timestamp with time zone"

    third = sync(api, connector["id"])
    assert third["status"] == "succeeded" and third["rows_read"] == 0


def test_rate_limits_and_server_errors_are_recovered(
    celery, api, fake_api, dest_db, pg_destination
):
    celery.start("worker")
    users = {"name": "users_cursor", "primary_key": "id", **USER_STYLES["users_cursor"]}
    connector = create_connector(api, fake_api, pg_destination, users, ORDERS_OF_CURSOR)
    # Discovery and the reads meet 429s (one with Retry-After) and 5xx, each fewer times than
    # max_retries in a row.
    fake_api.fail("/v1/cursor/users", 429, retry_after="0.2")
    fake_api.fail("/v1/cursor/users", 503, times=2)
    fake_api.fail("/v1/users/3/orders", 500)
    fake_api.fail("/v1/users/3/orders", 429, retry_after="0")
    fake_api.fail("/v1/users/7/orders", 502, times=3)

    job = sync(api, connector["id"])
    assert job["status"] == "succeeded", job
    assert job["attempt"] == 1
    ((count,),) = rows(dest_db, "SELECT count(DISTINCT id) FROM restapi.users_cursor")
    assert count == 23
    ((orders,),) = rows(dest_db, "SELECT count(*) FROM restapi.orders")
    assert orders == sum(u % 4 for u in range(1, 24))
    assert not fake_api.injected["/v1/users/7/orders"]  # every failure was met


def test_a_server_that_keeps_failing_fails_the_sync_clearly(celery, api, fake_api, pg_destination):
    celery.start("worker", SYNC_MAX_ATTEMPTS="1")
    users = {"name": "users_offset", "primary_key": "id", **USER_STYLES["users_offset"]}
    connector = create_connector(api, fake_api, pg_destination, users)
    # The first page answers (the sync's discovery reads it); the second never does.
    fake_api.fail_matching("/v1/offset/users", 503, offset="5")
    job = sync(api, connector["id"])
    assert job["status"] == "failed"
    error = job["error"]
    assert error["type"] == "transient" and error["retryable"] is True
    assert error["stream"] == "users_offset"
    assert "GET http://127.0.0.1" in error["message"] and "offset=5" in error["message"]
    assert "HTTP 503 after 4 attempts" in error["message"]
    assert len(fake_api.hits_to("/v1/offset/users")) >= 4


def test_the_worker_refuses_a_loopback_api_when_private_networks_are_off(
    celery, api, fake_api, pg_destination
):
    # Saved while the API server allowed it; the worker's policy refuses it.
    celery.start("worker", ALLOW_PRIVATE_NETWORKS="false", SYNC_MAX_ATTEMPTS="1")
    users = {"name": "users_offset", "primary_key": "id", **USER_STYLES["users_offset"]}
    connector = create_connector(api, fake_api, pg_destination, users)
    job = sync(api, connector["id"])
    assert job["status"] == "failed"
    assert job["error"]["type"] == "host_not_allowed" and job["error"]["retryable"] is False
    assert "ALLOW_PRIVATE_NETWORKS" in job["error"]["message"]
    assert fake_api.hits == []
