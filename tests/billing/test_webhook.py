"""POST /billing/webhook: Stripe's signature checked by the library, each event applied once,
late (older) events ignored, and a subscription's whole life reflected on the account."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from django.utils import timezone

from billing.models import BillingAccount, StripeEvent
from billing.rules import account_is_active, require_active
from landed.api.errors import ForbiddenError
from tests.billing.conftest import WEBHOOK_SECRET, post_event, stripe_event, subscription
from tests.stripe_server import sign_event

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600


def at(offset: int) -> datetime:
    return datetime.fromtimestamp(T0 + offset, UTC)


@pytest.fixture
def billing(account) -> BillingAccount:
    return BillingAccount.objects.create(account=account, stripe_customer_id="cus_A")


def checkout_completed(account, *, plan="pro", sub="sub_1", customer="cus_A", paid=True):
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(account.id),
        "customer": customer,
        "subscription": sub,
        "payment_status": "paid" if paid else "unpaid",
        "status": "complete",
        "metadata": {"account_id": str(account.id), "plan": plan},
    }


def invoice(sub="sub_1", customer="cus_A", *, new_shape=True):
    obj = {"id": "in_1", "object": "invoice", "customer": customer}
    if new_shape:  # API 2025-03-31 and later
        obj["parent"] = {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub},
        }
    else:
        obj["subscription"] = sub
    return obj


# --- Signatures ----------------------------------------------------------------------------
def test_a_signed_event_is_received(api, billing):
    event = stripe_event("customer.created", {"id": "cus_A", "object": "customer"})
    response = post_event(api, event)  # `api` enforces CSRF, as a browser-facing server does

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True}
    recorded = StripeEvent.objects.get(stripe_id=event["id"])
    assert recorded.type == "customer.created"
    assert recorded.outcome == "ignored: event type not handled"
    assert recorded.created == datetime.fromtimestamp(event["created"], UTC)


def test_a_missing_signature_is_400(api):
    body, _ = sign_event(stripe_event("invoice.paid", invoice()), WEBHOOK_SECRET)
    response = api.post("/billing/webhook", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid signature"
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("tamper", ["secret", "body", "old", "header"])
def test_a_bad_signature_is_400(api, tamper):
    event = stripe_event("invoice.paid", invoice())
    secret = "whsec_someone_else" if tamper == "secret" else WEBHOOK_SECRET
    timestamp = int(time.time()) - 600 if tamper == "old" else None
    body, header = sign_event(event, secret, timestamp=timestamp)
    if tamper == "body":
        body = body.replace(b"invoice.paid", b"invoice.paix")
    if tamper == "header":
        header = "garbage"
    response = api.post(
        "/billing/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid signature" and body["detail"]
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("payload", [b"not json", b'{"id": "evt_1", "object": "list"}', b"[]"])
def test_a_signed_body_that_is_not_an_event_is_400(api, payload):
    t = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(
        f"{t}.{payload.decode()}", WEBHOOK_SECRET
    )
    response = api.post(
        "/billing/webhook",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={t},v1={signature}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid payload"


def test_an_event_without_its_object_is_400(api):
    event = stripe_event("invoice.paid", {})
    event["data"] = {}
    assert post_event(api, event).status_code == 400


def test_the_webhook_is_503_without_a_secret(api, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_event(api, stripe_event("invoice.paid", invoice()))
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]


# --- Once, and in order --------------------------------------------------------------------
def test_a_redelivered_event_changes_nothing(api, billing):
    event = stripe_event(
        "customer.subscription.updated", subscription("sub_1", "cus_A", "past_due"), created=T0
    )
    assert post_event(api, event).status_code == 200
    billing.refresh_from_db()
    assert billing.subscription_status == "past_due" and billing.past_due_since == at(0)

    # Whatever happened since (here: the row reset by hand), the same event id is not applied
    # again.
    BillingAccount.objects.filter(pk=billing.pk).update(
        subscription_status="active", past_due_since=None, status_changed_at=None
    )
    again = post_event(api, event)

    assert again.status_code == 200 and again.json() == {"received": True}
    billing.refresh_from_db()
    assert billing.subscription_status == "active" and billing.past_due_since is None
    assert StripeEvent.objects.filter(stripe_id=event["id"]).count() == 1


def test_an_older_event_delivered_late_is_ignored(api, billing):
    newer = stripe_event(
        "customer.subscription.updated", subscription("sub_1", "cus_A", "active"), created=T0 + 10
    )
    older = stripe_event(
        "customer.subscription.updated", subscription("sub_1", "cus_A", "past_due"), created=T0
    )
    late_failure = stripe_event("invoice.payment_failed", invoice(), created=T0 + 5)
    post_event(api, newer)
    post_event(api, older)
    post_event(api, late_failure)

    billing.refresh_from_db()
    assert billing.subscription_status == "active"
    assert billing.status_changed_at == at(10)
    assert StripeEvent.objects.get(stripe_id=older["id"]).outcome.startswith("ignored: older")
    assert StripeEvent.objects.get(stripe_id=late_failure["id"]).outcome.startswith(
        "ignored: older"
    )


def test_checkout_completed_after_the_subscription_events_keeps_their_state(api, account):
    """Stripe sends customer.subscription.created before checkout.session.completed, with an
    earlier time; in whichever order they arrive, the subscription's state wins."""
    BillingAccount.objects.create(account=account, stripe_customer_id="cus_A")
    sub = subscription("sub_1", "cus_A", "trialing", price="price_team_monthly", metered_price=None)
    post_event(
        api, stripe_event("checkout.session.completed", checkout_completed(account), created=T0 + 2)
    )
    post_event(api, stripe_event("customer.subscription.created", sub, created=T0 + 1))

    billing = BillingAccount.objects.get(account=account)
    assert billing.subscription_status == "trialing"
    assert billing.plan == "team"  # the price's plan, not the checkout's metadata
    assert billing.current_period_start is not None


