"""Reads: an account's plan, billing period, rows synced in it and the month's estimate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import INACTIVE_STATUSES, BillingAccount, SubscriptionStatus
from billing.plans import Plan, plan_free, plan_get
from billing.stripe_api import stripe_configured
from connectors.models import Connector
from landed.accounts.models import Account
from syncs.models import SyncReceipt

logger = logging.getLogger("billing")

CURRENCY = "usd"
ROWS_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def calendar_month(now: datetime) -> Period:
    """The UTC calendar month holding `now`: [first day 00:00, next month's first day)."""
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return Period(start, end)


def billing_period(billing: BillingAccount | None, now: datetime | None = None) -> Period:
    """The subscription's current period when Stripe gave one that holds `now`; otherwise (no
    subscription, or one that ended or whose renewal has not been heard of yet) the calendar
    month in UTC."""
    now = now or timezone.now()
    if billing is not None:
        start, end = billing.current_period_start, billing.current_period_end
        if start is not None and end is not None and start <= now < end:
            return Period(start, end)
    return calendar_month(now)


def billing_plan(billing: BillingAccount | None) -> Plan:
    """The account's plan; the free plan when it has none, or one no longer configured."""
    if billing is None:
        return plan_free()
    plan = plan_get(billing.plan)
    if plan is None:
        logger.warning(
            "billing.unknown_plan account=%s plan=%s: treated as free",
            billing.account_id,
            billing.plan,
        )
        return plan_free()
    return plan


def grace_cutoff(now: datetime | None = None) -> datetime:
    """A subscription past due since before this is beyond its grace period."""
    return (now or timezone.now()) - timedelta(days=settings.BILLING_GRACE_DAYS)


def billing_is_active(billing: BillingAccount | None, *, now: datetime | None = None) -> bool:
    """False when the subscription is canceled, unpaid, expired before it started, paused, or
    past due for longer than BILLING_GRACE_DAYS. An account that never subscribed (no row, or
    `none`) is active on the free plan."""
    if billing is None:
        return True
    status = billing.subscription_status
    if status in INACTIVE_STATUSES:
        return False
    if status == SubscriptionStatus.PAST_DUE and billing.past_due_since is not None:
        return billing.past_due_since >= grace_cutoff(now)
    return True


def connector_quotas_apply() -> bool:
    """Quotas come with billing: a server without Stripe (a self-hosted install) sells nothing,
    so it offers no way to raise a limit, and has none."""
    return stripe_configured()


def billing_account_get(*, account: Account | Any) -> BillingAccount | None:
    """The account's billing row, or None (never created: free, never subscribed)."""
    account_id = getattr(account, "id", account)
    return BillingAccount.objects.filter(account_id=account_id).first()


def rows_in_period(*, account_id: Any, start: datetime, end: datetime) -> int:
    """Rows written by the account's syncs that finished in [start, end), summed in the DB."""
    total = SyncReceipt.objects.filter(
        account_id=account_id, finished_at__gte=start, finished_at__lt=end
    ).aggregate(rows=Coalesce(Sum("rows_written"), 0))["rows"]
    return int(total)


def estimate(*, plan: Plan, rows: int) -> dict[str, Any]:
    """The month's bill: the plan's price plus the rows beyond those included, priced per
    million and rounded up to the cent."""
    extra_rows = max(0, rows - plan.included_rows)
    # Integer ceiling: no float rounding on large counts.
    overage_cents = -(-extra_rows * plan.extra_million_rows_cents // ROWS_PER_MILLION)
    return {
        "currency": CURRENCY,
        "monthly_price_cents": plan.monthly_price_cents,
        "included_rows": plan.included_rows,
        "extra_rows": extra_rows,
        "overage_cents": overage_cents,
        "total_cents": plan.monthly_price_cents + overage_cents,
    }


def billing_usage(*, account: Account, now: datetime | None = None) -> dict[str, Any]:
    """GET /billing/usage: connectors against the limit (None: no limit, billing is off), rows
    this period, plan, subscription and the estimated bill."""
    now = now or timezone.now()
    billing = billing_account_get(account=account)
    plan = billing_plan(billing)
    period = billing_period(billing, now)
    rows = rows_in_period(account_id=account.id, start=period.start, end=period.end)
    return {
        "plan": {**plan.as_dict(), "metered": plan.metered},
        "subscription_status": billing.subscription_status if billing else "none",
        "active": billing_is_active(billing, now=now),
        "past_due_since": billing.past_due_since if billing else None,
        "period_start": period.start,
        "period_end": period.end,
        "connector_count": Connector.objects.filter(account=account).count(),
        "connector_limit": plan.connector_limit if connector_quotas_apply() else None,
        "rows_synced": rows,
        "estimate": estimate(plan=plan, rows=rows),
    }


def billing_accounts_with_usage(
    queryset: QuerySet[BillingAccount], now: datetime | None = None
) -> QuerySet[BillingAccount]:
    """`queryset` with `usage_rows`: each account's rows in its current billing period, in one
    query (the period rule of `billing_period`, written in SQL)."""
    now = now or timezone.now()
    month = calendar_month(now)
    in_subscription = Q(
        current_period_start__isnull=False,
        current_period_end__isnull=False,
        current_period_start__lte=now,
        current_period_end__gt=now,
    )
    start = Case(
        When(in_subscription, then=F("current_period_start")),
        default=Value(month.start),
        output_field=DateTimeField(),
    )
    end = Case(
        When(in_subscription, then=F("current_period_end")),
        default=Value(month.end),
        output_field=DateTimeField(),
    )
    rows = (
        SyncReceipt.objects.filter(
            account_id=OuterRef("account_id"),
            finished_at__gte=OuterRef("usage_period_start"),
            finished_at__lt=OuterRef("usage_period_end"),
        )
        .order_by()
        .values("account_id")
        .annotate(total=Sum("rows_written"))
        .values("total")
    )
    return queryset.annotate(usage_period_start=start, usage_period_end=end).annotate(
        usage_rows=Coalesce(Subquery(rows, output_field=BigIntegerField()), Value(0))
    )
