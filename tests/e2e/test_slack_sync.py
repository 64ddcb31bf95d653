"""Authorizing a Slack workspace and syncing it, end to end: the popup's path followed as a
browser does, a `slack` connector created with the credential and synced by a real worker into
PostgreSQL through a 429 storm and an access token that expires mid-sync (Slack's token
rotation: refreshed, the new refresh token kept), an incremental sync of new messages, then the
app uninstalled: `reauthorize_required`, not retried. Slack is tests/saas_apis/slack.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from integrations.models import OAuthGrant
from landed.security.secrets import decrypt_secrets
from tests.e2e.conftest import Api
from tests.pg import connect
from tests.saas_apis.slack import SlackApi, ts
from tests.saas_oauth_server import SaaSOAuth, running

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slack(settings, live_server) -> Iterator[tuple[SaaSOAuth, SlackApi]]:
    with running() as oauth:
        oauth.configure(settings)
        api = SlackApi(oauth)
        api.add_channel("C1", "general")
        api.add_channel("C2", "random")
        api.add_channel("C3", "private-ish", joined=False)
        for n in range(1, 8):
            api.add_member(n)
        for n in range(1, 451):
            api.post("C1" if n % 10 else "C2", n)
        settings.OAUTH_FRONTEND_URL = f"{oauth.url}/frontend"
        oauth.worker_env = {  # type: ignore[attr-defined]
            "SLACK_CLIENT_ID": settings.SLACK_CLIENT_ID,
            "SLACK_CLIENT_SECRET": settings.SLACK_CLIENT_SECRET,
            "SLACK_OAUTH_URL": settings.SLACK_OAUTH_URL,
            "SLACK_API_URL": settings.SLACK_API_URL,
        }
        yield oauth, api


def authorize(api: Api, **params: Any) -> dict:
    authorization = api.ok("GET", "/connectors/oauth/slack/authorize", params=params)
    landed = requests.get(
        authorization["authorize_url"], headers={"Accept": "application/json"}, timeout=30
    )
    assert landed.status_code == 200, landed.text
    return api.ok("GET", "/connectors/oauth/result", params={"code": landed.json()["code"]})


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def rows(database: str, sql: str) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(sql).fetchall()


def test_authorize_sync_refresh_and_revoke(celery, api, slack, dest_db, pg_destination):
    oauth, workspace = slack
    result = authorize(api)
    assert result["external_account"]["id"] == "T0001"
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "chat",
            "type": "slack",
            "config": {"credential_id": result["credential_id"]},
            "destination_id": pg_destination["id"],
        },
    )
    celery.start("worker", **oauth.worker_env)
    grant = OAuthGrant.objects.get(pk=result["credential_id"])
    first_refresh_token = decrypt_secrets(grant.encrypted_tokens)["refresh_token"]

    workspace.throttle(2)  # a tier's limit: 429 with Retry-After, twice
    workspace.expire_after(4)  # the access token runs out after four more requests
    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    assert rows(dest_db, "SELECT count(*) FROM chat.channels") == [(3,)]
    assert rows(dest_db, "SELECT count(*) FROM chat.users") == [(7,)]
    assert rows(
        dest_db,
        "SELECT channel, count(*), count(DISTINCT ts) FROM chat.messages GROUP BY 1 ORDER BY 1",
    ) == [("C1", 405, 405), ("C2", 45, 45)]
    # Expired mid-sync: refreshed once, and the rotated refresh token is the one stored.
    assert oauth.refreshes("slack") == 1
    grant.refresh_from_db()
    assert decrypt_secrets(grant.encrypted_tokens)["refresh_token"] != first_refresh_token
    assert [q.get("oldest") for name, q in workspace.requests if name == "conversations.history"]

    workspace.post("C1", 451, "hello again")
    workspace.post("C2", 460)
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    messages = {s["name"]: s for s in second["streams"]}["messages"]
    assert messages["rows_read"] == 2
    with connect(dest_db) as conn:
        text = conn.execute("SELECT text FROM chat.messages WHERE ts = %s", [ts(451)]).fetchall()
    assert text == [("hello again",)]
    assert rows(dest_db, "SELECT count(*) FROM chat.messages") == [(452,)]

    # The app is uninstalled from the workspace: tokens and refresh tokens are revoked.
    oauth.revoke_all("slack")
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    assert (failed["error"]["type"], failed["error"]["retryable"]) == (
        "reauthorize_required",
        False,
    )
    assert "Traceback" not in celery.logs()