# --- A subscription's life -----------------------------------------------------------------
def test_subscription_lifecycle(api, client, account, fake_stripe):
    # Checkout (the customer is created and remembered).
    assert client.post("/billing/checkout", {"plan": "pro"}, format="json").status_code == 200
    customer = BillingAccount.objects.get(account=account).stripe_customer_id

    def send(event_type, obj, offset):
        response = post_event(api, stripe_event(event_type, obj, created=T0 + offset))
        assert response.status_code == 200, response.content
        return BillingAccount.objects.get(account=account)

    # Paid: checkout completed names the subscription and the plan.
    billing = send("checkout.session.completed", checkout_completed(account, customer=customer), 0)
    assert (billing.plan, billing.subscription_status) == ("pro", "active")
    assert billing.stripe_subscription_id == "sub_1"

    period = (T0, T0 + 30 * 86400)
    billing = send(
        "customer.subscription.created",
        subscription("sub_1", customer, "active", period=period),
        1,
    )
    assert billing.stripe_metered_item_id == "si_sub_1_rows"
    assert billing.current_period_start == at(0)
    assert billing.current_period_end == at(30 * 86400)
    assert account_is_active(account)

    # A renewal fails: past due, still active during the grace period.
    billing = send("invoice.payment_failed", invoice(customer=customer), 100)
    assert billing.subscription_status == "past_due"
    assert billing.past_due_since == at(100)
    assert account_is_active(account)
    # Stripe's retry fails too: the grace still counts from the first failure.
    billing = send("invoice.payment_failed", invoice(customer=customer, new_shape=False), 200)
    assert billing.past_due_since == at(100)

    # Beyond the grace period: inactive, and 403 with how to fix it.
    later = at(100) + timedelta(days=7, seconds=1)
    assert account_is_active(account, now=at(100) + timedelta(days=6)) is True
    assert account_is_active(account, now=later) is False
    with pytest.raises(ForbiddenError) as raised:
        require_active(account, now=later)
    assert raised.value.message == "Subscription inactive"
    assert "POST /billing/portal" in raised.value.detail

    # Paid at last: active, the past-due clock cleared.
    billing = send("invoice.paid", invoice(customer=customer), 300)
    assert billing.subscription_status == "active" and billing.past_due_since is None
    assert account_is_active(account, now=later)

    # Upgraded in the portal: the new price's plan.
    billing = send(
        "customer.subscription.updated",
        subscription(
            "sub_1",
            customer,
            "active",
            price="price_team_monthly",
            metered_price=None,
            period=period,
            period_on_items=False,
        ),
        400,
    )
    assert billing.plan == "team" and billing.stripe_metered_item_id == ""

    # Canceled: inactive, back on the free plan's terms.
    billing = send("customer.subscription.deleted", subscription("sub_1", customer, "active"), 500)
    assert billing.subscription_status == "canceled"
    assert billing.plan == "free"
    assert billing.current_period_start is None
    assert not account_is_active(account)
    with pytest.raises(ForbiddenError):
        require_active(account)

    # A late invoice.paid of the ended subscription does not bring it back.
    billing = send("invoice.paid", invoice(customer=customer), 600)
    assert billing.subscription_status == "canceled"

    # Subscribing again: checkout is allowed and a new subscription takes over.
    assert client.post("/billing/checkout", {"plan": "pro"}, format="json").status_code == 200
    assert len(fake_stripe.to("/v1/customers")) == 1
    billing = send(
        "checkout.session.completed",
        checkout_completed(account, customer=customer, sub="sub_2"),
        700,
    )
    assert (billing.stripe_subscription_id, billing.subscription_status) == ("sub_2", "active")
    assert billing.plan == "pro"

    # The old subscription's events no longer touch the account.
    billing = send(
        "customer.subscription.deleted", subscription("sub_1", customer, "canceled"), 800
    )
    assert billing.subscription_status == "active"
    billing = send("invoice.payment_failed", invoice("sub_1", customer), 900)
    assert billing.subscription_status == "active"


