"""Delivering events: dispatch to the endpoints that want them, signed attempts against a real
local receiver, retries with backoff, redirects, timeouts, the network policy, secret
rotation, and disabling an endpoint that keeps failing."""

import contextlib
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.utils import timezone

from landed.security import outbound
from landed.security.secrets import encrypt_secrets
from tests.accounts.factories import AccountFactory
from tests.webhook_receiver import Receiver, TricklingReceiver, verify_signature
from webhooks import delivery, dispatch, services, signing
from webhooks.alerts.models import Notification
from webhooks.events import EventType, event_raise
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return AccountFactory()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def raise_event(account, type: str = EventType.SYNC_SUCCEEDED, **data) -> Event:
    with transaction.atomic():
        return event_raise(account_id=account.id, type=type, data=data or {"n": 1})


def deliveries_of(event: Event) -> list[str]:
    """Dispatch the event; the ids of the deliveries it created."""
    return dispatch.event_dispatch(event_id=event.id)


def one_delivery(account, endpoint: WebhookEndpoint, **data) -> Delivery:
    event = raise_event(account, **data)
    (delivery_id,) = deliveries_of(event)
    found = Delivery.objects.get(id=delivery_id)
    assert found.endpoint_id == endpoint.id
    return found


def make_due(delivery_id) -> None:
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now())


@pytest.fixture
def hook(account, receiver) -> tuple[WebhookEndpoint, str]:
    return services.webhook_create(account=account, url=receiver.url)


# --- Attempts ------------------------------------------------------------------------------
def test_a_2xx_marks_the_delivery_succeeded(account, receiver, hook):
    endpoint, secret = hook
    pending = one_delivery(account, endpoint, job={"id": "j-1"})
    attempt = delivery.delivery_attempt(delivery_id=pending.id)

    assert attempt.succeeded and attempt.status_code == 200 and attempt.attempt == 1
    assert attempt.next_retry_at is None and attempt.error == ""
    done = Delivery.objects.get(id=pending.id)
    assert done.status == DeliveryStatus.SUCCEEDED and done.attempts == 1 and done.finished_at
    assert done.locked_until is None
    (request,) = receiver.received
    assert request.verified_by(secret)
    assert request.headers["landed-event-type"] == "sync.succeeded"
    assert request.headers["landed-delivery-id"] == str(pending.id)
    assert request.headers["landed-event-id"] == str(pending.event_id)
    assert request.headers["content-type"] == "application/json"
    assert request.json["data"] == {"job": {"id": "j-1"}}
    # Finished: nothing more to do.
    assert delivery.delivery_attempt(delivery_id=pending.id) is None
    assert len(receiver.received) == 1


