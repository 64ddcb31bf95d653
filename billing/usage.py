"""Usage reporting: rows synced, sent to the Stripe Billing Meter of each metered subscription.

A periodic task calls `usage_report_all()`. For each account whose subscription is live, whose
plan has a metered price and whose Stripe customer is known, the rows of the current billing
period are summed in the database, and what Stripe has not been told yet (the delta from
`UsageReport.rows_reported`) is sent as one meter event. Stripe adds the events up and bills
the rows beyond those included (the metered price's tiers, docs/billing.md).

Never counted twice, never lost:
- The report is written down before it is sent: `pending_rows` (the cumulative total being
  reported) and `pending_at` (the event's timestamp) are committed first. Then the meter event
  goes out, with the identifier `<account>:<period start>:<cumulative total>` (and the same as
  the Idempotency-Key). Then `rows_reported` takes the pending total.
- If the process dies, or the answer is lost, after Stripe accepted the event and before that
  last commit, the report is still pending: the next run sends the very same event again (same
  delta, identifier, timestamp), which Stripe deduplicates (the identifier is unique over at
  least 24 hours, and the Idempotency-Key replays the first answer). Only then are the rows
  synced since reported, as a new event with a new total. Recomputing the delta instead would
  send rows already counted under another identifier: a double count.
- A period that ended is reported once more after its end (with a timestamp inside it) and
  then closed (`final`), so the rows of its last hours reach its invoice.
A report left pending longer than Stripe's 24-hour window cannot be known to have arrived;
it is sent again and logged (billing.usage_resent_late).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import BillingAccount, SubscriptionStatus, UsageReport
from billing.selectors import Period, billing_plan, rows_in_period
from billing.stripe_api import stripe_client, stripe_configured, stripe_errors
from landed.accounts.models import Account
from landed.api.errors import UpstreamError

logger = logging.getLogger("billing")

# Subscriptions whose usage is billed (Stripe bills a trial's usage at $0 by itself).
REPORTING_STATUSES = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
)
STRIPE_DEDUPE_WINDOW = timedelta(hours=24)


def usage_report_all(*, now: datetime | None = None) -> int:
    """Report every metered account's new rows; the total rows sent. An account Stripe refuses
    or cannot be reached for is logged and left for the next run; the others go on."""
    if not stripe_configured():
        logger.info("billing.usage_report_skipped: STRIPE_SECRET_KEY is not set")
        return 0
    client = stripe_client()
    candidates = (
        BillingAccount.objects.exclude(stripe_customer_id="")
        .filter(
            Q(subscription_status__in=REPORTING_STATUSES) | Q(account__usage_reports__final=False)
        )
        .distinct()
        .order_by("pk")
    )
    total = 0
    for billing in candidates.iterator():
        try:
            total += _report_account(billing, client=client, now=now or timezone.now())
        except UpstreamError as exc:
            logger.warning(
                "billing.usage_report_failed account=%s error=%s %s",
                billing.account_id,
                exc.message,
                exc.detail,
            )
        except Exception:
            # One account's unexpected failure must not stop the others' reports.
            logger.exception("billing.usage_report_crashed account=%s", billing.account_id)
    return total


def usage_report(
    account: Account | Any, *, client: stripe.StripeClient | None = None, now: Any = None
) -> int:
    """Report the account's rows not yet reported (closing ended periods first); the rows
    sent. Raises UpstreamError (502) when Stripe fails, NotConfiguredError without Stripe."""
    account_id = getattr(account, "id", account)
    billing = BillingAccount.objects.filter(account_id=account_id).first()
    if billing is None or not billing.stripe_customer_id:
        return 0
    return _report_account(billing, client=client or stripe_client(), now=now or timezone.now())


def _report_account(billing: BillingAccount, *, client: stripe.StripeClient, now: datetime) -> int:
    sent = 0
    failure: UpstreamError | None = None
    current_start = billing.current_period_start
    ended = UsageReport.objects.filter(account_id=billing.account_id, final=False).exclude(
        period_start=current_start
    )
    for report in ended.order_by("period_start"):
        if current_start is not None and report.period_start < current_start < report.period_end:
            report = _cut_period(billing, report, at=current_start)
        try:
            sent += _report_period(
                billing, Period(report.period_start, report.period_end), client=client, now=now
            )
        except UpstreamError as exc:
            # An old period Stripe keeps refusing must not hold the current one back.
            failure = failure or exc
    plan = billing_plan(billing)
    if (
        billing.subscription_status in REPORTING_STATUSES
        and plan.metered
        and billing.current_period_start is not None
        and billing.current_period_end is not None
    ):
        period = Period(billing.current_period_start, billing.current_period_end)
        sent += _report_period(billing, period, client=client, now=now)
    if failure is not None:
        raise failure
    return sent


def _cut_period(billing: BillingAccount, report: UsageReport, *, at: datetime) -> UsageReport:
    """The period was cut short (a plan change moved the billing anchor, or a new subscription
    began before the old one's period would have ended): its rows end where the new period's
    begin, or they would be reported in both.

    Rows of the new period that a run before the webhook reported under the old period are
    already in Stripe, dated after `at`, that is inside the new period: the new period's report
    starts from them, or they would be sent again."""
    with transaction.atomic():
        report = UsageReport.objects.select_for_update().get(pk=report.pk)
        if not report.period_start < at < report.period_end:
            return report  # cut meanwhile
        before = rows_in_period(account_id=billing.account_id, start=report.period_start, end=at)
        told = report.rows_reported if report.pending_rows is None else report.pending_rows
        carried = max(0, told - before)
        report.period_end = at
        report.save(update_fields=["period_end"])
        if carried:
            _, created = UsageReport.objects.get_or_create(
                account_id=billing.account_id,
                period_start=at,
                defaults={
                    "period_end": billing.current_period_end or report.period_end,
                    "rows_reported": carried,
                },
            )
            if not created:
                logger.warning(
                    "billing.usage_carry_skipped account=%s period_start=%s rows=%s",
                    billing.account_id,
                    at,
                    carried,
                )
    return report


def _report_period(
    billing: BillingAccount, period: Period, *, client: stripe.StripeClient, now: datetime
) -> int:
    """Send what the period's report lacks: first a pending report left by an interrupted
    run (the same event again), then the rows synced since, if any; an ended period is closed
    once nothing is left to send."""
    sent = 0
    for _ in range(3):
        delta = _report_once(billing, period, client=client, now=now)
        if delta is None:
            break
        sent += delta
    return sent


def _report_once(
    billing: BillingAccount, period: Period, *, client: stripe.StripeClient, now: datetime
) -> int | None:
    """Send one meter event (the pending one, or a new one for the rows not yet reported);
    the rows it carried, or None when there was nothing to send."""
    rows = rows_in_period(account_id=billing.account_id, start=period.start, end=period.end)
    final = now >= period.end
    with transaction.atomic():
        UsageReport.objects.get_or_create(
            account_id=billing.account_id,
            period_start=period.start,
            defaults={"period_end": period.end},
        )
        report = UsageReport.objects.select_for_update().get(
            account_id=billing.account_id, period_start=period.start
        )
        if report.period_end != period.end and not report.final:
            # Stripe moved the period's end (a trial ended, the anchor changed).
            report.period_end = period.end
            report.save(update_fields=["period_end"])
        was_pending = report.pending_rows is not None
        if not was_pending:
            if rows <= report.rows_reported:
                if final and not report.final:
                    report.final = True
                    report.save(update_fields=["final"])
                return None
            report.pending_rows = rows
            # Inside the period, so that a late report still lands on the period's invoice.
            report.pending_at = min(now, period.end - timedelta(seconds=1))
            report.save(update_fields=["pending_rows", "pending_at"])
    pending, reported, at = report.pending_rows, report.rows_reported, report.pending_at
    delta = pending - reported
    identifier = f"{billing.account_id}:{period.start:%Y%m%d%H%M%S}:{pending}"
    if was_pending and now - at > STRIPE_DEDUPE_WINDOW:
        logger.warning("billing.usage_resent_late account=%s id=%s", billing.account_id, identifier)
    with stripe_errors("report usage to Stripe"):
        client.v1.billing.meter_events.create(
            params={
                "event_name": settings.STRIPE_METER_EVENT_NAME,
                "payload": {"stripe_customer_id": billing.stripe_customer_id, "value": str(delta)},
                "identifier": identifier,
                "timestamp": int(at.timestamp()),
            },
            options={"idempotency_key": f"meter-{identifier}"},
        )
    usage_report_sent(report_id=report.pk, pending_rows=pending, now=now)
    logger.info(
        "billing.usage_reported account=%s rows=%s delta=%s resent=%s",
        billing.account_id,
        pending,
        delta,
        was_pending,
    )
    return delta


def usage_report_sent(*, report_id: int, pending_rows: int, now: datetime) -> None:
    """Stripe accepted the pending report: it becomes the reported total."""
    with transaction.atomic():
        report = UsageReport.objects.select_for_update().get(pk=report_id)
        if report.pending_rows != pending_rows:
            return  # another run recorded it already
        report.rows_reported = pending_rows
        report.pending_rows = None
        report.pending_at = None
        report.last_reported_at = now
        report.save(
            update_fields=["rows_reported", "pending_rows", "pending_at", "last_reported_at"]
        )