@pytest.mark.parametrize("status", ["unpaid", "paused", "incomplete_expired"])
def test_statuses_that_make_an_account_inactive(api, billing, account, status):
    post_event(
        api,
        stripe_event("customer.subscription.updated", subscription("sub_1", "cus_A", status)),
    )
    billing.refresh_from_db()
    assert billing.subscription_status == status
    assert not account_is_active(account)


def test_an_unknown_price_keeps_the_plan(api, billing):
    billing.plan = "pro"
    billing.save()
    event = stripe_event(
        "customer.subscription.updated",
        subscription("sub_1", "cus_A", "active", price="price_unknown", metered_price=None),
    )
    post_event(api, event)
    billing.refresh_from_db()
    assert billing.plan == "pro" and billing.subscription_status == "active"
    assert "plan kept" in StripeEvent.objects.get(stripe_id=event["id"]).outcome


def test_the_account_is_found_by_subscription_metadata(api, account):
    # No customer known yet (the checkout's events raced ahead): metadata names the account.
    sub = subscription("sub_1", "cus_NEW", "active")
    sub["metadata"] = {"account_id": str(account.id), "plan": "pro"}
    post_event(api, stripe_event("customer.subscription.created", sub))
    billing = BillingAccount.objects.get(account=account)
    assert billing.stripe_customer_id == "cus_NEW" and billing.plan == "pro"


def test_events_of_other_customers_are_recorded_and_ignored(api, billing):
    events = [
        stripe_event("customer.subscription.updated", subscription("sub_9", "cus_OTHER", "active")),
        stripe_event("invoice.paid", invoice("sub_9", "cus_OTHER")),
        stripe_event(
            "checkout.session.completed",
            {"id": "cs_9", "object": "checkout.session", "mode": "payment", "customer": "cus_A"},
        ),
    ]
    for event in events:
        assert post_event(api, event).status_code == 200
    assert StripeEvent.objects.count() == 3
    assert all(e.outcome.startswith("ignored") for e in StripeEvent.objects.all())
    billing.refresh_from_db()
    assert billing.subscription_status == "none"


def test_an_unpaid_checkout_waits_for_the_subscription_status(api, billing, account):
    post_event(
        api, stripe_event("checkout.session.completed", checkout_completed(account, paid=False))
    )
    billing.refresh_from_db()
    assert billing.stripe_subscription_id == "sub_1" and billing.plan == "pro"
    assert billing.subscription_status == "none"


