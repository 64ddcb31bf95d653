"""Stripe's webhook events applied to an account's billing row, each exactly once.

Stripe delivers at least once and in no promised order. So:
- the event's id is recorded (StripeEvent) in the transaction of its effects: a redelivery finds
  it and changes nothing, and a failure rolls both back, so Stripe's retry applies it;
- the account's row is locked while an event is applied;
- state (status, plan, period) carries the Stripe time of the event that set it
  (`status_changed_at`); an event older than that changes nothing. Subscription events carry
  the whole subscription as it was then, so the newest one seen is the truth.
- checkout.session.completed carries no subscription state: it names the customer and the
  subscription, and sets the plan of its metadata only until the subscription's own events
  (usually sent before it, with an earlier time) say otherwise.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from billing.models import (
    ENDED_STATUSES,
    LIVE_STATUSES,
    BillingAccount,
    StripeEvent,
    SubscriptionStatus,
)
from billing.plans import FREE_PLAN, Plan, plan_for_price, plan_get
from landed.accounts.models import Account

logger = logging.getLogger("billing")

APPLIED = "applied"
Outcome = tuple[BillingAccount | None, str]


def stripe_event_apply(*, event: dict[str, Any]) -> str:
    """Apply a verified Stripe event (as a dict) once; its outcome ("applied", "duplicate", or
    why it changed nothing)."""
    created = event_time(event["created"])
    with transaction.atomic():
        record, new = StripeEvent.objects.get_or_create(
            stripe_id=event["id"], defaults={"type": event["type"][:100], "created": created}
        )
        if not new:
            return "duplicate"
        handler = HANDLERS.get(event["type"])
        if handler is None:
            billing, outcome = None, "ignored: event type not handled"
        else:
            billing, outcome = handler(event["data"]["object"], created, event["type"])
        record.account_id = billing.account_id if billing is not None else None
        record.outcome = outcome[:200]
        record.save(update_fields=["account", "outcome"])
    return outcome


# --- Helpers --------------------------------------------------------------------------------
# A signed event is still data: a field of an unexpected type, a time out of range, an id with a
# NUL byte (PostgreSQL refuses it) or longer than its column is treated as absent, never a 500
# (which Stripe would retry for days).
MAX_ID_LENGTH = 255


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def event_time(value: Any) -> datetime | None:
    """An event's `created` (whole seconds since the epoch), or None when it is not one."""
    return _time(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _id(value: Any) -> str:
    """A Stripe reference: an id, or an expanded object's id ("" when it is not a usable id)."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or "\x00" in value:
        return ""
    return value


def _account_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _locked_billing(*, account_ref: Any = None, customer_id: str = "") -> BillingAccount | None:
    """The billing row (locked) of the account named by `account_ref` (our account id, from
    client_reference_id or metadata), else of the Stripe customer; None for neither (an event
    of another integration on the same Stripe account)."""
    account_id = _account_id(account_ref)
    if account_id is not None and Account.objects.filter(id=account_id).exists():
        BillingAccount.objects.get_or_create(account_id=account_id)
        return BillingAccount.objects.select_for_update().get(account_id=account_id)
    if customer_id:
        return (
            BillingAccount.objects.select_for_update()
            .filter(stripe_customer_id=customer_id)
            .first()
        )
    return None


def _older(billing: BillingAccount, created: datetime) -> bool:
    return billing.status_changed_at is not None and created < billing.status_changed_at


def _remember_customer(billing: BillingAccount, customer_id: str) -> None:
    if customer_id and not billing.stripe_customer_id:
        taken = (
            BillingAccount.objects.filter(stripe_customer_id=customer_id)
            .exclude(pk=billing.pk)
            .values_list("account_id", flat=True)
            .first()
        )
        if taken is None:
            billing.stripe_customer_id = customer_id
        else:
            # Another account's customer (the unique constraint would fail the event forever).
            logger.warning(
                "billing.customer_of_another_account account=%s other=%s customer=%s",
                billing.account_id,
                taken,
                customer_id,
            )
    elif customer_id and customer_id != billing.stripe_customer_id:
        logger.warning(
            "billing.customer_mismatch account=%s known=%s event=%s",
            billing.account_id,
            billing.stripe_customer_id,
            customer_id,
        )


def _set_status(billing: BillingAccount, status: str, created: datetime) -> None:
    if status == SubscriptionStatus.PAST_DUE:
        billing.past_due_since = billing.past_due_since or created
    else:
        billing.past_due_since = None
    billing.subscription_status = status
    billing.status_changed_at = created


# --- checkout.session.completed -------------------------------------------------------------
def _checkout_completed(obj: dict[str, Any], created: datetime, _type: str) -> Outcome:
    if obj.get("mode") != "subscription":
        return None, "ignored: not a subscription checkout"
    metadata = _dict(obj.get("metadata"))
    customer_id = _id(obj.get("customer"))
    billing = _locked_billing(
        account_ref=obj.get("client_reference_id") or metadata.get("account_id"),
        customer_id=customer_id,
    )
    if billing is None:
        return None, "ignored: no account for this checkout"
    _remember_customer(billing, customer_id)
    outcome = "applied: customer recorded"
    subscription_id = _id(obj.get("subscription"))
    new_subscription = subscription_id and (
        not billing.stripe_subscription_id
        or (
            subscription_id != billing.stripe_subscription_id
            and billing.subscription_status not in LIVE_STATUSES
        )
    )
    if new_subscription:
        # The subscription's own events have not been applied yet: until they are, the plan
        # bought is the checkout's, and a paid checkout is an active subscription.
        billing.stripe_subscription_id = subscription_id
        plan = plan_get(str(metadata.get("plan") or ""))
        if plan is not None and not plan.is_free:
            billing.plan = plan.name
        if obj.get("payment_status") in ("paid", "no_payment_required"):
            billing.subscription_status = SubscriptionStatus.ACTIVE
            billing.past_due_since = None
        outcome = APPLIED
    billing.save()
    return billing, outcome


# --- customer.subscription.* ----------------------------------------------------------------
def _subscription_plan(items: list[dict[str, Any]]) -> tuple[Plan | None, str]:
    """The plan whose recurring price is among the items, and the metered item's id."""
    items = [item for item in items if isinstance(item, dict)]
    prices = [(_id(item.get("price") or item.get("plan")), item) for item in items]
    plan = next((p for p in (plan_for_price(price) for price, _ in prices) if p), None)
    metered_item = ""
    for price, item in prices:
        usage_type = _dict(_dict(item.get("price")).get("recurring")).get("usage_type")
        is_plan_meter = plan is not None and price == plan.stripe_metered_price_id
        if is_plan_meter or (not metered_item and usage_type == "metered"):
            metered_item = _id(item)
    return plan, metered_item


def _subscription_changed(obj: dict[str, Any], created: datetime, event_type: str) -> Outcome:
    subscription_id = _id(obj)
    if not subscription_id:
        return None, "ignored: the subscription has no usable id"
    customer_id = _id(obj.get("customer"))
    billing = _locked_billing(
        account_ref=_dict(obj.get("metadata")).get("account_id"), customer_id=customer_id
    )
    if billing is None:
        return None, "ignored: no account for this customer"
    _remember_customer(billing, customer_id)
    status = str(obj.get("status") or "")
    if event_type == "customer.subscription.deleted":
        status = SubscriptionStatus.CANCELED
    if status not in SubscriptionStatus.values or status == SubscriptionStatus.NONE:
        billing.save()
        return billing, f"ignored: unknown subscription status {status!r}"
    if _older(billing, created):
        billing.save()
        return billing, "ignored: older than the account's billing state"
    current = billing.stripe_subscription_id
    if current and current != subscription_id:
        if billing.subscription_status in LIVE_STATUSES and status not in LIVE_STATUSES:
            # The end of a previous subscription must not end the current one.
            billing.save()
            return billing, "ignored: not the account's current subscription"
        if billing.subscription_status in LIVE_STATUSES:
            logger.warning(
                "billing.two_live_subscriptions account=%s current=%s new=%s",
                billing.account_id,
                current,
                subscription_id,
            )
    billing.stripe_subscription_id = subscription_id
    _set_status(billing, status, created)
    items = [item for item in _list(_dict(obj.get("items")).get("data")) if isinstance(item, dict)]
    outcome = APPLIED
    if status in ENDED_STATUSES:
        billing.plan = FREE_PLAN
        billing.stripe_metered_item_id = ""
        billing.current_period_start = billing.current_period_end = None
    else:
        plan, metered_item = _subscription_plan(items)
        if plan is not None:
            billing.plan = plan.name
        else:
            outcome = "applied: no configured plan has the subscription's price; plan kept"
            logger.warning(
                "billing.unknown_price account=%s subscription=%s",
                billing.account_id,
                subscription_id,
            )
        billing.stripe_metered_item_id = metered_item
        # Recent API versions keep the period on the items, older ones on the subscription.
        first = items[0] if items else {}
        start = _time(obj.get("current_period_start") or first.get("current_period_start"))
        end = _time(obj.get("current_period_end") or first.get("current_period_end"))
        if start is not None and end is not None:
            billing.current_period_start, billing.current_period_end = start, end
    billing.save()
    return billing, outcome


# --- invoice.paid / invoice.payment_failed --------------------------------------------------
def _invoice_subscription(obj: dict[str, Any]) -> str:
    """The invoice's subscription: `subscription` in older API versions,
    `parent.subscription_details.subscription` since 2025-03-31."""
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    return _id(obj.get("subscription")) or _id(details.get("subscription"))


def _invoice(obj: dict[str, Any], created: datetime, event_type: str) -> Outcome:
    customer_id = _id(obj.get("customer"))
    billing = _locked_billing(customer_id=customer_id)
    if billing is None:
        return None, "ignored: no account for this customer"
    subscription_id = _invoice_subscription(obj)
    if not subscription_id or subscription_id != billing.stripe_subscription_id:
        return billing, "ignored: not an invoice of the account's current subscription"
    if billing.subscription_status in ENDED_STATUSES:
        return billing, "ignored: the subscription has ended"
    if _older(billing, created):
        return billing, "ignored: older than the account's billing state"
    # An invoice says whether a payment went through, not what Stripe made of the subscription:
    # a failed payment makes only a paying subscription past due (an unpaid or paused one stays
    # inactive; it must not get a new grace period), and a paid invoice (a trial's $0 one) does
    # not end a trial or a pause. The subscription's own events say the rest.
    status = billing.subscription_status
    if event_type == "invoice.paid":
        if status in _PAID_KEEPS:
            return billing, f"ignored: the subscription is {status}"
        _set_status(billing, SubscriptionStatus.ACTIVE, created)
    else:
        if status not in _PAYMENT_FAILED_FROM:
            return billing, f"ignored: the subscription is {status}"
        _set_status(billing, SubscriptionStatus.PAST_DUE, created)
    billing.save()
    return billing, APPLIED


_PAID_KEEPS = (SubscriptionStatus.TRIALING, SubscriptionStatus.PAUSED)
_PAYMENT_FAILED_FROM = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
)


HANDLERS: dict[str, Callable[[dict[str, Any], datetime, str], Outcome]] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "customer.subscription.paused": _subscription_changed,
    "customer.subscription.resumed": _subscription_changed,
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
}
