"""Authorizing a Microsoft 365 tenant and syncing it, end to end: the popup's path followed
as a browser does (PKCE), a `microsoft` connector created with the credential and synced by a
real worker into PostgreSQL: users by Graph's delta queries through a 429 storm, a 503 and an access
token that expires mid-sync (401 InvalidAuthenticationToken: refreshed, the rotated refresh
token kept), groups as a full refresh paged by `@odata.nextLink`; an incremental round from
the delta link (an update, a new user, a deleted one), a delta link the service no longer
honours (410: a full round again), then the grant revoked: `reauthorize_required`, not
retried. Graph is tests/saas_apis/microsoft.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from integrations.models import OAuthGrant
from landed.security.secrets import decrypt_secrets
from tests.e2e.conftest import Api
from tests.pg import connect
from tests.saas_apis.microsoft import GraphApi, group, user
from tests.saas_oauth_server import SaaSOAuth, running

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 23  # three delta pages of ten


@pytest.fixture
def microsoft(settings, live_server) -> Iterator[tuple[SaaSOAuth, GraphApi]]:
    with running() as oauth:
        oauth.configure(settings)
        settings.MICROSOFT_GRAPH_URL = f"{oauth.url}/graph"
        graph = GraphApi(oauth)
        for n in range(1, USERS + 1):
            graph.put("users", user(n))
        for n in range(1, 6):
            graph.put("groups", group(n))
        settings.OAUTH_FRONTEND_URL = f"{oauth.url}/frontend"
        oauth.worker_env = {  # type: ignore[attr-defined]
            "MICROSOFT_CLIENT_ID": settings.MICROSOFT_CLIENT_ID,
            "MICROSOFT_CLIENT_SECRET": settings.MICROSOFT_CLIENT_SECRET,
            "MICROSOFT_LOGIN_URL": settings.MICROSOFT_LOGIN_URL,
            "MICROSOFT_TENANT": settings.MICROSOFT_TENANT,
            "MICROSOFT_GRAPH_URL": settings.MICROSOFT_GRAPH_URL,
        }
        yield oauth, graph


def authorize(api: Api) -> dict:
    authorization = api.ok("GET", "/connectors/oauth/microsoft/authorize")
    landed = requests.get(
        authorization["authorize_url"], headers={"Accept": "application/json"}, timeout=30
    )
    assert landed.status_code == 200, landed.text
    return api.ok("GET", "/connectors/oauth/result", params={"code": landed.json()["code"]})


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def rows(database: str, sql: str, *params: object) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(sql, list(params)).fetchall()


def read(job: dict, stream: str) -> int:
    return {s["name"]: s for s in job["streams"]}[stream]["rows_read"]


def test_authorize_delta_sync_refresh_and_revoke(celery, api, microsoft, dest_db, pg_destination):
    oauth, graph = microsoft
    result = authorize(api)
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "tenant",
            "type": "microsoft",
            "config": {"credential_id": result["credential_id"]},
            "destination_id": pg_destination["id"],
        },
    )
    streams = {
        s["name"]: s for s in api.ok("GET", f"/connectors/{connector['id']}/streams")["streams"]
    }
    assert (streams["users"]["sync_mode"], streams["users"]["cursor_field"]) == (
        "incremental",
        "_synced_at",
    )
    # Groups as a full refresh: Graph's plain listing, $top and @odata.nextLink.
    groups = {"name": "groups", "enabled": True, "sync_mode": "full_refresh"}
    groups |= {"load_mode": "overwrite", "primary_key": ["id"], "cursor_field": None}
    users = {key: streams["users"][key] for key in ("name", "enabled", "sync_mode", "load_mode")}
    users |= {"cursor_field": "_synced_at", "primary_key": ["id"]}
    api.ok("PUT", f"/connectors/{connector['id']}/streams", json={"streams": [users, groups]})
    celery.start("worker", **oauth.worker_env)
    grant = OAuthGrant.objects.get(pk=result["credential_id"])
    first_refresh_token = decrypt_secrets(grant.encrypted_tokens)["refresh_token"]

    graph.throttle(3)  # 429 TooManyRequests with Retry-After, three times
    graph.expire_after(2)  # the access token runs out after two more requests
    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    assert rows(dest_db, "SELECT count(*), count(DISTINCT id) FROM tenant.users") == [
        (USERS, USERS)
    ]
    assert rows(dest_db, "SELECT count(*) FROM tenant.groups") == [(5,)]
    assert rows(
        dest_db,
        'SELECT "displayName", "accountEnabled", "businessPhones"::text, '
        "\"createdDateTime\" = '2025-01-22T08:00:00Z', _removed, _synced_at IS NOT NULL "
        "FROM tenant.users WHERE id = %s",
        user(21)["id"],
    ) == [("User 21", False, '["+1 425 555 0021"]', True, None, True)]
    # A full delta round (three pages by @odata.nextLink), the groups listed with $top.
    assert len(graph.calls("users/delta")) >= 3
    assert all("$top" in q for q in graph.calls("groups"))
    # Expired mid-sync: refreshed once, and the rotated refresh token is the one stored.
    assert oauth.refreshes("microsoft") == 1
    grant.refresh_from_db()
    assert decrypt_secrets(grant.encrypted_tokens)["refresh_token"] != first_refresh_token

    graph.put("users", user(2, displayName="Renamed", jobTitle="Manager"))
    graph.put("users", user(30))
    graph.delete("users", user(5)["id"])
    graph.unavailable(1)  # 503 serviceNotAvailable with Retry-After: waited, sent again
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    assert graph.served == {429: 3, 503: 1}
    assert read(second, "users") == 3
    assert "$deltatoken" in graph.calls("users/delta")[-1]
    assert rows(
        dest_db,
        'SELECT id, "displayName", _removed FROM tenant.users WHERE id IN (%s, %s, %s) ORDER BY id',
        user(2)["id"],
        user(5)["id"],
        user(30)["id"],
    ) == [
        (user(2)["id"], "Renamed", None),
        (user(5)["id"], None, "deleted"),
        (user(30)["id"], "User 30", None),
    ]
    assert rows(dest_db, "SELECT count(*) FROM tenant.users") == [(USERS + 1,)]

    # The delta link expired at Graph (410 syncStateNotFound): a full round again.
    graph.expire_delta_tokens()
    third = sync(api, connector["id"])
    assert third["status"] == "succeeded", third
    assert read(third, "users") == USERS

    # The tenant's admin revoked the app: the refresh token is refused.
    oauth.revoke_all("microsoft")
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    assert (failed["error"]["type"], failed["error"]["retryable"]) == (
        "reauthorize_required",
        False,
    )
    assert "Traceback" not in celery.logs()