def test_the_webhook_is_not_rate_limited(api, billing, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {key: ["1/m"] for key in settings.RATE_LIMIT_TIERS}
    for _ in range(3):
        assert post_event(api, stripe_event("ping", {"id": "x"})).status_code == 200


def test_status_changed_at_uses_stripes_time(api, billing):
    created = int(timezone.now().timestamp()) - 50
    post_event(
        api,
        stripe_event(
            "customer.subscription.updated",
            subscription("sub_1", "cus_A", "active"),
            created=created,
        ),
    )
    billing.refresh_from_db()
    assert billing.status_changed_at == datetime.fromtimestamp(created, UTC)


# --- Signed but malformed: never a 500 (Stripe would retry it for days) ---------------------
def _sub(**fields):
    return {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_A",
        "status": "active",
        **fields,
    }


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("customer.subscription.updated", _sub(metadata="x")),
        ("customer.subscription.updated", _sub(items={"data": {"a": 1}})),
        ("customer.subscription.updated", _sub(items={"data": ["si_1"]})),
        ("customer.subscription.updated", _sub(items={"data": [{"price": "price_pro_monthly"}]})),
        ("customer.subscription.updated", _sub(current_period_start=10**15, current_period_end=1)),
        ("customer.subscription.updated", _sub(id="sub_1\x00")),
        ("customer.subscription.updated", _sub(id="s" * 300)),
        ("customer.subscription.updated", _sub(customer="cus_A\x00")),
        ("invoice.paid", {"customer": "cus_A", "parent": "x"}),
        ("invoice.paid", {"customer": "cus_A", "parent": {"subscription_details": "x"}}),
        ("checkout.session.completed", {"mode": "subscription", "metadata": "x"}),
    ],
)
def test_a_signed_event_with_odd_fields_is_recorded_not_a_500(api, billing, event_type, obj):
    billing.stripe_subscription_id, billing.subscription_status = "sub_1", "active"
    billing.save()
    event = stripe_event(event_type, obj)
    response = post_event(api, event)
    assert response.status_code == 200, response.content
    assert StripeEvent.objects.filter(stripe_id=event["id"]).exists()
    billing.refresh_from_db()
    assert billing.stripe_subscription_id == "sub_1" and billing.stripe_customer_id == "cus_A"


@pytest.mark.parametrize(
    "envelope",
    [
        {"id": "evt_1\x00"},
        {"id": "e" * 300},
        {"id": ""},
        {"type": "invoice.paid\x00"},
        {"created": 10**15},
        {"created": -(10**15)},
        {"data": "x"},
    ],
)
def test_a_signed_envelope_the_database_cannot_keep_is_400(api, envelope):
    event = {**stripe_event("invoice.paid", invoice()), **envelope}
    response = post_event(api, event)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "Invalid payload"
    assert not StripeEvent.objects.exists()


def test_a_customer_already_another_accounts_is_not_taken(api, account):
    from tests.accounts.factories import AccountFactory

    other = BillingAccount.objects.create(account=AccountFactory(), stripe_customer_id="cus_B")
    event = stripe_event(
        "checkout.session.completed", checkout_completed(account, customer="cus_B")
    )
    assert post_event(api, event).status_code == 200
    billing = BillingAccount.objects.get(account=account)
    assert billing.stripe_customer_id == "" and billing.stripe_subscription_id == "sub_1"
    other.refresh_from_db()
    assert other.stripe_customer_id == "cus_B"


# --- Invoices say whether a payment went through, not the subscription's status ------------
def test_a_failed_payment_does_not_give_an_unpaid_subscription_a_new_grace(api, billing, account):
    # The last retry fails: Stripe sends both in the same second, in either order.
    billing.stripe_subscription_id, billing.subscription_status = "sub_1", "active"
    billing.save()
    unpaid = stripe_event(
        "customer.subscription.updated", subscription("sub_1", "cus_A", "unpaid"), created=T0
    )
    failed = stripe_event("invoice.payment_failed", invoice(), created=T0)
    for event in (unpaid, failed):
        assert post_event(api, event).status_code == 200
    billing.refresh_from_db()
    assert billing.subscription_status == "unpaid" and billing.past_due_since is None
    assert not account_is_active(account)
    # A card that fails again in the portal a day later changes nothing either.
    post_event(api, stripe_event("invoice.payment_failed", invoice(), created=T0 + 86400))
    assert not account_is_active(account)
    # Paying is the way back.
    post_event(api, stripe_event("invoice.paid", invoice(), created=T0 + 90000))
    assert account_is_active(account)


def test_a_trials_zero_invoice_paid_keeps_it_trialing(api, billing):
    billing.stripe_subscription_id = "sub_1"
    billing.save()
    trial = stripe_event(
        "customer.subscription.created", subscription("sub_1", "cus_A", "trialing"), created=T0
    )
    paid = stripe_event("invoice.paid", invoice(), created=T0)
    for event in (trial, paid):
        assert post_event(api, event).status_code == 200
    billing.refresh_from_db()
    assert billing.subscription_status == "trialing"
