"""One endpoint's trouble stays its own: one attempt at a time per endpoint (a delivery that
finds its endpoint busy is put back, not waited for, and gets its turn when the attempt in
flight ends), and the circuit breaker that holds an endpoint's deliveries after timeouts in a
row and lets one probe decide. Real receivers on the loopback, the real Redis broker."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.accounts.factories import AccountFactory
from tests.broker import broker as broker  # a fixture
from tests.broker import queued
from tests.webhook_receiver import Receiver, SilentListener
from webhooks import delivery, dispatch, isolation, services
from webhooks.events import EventType, event_raise
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from webhooks.serializers import WebhookSerializer

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return AccountFactory()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def silent():
    with SilentListener() as s:
        yield s


def deliveries_to(account, endpoint: WebhookEndpoint, count: int) -> list[Delivery]:
    """`count` events' deliveries to the endpoint, oldest first (their messages dropped)."""
    made = []
    for n in range(count):
        with transaction.atomic():
            event = event_raise(account_id=account.id, type=EventType.SYNC_SUCCEEDED, data={"n": n})
        dispatch.event_dispatch(event_id=event.id)
        made.append(Delivery.objects.get(event=event, endpoint=endpoint))
    return made


def sent(broker) -> list[str]:
    """The deliveries waiting on the queue, and empty it."""
    ids = [args[0] for task, args in queued(broker) if task == "webhooks.deliver"]
    broker.delete("webhooks")
    return ids


def all_due(endpoint: WebhookEndpoint) -> None:
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=timezone.now())


def breaker(endpoint: WebhookEndpoint) -> dict:
    endpoint.refresh_from_db()
    return WebhookSerializer(endpoint).data["breaker"]


def test_a_delivery_finding_its_endpoint_busy_waits_for_its_turn_without_an_attempt(
    broker, account, receiver
):
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    first, second = deliveries_to(account, endpoint, 2)
    sent(broker)
    # `first` is being attempted by another worker.
    gate = isolation.endpoint_take(
        endpoint_id=endpoint.id, delivery_id=first.id, now=timezone.now()
    )
    assert gate == isolation.Gate.TAKEN

    assert delivery.delivery_attempt(delivery_id=second.id) is None
    assert receiver.received == []
    waiting = Delivery.objects.get(id=second.id)
    assert waiting.status == DeliveryStatus.PENDING and waiting.attempts == 0
    assert waiting.locked_until is None and waiting.enqueued_at is None
    assert not DeliveryAttempt.objects.filter(delivery=second).exists()
    # Neither its message nor the sweep's: the endpoint is busy.
    assert sent(broker) == []
    assert dispatch.webhooks_sweep()["deliveries"] == 0

    # The attempt in flight ends and hands the endpoint over.
    assert delivery.delivery_attempt(delivery_id=first.id).succeeded
    endpoint.refresh_from_db()
    assert endpoint.in_flight_delivery is None and endpoint.in_flight_until is None
    assert sent(broker) == [str(second.id)]
    assert delivery.delivery_attempt(delivery_id=second.id).succeeded
    assert [r.json["data"]["n"] for r in receiver.received] == [0, 1]
    assert sent(broker) == []  # nothing left to hand over


def test_a_lost_workers_hold_on_its_endpoint_lapses(broker, account, receiver):
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    lost, pending = deliveries_to(account, endpoint, 2)
    # The worker attempting `lost` died mid-attempt.
    hold = {"in_flight_delivery": lost.id}
    future = timezone.now() + timedelta(seconds=30)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(**hold, in_flight_until=future)
    assert delivery.delivery_attempt(delivery_id=pending.id) is None
    past = timezone.now() - timedelta(seconds=1)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(**hold, in_flight_until=past)
    assert delivery.delivery_attempt(delivery_id=pending.id).succeeded


def test_the_sweep_sends_one_delivery_per_free_endpoint_the_oldest(broker, account, receiver):
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    oldest, *_ = deliveries_to(account, endpoint, 3)
    Delivery.objects.filter(endpoint=endpoint).update(enqueued_at=None)
    sent(broker)
    assert dispatch.webhooks_sweep()["deliveries"] == 1
    assert sent(broker) == [str(oldest.id)]


