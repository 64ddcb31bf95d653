"""The rules other apps enforce: 402 at the connector limit, 403 for an inactive subscription,
and the SQL filter that leaves inactive accounts' connectors out."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing.models import BillingAccount
from billing.rules import (
    account_is_active,
    connector_quota_check,
    inactive_account_ids_q,
    require_active,
)
from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import ForbiddenError, PaymentRequiredError
from landed.api.exception_handler import api_exception_handler
from tests.accounts.factories import AccountFactory
from tests.billing.conftest import make_connector

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _billing_on(settings) -> None:
    # Quotas apply only where billing is configured; nothing here calls Stripe.
    settings.STRIPE_SECRET_KEY = "sk_test_rules"


def test_the_free_plan_allows_three_connectors(account):
    for _ in range(2):
        make_connector(account)
    with transaction.atomic():
        connector_quota_check(account)  # 2 < 3
    make_connector(account)

    with pytest.raises(PaymentRequiredError) as raised, transaction.atomic():
        connector_quota_check(account)

    response = api_exception_handler(raised.value, {})
    assert response.status_code == 402
    assert response.data["error"] == "Connector limit reached"
    detail = response.data["detail"]
    assert "Your plan free allows 3 connectors" in detail
    assert "POST /billing/checkout" in detail and "pro (10)" in detail and "team (50)" in detail
    # The billing row was made on the way.
    assert BillingAccount.objects.get(account=account).plan == "free"


def test_a_paid_plan_raises_the_limit(account):
    BillingAccount.objects.create(account=account, plan="pro", subscription_status="active")
    for _ in range(9):
        make_connector(account)
    with transaction.atomic():
        connector_quota_check(account)
    make_connector(account)
    with pytest.raises(PaymentRequiredError) as raised, transaction.atomic():
        connector_quota_check(account)
    # A subscriber changes plan in the portal, not through a second checkout.
    assert "POST /billing/portal" in raised.value.detail


def test_the_limits_are_settings(account, settings):
    settings.BILLING_FREE_CONNECTOR_LIMIT = 1
    make_connector(account)
    with pytest.raises(PaymentRequiredError), transaction.atomic():
        connector_quota_check(account)


@pytest.mark.django_db(transaction=True)
def test_the_quota_check_must_run_in_the_creating_transaction():
    # Outside a transaction its lock would end at once and protect nothing.
    with pytest.raises(RuntimeError, match="inside the transaction"):
        connector_quota_check(AccountFactory())


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_pass_the_limit_together():
    account = AccountFactory()
    make_connector(account)
    make_connector(account)  # one left under the free limit of 3
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def create(n: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                connector_quota_check(account)
                make_connector(account, name=f"race{n}")
            outcomes.append("created")
        except PaymentRequiredError:
            outcomes.append("402")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["402", "402", "402", "created"]
    assert Connector.objects.filter(account=account).count() == 3


@pytest.mark.parametrize(
    ("status", "past_due_days", "active"),
    [
        ("none", None, True),
        ("trialing", None, True),
        ("active", None, True),
        ("incomplete", None, True),
        ("past_due", 1, True),
        ("past_due", 6.9, True),
        ("past_due", 7.1, False),
        ("unpaid", None, False),
        ("canceled", None, False),
        ("incomplete_expired", None, False),
        ("paused", None, False),
    ],
)
def test_which_accounts_are_active(account, status, past_due_days, active):
    now = timezone.now()
    since = now - timedelta(days=past_due_days) if past_due_days is not None else None
    BillingAccount.objects.create(account=account, subscription_status=status, past_due_since=since)
    make_connector(account)

    assert account_is_active(account, now=now) is active
    # The SQL filter agrees with the Python rule.
    kept = Connector.objects.filter(account=account).exclude(inactive_account_ids_q(now=now))
    assert kept.exists() is active
    if active:
        require_active(account, now=now)
    else:
        with pytest.raises(ForbiddenError) as raised:
            require_active(account, now=now)
        response = api_exception_handler(raised.value, {})
        assert response.status_code == 403
        assert response.data["error"] == "Subscription inactive"
        assert "POST /billing/portal" in response.data["detail"]


def test_an_account_that_never_subscribed_is_active(account):
    assert account_is_active(account)
    require_active(account)
    assert not BillingAccount.objects.exists()


def test_the_grace_period_is_a_setting(account, settings):
    BillingAccount.objects.create(
        account=account,
        subscription_status="past_due",
        past_due_since=timezone.now() - timedelta(days=2),
    )
    assert account_is_active(account)
    settings.BILLING_GRACE_DAYS = 1
    assert not account_is_active(account)


def test_the_filter_excludes_only_inactive_accounts_in_one_query(django_assert_num_queries):
    fresh, active, canceled, overdue = (AccountFactory() for _ in range(4))
    BillingAccount.objects.create(account=active, subscription_status="active")
    BillingAccount.objects.create(account=canceled, subscription_status="canceled")
    BillingAccount.objects.create(
        account=overdue,
        subscription_status="past_due",
        past_due_since=timezone.now() - timedelta(days=30),
    )
    for account in (fresh, active, canceled, overdue):
        make_connector(account)

    with django_assert_num_queries(1):
        kept = set(
            Connector.objects.exclude(inactive_account_ids_q()).values_list("account_id", flat=True)
        )
    assert kept == {fresh.id, active.id}
    accounts = set(Account.objects.exclude(inactive_account_ids_q(field="id")))
    assert accounts == {fresh, active}
