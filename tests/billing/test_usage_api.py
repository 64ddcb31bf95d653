"""GET /billing/usage: the period's rows summed in the database (only the account's, only
inside the period), connectors against the limit, the plan and the estimated bill."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import BillingAccount
from billing.plans import plan_get
from billing.selectors import calendar_month, estimate
from tests.accounts.factories import AccountFactory
from tests.billing.conftest import make_connector, receipt

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _billing_on(settings) -> None:
    # Quotas apply only where billing is configured; nothing here calls Stripe.
    settings.STRIPE_SECRET_KEY = "sk_test_usage"


def test_free_account_counts_its_rows_of_the_calendar_month(client, account):
    month = calendar_month(timezone.now())
    other = AccountFactory()
    make_connector(account)
    make_connector(account)
    receipt(account, finished_at=month.start, rows=600_000)  # inclusive start
    receipt(account, finished_at=month.end - timedelta(microseconds=1), rows=500_000)
    receipt(account, finished_at=month.start - timedelta(microseconds=1), rows=7)  # before
    receipt(account, finished_at=month.end, rows=11)  # the next period
    receipt(other, finished_at=month.start + timedelta(hours=1), rows=1_000)  # not ours

    response = client.get("/billing/usage")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rows_synced"] == 1_100_000
    assert body["connector_count"] == 2
    assert body["connector_limit"] == 3
    assert body["subscription_status"] == "none"
    assert body["active"] is True
    assert body["period_start"] == month.start.isoformat()
    assert body["period_end"] == month.end.isoformat()
    assert body["plan"] == {
        "name": "free",
        "connector_limit": 3,
        "included_rows": 1_000_000,
        "monthly_price_cents": 0,
        "extra_million_rows_cents": 0,
        "metered": False,
    }
    # Beyond the free rows, but the free plan bills nothing.
    assert body["estimate"] == {
        "currency": "usd",
        "monthly_price_cents": 0,
        "included_rows": 1_000_000,
        "extra_rows": 100_000,
        "overage_cents": 0,
        "total_cents": 0,
    }
    # Reading usage creates no billing row.
    assert not BillingAccount.objects.exists()


def test_subscribed_account_uses_its_subscription_period_and_prices_overage(client, account):
    now = timezone.now()
    start, end = now - timedelta(days=3), now + timedelta(days=27)
    BillingAccount.objects.create(
        account=account,
        plan="pro",
        subscription_status="active",
        current_period_start=start,
        current_period_end=end,
    )
    receipt(account, finished_at=start + timedelta(seconds=1), rows=6_000_000)
    receipt(account, finished_at=now, rows=333_334)
    receipt(account, finished_at=start - timedelta(seconds=1), rows=9_999_999)  # last period

    body = client.get("/billing/usage").json()

    assert body["period_start"] == start.astimezone(UTC).isoformat()
    assert body["period_end"] == end.astimezone(UTC).isoformat()
    assert body["rows_synced"] == 6_333_334
    assert body["plan"]["name"] == "pro" and body["plan"]["metered"] is True
    assert body["connector_limit"] == 10
    # 1,333,334 extra rows at 150 cents a million: 200.0001 cents, rounded up.
    assert body["estimate"] == {
        "currency": "usd",
        "monthly_price_cents": 4900,
        "included_rows": 5_000_000,
        "extra_rows": 1_333_334,
        "overage_cents": 201,
        "total_cents": 5101,
    }


def test_estimate_rounds_up_to_the_cent_and_never_below_zero():
    pro = plan_get("pro")
    assert estimate(plan=pro, rows=0)["total_cents"] == 4900
    assert estimate(plan=pro, rows=5_000_000)["overage_cents"] == 0
    assert estimate(plan=pro, rows=5_000_001)["overage_cents"] == 1
    assert estimate(plan=pro, rows=6_000_000)["overage_cents"] == 150
    # Large counts stay exact (integer arithmetic).
    huge = 5_000_000 + 10**15
    assert estimate(plan=pro, rows=huge)["overage_cents"] == 150 * 10**9


def test_a_stale_subscription_period_falls_back_to_the_calendar_month(client, account):
    # The renewal's webhook has not arrived: the stored period is over.
    now = timezone.now()
    BillingAccount.objects.create(
        account=account,
        plan="pro",
        subscription_status="active",
        current_period_start=now - timedelta(days=40),
        current_period_end=now - timedelta(days=10),
    )
    body = client.get("/billing/usage").json()
    assert body["period_start"] == calendar_month(now).start.isoformat()


def test_calendar_month_boundaries():
    assert calendar_month(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).end == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    month = calendar_month(datetime(2026, 2, 1, tzinfo=UTC))
    assert (month.start, month.end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_rows_are_summed_by_the_database(client, account):
    month = calendar_month(timezone.now())
    for _ in range(20):
        receipt(account, finished_at=month.start + timedelta(minutes=1), rows=1)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/billing/usage").json()["rows_synced"] == 20
    sums = [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper()]
    assert len(sums) == 1
    assert len(queries.captured_queries) < 12


def test_usage_needs_authentication(api):
    response = api.get("/billing/usage")
    assert response.status_code == 401
    assert response.json()["error"] == "Not authenticated"
