"""The sweep puts back on the queue whatever a lost message or a dead worker left behind, once
per interval (never a flood), and the pruning keeps the outbox bounded. Messages go to the real
Redis broker; the queue's length is what the tests read."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from landed.security.secrets import encrypt_secrets
from tests.accounts.factories import AccountFactory
from tests.broker import broker as broker  # a fixture
from tests.broker import queued
from webhooks.alerts import channels
from webhooks.alerts.models import Notification
from webhooks.dispatch import webhooks_prune, webhooks_sweep
from webhooks.events import event_raise
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return AccountFactory()


@pytest.fixture
def endpoint(account):
    return WebhookEndpoint.objects.create(
        account=account,
        url="http://127.0.0.1:9/hooks",
        encrypted_secret=encrypt_secrets({"secret": "whsec_x"}),
    )


def test_a_lost_event_is_dispatched_again_once_per_interval(broker, account, settings):
    settings.WEBHOOK_LOST_AFTER_SECONDS = 30
    with transaction.atomic():
        event = event_raise(account_id=account.id, type="connector.created", data={})
    broker.flushdb()  # the message is lost
    assert webhooks_sweep()["events"] == 0  # not overdue yet

    Event.objects.filter(id=event.id).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    assert webhooks_sweep()["events"] == 1
    assert queued(broker) == [("webhooks.dispatch_event", [str(event.id)])]
    # Sent again just now: the next sweeps leave it alone (a busy worker is not flooded).
    assert webhooks_sweep()["events"] == 0
    assert len(queued(broker)) == 1

    Event.objects.filter(id=event.id).update(dispatched_at=timezone.now())
    Event.objects.filter(id=event.id).update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert webhooks_sweep()["events"] == 0  # dispatched events are done


def test_due_retries_and_abandoned_attempts_are_queued_held_ones_are_not(
    broker, account, endpoint, settings
):
    settings.WEBHOOK_LOCK_SECONDS = 60
    settings.WEBHOOK_LOST_AFTER_SECONDS = 30
    now = timezone.now()
    event = Event.objects.create(account=account, type="connector.created", dispatched_at=now)
    past = now - timedelta(minutes=5)

    def delivery(to: WebhookEndpoint = endpoint, **fields) -> Delivery:
        other = Event.objects.create(account=account, type="x", dispatched_at=now)
        return Delivery.objects.create(endpoint=to, event=other, **fields)

    due_retry = Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=past)
    not_due = delivery(next_attempt_at=now + timedelta(minutes=5))
    held = delivery(next_attempt_at=past, locked_until=now + timedelta(seconds=30))
    # On an endpoint of its own: the sweep sends one delivery per endpoint (the oldest due).
    elsewhere = WebhookEndpoint.objects.create(
        account=account, url="http://127.0.0.1:10/hooks", encrypted_secret=endpoint.encrypted_secret
    )
    abandoned = delivery(elsewhere, next_attempt_at=past, locked_until=past, enqueued_at=past)
    just_queued = delivery(next_attempt_at=past, enqueued_at=now)
    finished = delivery(next_attempt_at=past, status="succeeded")

    assert webhooks_sweep()["deliveries"] == 2
    sent = {args[0] for task, args in queued(broker) if task == "webhooks.deliver"}
    assert sent == {str(due_retry.id), str(abandoned.id)}
    assert not sent & {str(d.id) for d in (not_due, held, just_queued, finished)}
    assert webhooks_sweep()["deliveries"] == 0  # queued once per interval


def test_unsent_alert_emails_are_queued_again_with_backoff_then_given_up(broker, account):
    now = timezone.now()
    notification = Notification.objects.create(
        account=account,
        kind="sync_failed",
        title="t",
        email_recipients=["ops@example.com"],
        created_at=now - timedelta(seconds=45),
        email_enqueued_at=now - timedelta(seconds=45),
    )
    Notification.objects.create(account=account, kind="x", title="no email")
    # An email a policy test sent (or failed to send) in its request is not owed: not queued.
    Notification.objects.create(
        account=account,
        kind="test",
        title="test",
        email_recipients=["ops@example.com"],
        created_at=now - timedelta(hours=1),
    )
    Notification.objects.create(
        account=account,
        kind="x",
        title="sent",
        email_recipients=["a@example.com"],
        emailed_at=now,
        created_at=now - timedelta(hours=1),
    )

    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 1
    assert queued(broker) == [("webhooks.send_notification_email", [str(notification.id)])]
    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 0

    # Two failed sends: the next try waits 30 s x 2^2.
    Notification.objects.filter(id=notification.id).update(
        email_attempts=2, email_enqueued_at=now - timedelta(seconds=100)
    )
    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 0
    Notification.objects.filter(id=notification.id).update(
        email_enqueued_at=now - timedelta(seconds=121)
    )
    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 1

    Notification.objects.filter(id=notification.id).update(
        email_attempts=channels.EMAIL_MAX_ATTEMPTS, email_enqueued_at=now - timedelta(days=1)
    )
    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 0


def test_a_failed_send_is_counted_and_raised(account, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    notification = Notification.objects.create(
        account=account, kind="x", title="t", email_recipients=["ops@example.com"]
    )
    with pytest.raises(OSError):
        channels.notification_email_send(notification_id=notification.id)
    notification.refresh_from_db()
    assert notification.email_attempts == 1 and notification.emailed_at is None


def test_prune_drops_old_events_with_their_log_and_read_notifications(account, endpoint, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    now = timezone.now()
    old = now - timedelta(days=31)
    old_event = Event.objects.create(account=account, type="x", created_at=old, dispatched_at=old)
    undispatched = Event.objects.create(account=account, type="x", created_at=old)
    recent = Event.objects.create(account=account, type="x", dispatched_at=now)
    delivery = Delivery.objects.create(endpoint=endpoint, event=old_event, status="failed")
    DeliveryAttempt.objects.create(
        delivery=delivery,
        endpoint=endpoint,
        event_id=old_event.id,
        event_type="x",
        attempt=1,
        succeeded=False,
        duration_ms=1,
        created_at=old,
    )
    read_old = Notification.objects.create(
        account=account, kind="x", title="a", created_at=old, read_at=old
    )
    unread_old = Notification.objects.create(account=account, kind="x", title="b", created_at=old)
    Notification.objects.create(
        account=account, kind="x", title="email only", in_app=False, created_at=old
    )

    assert webhooks_prune(now=now) == {"events": 1, "notifications": 2}
    assert set(Event.objects.values_list("id", flat=True)) == {undispatched.id, recent.id}
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    assert set(Notification.objects.values_list("id", flat=True)) == {unread_old.id}
    assert not Notification.objects.filter(id=read_old.id).exists()

    settings.WEBHOOK_RETENTION_DAYS = 0
    assert webhooks_prune(now=now + timedelta(days=999)) == {"events": 0, "notifications": 0}
