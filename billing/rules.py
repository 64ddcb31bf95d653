"""The billing rules other apps enforce: 403 for an inactive subscription, 402 at the connector
limit, and the SQL filter that leaves inactive accounts' connectors out of scheduled work.

Where they go (the lead wires them):
- `require_active(account)` before anything that makes a sync happen or adds work: creating
  a connector, triggering a sync (API and scheduler), testing credentials.
- `connector_quota_check(account)` in the transaction that creates the connector (a no-op
  when billing is not configured: no Stripe, no quota).
- `inactive_account_ids_q()` in the scheduler's rule of due connectors (syncs/schedule.py),
  so an inactive account's schedules pause without touching their rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from billing.models import INACTIVE_STATUSES, LIVE_STATUSES, BillingAccount, SubscriptionStatus
from billing.plans import plans_paid
from billing.selectors import (
    billing_account_get,
    billing_is_active,
    billing_plan,
    connector_quotas_apply,
    grace_cutoff,
)
from billing.services import billing_account_for
from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import ForbiddenError, PaymentRequiredError

INACTIVE_DETAIL = (
    "This account's subscription is {status}. Update the payment method or resume the "
    "subscription in the billing portal (POST /billing/portal returns its URL), or subscribe "
    'again with POST /billing/checkout {{"plan": "<name>"}}.'
)


def account_is_active(account: Account, *, now: datetime | None = None) -> bool:
    """True unless the subscription is canceled, unpaid, incomplete_expired, paused, or past
    due beyond BILLING_GRACE_DAYS. An account that never subscribed is active (free plan)."""
    return billing_is_active(billing_account_get(account=account), now=now)


def require_active(account: Account, *, now: datetime | None = None) -> None:
    """403 "Subscription inactive" (saying how to fix it) unless `account_is_active`."""
    billing = billing_account_get(account=account)
    if not billing_is_active(billing, now=now):
        status = str(billing.subscription_status).replace("_", " ") if billing else "inactive"
        if billing is not None and billing.subscription_status == SubscriptionStatus.PAST_DUE:
            status = "past due beyond its grace period"
        raise ForbiddenError("Subscription inactive", INACTIVE_DETAIL.format(status=status))


def inactive_account_ids_q(*, field: str = "account_id", now: datetime | None = None) -> Q:
    """A `Q` matching rows whose account (`field`: the account id column of the queried model)
    is inactive; `exclude()` it to keep active accounts only, in SQL:

        Connector.objects.exclude(inactive_account_ids_q())
        Account.objects.exclude(inactive_account_ids_q(field="id"))

    Accounts without a billing row (never subscribed) are active, as in `account_is_active`.
    """
    inactive = BillingAccount.objects.filter(
        Q(subscription_status__in=INACTIVE_STATUSES)
        | Q(
            subscription_status=SubscriptionStatus.PAST_DUE,
            past_due_since__lt=grace_cutoff(now),
        )
    ).values("account_id")
    return Q(**{f"{field}__in": inactive})


def connector_quota_check(account: Account | Any) -> None:
    """402 "Connector limit reached" when billing is on and the account has as many
    connectors as its plan allows. Call it inside the transaction that creates the connector:
    it locks the account's billing row until that transaction ends, so two concurrent creates
    cannot both pass at limit - 1 (the second waits and counts the first's connector)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "connector_quota_check must run inside the transaction that creates the connector "
            "(transaction.atomic()), or its lock protects nothing."
        )
    if not connector_quotas_apply():
        return
    billing = billing_account_for(account)
    billing = BillingAccount.objects.select_for_update().get(pk=billing.pk)
    plan = billing_plan(billing)
    count = Connector.objects.filter(account_id=billing.account_id).count()
    if count >= plan.connector_limit:
        raise PaymentRequiredError(
            "Connector limit reached",
            f"Your plan {plan.name} allows {plan.connector_limit} connectors and this account "
            f"has {count}. {_upgrade_hint(billing, plan.connector_limit)}",
        )


def _upgrade_hint(billing: BillingAccount, limit: int) -> str:
    """The way to more connectors that this server offers: the portal for a subscriber (plans
    change there; a second checkout is refused), a checkout for anyone else, the operator when
    no configured plan allows more."""
    larger = ", ".join(
        f"{p.name} ({p.connector_limit})" for p in plans_paid() if p.connector_limit > limit
    )
    if not larger:
        return (
            "No plan on this server allows more connectors: ask its operator to raise the "
            "limit, or delete a connector."
        )
    if billing.subscription_status in LIVE_STATUSES:
        return (
            f"Change to a larger plan ({larger}) in the billing portal (POST /billing/portal "
            "returns its URL), or delete a connector."
        )
    return (
        f'Upgrade with POST /billing/checkout {{"plan": "<name>"}} (plans with more '
        f"connectors: {larger}), or delete a connector."
    )
