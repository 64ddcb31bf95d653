"""Connecting GitHub and syncing it, end to end: the install flow followed as a browser does
(Landed's install URL -> GitHub's install page -> the callback, with the installing user's
authorization code -> the frontend), a `github`
connector synced by a real worker into PostgreSQL, an incremental sync, then the App
uninstalled: the sync fails with `reauthorize_required`, is not retried, raises `sync.failed`,
and the schedule stops until GitHub is connected again, when it resumes by itself. GitHub is
the local server of tests/github_server.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from connectors.models import Connector
from syncs.models import Job
from tests.e2e.conftest import Api
from tests.github_server import (
    APP_ID,
    APP_SLUG,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeGitHub,
    Repo,
    at,
    running,
)
from tests.pg import connect
from webhooks.models import Event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def github(settings, live_server, tmp_path) -> Iterator[FakeGitHub]:
    with running() as server:
        widgets = Repo("acme", "widgets", 1)
        for number in range(1, 121):
            widgets.add_issue(number, at(1 + number % 20))
        for number in range(1, 4):
            widgets.add_pull(number, at(number))
        widgets.add_commit("a1", at(3))
        widgets.add_run(11, at(1), at(2))
        server.install(41, "acme", widgets, Repo("acme", "empty", 2), account_id=7001)
        server.setup_url = f"{live_server.url}/integrations/github/callback"
        key = server.write_key(tmp_path)
        app = {
            "GITHUB_APP_ID": APP_ID,
            "GITHUB_APP_SLUG": APP_SLUG,
            "GITHUB_APP_PRIVATE_KEY_PATH": str(key),
            "GITHUB_API_URL": server.url,
            "GITHUB_WEB_URL": server.url,
            "GITHUB_APP_FRONTEND_URL": f"{server.url}/frontend",
        }
        for name, value in app.items():
            setattr(settings, name, value)
        # The install page asks the user's authorization, and the callback checks that the
        # user can reach the installation it names.
        server.user_authorization = True
        settings.GITHUB_APP_CLIENT_ID = CLIENT_ID
        settings.GITHUB_APP_CLIENT_SECRET = CLIENT_SECRET
        server.worker_env = app  # what the worker and beat processes are started with
        yield server


def connect_github(api: Api) -> dict:
    """What a user's browser does: open the install URL, install on GitHub, come back."""
    url = api.ok("GET", "/integrations/github/install")["url"]
    landed = requests.get(url, timeout=30)  # follows GitHub's and the callback's redirects
    assert landed.status_code == 200, landed.text
    return parse_qs(urlsplit(landed.json()["landed_on"]).query)


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def count(database: str, table: str) -> int:
    with connect(database) as conn:
        return conn.execute(f"SELECT count(*) FROM gh.{table}").fetchone()[0]


def test_connect_sync_revoke_and_reconnect(celery, api, github, dest_db, pg_destination):
    assert connect_github(api) == {"github": ["connected"], "installation_id": ["41"]}
    (integration,) = api.ok("GET", "/integrations")["items"]
    assert (integration["account_login"], integration["status"]) == ("acme", "active")

    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "gh",
            "type": "github",
            "config": {"installation_id": 41},
            "destination_id": pg_destination["id"],
        },
    )
    celery.start("worker", **github.worker_env)

    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    assert count(dest_db, "repositories") == 2
    assert count(dest_db, "issues") == 120
    assert count(dest_db, "pull_requests") == 3
    assert count(dest_db, "commits") == 1  # the empty repository's 409 is no commits
    assert count(dest_db, "workflow_runs") == 1
    minted = github.minted

    widgets = github.repos["acme/widgets"]
    widgets.issues[0]["title"] = "renamed"
    widgets.issues[0]["updated_at"] = at(28)
    widgets.add_issue(121, at(28))
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    issues = {s["name"]: s for s in second["streams"]}["issues"]
    assert issues["rows_read"] == 2  # asked with `since`: only what changed
    assert count(dest_db, "issues") == 121  # merged by id
    with connect(dest_db) as conn:
        (title,) = conn.execute("SELECT title FROM gh.issues WHERE number = 1").fetchone()
    assert title == "renamed"
    assert github.minted == minted  # the token cached (encrypted) served the second sync

    # The App is uninstalled on GitHub: its tokens are refused, and no new one is minted.
    github.uninstall(41)
    Connector.objects.filter(id=connector["id"]).update(sync_frequency_minutes=60)
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    error = failed["error"]
    assert (error["type"], error["retryable"]) == ("reauthorize_required", False)
    assert "uninstalled" in error["message"] and "/integrations/github/install" in error["message"]
    assert api.ok("GET", "/integrations")["items"][0]["status"] == "revoked"
    event = Event.objects.get(type="sync.failed")
    assert event.data["job"]["error"]["type"] == "reauthorize_required"

    # Not retried, and the schedule stops: due for an hour, the connector is not synced.
    Connector.objects.filter(id=connector["id"]).update(
        last_triggered_at=timezone.now() - timedelta(hours=2)
    )
    celery.start("beat", **github.worker_env)
    time.sleep(4)
    assert Job.objects.filter(connector_id=connector["id"]).count() == 3

    # Installed again (GitHub gives it a new id): the connector moves to it, and the schedule
    # resumes by itself.
    github.install(57, "acme", widgets, Repo("acme", "empty", 2), account_id=7001)
    assert connect_github(api) == {"github": ["updated"], "installation_id": ["57"]}
    assert api.ok("GET", f"/connectors/{connector['id']}")["config"]["installation_id"] == 57
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        scheduled = Job.objects.filter(connector_id=connector["id"], trigger="schedule").first()
        if scheduled is not None:
            break
        time.sleep(0.2)
    assert scheduled is not None, celery.logs()
    resumed = api.wait_for_job(str(scheduled.id))
    assert resumed["status"] == "succeeded", resumed
    assert "Traceback" not in celery.logs()
