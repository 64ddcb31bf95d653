"""The connector quota exists only where billing does: a server without a Stripe key (a
self-hosted install) has no limit; with billing on, the 402 at the limit names a way to raise
it that this server actually offers, and that way works."""

import pytest

from billing.models import BillingAccount
from tests.billing.conftest import create_connector

pytestmark = pytest.mark.django_db


def fill(client, destination: dict, count: int) -> None:
    for n in range(count):
        response = create_connector(client, destination, f"c{n}")
        assert response.status_code == 201, response.content


def test_without_billing_configured_there_is_no_connector_limit(client, destination, settings):
    assert settings.STRIPE_SECRET_KEY == ""
    settings.BILLING_FREE_CONNECTOR_LIMIT = 2
    fill(client, destination, 5)
    assert client.get("/connectors").json()["total"] == 5

    usage = client.get("/billing/usage").json()
    assert usage["connector_count"] == 5
    assert usage["connector_limit"] is None


def test_at_the_free_limit_the_402_names_checkout_and_checkout_works(
    client, destination, settings, fake_stripe
):
    settings.BILLING_FREE_CONNECTOR_LIMIT = 2
    fill(client, destination, 2)
    assert client.get("/billing/usage").json()["connector_limit"] == 2

    response = create_connector(client, destination, "one-more")

    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "Connector limit reached"
    assert "allows 2 connectors" in body["detail"]
    assert 'POST /billing/checkout {"plan": "<name>"}' in body["detail"]
    assert "pro (10)" in body["detail"] and "team (50)" in body["detail"]
    checkout = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert checkout.status_code == 200, checkout.content


def test_a_subscriber_at_the_limit_is_sent_to_the_portal_and_the_portal_works(
    client, user, destination, settings, fake_stripe
):
    settings.BILLING_PLANS = [
        {**plan, "connector_limit": 2} if plan["name"] == "pro" else plan
        for plan in settings.BILLING_PLANS
    ]
    customer = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert customer.status_code == 200, customer.content
    BillingAccount.objects.filter(account=user.account).update(
        plan="pro", subscription_status="active"
    )
    fill(client, destination, 2)

    response = create_connector(client, destination, "one-more")

    assert response.status_code == 402
    detail = response.json()["detail"]
    assert "POST /billing/portal" in detail and "team (50)" in detail
    assert "checkout" not in detail
    assert client.post("/billing/portal").status_code == 200


@pytest.mark.parametrize("subscribed", [False, True])
def test_with_no_larger_plan_the_402_sends_the_user_to_the_operator(
    client, user, destination, settings, fake_stripe, subscribed
):
    if subscribed:
        # On the largest plan: neither the portal nor a checkout gives more connectors.
        settings.BILLING_PLANS = [{**settings.BILLING_PLANS[1], "connector_limit": 2}]
        BillingAccount.objects.create(
            account=user.account,
            plan="team",
            subscription_status="active",
            stripe_customer_id="cus_1",
        )
    else:
        # Billing on, but no paid plan to buy.
        settings.BILLING_PLANS = []
        settings.BILLING_FREE_CONNECTOR_LIMIT = 2
    fill(client, destination, 2)

    response = create_connector(client, destination, "one-more")

    assert response.status_code == 402
    detail = response.json()["detail"]
    assert "operator" in detail and "delete a connector" in detail
    assert "/billing/checkout" not in detail and "/billing/portal" not in detail


def test_the_402_is_documented_as_billing_only(api, settings):
    settings.EXPOSE_API_DOCS = True
    schema = api.get("/openapi.json").json()
    description = schema["paths"]["/connectors"]["post"]["responses"]["402"]["description"]
    assert "billing" in description and "STRIPE_SECRET_KEY" in description
    usage = schema["components"]["schemas"]["Usage"]
    assert usage["properties"]["connector_limit"]["nullable"] is True
