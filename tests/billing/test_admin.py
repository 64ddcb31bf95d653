"""The operators' pages for billing: accounts with this period's usage, Stripe events and
usage reports (read-only)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import BillingAccount, StripeEvent, UsageReport
from billing.selectors import billing_accounts_with_usage, calendar_month
from tests.accounts.factories import AccountFactory
from tests.billing.conftest import receipt

pytestmark = pytest.mark.django_db


def make_accounts(n: int) -> list[BillingAccount]:
    now = timezone.now()
    month = calendar_month(now)
    rows = []
    for i in range(n):
        account = AccountFactory()
        subscribed = i % 2 == 0
        billing = BillingAccount.objects.create(
            account=account,
            plan="pro" if subscribed else "free",
            subscription_status="active" if subscribed else "none",
            current_period_start=now - timedelta(days=1) if subscribed else None,
            current_period_end=now + timedelta(days=29) if subscribed else None,
        )
        start = billing.current_period_start or month.start
        receipt(account, finished_at=start + timedelta(seconds=1), rows=1000 + i)
        receipt(account, finished_at=start - timedelta(seconds=1), rows=5)  # before the period
        rows.append(billing)
    return rows


def test_usage_column_matches_the_api_rule_in_one_query():
    accounts = make_accounts(4)
    with CaptureQueriesContext(connection) as queries:
        usage = {b.pk: b.usage_rows for b in billing_accounts_with_usage(BillingAccount.objects)}
    assert len(queries.captured_queries) == 1
    assert usage == {b.pk: 1000 + i for i, b in enumerate(accounts)}


def test_billing_account_pages(operator):
    accounts = make_accounts(3)
    listing = operator.get("/admin/billing/billingaccount/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Rows this period" in html and "1,002" in html

    # The list page's queries do not grow with its rows.
    with CaptureQueriesContext(connection) as few:
        operator.get("/admin/billing/billingaccount/")
    make_accounts(6)
    with CaptureQueriesContext(connection) as many:
        operator.get("/admin/billing/billingaccount/")
    assert len(many.captured_queries) == len(few.captured_queries)

    page = operator.get(f"/admin/billing/billingaccount/{accounts[0].pk}/change/")
    assert page.status_code == 200
    assert "1,000" in page.content.decode()


def test_an_operator_may_change_the_plan_only_to_a_configured_one(operator):
    billing = make_accounts(1)[0]
    url = f"/admin/billing/billingaccount/{billing.pk}/change/"
    assert operator.post(url, {"plan": "team"}).status_code == 302
    billing.refresh_from_db()
    assert billing.plan == "team" and billing.subscription_status == "active"
    refused = operator.post(url, {"plan": "platinum"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_events_and_reports_are_read_only(operator):
    account = AccountFactory()
    event = StripeEvent.objects.create(
        stripe_id="evt_1", type="invoice.paid", created=timezone.now(), account=account
    )
    report = UsageReport.objects.create(
        account=account, period_start=timezone.now(), period_end=timezone.now(), rows_reported=3
    )
    for model, obj in (("stripeevent", event), ("usagereport", report)):
        assert operator.get(f"/admin/billing/{model}/").status_code == 200
        assert operator.get(f"/admin/billing/{model}/{obj.pk}/change/").status_code == 200
        assert operator.get(f"/admin/billing/{model}/add/").status_code == 403
        assert operator.post(f"/admin/billing/{model}/{obj.pk}/delete/").status_code == 403
    assert operator.get("/admin/billing/billingaccount/add/").status_code == 403
