"""Plans are configuration, not code: `BILLING_PLANS` (JSON, from the environment or a file)
lists the paid plans; the free plan is always there, with its limits from
`BILLING_FREE_CONNECTOR_LIMIT` and `BILLING_FREE_INCLUDED_ROWS`.

The list is validated when the app loads (billing.apps), so a typo stops the server at start
with a message naming the plan and the field, not at a customer's checkout.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

FREE_PLAN = "free"
PLAN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_INT_FIELDS = (
    "monthly_price_cents",
    "connector_limit",
    "included_rows",
    "extra_million_rows_cents",
)
_REQUIRED = ("name", "stripe_price_id", *_INT_FIELDS)
_OPTIONAL = ("stripe_metered_price_id",)


@dataclass(frozen=True)
class Plan:
    name: str
    # The recurring (licensed) price of the subscription; empty for the free plan.
    stripe_price_id: str
    monthly_price_cents: int
    connector_limit: int
    included_rows: int
    extra_million_rows_cents: int
    # The metered price billing rows beyond those included (Stripe Billing Meter); empty when
    # the plan has no overage billing.
    stripe_metered_price_id: str = ""

    @property
    def is_free(self) -> bool:
        return self.name == FREE_PLAN

    @property
    def metered(self) -> bool:
        return bool(self.stripe_metered_price_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _free_plan() -> Plan:
    return Plan(
        name=FREE_PLAN,
        stripe_price_id="",
        monthly_price_cents=0,
        connector_limit=settings.BILLING_FREE_CONNECTOR_LIMIT,
        included_rows=settings.BILLING_FREE_INCLUDED_ROWS,
        extra_million_rows_cents=0,
    )


def _problem(index: int, name: Any, message: str) -> ImproperlyConfigured:
    which = f"plan {name!r}" if isinstance(name, str) and name else f"plan #{index + 1}"
    return ImproperlyConfigured(f"BILLING_PLANS: {which}: {message}")


def _plan(index: int, raw: Any) -> Plan:
    if not isinstance(raw, dict):
        raise _problem(index, None, "must be a JSON object.")
    name = raw.get("name")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise _problem(index, name, f"missing {', '.join(missing)}.")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        known = ", ".join((*_REQUIRED, *_OPTIONAL))
        raise _problem(index, name, f"unknown field {', '.join(unknown)} (known: {known}).")
    if not isinstance(name, str) or not PLAN_NAME.match(name):
        raise _problem(
            index, None, f"name {name!r} must be 1-64 lowercase letters, digits, '-' or '_'."
        )
    if name == FREE_PLAN:
        raise _problem(
            index,
            name,
            "the free plan is built in; set BILLING_FREE_CONNECTOR_LIMIT and "
            "BILLING_FREE_INCLUDED_ROWS instead.",
        )
    for key in ("stripe_price_id", "stripe_metered_price_id"):
        value = raw.get(key, "")
        if value is None and key in _OPTIONAL:
            continue
        if not isinstance(value, str) or (key in _REQUIRED and not value.strip()):
            raise _problem(index, name, f"{key} must be a Stripe price id (price_...).")
    for key in _INT_FIELDS:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _problem(index, name, f"{key} must be a whole number >= 0, not {value!r}.")
    return Plan(
        name=name,
        stripe_price_id=raw["stripe_price_id"].strip(),
        monthly_price_cents=raw["monthly_price_cents"],
        connector_limit=raw["connector_limit"],
        included_rows=raw["included_rows"],
        extra_million_rows_cents=raw["extra_million_rows_cents"],
        stripe_metered_price_id=(raw.get("stripe_metered_price_id") or "").strip(),
    )


def plans_parse(raw: Any) -> dict[str, Plan]:
    """The plans of `raw` (the BILLING_PLANS list) by name, the free plan first; raises
    ImproperlyConfigured naming the plan and field at fault."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ImproperlyConfigured(
            "BILLING_PLANS must be a JSON list of plans, e.g. "
            '[{"name": "pro", "stripe_price_id": "price_...", ...}].'
        )
    plans = {FREE_PLAN: _free_plan()}
    for index, item in enumerate(raw):
        plan = _plan(index, item)
        if plan.name in plans:
            raise _problem(index, plan.name, "the name is used by another plan.")
        # A subscription's plan is found by its recurring price: one plan per price, and no
        # price both a plan's own and a metered one. (Plans may share a metered price.)
        if plan.stripe_price_id == plan.stripe_metered_price_id:
            raise _problem(index, plan.name, "stripe_metered_price_id is its stripe_price_id.")
        for other in plans.values():
            taken = {other.stripe_price_id, other.stripe_metered_price_id} - {""}
            clash = ({plan.stripe_price_id} & taken) or (
                {plan.stripe_metered_price_id} & {other.stripe_price_id} - {""}
            )
            if clash:
                price = clash.pop()
                raise _problem(
                    index, plan.name, f"price {price} is already used by {other.name!r}."
                )
        plans[plan.name] = plan
    return plans


@cache
def plans_load() -> dict[str, Plan]:
    """Every plan by name (validated once, again when a BILLING_ setting changes in tests)."""
    for key in ("BILLING_FREE_CONNECTOR_LIMIT", "BILLING_FREE_INCLUDED_ROWS"):
        value = getattr(settings, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ImproperlyConfigured(f"{key} must be a whole number >= 0, not {value!r}.")
    return plans_parse(settings.BILLING_PLANS)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("BILLING_"):
        plans_load.cache_clear()


def plan_free() -> Plan:
    return plans_load()[FREE_PLAN]


def plan_get(name: str) -> Plan | None:
    """The plan named `name`, or None."""
    return plans_load().get(name)


def plan_for_price(price_id: str) -> Plan | None:
    """The paid plan whose recurring price is `price_id`, or None (a metered price is not a
    plan's own price: it rides beside it)."""
    if not price_id:
        return None
    return next((p for p in plans_load().values() if p.stripe_price_id == price_id), None)


def plans_paid() -> list[Plan]:
    return [plan for plan in plans_load().values() if not plan.is_free]
