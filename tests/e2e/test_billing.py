"""Billing end to end: the API over HTTP, a real Celery worker and beat, a real sync, and the
official `stripe` library talking to a local Stripe (tests/stripe_server.py). A customer
subscribes, syncs, sees the rows in their usage, the beat reports them to Stripe's meter once,
and a subscription Stripe ends stops writes and syncs while reads go on."""

import json
import time

import pytest
import requests

from tests.billing.conftest import PLANS, WEBHOOK_SECRET, stripe_event, subscription
from tests.e2e.conftest import create_pg_connector
from tests.pg import connect
from tests.stripe_server import FakeStripe, sign_event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake_stripe(settings):
    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = fake.api_key
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_MAX_NETWORK_RETRIES = 0
        settings.BILLING_PLANS = PLANS
        yield fake


def stripe_says(api, event: dict) -> None:
    body, header = sign_event(event, WEBHOOK_SECRET)
    response = requests.post(
        f"{api.base_url}/billing/webhook",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_subscribe_sync_report_usage_and_lose_the_subscription(
    celery, api, fake_stripe, source_db, pg_destination
):
    with connect(source_db) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 700) g")
    stripe_env = {
        "STRIPE_SECRET_KEY": fake_stripe.api_key,
        "STRIPE_API_BASE": fake_stripe.url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "BILLING_PLANS": json.dumps(PLANS),
        "BILLING_USAGE_REPORT_SECONDS": "1",
    }
    celery.start("worker", **stripe_env)
    celery.start("beat", **stripe_env)

    usage = api.ok("GET", "/billing/usage")
    assert usage["plan"]["name"] == "free" and usage["rows_synced"] == 0

    checkout = api.ok("POST", "/billing/checkout", json={"plan": "pro"})
    assert checkout["url"].startswith("https://checkout.stripe.com/")
    assert len(fake_stripe.to("/v1/customers")) == 1
    account_id = api.ok("GET", "/auth/me")["customer"]["id"]
    (session,) = fake_stripe.to("/v1/checkout/sessions")
    customer_id = session.form["customer"]
    assert session.form["client_reference_id"] == account_id

    # Stripe: the checkout completed and the subscription is active.
    stripe_says(
        api,
        stripe_event(
            "checkout.session.completed",
            {
                "id": "cs_test_1",
                "object": "checkout.session",
                "mode": "subscription",
                "client_reference_id": account_id,
                "customer": customer_id,
                "subscription": "sub_e2e",
                "payment_status": "paid",
                "status": "complete",
                "metadata": {"account_id": account_id, "plan": "pro"},
            },
        ),
    )
    stripe_says(
        api,
        stripe_event(
            "customer.subscription.created", subscription("sub_e2e", customer_id, "active")
        ),
    )
    assert api.ok("GET", "/billing/usage")["plan"]["name"] == "pro"

    connector = create_pg_connector(api, source_db, pg_destination)
    job = api.ok("POST", f"/connectors/{connector['id']}/sync", 202)
    assert api.wait_for_job(job["id"])["status"] == "succeeded"
    usage = api.ok("GET", "/billing/usage")
    assert usage["rows_synced"] == 700 and usage["connector_count"] == 1

    # The beat reports the 700 rows to Stripe's meter, once, however many times it runs.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and fake_stripe.meter_total(customer_id) < 700:
        time.sleep(0.2)
    assert fake_stripe.meter_total(customer_id) == 700
    time.sleep(3)  # several more beat ticks
    assert fake_stripe.meter_total(customer_id) == 700
    assert len(fake_stripe.to("/v1/billing/meter_events")) == 1

    # Stripe ends the subscription: writes and sync triggers are 403, reads go on.
    stripe_says(
        api,
        stripe_event(
            "customer.subscription.deleted", subscription("sub_e2e", customer_id, "canceled")
        ),
    )
    refused = api.request("POST", f"/connectors/{connector['id']}/sync", json={})
    assert refused.status_code == 403 and refused.json()["error"] == "Subscription inactive"
    assert api.ok("GET", f"/connectors/{connector['id']}")["id"] == connector["id"]
    usage = api.ok("GET", "/billing/usage")
    assert usage["subscription_status"] == "canceled" and usage["active"] is False
