"""POST /billing/checkout and /billing/portal, through the real `stripe` library against a
local Stripe: the sessions asked for, the customer created once, and every failure's status."""

import socket
import threading

import pytest

from billing.models import BillingAccount
from tests.ratelimit_windows import ip_with_fresh_window

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_checkout_creates_a_subscription_session_for_the_plan(client, user, fake_stripe):
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    [session] = fake_stripe.to("/v1/checkout/sessions")
    assert body == {
        "url": f"https://checkout.stripe.com/c/pay/{body['session_id']}",
        "session_id": body["session_id"],
    }
    assert body["session_id"].startswith("cs_test_")
    account_id = str(user.account_id)
    customer = BillingAccount.objects.get(account=user.account).stripe_customer_id
    assert customer.startswith("cus_")
    assert session.form == {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": account_id,
        "line_items": [
            {"price": "price_pro_monthly", "quantity": "1"},
            {"price": "price_pro_rows"},  # metered: no quantity
        ],
        "metadata": {"account_id": account_id, "plan": "pro"},
        "subscription_data": {"metadata": {"account_id": account_id, "plan": "pro"}},
        "success_url": "https://app.example.com/billing?ok=1",
        "cancel_url": "https://app.example.com/billing?cancel=1",
    }
    assert session.headers["authorization"] == f"Bearer {fake_stripe.api_key}"
    [created] = fake_stripe.to("/v1/customers")
    assert created.idempotency_key.startswith(f"customer-{account_id}-")
    assert created.form["metadata"] == {"account_id": account_id}
    assert created.form["email"] == user.email


def test_a_plan_without_metered_price_has_one_line_item(client, fake_stripe):
    assert client.post("/billing/checkout", {"plan": "team"}, format="json").status_code == 200
    [session] = fake_stripe.to("/v1/checkout/sessions")
    assert session.form["line_items"] == [{"price": "price_team_monthly", "quantity": "1"}]


def test_the_customer_is_created_once_across_checkouts(client, user, fake_stripe):
    first = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    second = client.post("/billing/checkout", {"plan": "team"}, format="json")

    assert first.status_code == second.status_code == 200
    assert len(fake_stripe.to("/v1/customers")) == 1
    customers = {r.form["customer"] for r in fake_stripe.to("/v1/checkout/sessions")}
    assert customers == {BillingAccount.objects.get(account=user.account).stripe_customer_id}


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_create_one_customer(user, fake_stripe, settings):
    """Two requests at once: the billing row's lock makes the second use the first's."""
    from django.db import connection

    from billing import services

    errors: list[BaseException] = []

    def checkout() -> None:
        try:
            services.billing_checkout_create(account=user.account, plan_name="pro")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(fake_stripe.to("/v1/customers")) == 1
    assert len(fake_stripe.to("/v1/checkout/sessions")) == 4


def test_a_customer_created_in_stripe_but_lost_to_us_is_the_same_on_retry(
    client, user, fake_stripe
):
    # Stripe creates the customer, the answer never arrives: 502, nothing saved.
    fake_stripe.drop_next(1)
    lost = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert lost.status_code == 502
    assert BillingAccount.objects.get(account=user.account).stripe_customer_id == ""

    retry = client.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert retry.status_code == 200, retry.content
    first, second = fake_stripe.to("/v1/customers")
    assert first.idempotency_key == second.idempotency_key and second.replayed
    assert len(fake_stripe.customers) == 1
    [customer] = fake_stripe.customers
    assert BillingAccount.objects.get(account=user.account).stripe_customer_id == customer


def test_after_a_lost_customer_another_user_of_the_account_can_still_check_out(
    client, user, fake_stripe
):
    from rest_framework.test import APIClient

    from landed.accounts import services as account_services
    from tests.accounts.factories import UserFactory

    fake_stripe.drop_next(1)
    assert client.post("/billing/checkout", {"plan": "pro"}, format="json").status_code == 502

    # Another user (another email): Stripe would refuse the first key with other parameters
    # for 24 hours (idempotency_error).
    other = UserFactory(account=user.account, email="second@example.com")
    _, key = account_services.api_key_create(user=other, name="t2")
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = second.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 200, response.content
    customer = BillingAccount.objects.get(account=user.account).stripe_customer_id
    assert fake_stripe.customers[customer]["email"] == "second@example.com"


@pytest.mark.parametrize("plan", ["enterprise", "free"])
def test_unknown_and_free_plans_are_422(client, fake_stripe, plan):
    response = client.post("/billing/checkout", {"plan": plan}, format="json")

    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", "plan"] and issue["type"] == "enum"
    assert "pro, team" in issue["msg"]
    assert fake_stripe.requests == []


def test_a_missing_or_non_string_plan_is_422(client, fake_stripe):
    assert client.post("/billing/checkout", {}, format="json").status_code == 422
    response = client.post("/billing/checkout", {"plan": 5}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "plan"]


