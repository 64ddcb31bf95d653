"""Usage reporting to Stripe's Billing Meter: each row counted once, through retries, crashes
and period ends."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from billing import usage
from billing.models import BillingAccount, UsageReport
from billing.usage import usage_report, usage_report_all
from landed.api.errors import UpstreamError
from tests.accounts.factories import AccountFactory
from tests.billing.conftest import receipt

pytestmark = pytest.mark.django_db

METER_PATH = "/v1/billing/meter_events"


@pytest.fixture
def period():
    now = timezone.now()
    return now - timedelta(days=2), now + timedelta(days=28)


def subscribe(account, period, *, plan="pro", status="active", customer="cus_A"):
    return BillingAccount.objects.create(
        account=account,
        plan=plan,
        subscription_status=status,
        stripe_customer_id=customer,
        stripe_subscription_id="sub_1",
        current_period_start=period[0],
        current_period_end=period[1],
    )


def test_new_rows_are_sent_once(account, period, fake_stripe, settings):
    subscribe(account, period)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=1200)
    receipt(account, finished_at=period[0] - timedelta(hours=1), rows=99)  # previous period
    receipt(AccountFactory(), finished_at=period[0] + timedelta(hours=1), rows=5)  # not ours

    assert usage_report(account) == 1200

    [sent] = fake_stripe.to(METER_PATH)
    identifier = f"{account.id}:{period[0].astimezone(UTC):%Y%m%d%H%M%S}:1200"
    assert sent.form["event_name"] == settings.STRIPE_METER_EVENT_NAME
    assert sent.form["payload"] == {"stripe_customer_id": "cus_A", "value": "1200"}
    assert sent.form["identifier"] == identifier
    assert sent.idempotency_key == f"meter-{identifier}"
    assert period[0].timestamp() <= int(sent.form["timestamp"]) < period[1].timestamp()
    report = UsageReport.objects.get(account=account)
    assert (report.rows_reported, report.pending_rows, report.final) == (1200, None, False)

    # Nothing new: nothing sent.
    assert usage_report(account) == 0
    assert len(fake_stripe.to(METER_PATH)) == 1

    # More rows: only the difference.
    receipt(account, finished_at=period[0] + timedelta(hours=2), rows=300)
    assert usage_report(account) == 300
    assert fake_stripe.to(METER_PATH)[-1].form["payload"]["value"] == "300"
    assert fake_stripe.meter_total("cus_A") == 1500


def test_an_answer_lost_after_stripe_accepted_is_not_counted_twice(account, period, fake_stripe):
    subscribe(account, period)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=1000)
    fake_stripe.drop_next(1)  # Stripe records the event; its answer never arrives

    with pytest.raises(UpstreamError):
        usage_report(account)
    report = UsageReport.objects.get(account=account)
    assert (report.rows_reported, report.pending_rows) == (0, 1000)
    assert fake_stripe.meter_total("cus_A") == 1000

    # Rows keep coming before the next run.
    receipt(account, finished_at=period[0] + timedelta(hours=2), rows=500)
    assert usage_report(account) == 1500

    first, resent, new = fake_stripe.to(METER_PATH)
    assert resent.form == first.form  # the same event again: identifier, value, timestamp
    assert new.form["payload"]["value"] == "500"
    assert new.form["identifier"].endswith(":1500")
    assert fake_stripe.meter_total("cus_A") == 1500  # not 2500
    report.refresh_from_db()
    assert (report.rows_reported, report.pending_rows) == (1500, None)


def test_a_crash_before_our_commit_is_not_counted_twice(account, period, fake_stripe, monkeypatch):
    subscribe(account, period)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=700)
    recorded = usage.usage_report_sent

    def crash(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(usage, "usage_report_sent", crash)
    with pytest.raises(RuntimeError):
        usage_report(account)
    monkeypatch.setattr(usage, "usage_report_sent", recorded)

    assert usage_report(account) == 700  # the pending report, sent again
    assert len(fake_stripe.to(METER_PATH)) == 2
    assert len(fake_stripe.meter_events) == 1
    assert fake_stripe.meter_total("cus_A") == 700
    assert usage_report(account) == 0


def test_stripe_failing_leaves_the_report_for_the_next_run(account, period, fake_stripe):
    subscribe(account, period)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=10)
    fake_stripe.fail_next(1, status=503)
    with pytest.raises(UpstreamError):
        usage_report(account)
    assert fake_stripe.meter_total("cus_A") == 0
    assert usage_report(account) == 10
    assert fake_stripe.meter_total("cus_A") == 10


@pytest.mark.parametrize(
    ("plan", "status", "customer"),
    [
        ("team", "active", "cus_A"),  # no metered price
        ("free", "none", "cus_A"),
        ("pro", "canceled", "cus_A"),
        ("pro", "unpaid", "cus_A"),
        ("pro", "active", ""),  # no customer
    ],
)
def test_only_live_metered_subscriptions_report(
    account, period, fake_stripe, plan, status, customer
):
    subscribe(account, period, plan=plan, status=status, customer=customer)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=10)
    assert usage_report(account) == 0
    assert usage_report_all() == 0
    assert fake_stripe.to(METER_PATH) == []


@pytest.mark.parametrize("status", ["trialing", "past_due"])
def test_trialing_and_past_due_subscriptions_report(account, period, fake_stripe, status):
    subscribe(account, period, status=status)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=10)
    assert usage_report(account) == 10


def test_report_all_goes_on_past_an_account_stripe_refuses(period, fake_stripe):
    accounts = [AccountFactory() for _ in range(3)]
    for n, account in enumerate(accounts):
        subscribe(account, period, customer=f"cus_{n}")
        receipt(account, finished_at=period[0] + timedelta(hours=1), rows=100 * (n + 1))
    fake_stripe.fail_next(1, status=400, message="No such customer: 'cus_0'")

    assert usage_report_all() == 200 + 300
    assert [fake_stripe.meter_total(f"cus_{n}") for n in range(3)] == [0, 200, 300]
    # The next run sends what was refused, and only that.
    assert usage_report_all() == 100
    assert [fake_stripe.meter_total(f"cus_{n}") for n in range(3)] == [100, 200, 300]
    assert usage_report_all() == 0


def test_report_all_does_nothing_without_stripe(account, period):
    subscribe(account, period)
    receipt(account, finished_at=period[0] + timedelta(hours=1), rows=10)
    assert usage_report_all() == 0
    assert not UsageReport.objects.exists()


def test_an_ended_period_gets_its_last_rows_then_closes(account, period, fake_stripe):
    billing = subscribe(account, period)
    start, end = period
    receipt(account, finished_at=start + timedelta(hours=1), rows=100)
    assert usage_report(account) == 100
    # The period's last rows, synced after that report.
    receipt(account, finished_at=end - timedelta(seconds=5), rows=40)
    # Renewed: the webhook brought the next period.
    billing.current_period_start, billing.current_period_end = end, end + timedelta(days=30)
    billing.save()
    receipt(account, finished_at=end + timedelta(hours=1), rows=7)

    assert usage_report(account, now=end + timedelta(hours=2)) == 40 + 7

    old = UsageReport.objects.get(account=account, period_start=start)
    new = UsageReport.objects.get(account=account, period_start=end)
    assert (old.rows_reported, old.final) == (140, True)
    assert (new.rows_reported, new.final) == (7, False)
    late, current = fake_stripe.to(METER_PATH)[1:]
    # The late rows are dated inside the period they belong to.
    assert int(late.form["timestamp"]) == int((end - timedelta(seconds=1)).timestamp())
    assert late.form["payload"]["value"] == "40"
    assert current.form["payload"]["value"] == "7"
    assert usage_report(account, now=end + timedelta(hours=3)) == 0
    assert fake_stripe.meter_total("cus_A") == 147


def test_a_period_cut_short_is_not_reported_twice(account, period, fake_stripe):
    billing = subscribe(account, period)
    start = period[0]
    cut = start + timedelta(days=1)
    receipt(account, finished_at=start + timedelta(hours=1), rows=100)
    assert usage_report(account) == 100
    # A plan change moved the billing anchor: the next period starts before this one ended.
    billing.current_period_start, billing.current_period_end = cut, cut + timedelta(days=30)
    billing.save()
    receipt(account, finished_at=cut + timedelta(hours=1), rows=50)

    assert usage_report(account, now=cut + timedelta(hours=2)) == 50
    assert fake_stripe.meter_total("cus_A") == 150
    old = UsageReport.objects.get(account=account, period_start=start)
    assert old.period_end == cut and old.final


def test_rows_reported_before_the_webhook_moved_the_period_are_not_sent_again(account, fake_stripe):
    now = timezone.now()
    start = now - timedelta(days=2)
    billing = subscribe(account, (start, start + timedelta(days=30)))
    cut = now - timedelta(hours=3)  # a plan change reset the billing anchor here...
    receipt(account, finished_at=start + timedelta(hours=1), rows=100)
    receipt(account, finished_at=cut + timedelta(hours=1), rows=50)
    # ...and the beat ran before its webhook: the 50 rows went out under the old period
    # (dated now, so inside the new period for Stripe).
    assert usage_report(account) == 150
    billing.current_period_start, billing.current_period_end = cut, cut + timedelta(days=30)
    billing.save()

    assert usage_report(account) == 0
    assert fake_stripe.meter_total("cus_A") == 150  # not 200
    receipt(account, finished_at=cut + timedelta(hours=2), rows=8)
    assert usage_report(account) == 8
    assert fake_stripe.meter_total("cus_A") == 158
    old = UsageReport.objects.get(account=account, period_start=start)
    new = UsageReport.objects.get(account=account, period_start=cut)
    assert (old.period_end, old.final) == (cut, True)
    assert new.rows_reported == 58


def test_an_old_period_stripe_keeps_refusing_does_not_hold_the_current_one(account, fake_stripe):
    now = timezone.now()
    old = (now - timedelta(days=40), now - timedelta(days=10))
    billing = subscribe(account, old)
    receipt(account, finished_at=old[0] + timedelta(hours=1), rows=100)
    UsageReport.objects.create(
        account=account,
        period_start=old[0],
        period_end=old[1],
        pending_rows=100,
        pending_at=old[0] + timedelta(hours=2),
    )
    billing.current_period_start, billing.current_period_end = old[1], old[1] + timedelta(days=30)
    billing.save()
    receipt(account, finished_at=old[1] + timedelta(hours=1), rows=5)
    fake_stripe.fail_next(1, status=400, message="Timestamp too far in the past")

    with pytest.raises(UpstreamError):  # still said, for the log
        usage_report(account)
    assert fake_stripe.meter_total("cus_A") == 5
    assert UsageReport.objects.get(account=account, period_start=old[1]).rows_reported == 5
    assert UsageReport.objects.get(account=account, period_start=old[0]).pending_rows == 100


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_count_every_row_once(account, fake_stripe):
    import threading

    from django.db import connection

    now = timezone.now()
    period = (now - timedelta(days=2), now + timedelta(days=28))
    subscribe(account, period)
    errors: list[BaseException] = []
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.is_set():
                usage_report_all()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for minute in range(40):
        receipt(account, finished_at=period[0] + timedelta(minutes=minute), rows=7)
    stop.set()
    for thread in threads:
        thread.join()
    usage_report_all()
    assert not errors
    assert fake_stripe.meter_total("cus_A") == 40 * 7
