"""Authorizing a Shopify shop and syncing it, end to end: the popup's path followed as a browser
does (Landed's authorize URL -> Shopify's consent -> the callback, signed with the app's
HMAC), the result code traded for a credential reference, a `shopify` connector created with
it and synced by a real worker into PostgreSQL through a 429 storm, an incremental sync, then
the app uninstalled (its token refused): the sync fails with `reauthorize_required`, not
retried, `connector.reauthorize_required` is raised; authorizing again for the connector
re-links it, keeping its streams and state. Shopify is tests/saas_apis/shopify.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api
from tests.pg import connect
from tests.saas_apis.shopify import ShopifyApi, at, order
from tests.saas_oauth_server import SaaSOAuth, running
from webhooks.models import Event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOP = "acme-store.myshopify.com"


@pytest.fixture
def shopify(settings, live_server) -> Iterator[tuple[SaaSOAuth, ShopifyApi]]:
    with running() as oauth:
        oauth.configure(settings)
        api = ShopifyApi(oauth)
        api.fill(SHOP, orders=520, customers=30, products=12)
        settings.OAUTH_FRONTEND_URL = f"{oauth.url}/frontend"
        oauth.worker_env = {  # type: ignore[attr-defined]
            "SHOPIFY_CLIENT_ID": settings.SHOPIFY_CLIENT_ID,
            "SHOPIFY_CLIENT_SECRET": settings.SHOPIFY_CLIENT_SECRET,
            "SHOPIFY_SHOP_URL_TEMPLATE": settings.SHOPIFY_SHOP_URL_TEMPLATE,
        }
        yield oauth, api


def authorize(api: Api, **params: Any) -> dict:
    """What the frontend's popup does: open the authorize URL, consent, land on the callback
    (asked as JSON here, where a browser gets the page that posts the same message)."""
    authorization = api.ok(
        "GET", "/connectors/oauth/shopify/authorize", params={"shop": SHOP, **params}
    )
    landed = requests.get(
        authorization["authorize_url"], headers={"Accept": "application/json"}, timeout=30
    )
    assert landed.status_code == 200, landed.text
    message = landed.json()
    assert message["type"] == "landed:oauth" and "code" in message, message
    return api.ok("GET", "/connectors/oauth/result", params={"code": message["code"]})


def sync(api: Api, connector_id: str) -> dict:
    job = api.ok("POST", f"/connectors/{connector_id}/sync", 202, json={})
    return api.wait_for_job(job["id"])


def rows(database: str, sql: str) -> list[tuple]:
    with connect(database) as conn:
        return conn.execute(sql).fetchall()


def test_authorize_sync_revoke_and_relink(celery, api, shopify, dest_db, pg_destination):
    oauth, shop = shopify
    result = authorize(api)
    assert result["provider"] == "shopify"
    assert result["external_account"]["shop"] == SHOP
    connector = api.ok(
        "POST",
        "/connectors",
        201,
        json={
            "name": "shop",
            "type": "shopify",
            "config": {"credential_id": result["credential_id"]},
            "destination_id": pg_destination["id"],
        },
    )
    celery.start("worker", **oauth.worker_env)

    shop.throttle(4)  # Shopify's bucket is full: 429 with Retry-After, four times
    first = sync(api, connector["id"])
    assert first["status"] == "succeeded", (first, celery.logs())
    assert rows(dest_db, "SELECT count(*), count(DISTINCT id) FROM shop.orders") == [(520, 520)]
    assert rows(dest_db, "SELECT count(*) FROM shop.customers") == [(30,)]
    assert rows(dest_db, "SELECT count(*) FROM shop.products") == [(12,)]
    # Money as Shopify wrote it (decimal text), times with their offset applied.
    assert rows(
        dest_db,
        "SELECT total_price, updated_at AT TIME ZONE 'UTC' FROM shop.orders WHERE id = 5007",
    ) == [("21.10", datetime(2026, 3, 1, 0, 7))]
    throttled = [q for s, q in shop.requests if s == "orders"]
    assert len(throttled) >= 3 + 4  # three pages of 250, after four 429s

    # Two orders change, one is new: an incremental sync reads those (updated_at_min is
    # inclusive: the boundary's own records come back and are dropped by their keys).
    shop.touch(SHOP, "orders", 5001, at(900), financial_status="refunded")
    shop.touch(SHOP, "orders", 5002, at(900))
    shop.add(SHOP, "orders", {**order(521, customer_id=1), "updated_at": at(901)})
    second = sync(api, connector["id"])
    assert second["status"] == "succeeded", second
    orders = {s["name"]: s for s in second["streams"]}["orders"]
    assert orders["rows_read"] == 3
    assert rows(dest_db, "SELECT count(*), count(DISTINCT id) FROM shop.orders") == [(521, 521)]
    assert rows(dest_db, "SELECT financial_status FROM shop.orders WHERE id = 5001") == [
        ("refunded",)
    ]

    # The shop's owner uninstalls the app: its token is refused, and Shopify's offline tokens
    # cannot be refreshed.
    oauth.revoke_all("shopify")
    failed = sync(api, connector["id"])
    assert failed["status"] == "failed"
    error = failed["error"]
    assert (error["type"], error["retryable"]) == ("reauthorize_required", False), error
    assert "connector_id=" in error["message"]
    assert Event.objects.filter(type="connector.reauthorize_required").count() == 1

    # Authorized again for the connector: the same credential, the streams and state kept.
    relinked = authorize(api, connector_id=connector["id"])
    assert relinked["credential_id"] == result["credential_id"]
    assert relinked["status"] == "active"
    shop.touch(SHOP, "orders", 5003, at(950))
    third = sync(api, connector["id"])
    assert third["status"] == "succeeded", (third, celery.logs())
    assert {s["name"]: s for s in third["streams"]}["orders"]["rows_read"] == 1
    assert "Traceback" not in celery.logs()
