"""Authorizing a Salesforce org and syncing it, end to end: the popup's path (PKCE) followed as
a browser does, a `salesforce` connector whose streams come from the org's describe, synced by
a real worker into PostgreSQL with SOQL through Salesforce's overload answers (503 with
Retry-After) and a session that expires mid-sync (refreshed), an incremental sync by
SystemModstamp, then the connected app's access revoked: `reauthorize_required`, not retried.
Salesforce is tests/saas_apis/salesforce.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api
from tests.pg import connect
from tests.saas_apis.salesforce import SalesforceApi
from tests.saas_oauth_server import SaaSOAuth, running

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def salesforce(settings, live_server) -> Iterator[tuple[SaaSOAuth, SalesforceApi]]:
    with running() as oauth:
        oauth.configure(settings)
        org = SalesforceApi(oauth)
        for n in range(1, 451):
            org.add_account(n)
        for n in range(1, 31):
            org.add_contact(n)
        settings.OAUTH_FRONTEND_URL = f"{oauth.url}/frontend"
        oauth.worker_env = {  # type: ignore[attr-defined]
            "SALESFORCE_CLIENT_ID": settings.SALESFORCE_CLIENT_ID,
            "SALESFORCE_CLIENT_SECRET": settings.SALESFORCE_CLIENT_SECRET,
            "SALESFORCE_LOGIN_URL": settings.SALESFORCE_LOGIN_URL,
        }
        yield oauth, org


def authorize(api: Api, **params: Any) -> dict:
    authorization = api.ok("GET", "/connectors/oauth/salesforce/authorize", params=params)
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


def test_authorize_discover_sync_and_revoke(celery, api, salesforce, dest_db, pg_destination):
    oauth, org = salesforce
    result = authorize(api)
    assert result["external_account"]["id"] == "00D000000000001"
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "crm",
            "type": "salesforce",
            "config": {"credential_id": result["credential_id"], "objects": ["Account", "Contact"]},
            "destination_id": pg_destination["id"],
        },
    )
    streams = {
        s["name"]: s for s in api.ok("GET", f"/connectors/{connector['id']}/streams")["streams"]
    }
    assert set(streams) == {"Account", "Contact"}
    account_columns = {c["name"]: c["type"] for c in streams["Account"]["columns"]}
    assert account_columns["AnnualRevenue"] == "double"
    assert account_columns["BillingAddress"] == "json"
    assert account_columns["SystemModstamp"] == "timestamptz"
    assert "Logo__c" not in account_columns  # binary fields are not read
    celery.start("worker", **oauth.worker_env)

    org.overload(2)
    org.expire_after(3)
    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    # Tables are named in lower case (docs/syncs.md); columns keep Salesforce's names.
    assert rows(dest_db, 'SELECT count(*), count(DISTINCT "Id") FROM crm.account') == [(450, 450)]
    assert rows(dest_db, "SELECT count(*) FROM crm.contact") == [(30,)]
    assert rows(
        dest_db,
        'SELECT "AnnualRevenue", "NumberOfEmployees", "SystemModstamp" AT TIME ZONE \'UTC\' '
        "FROM crm.account WHERE \"Id\" = '001000000000000007'",
    ) == [(7003.5, 7, datetime(2026, 3, 1, 0, 2))]
    assert rows(dest_db, 'SELECT "Birthdate" FROM crm.contact WHERE "LastName" = \'Person3\'') == [
        (date(1990, 1, 4),)
    ]
    assert oauth.refreshes("salesforce") == 1

    org.modify("Account", "001000000000000010", 900, Name="Renamed")
    org.modify("Account", "001000000000000011", 900)
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    account = {s["name"]: s for s in second["streams"]}["Account"]
    assert account["rows_read"] == 2
    # The boundary (the highest SystemModstamp read) is in the query, inclusive.
    incremental = [q for q in org.queries if "FROM Account WHERE" in q]
    assert incremental[-1].endswith(
        "WHERE SystemModstamp >= 2026-03-01T02:30:00.000+0000 ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert rows(dest_db, 'SELECT "Name" FROM crm.account WHERE "Id" = \'001000000000000010\'') == [
        ("Renamed",)
    ]
    assert rows(dest_db, "SELECT count(*) FROM crm.account") == [(450,)]

    oauth.revoke_all("salesforce")
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    assert (failed["error"]["type"], failed["error"]["retryable"]) == (
        "reauthorize_required",
        False,
    )
    assert "Traceback" not in celery.logs()