@pytest.mark.parametrize("status", ["active", "trialing", "past_due", "unpaid", "paused"])
def test_checkout_is_409_with_a_live_subscription(client, account, fake_stripe, status):
    BillingAccount.objects.create(
        account=account, plan="pro", subscription_status=status, stripe_customer_id="cus_1"
    )
    response = client.post("/billing/checkout", {"plan": "team"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "Already subscribed"
    assert "POST /billing/portal" in body["detail"]
    assert fake_stripe.requests == []


@pytest.mark.parametrize("status", ["canceled", "incomplete_expired"])
def test_an_ended_subscription_can_check_out_again(client, account, fake_stripe, status):
    BillingAccount.objects.create(account=account, subscription_status=status)
    assert client.post("/billing/checkout", {"plan": "pro"}, format="json").status_code == 200


def test_checkout_and_portal_are_503_without_stripe(client, account):
    BillingAccount.objects.create(account=account, stripe_customer_id="cus_1")
    for path, body in (("/billing/checkout", {"plan": "pro"}), ("/billing/portal", None)):
        response = client.post(path, body, format="json")
        assert response.status_code == 503
        assert response.json()["error"] == "Billing is not configured"
        assert "STRIPE_SECRET_KEY" in response.json()["detail"]


def test_checkout_without_stripe_is_503_whatever_the_plan(client, settings):
    # A server with no billing set up says so, rather than that no plan fits.
    settings.BILLING_PLANS = []
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "Billing is not configured"


def test_stripe_5xx_is_502(client, fake_stripe):
    fake_stripe.fail_next(1, status=500, message="Something broke at Stripe")
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "Stripe is unavailable"
    assert "Something broke at Stripe" in body["detail"]


def test_unreachable_stripe_is_502(client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port()}"
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 502
    assert response.json()["error"] == "Stripe is unreachable"


def test_a_stripe_timeout_is_502(client, settings):
    # A server that accepts the connection and never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings.STRIPE_SECRET_KEY = "sk_test_x"
        settings.STRIPE_API_BASE = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.STRIPE_TIMEOUT_SECONDS = 0.5
        response = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert response.status_code == 502
    assert response.json()["error"] == "Stripe is unreachable"


def test_a_price_stripe_does_not_know_is_502_with_stripes_message(client, fake_stripe):
    fake_stripe.known_prices = {"price_team_monthly"}
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "Stripe rejected the request"
    assert "No such price: 'price_pro_monthly'" in body["detail"]
    assert "configuration" in body["detail"]


def test_a_wrong_secret_key_is_502_and_the_client_never_sees_the_key(
    client, fake_stripe, settings, caplog
):
    settings.STRIPE_SECRET_KEY = "sk_test_wrongkeyQ7xZ"
    response = client.post("/billing/checkout", {"plan": "pro"}, format="json")
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "Stripe rejected the request"
    assert "API key" in body["detail"]
    # Stripe quotes the key masked but for its mode and last four: for the operator's log only.
    assert "Q7xZ" not in response.content.decode() and "sk_test" not in response.content.decode()
    assert "Invalid API Key provided: sk_test_****" in caplog.text


def test_portal_returns_a_session_url_for_the_customer(client, account, fake_stripe):
    client.post("/billing/checkout", {"plan": "pro"}, format="json")
    customer = BillingAccount.objects.get(account=account).stripe_customer_id

    response = client.post("/billing/portal")

    assert response.status_code == 200, response.content
    [request] = fake_stripe.to("/v1/billing_portal/sessions")
    assert request.form == {"customer": customer, "return_url": "https://app.example.com/billing"}
    assert response.json()["url"].startswith("https://billing.stripe.com/p/session/")


def test_portal_is_409_before_any_checkout(client, account, fake_stripe):
    response = client.post("/billing/portal")
    assert response.status_code == 409
    assert "POST /billing/checkout" in response.json()["detail"]
    BillingAccount.objects.create(account=account)
    assert client.post("/billing/portal").status_code == 409
    assert fake_stripe.requests == []


def test_portal_stripe_failure_is_502(client, account, fake_stripe):
    BillingAccount.objects.create(account=account, stripe_customer_id="cus_gone")
    response = client.post("/billing/portal")
    assert response.status_code == 502
    assert "No such customer" in response.json()["detail"]


def test_checkout_and_portal_are_rate_limited_as_sensitive(client, fake_stripe, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "sensitive": ["2/m"]}
    ip = ip_with_fresh_window()  # no window edge inside the test
    statuses = [client.post("/billing/portal", REMOTE_ADDR=ip).status_code for _ in range(3)]
    assert statuses == [409, 409, 429]


def test_checkout_needs_authentication(api):
    assert api.post("/billing/checkout", {"plan": "pro"}, format="json").status_code == 401
    assert api.post("/billing/portal").status_code == 401
