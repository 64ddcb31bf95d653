"""Billing fixtures: plans, a local Stripe (tests/stripe_server.py) the real `stripe` library
talks to, an API client with an API key, and helpers for receipts and signed Stripe events."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from connectors.models import Connector, Destination
from syncs.models import SyncReceipt
from tests.pg import pg_config
from tests.stripe_server import FakeStripe, sign_event

WEBHOOK_SECRET = "whsec_test_landed_billing"
PLANS = [
    {
        "name": "pro",
        "stripe_price_id": "price_pro_monthly",
        "stripe_metered_price_id": "price_pro_rows",
        "monthly_price_cents": 4900,
        "connector_limit": 10,
        "included_rows": 5_000_000,
        "extra_million_rows_cents": 150,
    },
    {
        "name": "team",
        "stripe_price_id": "price_team_monthly",
        "monthly_price_cents": 19900,
        "connector_limit": 50,
        "included_rows": 50_000_000,
        "extra_million_rows_cents": 0,
    },
]

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _billing_settings(settings) -> None:
    settings.BILLING_PLANS = PLANS
    settings.BILLING_FREE_CONNECTOR_LIMIT = 3
    settings.BILLING_FREE_INCLUDED_ROWS = 1_000_000
    settings.BILLING_GRACE_DAYS = 7
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 3.0
    settings.BILLING_SUCCESS_URL = "https://app.example.com/billing?ok=1"
    settings.BILLING_CANCEL_URL = "https://app.example.com/billing?cancel=1"
    settings.BILLING_PORTAL_RETURN_URL = "https://app.example.com/billing"


@pytest.fixture
def fake_stripe(settings) -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = fake.api_key
        settings.STRIPE_API_BASE = fake.url
        yield fake


@pytest.fixture
def account(user):
    return user.account


def make_connector(account, name: str | None = None) -> Connector:
    n = next(_ids)
    destination, _ = Destination.objects.get_or_create(
        account=account, name="wh", defaults={"type": "postgres", "config": {}}
    )
    return Connector.objects.create(
        account=account,
        name=name or f"c{n}",
        type="postgres",
        destination=destination,
        destination_schema=f"s{n}",
    )


def receipt(account, *, finished_at: datetime, rows: int, connector=None) -> SyncReceipt:
    return SyncReceipt.objects.create(
        account=account,
        connector=connector,
        connector_name="c",
        connector_type="postgres",
        run_id=uuid.uuid4(),
        status="succeeded",
        trigger="manual",
        started_at=finished_at - timedelta(seconds=1),
        finished_at=finished_at,
        duration_seconds=1.0,
        rows_written=rows,
    )


def stripe_event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str = ""
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def post_event(api: APIClient, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET):
    body, header = sign_event(event, secret)
    return api.post(
        "/billing/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )


def subscription(
    sub_id: str,
    customer: str,
    status: str,
    *,
    price: str = "price_pro_monthly",
    metered_price: str | None = "price_pro_rows",
    period: tuple[int, int] | None = None,
    period_on_items: bool = True,
) -> dict[str, Any]:
    """A Subscription object as Stripe sends it (the period on its items, as in recent API
    versions, or on the subscription, as in older ones)."""
    start, end = period or (int(time.time()) - 86400, int(time.time()) + 29 * 86400)
    items = [{"id": f"si_{sub_id}_base", "object": "subscription_item", "price": {"id": price}}]
    if metered_price:
        items.append(
            {
                "id": f"si_{sub_id}_rows",
                "object": "subscription_item",
                "price": {"id": metered_price, "recurring": {"usage_type": "metered"}},
            }
        )
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "items": {"object": "list", "data": items},
        "metadata": {},
    }
    if period_on_items:
        for item in items:
            item["current_period_start"], item["current_period_end"] = start, end
    else:
        obj["current_period_start"], obj["current_period_end"] = start, end
    return obj


# A destination and connectors through the HTTP API, for the quota and enforcement tests.
@pytest.fixture
def destination(client) -> dict:
    body = {"name": "wh", "type": "postgres", "config": pg_config("landed_unused")}
    response = client.post("/destinations", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create_connector(client, destination: dict, name: str):
    body = {
        "name": name,
        "type": "postgres",
        "config": pg_config("landed_unused"),
        "destination_id": destination["id"],
    }
    return client.post("/connectors", body, format="json")