def test_a_500_schedules_a_retry_and_nothing_happens_before_it_is_due(
    account, receiver, hook, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    receiver.default_status = 500
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    before = timezone.now()
    attempt = delivery.delivery_attempt(delivery_id=pending.id)

    assert not attempt.succeeded and attempt.status_code == 500
    assert attempt.error == "The endpoint answered HTTP 500."
    assert '"status": 500' in attempt.response_excerpt
    retry = Delivery.objects.get(id=pending.id)
    assert retry.status == DeliveryStatus.PENDING and retry.attempts == 1
    # Equal jitter: between half and all of the base.
    assert before + timedelta(seconds=29) < retry.next_attempt_at
    assert retry.next_attempt_at < timezone.now() + timedelta(seconds=61)
    assert attempt.next_retry_at == retry.next_attempt_at
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None and endpoint.enabled

    assert delivery.delivery_attempt(delivery_id=pending.id) is None
    assert len(receiver.received) == 1
    assert Delivery.objects.get(id=pending.id).attempts == 1

    # Due, it is attempted again; a success clears the endpoint's failing streak.
    receiver.default_status = 200
    make_due(pending.id)
    second = delivery.delivery_attempt(delivery_id=pending.id)
    assert second.succeeded and second.attempt == 2
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_the_delivery_fails_after_the_last_attempt(account, receiver, hook, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.05
    receiver.default_status = 503
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)

    attempts = []
    for _ in range(3):
        make_due(pending.id)
        attempts.append(delivery.delivery_attempt(delivery_id=pending.id))
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [bool(a.next_retry_at) for a in attempts] == [True, True, False]
    failed = Delivery.objects.get(id=pending.id)
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == 3
    assert failed.finished_at is not None

    make_due(pending.id)
    assert delivery.delivery_attempt(delivery_id=pending.id) is None
    assert len(receiver.received) == 3
    assert DeliveryAttempt.objects.filter(delivery=pending).count() == 3


def test_backoff_grows_and_is_capped(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 100
    for _ in range(20):
        assert 5 <= delivery.retry_delay_seconds(1) <= 10
        assert 20 <= delivery.retry_delay_seconds(3) <= 40
        assert 50 <= delivery.retry_delay_seconds(12) <= 100


def test_a_redirect_is_a_failure_and_is_not_followed(account, receiver, hook):
    receiver.statuses.append(302)
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    attempt = delivery.delivery_attempt(delivery_id=pending.id)

    assert not attempt.succeeded and attempt.status_code == 302
    assert "Redirects are not followed" in attempt.error
    time.sleep(0.2)
    assert [r.path for r in receiver.received] == ["/hooks"]
    assert Delivery.objects.get(id=pending.id).status == DeliveryStatus.PENDING


def test_a_slow_receiver_times_out(account, receiver, hook, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    started = time.monotonic()
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    elapsed = time.monotonic() - started

    assert elapsed < 2
    assert not attempt.succeeded and attempt.status_code is None
    assert "timed out" in attempt.error or "took longer" in attempt.error, attempt.error
    assert attempt.duration_ms < 2000
    assert Delivery.objects.get(id=pending.id).status == DeliveryStatus.PENDING


def test_a_2xx_whose_body_trickles_past_the_deadline_is_a_timeout_and_retried(account, settings):
    # The status and headers come at once, then a byte every 0.5 s: each socket read is well
    # within a per-read timeout, but the first KiB is not there by the deadline.
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.5
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    with TricklingReceiver(status=200, length=2048, interval=0.5) as trickling:
        endpoint, _ = services.webhook_create(account=account, url=trickling.url)
        pending = one_delivery(account, endpoint)
        started = time.monotonic()
        attempt = delivery.delivery_attempt(delivery_id=pending.id)
        elapsed = time.monotonic() - started

    assert trickling.requests == 1
    assert elapsed < 2.5, elapsed
    assert attempt.succeeded is False
    assert attempt.status_code == 200  # what it answered, before missing the deadline
    assert "took longer than 1.5 s" in attempt.error, attempt.error
    assert attempt.next_retry_at is not None
    retried = Delivery.objects.get(id=pending.id)
    assert retried.status == DeliveryStatus.PENDING and retried.attempts == 1
    assert retried.next_attempt_at == attempt.next_retry_at
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert endpoint.consecutive_timeouts == 1  # counted by the circuit breaker


def test_a_short_body_trickled_within_the_deadline_is_delivered(account, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 3
    with TricklingReceiver(status=200, length=3, interval=0.2) as trickling:
        endpoint, _ = services.webhook_create(account=account, url=trickling.url)
        pending = one_delivery(account, endpoint)
        attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert attempt.succeeded and attempt.status_code == 200 and attempt.error == ""
    assert attempt.response_excerpt == "xxx"
    assert Delivery.objects.get(id=pending.id).status == DeliveryStatus.SUCCEEDED


def test_a_private_address_is_refused_at_delivery(account, receiver, hook, settings):
    endpoint, _ = hook  # saved while the policy allowed it
    settings.ALLOW_PRIVATE_NETWORKS = False
    pending = one_delivery(account, endpoint)
    attempt = delivery.delivery_attempt(delivery_id=pending.id)

    assert not attempt.succeeded and attempt.status_code is None
    assert "private, loopback and link-local" in attempt.error
    time.sleep(0.2)
    assert receiver.received == []


def test_a_host_that_cannot_be_encoded_is_a_failed_attempt(account):
    # Saved past the API's checks (an older row, say): the attempt fails, it does not crash.
    endpoint = WebhookEndpoint.objects.create(
        account=account,
        url="https://a..b/hooks",
        encrypted_secret=encrypt_secrets({"secret": signing.secret_generate()}),
    )
    pending = one_delivery(account, endpoint)
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert not attempt.succeeded and attempt.status_code is None and attempt.error
    assert Delivery.objects.get(id=pending.id).attempts == 1


# --- Signatures ----------------------------------------------------------------------------
def test_rotation_signs_with_both_secrets_until_the_overlap_ends(account, receiver, hook):
    endpoint, old = hook
    endpoint, new = services.webhook_rotate_secret(endpoint=endpoint)
    assert new != old

    pending = one_delivery(account, endpoint)
    assert delivery.delivery_attempt(delivery_id=pending.id).succeeded
    (during,) = receiver.received
    assert during.signature.count("v1=") == 2
    assert during.verified_by(new) and during.verified_by(old)
    assert not during.verified_by("whsec_someone-else")

    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    later = one_delivery(account, endpoint)
    assert delivery.delivery_attempt(delivery_id=later.id).succeeded
    after = receiver.received[1]
    assert after.signature.count("v1=") == 1
    assert after.verified_by(new) and not after.verified_by(old)


def test_a_replayed_signature_is_rejected(account, receiver, hook):
    endpoint, secret = hook
    pending = one_delivery(account, endpoint)
    delivery.delivery_attempt(delivery_id=pending.id)
    (request,) = receiver.received
    header, body = request.signature, request.body
    t = int(header.split(",")[0].removeprefix("t="))

    assert verify_signature(header, body, secret, tolerance=300, now=t + 299)
    assert not verify_signature(header, body, secret, tolerance=300, now=t + 301)
    assert not verify_signature(header, body, secret, tolerance=300, now=t - 301)
    assert signing.verify(header, body, secret, now=t + 299)
    assert not signing.verify(header, body, secret, now=t + 301)
    # The timestamp is signed: a fresh one on the old signature does not verify.
    fresh = header.replace(f"t={t}", f"t={t + 400}")
    assert not verify_signature(fresh, body, secret, now=t + 400)
    assert not verify_signature(header, body + b" ", secret)


# --- Disabling -----------------------------------------------------------------------------
def test_an_endpoint_failing_too_long_is_disabled(account, receiver, hook, settings):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    receiver.default_status = 500
    endpoint, _ = hook
    with Receiver() as healthy:
        other, _ = services.webhook_create(account=account, url=healthy.url)
        first = one_delivery_for(account, endpoint)
        second = one_delivery_for(account, endpoint)
        WebhookEndpoint.objects.filter(id=endpoint.id).update(
            failing_since=timezone.now() - timedelta(hours=2)
        )
        attempt = delivery.delivery_attempt(delivery_id=first.id)
        assert not attempt.succeeded

        endpoint.refresh_from_db()
        assert endpoint.enabled is False
        assert endpoint.disabled_at is not None and endpoint.disabled_reason
        statuses = set(Delivery.objects.filter(endpoint=endpoint).values_list("status", flat=True))
        assert statuses == {DeliveryStatus.FAILED}
        assert delivery.delivery_attempt(delivery_id=second.id) is None
        assert len(receiver.received) == 1

        (note,) = Notification.objects.filter(account=account)
        assert note.kind == "webhook_disabled" and endpoint.url in note.title
        assert note.data == {"webhook_id": str(endpoint.id), "url": endpoint.url}
        # The account's other endpoints are told; the disabled one is not.
        disabled_event = Event.objects.get(type=EventType.WEBHOOK_DISABLED)
        assert disabled_event.data["webhook"] == {"id": str(endpoint.id), "host": "127.0.0.1"}
        assert endpoint.url not in str(disabled_event.data)  # a path may carry a token
        (to_other,) = deliveries_of(disabled_event)
        assert Delivery.objects.get(id=to_other).endpoint_id == other.id
        assert delivery.delivery_attempt(delivery_id=to_other).succeeded
        assert healthy.of_type("webhook.disabled")


def one_delivery_for(account, endpoint: WebhookEndpoint) -> Delivery:
    """One event's delivery to `endpoint` (the account may have others)."""
    event = raise_event(account)
    deliveries_of(event)
    return Delivery.objects.get(event=event, endpoint=endpoint)


def test_a_failure_not_long_enough_does_not_disable(account, receiver, hook, settings):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    receiver.default_status = 500
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    delivery.delivery_attempt(delivery_id=pending.id)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None
    assert not Notification.objects.exists()


# --- Dispatch ------------------------------------------------------------------------------
def test_only_subscribed_endpoints_get_the_event(account):
    failures, _ = services.webhook_create(
        account=account, url="https://a.example.com/", event_types=["sync.failed"]
    )
    everything, _ = services.webhook_create(account=account, url="https://b.example.com/")
    elsewhere, _ = services.webhook_create(account=AccountFactory(), url="https://c.example.com/")

    succeeded = raise_event(account, EventType.SYNC_SUCCEEDED)
    deliveries_of(succeeded)
    assert list(Delivery.objects.filter(event=succeeded).values_list("endpoint", flat=True)) == [
        everything.id
    ]
    failed = raise_event(account, EventType.SYNC_FAILED)
    deliveries_of(failed)
    assert set(Delivery.objects.filter(event=failed).values_list("endpoint", flat=True)) == {
        failures.id,
        everything.id,
    }
    assert not Delivery.objects.filter(endpoint=elsewhere).exists()


def test_a_duplicate_dispatch_creates_no_second_delivery(account, hook):
    event = raise_event(account)
    assert len(deliveries_of(event)) == 1
    assert deliveries_of(event) == []
    assert Delivery.objects.filter(event=event).count() == 1
    assert Event.objects.get(id=event.id).dispatched_at is not None


def test_a_disabled_endpoint_gets_no_delivery(account, receiver, hook):
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    services.webhook_update(endpoint=endpoint, data={"enabled": False})

    assert deliveries_of(raise_event(account)) == []
    # A delivery made before it was disabled is dropped, not sent.
    assert delivery.delivery_attempt(delivery_id=pending.id) is None
    assert Delivery.objects.get(id=pending.id).status == DeliveryStatus.FAILED
    assert receiver.received == []


def test_a_test_event_is_delivered_once_even_to_a_disabled_endpoint(account, receiver, hook):
    endpoint, secret = hook
    services.webhook_update(endpoint=endpoint, data={"enabled": False})
    outcome = services.webhook_test(endpoint=endpoint)
    assert outcome["succeeded"] is True and outcome["status_code"] == 200
    assert dispatch.event_dispatch(event_id=outcome["event_id"]) == []
    assert Delivery.objects.filter(event_id=outcome["event_id"]).count() == 1
    (request,) = receiver.of_type("webhook.test")
    assert request.verified_by(secret)


# --- Regressions ---------------------------------------------------------------------------
@pytest.fixture
def raw_receiver():
    """A receiver answering `answer` (status, body bytes) as it is."""
    answer = {"status": 200, "body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(answer["status"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = do_POST

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield answer
    server.shutdown()
    server.server_close()


def test_an_answer_with_a_nul_is_logged_not_a_crash(account, raw_receiver):
    # PostgreSQL's text refuses NUL: the attempt was unrecordable, the delivery stayed claimed
    # and the sweep sent it again and again, never counting an attempt.
    raw_receiver.update(status=500, body=b"bad\x00answer")
    endpoint, _ = services.webhook_create(account=account, url=raw_receiver["url"])
    pending = one_delivery(account, endpoint)
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert attempt.status_code == 500 and attempt.response_excerpt == "bad\ufffdanswer"
    assert DeliveryAttempt.objects.get(id=attempt.id).response_excerpt == "bad\ufffdanswer"
    assert Delivery.objects.get(id=pending.id).attempts == 1


def test_event_data_with_a_nul_or_a_lone_surrogate_is_stored(account):
    # jsonb refuses both: the change the event reports (a failed connection test quoting an
    # API's answer, say) was rolled back with a 500.
    event = raise_event(account, message="a\x00b\ud800c", **{"k\x00": ["\x00"]})
    assert Event.objects.get(id=event.id).data == {
        "message": "a\ufffdb\ufffdc",
        "k\ufffd": ["\ufffd"],
    }


def test_a_slow_name_lookup_ends_at_the_deadline(account, hook, settings, monkeypatch):
    # The watchdog has no socket to shut while the host is resolved: the attempt took as long
    # as the receiver's name server chose.
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint, _ = hook

    def slow_resolve(host, port):
        time.sleep(3)
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", slow_resolve)
    pending = one_delivery(account, endpoint)
    started = time.monotonic()
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert time.monotonic() - started < 1.8
    assert not attempt.succeeded and attempt.status_code is None
    assert "timed out" in attempt.error or "took longer" in attempt.error, attempt.error


@pytest.fixture
def blackhole_port():
    """A loopback port whose connects hang: its listener's backlog is full, so a new SYN is
    dropped."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_a_connect_after_a_slow_lookup_ends_at_the_deadline(
    account, settings, monkeypatch, blackhole_port
):
    # The connect timeout was a fresh WEBHOOK_TIMEOUT_SECONDS after the lookup.
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint, _ = services.webhook_create(
        account=account, url=f"http://blackhole.test:{blackhole_port}/hooks"
    )

    def slowish_resolve(host, port):
        time.sleep(0.8)
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", slowish_resolve)
    pending = one_delivery(account, endpoint)
    started = time.monotonic()
    attempt = delivery.delivery_attempt(delivery_id=pending.id)
    assert time.monotonic() - started < 1.5
    assert not attempt.succeeded and attempt.status_code is None


def test_an_alert_event_is_not_sent_to_an_endpoint_disabled_since(account, receiver, hook):
    # An event for one endpoint (an alert's) kept going to it after it was disabled.
    endpoint, _ = hook
    with transaction.atomic():
        event = event_raise(
            account_id=account.id, type=EventType.ALERT_TRIGGERED, data={}, endpoint=endpoint
        )
    (pending,) = deliveries_of(event)
    services.webhook_update(endpoint=endpoint, data={"enabled": False})
    assert delivery.delivery_attempt(delivery_id=pending) is None
    assert Delivery.objects.get(id=pending).status == DeliveryStatus.FAILED
    assert receiver.received == []


@pytest.mark.django_db(transaction=True)
def test_disabling_does_not_deadlock_with_a_concurrent_recording(settings, monkeypatch):
    # Worker A disables the endpoint (holding its row) and fails its pending deliveries;
    # worker B, recording one of them, holds that delivery's row and waits for the endpoint's.
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    account = AccountFactory()
    endpoint, _ = services.webhook_create(account=account, url="https://hooks.example.com/x")
    first = one_delivery_for(account, endpoint)
    second = one_delivery_for(account, endpoint)
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        failing_since=timezone.now() - timedelta(hours=2)
    )
    b_holds_its_delivery, a_holds_the_endpoint = threading.Event(), threading.Event()
    health, disable = delivery._endpoint_health, delivery.endpoint_disable

    def paced_health(*args, **kwargs):
        if threading.current_thread().name == "B":
            b_holds_its_delivery.set()
            a_holds_the_endpoint.wait(5)
            time.sleep(0.3)  # then B waits for the endpoint's row
        else:
            b_holds_its_delivery.wait(5)
        return health(*args, **kwargs)

    def paced_disable(**kwargs):
        a_holds_the_endpoint.set()
        time.sleep(0.6)
        return disable(**kwargs)

    monkeypatch.setattr(delivery, "_endpoint_health", paced_health)
    monkeypatch.setattr(delivery, "endpoint_disable", paced_disable)
    errors = []

    def record(pending: Delivery) -> None:
        try:
            failed = delivery.Outcome(500, 1.0, "", "The endpoint answered HTTP 500.")
            delivery.delivery_record(delivery=pending, outcome=failed, retries=True)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=record, args=(second,), name="B"),
        threading.Thread(target=record, args=(first,), name="A"),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == []
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert DeliveryAttempt.objects.filter(endpoint=endpoint).count() == 2


def test_a_claim_outlasts_the_attempt(account, hook, settings):
    # A claim shorter than an attempt lapsed mid-attempt: another worker made it too.
    settings.WEBHOOK_LOCK_SECONDS = 5
    settings.WEBHOOK_TIMEOUT_SECONDS = 120
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    claimed = delivery.delivery_claim(delivery_id=pending.id)
    assert claimed.locked_until >= timezone.now() + timedelta(seconds=120)
    assert delivery.delivery_claim(delivery_id=pending.id) is None


@pytest.mark.parametrize(("margin", "hold"), [(None, 130), (2, 102)])
def test_a_claim_outlasts_the_deadline_by_the_margin(account, hook, settings, margin, hold):
    # The default margin, 30 s, or the one configured (short clocks, as the e2e tests use).
    settings.WEBHOOK_LOCK_SECONDS = 5
    settings.WEBHOOK_TIMEOUT_SECONDS = 100
    if margin is not None:
        settings.WEBHOOK_LOCK_MARGIN_SECONDS = margin
    endpoint, _ = hook
    pending = one_delivery(account, endpoint)
    before = timezone.now()
    claimed = delivery.delivery_claim(delivery_id=pending.id)
    after = timezone.now()
    assert before + timedelta(seconds=hold) <= claimed.locked_until
    assert claimed.locked_until <= after + timedelta(seconds=hold)


def test_a_test_event_made_by_the_sweep_is_still_one_attempt(account, receiver, hook):
    """A test whose request died before its attempt is made by a worker later: once, not
    retried for a day."""
    endpoint, _ = hook
    receiver.statuses.append(500)
    with transaction.atomic():
        event = event_raise(
            account_id=account.id, type=EventType.WEBHOOK_TEST, data={}, endpoint=endpoint
        )
        pending = Delivery.objects.create(
            endpoint=endpoint, event=event, next_attempt_at=timezone.now()
        )
    attempt = delivery.delivery_attempt(delivery_id=pending.id)  # the task's default call
    assert attempt.succeeded is False and attempt.next_retry_at is None
    assert Delivery.objects.get(id=pending.id).status == DeliveryStatus.FAILED


def test_a_timeout_is_reported_in_seconds_without_a_source_setting(account, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        endpoint, _ = services.webhook_create(
            account=account, url=f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        )
        pending = one_delivery(account, endpoint)
        attempt = delivery.delivery_attempt(delivery_id=pending.id)
    finally:
        silent.close()
    assert attempt.succeeded is False and attempt.status_code is None
    assert "max_request_seconds" not in attempt.error
    assert attempt.error in ("took longer than 0.5 s", "timed out after 0.5 s"), attempt.error
