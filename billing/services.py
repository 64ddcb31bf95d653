"""Writes: the billing row, Stripe Checkout and Customer Portal sessions, and Stripe's webhook
events applied to the account."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction

from billing import stripe_events
from billing.models import LIVE_STATUSES, BillingAccount
from billing.plans import plan_get, plans_paid
from billing.stripe_api import stripe_client, stripe_errors
from landed.accounts.models import Account
from landed.api.errors import (
    BadRequestError,
    ConflictError,
    NotConfiguredError,
    RequestValidationError,
)

logger = logging.getLogger("billing")


def billing_account_for(account: Account | Any) -> BillingAccount:
    """The account's billing row, created (free plan, never subscribed) on first use."""
    account_id = getattr(account, "id", account)
    billing, _ = BillingAccount.objects.get_or_create(account_id=account_id)
    return billing


def _plan_invalid(msg: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ["body", "plan"], "msg": msg, "type": kind}])


def _customer_ensure(client: stripe.StripeClient, account: Account, email: str | None) -> str:
    """The account's Stripe customer, created once. The billing row is locked meanwhile, so
    concurrent checkouts wait for the first's customer; the idempotency key makes a create that
    succeeded in Stripe but was lost to us (a timeout, a crash) return that same customer."""
    with transaction.atomic():
        billing = BillingAccount.objects.select_for_update().get(pk=billing_account_for(account).pk)
        if billing.stripe_customer_id:
            return billing.stripe_customer_id
        params: dict[str, Any] = {
            "name": account.name,
            "metadata": {"account_id": str(account.id)},
        }
        if email:
            params["email"] = email
        # The key names the parameters too: Stripe refuses a key reused with other parameters
        # (for 24 hours), so after a lost answer another user of the account (another email),
        # or a renamed account, would be locked out of checkout. The same request retried
        # still gets the same customer.
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        with stripe_errors("create the Stripe customer"):
            customer = client.v1.customers.create(
                params=params, options={"idempotency_key": f"customer-{account.id}-{digest}"}
            )
        billing.stripe_customer_id = customer.id
        billing.save(update_fields=["stripe_customer_id", "updated_at"])
    logger.info("billing.customer_created account=%s customer=%s", account.id, customer.id)
    return customer.id


def billing_checkout_create(
    *, account: Account, plan_name: str, email: str | None = None
) -> dict[str, str]:
    """A Stripe Checkout session subscribing the account to `plan_name`: `{url, session_id}`.
    422 for an unknown or the free plan; 409 when the account already has a subscription
    (changed in the portal, not bought twice); 503 without Stripe; 502 when Stripe fails."""
    # Not configured first: without Stripe there is no plan to check out, whatever was asked.
    client = stripe_client()
    plan = plan_get(plan_name)
    if plan is None or plan.is_free:
        names = ", ".join(p.name for p in plans_paid()) or "(none configured)"
        if plan is not None:
            raise _plan_invalid(
                f"The free plan needs no checkout. Input should be one of: {names}", "enum"
            )
        raise _plan_invalid(f"Input should be one of: {names}", "enum")
    billing = billing_account_for(account)
    if billing.subscription_status in LIVE_STATUSES:
        raise ConflictError(
            "Already subscribed",
            f"This account has a {billing.subscription_status} subscription to plan "
            f"{billing.plan}. Change plan, payment method or cancel in the billing portal: "
            "POST /billing/portal returns its URL.",
        )
    customer_id = _customer_ensure(client, account, email)
    line_items: list[dict[str, Any]] = [{"price": plan.stripe_price_id, "quantity": 1}]
    if plan.stripe_metered_price_id:
        # A metered price takes no quantity: usage is what the meter counts.
        line_items.append({"price": plan.stripe_metered_price_id})
    metadata = {"account_id": str(account.id), "plan": plan.name}
    with stripe_errors("create the Checkout session"):
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(account.id),
                "line_items": line_items,
                "metadata": metadata,
                # The subscription carries them too: its events name the account.
                "subscription_data": {"metadata": metadata},
                "success_url": settings.BILLING_SUCCESS_URL,
                "cancel_url": settings.BILLING_CANCEL_URL,
            }
        )
    logger.info(
        "billing.checkout_created account=%s plan=%s session=%s", account.id, plan.name, session.id
    )
    return {"url": session.url, "session_id": session.id}


def billing_portal_create(*, account: Account) -> dict[str, str]:
    """A Stripe Customer Portal session for the account: `{url}`. 409 before the account has
    a Stripe customer (it has never started a checkout)."""
    client = stripe_client()
    billing = BillingAccount.objects.filter(account=account).first()
    if billing is None or not billing.stripe_customer_id:
        raise ConflictError(
            "No billing account yet",
            'Subscribe first: POST /billing/checkout {"plan": "<name>"} returns a Checkout URL.',
        )
    with stripe_errors("create the billing portal session"):
        session = client.v1.billing_portal.sessions.create(
            params={
                "customer": billing.stripe_customer_id,
                "return_url": settings.BILLING_PORTAL_RETURN_URL,
            }
        )
    return {"url": session.url}


def _storable(value: object, max_length: int) -> bool:
    """A non-empty string the database can keep (PostgreSQL refuses NUL bytes)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value


def stripe_webhook_receive(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify a Stripe webhook delivery (Stripe's signature scheme, by the library) and apply
    its event once. 503 without STRIPE_WEBHOOK_SECRET; 400 for a missing or bad signature or
    a body that is not an event."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise NotConfiguredError(
            "Stripe webhooks are not configured",
            "This server has no webhook signing secret (STRIPE_WEBHOOK_SECRET).",
        )
    if not signature:
        raise BadRequestError("Invalid signature", "The Stripe-Signature header is missing.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise BadRequestError("Invalid signature", exc.user_message) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        # The signature held (it is checked first): the body is not UTF-8, not JSON, or JSON
        # that is not an object (the library trips over a list with an AttributeError).
        raise BadRequestError("Invalid payload", "The body is not a Stripe event.") from exc
    data = event.to_dict()
    envelope = data.get("data")
    obj = envelope.get("object") if isinstance(envelope, dict) else None
    if not (
        _storable(data.get("id"), 255)
        and _storable(data.get("type"), 100)
        and stripe_events.event_time(data.get("created")) is not None
        and isinstance(obj, dict)
    ):
        raise BadRequestError(
            "Invalid payload", "Not a Stripe event: id, type, created and data.object required."
        )
    outcome = stripe_events.stripe_event_apply(event=data)
    logger.info("billing.stripe_event id=%s type=%s outcome=%s", data["id"], data["type"], outcome)
    return {"received": True}