def test_timeouts_in_a_row_open_the_breaker_and_one_probe_decides(
    broker, account, silent, receiver, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    settings.WEBHOOK_RETRY_BASE_SECONDS = 600  # retries are made due by hand below
    settings.WEBHOOK_BREAKER_TIMEOUTS = 2
    settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 60
    settings.WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS = 300
    endpoint, _ = services.webhook_create(account=account, url=silent.url)
    first, second, third = deliveries_to(account, endpoint, 3)
    sent(broker)

    assert delivery.delivery_attempt(delivery_id=first.id).error == "took longer than 0.3 s"
    assert breaker(endpoint) == {"state": "closed", "consecutive_timeouts": 1, "open_until": None}
    assert sent(broker) == [str(second.id)]  # the endpoint's turn passes to the next due
    before = timezone.now()
    assert not delivery.delivery_attempt(delivery_id=second.id).succeeded
    state = breaker(endpoint)
    assert state["state"] == "open" and state["consecutive_timeouts"] == 2
    assert before + timedelta(seconds=59) < endpoint.breaker_open_until
    assert endpoint.breaker_open_until < timezone.now() + timedelta(seconds=61)

    # Open: no attempt, none counted; the deliveries wait, pending; nothing is sent for them.
    assert sent(broker) == []
    assert delivery.delivery_attempt(delivery_id=third.id) is None
    assert silent.accepted == 2
    assert Delivery.objects.get(id=third.id).attempts == 0
    assert dispatch.webhooks_sweep()["deliveries"] == 0
    statuses = Delivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)
    assert set(statuses) == {DeliveryStatus.PENDING}

    # The cooldown is over: one probe, the oldest delivery, and it times out: held again,
    # twice as long.
    WebhookEndpoint.objects.filter(id=endpoint.id).update(breaker_open_until=timezone.now())
    all_due(endpoint)
    assert breaker(endpoint)["state"] == "half_open"
    assert dispatch.webhooks_sweep()["deliveries"] == 1
    assert sent(broker) == [str(first.id)]
    before = timezone.now()
    assert not delivery.delivery_attempt(delivery_id=first.id).succeeded
    assert silent.accepted == 3
    assert breaker(endpoint)["consecutive_timeouts"] == 3
    assert before + timedelta(seconds=119) < endpoint.breaker_open_until
    assert sent(broker) == []

    # The receiver is back (the same URL's owner fixed it): the probe's answer closes the
    # breaker, and the held deliveries follow, oldest first, one at a time.
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        url=receiver.url, breaker_open_until=timezone.now()
    )
    all_due(endpoint)
    assert dispatch.webhooks_sweep()["deliveries"] == 1
    for expected in (first, second, third):
        (next_id,) = sent(broker)
        assert next_id == str(expected.id)
        assert delivery.delivery_attempt(delivery_id=next_id).succeeded
    assert breaker(endpoint) == {"state": "closed", "consecutive_timeouts": 0, "open_until": None}
    assert [r.json["data"]["n"] for r in receiver.received] == [0, 1, 2]
    assert sent(broker) == []


def test_an_answer_ends_the_timeout_streak(account, receiver, settings):
    settings.WEBHOOK_BREAKER_TIMEOUTS = 3
    receiver.default_status = 500
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(consecutive_timeouts=2)
    (pending,) = deliveries_to(account, endpoint, 1)
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert attempt.status_code == 500 and not attempt.succeeded
    assert breaker(endpoint)["consecutive_timeouts"] == 0


def test_a_test_delivery_goes_around_an_open_breaker_and_closing_it_resumes_the_held(
    broker, account, receiver
):
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    (held,) = deliveries_to(account, endpoint, 1)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        consecutive_timeouts=5, breaker_open_until=timezone.now() + timedelta(minutes=10)
    )
    assert delivery.delivery_attempt(delivery_id=held.id) is None
    sent(broker)

    outcome = services.webhook_test(endpoint=endpoint)
    assert outcome["succeeded"] is True
    assert breaker(endpoint)["state"] == "closed"
    assert sent(broker) == [str(held.id)]
    assert delivery.delivery_attempt(delivery_id=held.id).succeeded


def test_a_new_delivery_is_queued_for_a_free_endpoint_and_waits_for_a_busy_ones_turn(
    broker, account, receiver, django_capture_on_commit_callbacks
):
    # A hanging endpoint's backlog must not wait on the queue ahead of other deliveries.
    endpoint, _ = services.webhook_create(account=account, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (first,) = deliveries_to(account, endpoint, 1)
    assert sent(broker) == [str(first.id)]
    isolation.endpoint_take(endpoint_id=endpoint.id, delivery_id=first.id, now=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        second, _third = deliveries_to(account, endpoint, 2)
    assert sent(broker) == []
    assert delivery.delivery_attempt(delivery_id=first.id).succeeded
    assert sent(broker) == [str(second.id)]
