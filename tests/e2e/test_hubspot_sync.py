"""Authorizing a HubSpot portal and syncing it, end to end: the popup's path followed as a browser
does, a `hubspot` connector created with the credential and synced by a real worker into
PostgreSQL through a 429 storm, an access token that expires mid-sync (renewed with the
refresh token) and more contacts than one search serves (the result window, 400 here instead
of HubSpot's 10,000: new searches from the last modification time, none past the window);
then an incremental sync of the records modified since, and the app uninstalled:
`reauthorize_required`, not retried. HubSpot is tests/saas_apis/hubspot.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api
from tests.pg import connect
from tests.saas_apis.hubspot import HubSpotApi
from tests.saas_oauth_server import SaaSOAuth, running
from webhooks.models import Event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WINDOW = 400


@pytest.fixture
def hubspot(settings, live_server) -> Iterator[tuple[SaaSOAuth, HubSpotApi]]:
    with running() as oauth:
        oauth.configure(settings)
        settings.HUBSPOT_SEARCH_RESULT_WINDOW = WINDOW
        api = HubSpotApi(oauth, window=WINDOW)
        # 900 contacts, three to a millisecond-exact modification time: ties everywhere,
        # at the window's edges too.
        for n in range(1, 901):
            api.add("contacts", n, n // 3, email=f"c{n}@acme.com", firstname=f"C{n}")
        for n in range(1, 41):
            api.add("companies", n, n, name=f"Company {n}", numberofemployees=n * 10)
        for n in range(1, 251):
            api.add(
                "deals",
                n,
                n,
                dealname=f"Deal {n}",
                amount=f"{n}00.50",
                closedate="2026-06-30T00:00:00Z",
            )
        for n in range(1, 8):
            api.add_owner(n)
        settings.OAUTH_FRONTEND_URL = f"{oauth.url}/frontend"
        oauth.worker_env = {  # type: ignore[attr-defined]
            "HUBSPOT_CLIENT_ID": settings.HUBSPOT_CLIENT_ID,
            "HUBSPOT_CLIENT_SECRET": settings.HUBSPOT_CLIENT_SECRET,
            "HUBSPOT_OAUTH_URL": settings.HUBSPOT_OAUTH_URL,
            "HUBSPOT_API_URL": settings.HUBSPOT_API_URL,
            "HUBSPOT_SEARCH_RESULT_WINDOW": str(WINDOW),
        }
        yield oauth, api


def authorize(api: Api, **params: Any) -> dict:
    authorization = api.ok("GET", "/connectors/oauth/hubspot/authorize", params=params)
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


def read(job: dict) -> dict[str, int]:
    return {s["name"]: s["rows_read"] for s in job["streams"]}


def test_authorize_sync_refresh_window_and_revoke(celery, api, hubspot, dest_db, pg_destination):
    oauth, portal = hubspot
    result = authorize(api)
    assert result["external_account"]["id"] == "4242"
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "crm",
            "type": "hubspot",
            "config": {"credential_id": result["credential_id"]},
            "destination_id": pg_destination["id"],
        },
    )
    tested = api.ok("POST", f"/connectors/{connector['id']}/test")
    assert tested["ok"] is True, tested  # one search: the first page of contacts
    assert portal.searches("contacts")[0]["limit"] == 200
    celery.start("worker", **oauth.worker_env)

    portal.throttle(3)  # 429 RATE_LIMITS, without Retry-After, three times
    portal.expire_after(6)  # the access token runs out after six more requests
    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    assert read(first) == {"contacts": 900, "companies": 40, "deals": 250, "owners": 7}
    assert rows(dest_db, "SELECT count(*), count(DISTINCT id) FROM crm.contacts") == [(900, 900)]
    assert rows(dest_db, "SELECT count(*) FROM crm.owners") == [(7,)]
    assert portal.throttled == 3
    # Expired mid-sync (401 EXPIRED_AUTHENTICATION): refreshed once, HubSpot keeping its
    # refresh token.
    assert portal.expired_answers >= 1 and oauth.refreshes("hubspot") == 1
    # More contacts than a search serves: several searches, each from the last modification
    # time delivered (epoch milliseconds, in the body), none paged past the window.
    searches = portal.searches("contacts")
    starts = {s["filterGroups"][0]["filters"][0]["value"] for s in searches}
    assert len(starts) >= 3 and portal.refused_past_window == 0
    assert all(s["limit"] == 200 and int(s.get("after") or 0) < WINDOW for s in searches)
    # Properties lifted into typed columns.
    assert rows(
        dest_db,
        "SELECT firstname, lastmodifieddate AT TIME ZONE 'UTC' FROM crm.contacts WHERE id = '7'",
    ) == [("C7", datetime(2026, 3, 1, 0, 0, 2))]
    assert rows(
        dest_db,
        "SELECT numberofemployees, amount FROM crm.companies, crm.deals "
        "WHERE companies.id = '4' AND deals.id = '4'",
    ) == [(40, "400.50")]
    assert rows(dest_db, "SELECT closedate FROM crm.deals WHERE id = '1'") == [
        (datetime(2026, 6, 30, tzinfo=UTC),)
    ]

    # Modified since: two contacts (one at the boundary's own millisecond), a new one, a deal.
    portal.touch("contacts", 5, 300, firstname="Renamed")
    portal.add("contacts", 901, 300, email="new@acme.com")
    portal.touch("contacts", 6, 400)
    portal.touch("deals", 3, 500, dealstage="closedwon")
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", (second, celery.logs())
    assert read(second) == {"contacts": 3, "companies": 0, "deals": 1, "owners": 0}
    assert rows(dest_db, "SELECT firstname FROM crm.contacts WHERE id = '5'") == [("Renamed",)]
    assert rows(dest_db, "SELECT count(*) FROM crm.contacts") == [(901,)]
    assert rows(dest_db, "SELECT dealstage FROM crm.deals WHERE id = '3'") == [("closedwon",)]

    # The app is uninstalled from the portal: its tokens and refresh token are revoked.
    oauth.revoke_all("hubspot")
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    assert (failed["error"]["type"], failed["error"]["retryable"]) == (
        "reauthorize_required",
        False,
    )
    assert Event.objects.filter(type="connector.reauthorize_required").count() == 1
    assert "Traceback" not in celery.logs()
