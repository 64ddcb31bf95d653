"""The 402 and 403 rules through the HTTP API, as wired into the platform: the connector
limit on create, writes and sync triggers refused while the subscription is inactive (reads,
billing and sign-in management still work), schedules paused, and recovery as soon as Stripe
says the subscription is active again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import BillingAccount
from billing.services import billing_account_for
from syncs import services as sync_services
from syncs.models import Job
from tests.billing.conftest import (
    create_connector,
    make_connector,
    post_event,
    stripe_event,
    subscription,
)

pytestmark = pytest.mark.django_db


def set_status(account, status: str, **fields) -> BillingAccount:
    billing = billing_account_for(account)
    BillingAccount.objects.filter(pk=billing.pk).update(
        subscription_status=status, stripe_customer_id="cus_A", **fields
    )
    return billing


def test_the_connector_limit_is_402_with_how_to_raise_it(client, destination, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_quota"  # quotas come with billing (no Stripe call)
    settings.BILLING_FREE_CONNECTOR_LIMIT = 2
    assert create_connector(client, destination, "one").status_code == 201
    second = create_connector(client, destination, "two")
    assert second.status_code == 201

    third = create_connector(client, destination, "three")
    assert third.status_code == 402
    body = third.json()
    assert body["error"] == "Connector limit reached"
    assert "allows 2 connectors" in body["detail"] and "POST /billing/checkout" in body["detail"]
    assert client.get("/connectors").json()["total"] == 2

    # Room again after a delete.
    assert client.delete(f"/connectors/{second.json()['id']}").status_code == 204
    assert create_connector(client, destination, "three").status_code == 201


def test_an_inactive_subscription_refuses_writes_and_syncs_but_not_reads(
    client, account, destination
):
    connector = create_connector(client, destination, "shop").json()
    set_status(account, "canceled")

    for method, path, body in [
        ("post", "/connectors", {"name": "x"}),
        ("patch", f"/connectors/{connector['id']}", {"paused": True}),
        ("post", f"/connectors/{connector['id']}/sync", {}),
        ("post", f"/connectors/{connector['id']}/test", {}),
        ("delete", f"/destinations/{destination['id']}", None),
        ("post", "/webhooks", {"url": "https://example.com/h"}),
        ("post", "/alerts/groups", {"name": "g"}),
    ]:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["error"] == "Subscription inactive"
        assert "POST /billing/portal" in response.json()["detail"]
    assert not Job.objects.exists()

    # Reads keep working, and so do the ways back: billing, sign-in management, notifications.
    assert client.get("/connectors").status_code == 200
    assert client.get(f"/connectors/{connector['id']}").status_code == 200
    assert client.get("/billing/usage").status_code == 200
    assert client.post("/billing/portal").status_code == 503  # Stripe not configured here
    assert client.post("/auth/api-keys", {"name": "ci"}, format="json").status_code == 201
    assert client.post("/alerts/notifications/read-all").status_code == 200


def test_past_due_is_active_within_the_grace_period_only(client, account, destination, settings):
    settings.BILLING_GRACE_DAYS = 7
    set_status(account, "past_due", past_due_since=timezone.now() - timedelta(days=6))
    assert create_connector(client, destination, "within").status_code == 201
    set_status(account, "past_due", past_due_since=timezone.now() - timedelta(days=8))
    response = create_connector(client, destination, "beyond")
    assert response.status_code == 403
    assert "past due beyond its grace period" in response.json()["detail"]


def test_scheduled_syncs_pause_while_inactive_and_resume_when_stripe_says_active(
    api, client, account, user, destination
):
    from tests.accounts.factories import UserFactory

    mine = make_connector(account, "mine")
    theirs = make_connector(UserFactory().account, "theirs")
    for connector in (mine, theirs):
        connector.sync_frequency_minutes = 60
        connector.created_at = timezone.now() - timedelta(minutes=61)  # due: an hour has passed
        connector.save()
    set_status(account, "unpaid", stripe_subscription_id="sub_1")

    triggered = sync_services.syncs_trigger_due()
    assert {Job.objects.get(id=j).connector_id for j in triggered} == {theirs.id}
    assert create_connector(client, destination, "while-unpaid").status_code == 403

    # Stripe reports the subscription active again: writes and schedules come back at once.
    event = stripe_event("customer.subscription.updated", subscription("sub_1", "cus_A", "active"))
    assert post_event(api, event).status_code == 200
    assert create_connector(client, destination, "paid").status_code == 201
    triggered = sync_services.syncs_trigger_due()
    assert {Job.objects.get(id=j).connector_id for j in triggered} == {mine.id}


def test_usage_reporting_runs_on_beat(settings):
    from billing.tasks import report_usage

    entry = settings.CELERY_BEAT_SCHEDULE["report-usage"]
    assert entry["task"] == report_usage.name == "billing.report_usage"
    assert settings.CELERY_TASK_ROUTES["billing.report_usage"] == {"queue": "default"}
    assert report_usage() == 0  # nothing to report: no subscriptions
