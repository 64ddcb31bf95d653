"""A custom connector end to end: defined through the HTTP API, a connector of its type syncs
a local JSON API (tests/http_server.py, behind an API key) into PostgreSQL with a real worker;
editing the definition makes version 2 while the connector keeps reading with version 1, until
it is re-pinned to version 2."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Api
from tests.http_server import API_KEY, FakeApi
from tests.pg import connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS_V1 = {
    "name": "users",
    "path": "keyed/offset/users",
    "record_selector": "data.items",
    "primary_key": "id",
    "paginator": {"type": "offset"},
}
# Version 2 reads the users from another route (pages of 7), and adds a stream.
USERS_V2 = {
    "name": "users",
    "path": "keyed/pages/users",
    "record_selector": "results",
    "primary_key": "id",
    "paginator": {"type": "page_number", "page_size": 7},
}
EVENTS = {
    "name": "events",
    "path": "keyed/events",
    "record_selector": "events",
    "primary_key": "id",
    "params": {"kind": "{config.kind}"},
}


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    yield server
    server.stop()


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def rows(database: str, query: str) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(query).fetchall()


def paths_hit(fake: FakeApi) -> set[str]:
    return {urlsplit(path).path for _, path in fake.hits}


def test_a_custom_connector_syncs_with_its_pinned_version(
    celery, api, fake_api, dest_db, pg_destination
):
    celery.start("worker")
    for event_id, day in [(1, 1), (2, 2), (3, 3)]:
        fake_api.add_event(event_id, f"2026-02-0{day}T00:00:00Z")
    custom = api.ok(
        "POST",
        "/custom-connectors",
        201,
        json={
            "name": "Users API",
            "base_url": f"{fake_api.url}/{{config.area}}",
            "definition": {
                "auth_type": "api_key",
                "api_key_name": "X-Api-Key",
                "page_size": 5,
                "config_fields": [
                    {"name": "area", "type": "string", "default": "v1"},
                    {"name": "kind", "type": "string", "default": "all"},
                ],
                "streams": [USERS_V1],
            },
        },
    )
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "users_api",
            "type": custom["type"],
            "config": {"api_key": API_KEY},
            "destination_id": pg_destination["id"],
        },
    )
    assert connector["custom_version"] == 1 and "api_key" not in connector["config"]

    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", first
    assert first["rows_written"] == 23
    users = rows(dest_db, "SELECT id, name, address->>'city' FROM users_api.users ORDER BY id")
    assert users == [(i, f"user {i}", f"city {i % 5}") for i in range(1, 24)]
    assert paths_hit(fake_api) == {"/v1/keyed/offset/users"}

    # Version 2: another route for the users, and an events stream.
    edited = api.ok(
        "PATCH",
        f"/custom-connectors/{custom['id']}",
        json={"definition": {**custom["definition"], "streams": [USERS_V2, EVENTS]}},
    )
    assert edited["current_version"] == 2
    assert edited["connectors"] == [
        {"id": connector["id"], "name": "users_api", "custom_version": 1}
    ]

    # The connector still reads with version 1.
    fake_api.hits.clear()
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    assert paths_hit(fake_api) == {"/v1/keyed/offset/users"}
    ((tables,),) = rows(
        dest_db,
        "SELECT array_agg(table_name::text ORDER BY table_name) FROM information_schema.tables "
        "WHERE table_schema = 'users_api' AND table_name NOT LIKE '\\_%'",
    )
    assert tables == ["users"]

    # Re-pinned to version 2, with a config field of it set: it reads version 2.
    repinned = api.ok(
        "PATCH",
        f"/connectors/{connector['id']}",
        json={"custom_version": 2, "config": {"kind": "recent"}},
    )
    assert repinned["custom_version"] == 2
    fake_api.hits.clear()
    third = sync(api, connector["id"])
    assert third["status"] == "succeeded", third
    assert paths_hit(fake_api) == {"/v1/keyed/pages/users", "/v1/keyed/events"}
    # The {config.kind} placeholder was sent as the connector's value.
    assert all("kind=recent" in path for path in fake_api.hits_to("/v1/keyed/events"))
    assert fake_api.hits_to("/v1/keyed/events")
    events = rows(dest_db, "SELECT id, updated_at::text FROM users_api.events ORDER BY id")
    assert events == [
        (1, "2026-02-01T00:00:00Z"),
        (2, "2026-02-02T00:00:00Z"),
        (3, "2026-02-03T00:00:00Z"),
    ]
    ((count, distinct),) = rows(dest_db, "SELECT count(*), count(DISTINCT id) FROM users_api.users")
    assert (count, distinct) == (23, 23)
