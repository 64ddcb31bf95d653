"""Alert policy evaluation: each condition, scopes, cooldown, the freshness check and the
channels (in-app, email, webhook), driven by real events through `event_dispatch`."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from connectors.models import Connector, Destination
from syncs import services as sync_services
from syncs.models import Job, JobStatus, SyncReceipt
from syncs.payloads import schema_changes_data, sync_data
from syncs.receipts import receipt_write
from tests.accounts.factories import AccountFactory
from tests.broker import broker as broker  # a fixture
from tests.broker import queued
from tests.connectors.factories import make_connector
from webhooks.alerts import channels
from webhooks.alerts.evaluation import alerts_check_freshness, failed_runs_in_a_row, policy_fire
from webhooks.alerts.models import AlertGroup, Notification, NotificationPolicy, PolicyFiring
from webhooks.dispatch import event_dispatch
from webhooks.events import SYNC_EVENT_BY_STATUS, EventType, event_raise
from webhooks.models import Event, WebhookEndpoint
from webhooks.tasks import check_freshness, send_notification_email

pytestmark = pytest.mark.django_db

ERROR = {"type": "source_error", "message": "connection refused", "stream": None, "retryable": True}


@pytest.fixture(autouse=True)
def _locmem_email(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def account():
    return AccountFactory()


@pytest.fixture
def destination(account) -> Destination:
    return Destination.objects.create(
        account=account, name="lake", type="duckdb", config={"path": "lake.duckdb"}
    )


@pytest.fixture
def connector(account, destination) -> Connector:
    return make_connector(account, destination, name="orders-db")


def make_policy(account, conditions, **fields: Any) -> NotificationPolicy:
    fields.setdefault("name", f"policy {uuid.uuid4().hex[:8]}")
    return NotificationPolicy.objects.create(account=account, conditions=conditions, **fields)


def finish_job(
    connector: Connector,
    status: str,
    *,
    run_id: Any = None,
    attempt: int = 1,
    at: Any = None,
    error: dict | None = None,
) -> Job:
    """A settled job with its receipt, as a worker leaves them."""
    at = at or timezone.now()
    job = Job.objects.create(
        connector=connector,
        status=status,
        run_id=run_id or uuid.uuid4(),
        attempt=attempt,
        created_at=at - timedelta(minutes=2),
        started_at=at - timedelta(minutes=1),
        finished_at=at,
        error=error if status == JobStatus.FAILED else None,
    )
    receipt_write(job_id=job.id)
    return job


def dispatch(account, type: str, data: dict) -> Event:
    with transaction.atomic():
        event = event_raise(account_id=account.id, type=type, data=data)
    event_dispatch(event_id=event.id)
    return event


def sync_event(job: Job, *, retry_job_id: Any = None) -> Event:
    account = job.connector.account
    data = sync_data(job.id, retry_job_id=retry_job_id)
    return dispatch(account, SYNC_EVENT_BY_STATUS[job.status], data)


def fail(connector, *, retry: bool = False, **kwargs: Any) -> Job:
    job = finish_job(connector, JobStatus.FAILED, error=ERROR, **kwargs)
    sync_event(job, retry_job_id=uuid.uuid4() if retry else None)
    return job


def notifications(**filters: Any) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("created_at"))


# --- sync_failed -----------------------------------------------------------------------------
def test_sync_failed_fires_for_a_failure_for_good(account, connector):
    policy = make_policy(account, ["sync_failed"])
    job = fail(connector)

    [notification] = notifications()
    assert notification.kind == "sync_failed"
    assert notification.title == "Sync failed: orders-db"
    assert "connection refused" in notification.message
    assert notification.policy_id == policy.id and notification.connector_id == connector.id
    assert notification.in_app is True and notification.read_at is None
    assert notification.data["condition"] == "sync_failed"
    assert notification.data["connector"] == {"id": str(connector.id), "name": "orders-db"}
    assert notification.data["job_id"] == str(job.id)
    assert notification.data["policy_id"] == str(policy.id)


def test_sync_failed_does_not_fire_when_a_retry_follows(account, connector):
    make_policy(account, ["sync_failed"])
    fail(connector, retry=True)
    assert notifications() == []


def test_other_events_fire_nothing(account, connector):
    make_policy(account, ["sync_failed", "sync_recovered", "schema_changed"])
    job = finish_job(connector, JobStatus.CANCELLED)
    sync_event(job)
    dispatch(account, EventType.CONNECTOR_UPDATED, {"connector": {"id": str(connector.id)}})
    assert notifications() == []


def test_disabled_policies_and_other_accounts_policies_do_not_fire(account, connector):
    make_policy(account, ["sync_failed"], enabled=False)
    make_policy(AccountFactory(), ["sync_failed"])
    make_policy(account, ["schema_changed"])  # not watching failures
    fail(connector)
    assert notifications() == []


def test_sync_failed_through_the_real_job_lifecycle(
    account, connector, django_capture_on_commit_callbacks
):
    """job_finish raises the event in its transaction; dispatching it fires the policy."""
    make_policy(account, ["sync_failed"])
    with django_capture_on_commit_callbacks():
        job = sync_services.sync_trigger(connector=connector)
    sync_services.job_claim(job_id=job.id)
    error = {"type": "authentication_failed", "message": "bad password", "retryable": False}
    sync_services.job_finish(job=job, status=JobStatus.FAILED, error=error)

    for event in Event.objects.filter(dispatched_at__isnull=True).order_by("created_at"):
        event_dispatch(event_id=event.id)

    [notification] = notifications()
    assert notification.title == "Sync failed: orders-db"
    assert "bad password" in notification.message


# --- consecutive_failures --------------------------------------------------------------------
def test_consecutive_failures_fires_at_n_failed_runs(account, connector):
    make_policy(account, ["consecutive_failures"], consecutive_failures=3, cooldown_minutes=0)
    base = timezone.now() - timedelta(hours=1)
    finish_job(connector, JobStatus.SUCCEEDED, at=base)
    fail(connector, at=base + timedelta(minutes=10))
    fail(connector, at=base + timedelta(minutes=20))
    assert notifications() == []

    fail(connector, at=base + timedelta(minutes=30))
    [notification] = notifications()
    assert notification.kind == "consecutive_failures"
    assert notification.title == "orders-db failed 3 times in a row"
    assert notification.data["failures"] == 3

    # Beyond N it keeps firing (cooldown 0 here).
    fail(connector, at=base + timedelta(minutes=40))
    assert [n.title for n in notifications()][-1] == "orders-db failed 4 times in a row"


def test_consecutive_failures_counts_runs_not_attempts(account, connector):
    make_policy(account, ["consecutive_failures"], consecutive_failures=2)
    base = timezone.now() - timedelta(hours=1)
    run = uuid.uuid4()
    # One run, three attempts: two retried, the last failed for good.
    fail(connector, run_id=run, attempt=1, retry=True, at=base)
    fail(connector, run_id=run, attempt=2, retry=True, at=base + timedelta(minutes=1))
    fail(connector, run_id=run, attempt=3, at=base + timedelta(minutes=2))
    assert failed_runs_in_a_row(connector_id=connector.id) == 1
    assert notifications() == []

    fail(connector, at=base + timedelta(minutes=10))
    [notification] = notifications()
    assert notification.data["failures"] == 2


def test_a_success_resets_the_consecutive_count(account, connector):
    make_policy(account, ["consecutive_failures"], consecutive_failures=2)
    base = timezone.now() - timedelta(hours=1)
    fail(connector, at=base)
    finish_job(connector, JobStatus.SUCCEEDED, at=base + timedelta(minutes=5))
    fail(connector, at=base + timedelta(minutes=10))
    assert notifications() == []
    # Cancelled runs neither count nor reset.
    finish_job(connector, JobStatus.CANCELLED, at=base + timedelta(minutes=15))
    fail(connector, at=base + timedelta(minutes=20))
    assert len(notifications(kind="consecutive_failures")) == 1


def test_consecutive_failures_ignores_a_failure_that_will_be_retried(account, connector):
    make_policy(account, ["consecutive_failures"], consecutive_failures=2)
    base = timezone.now() - timedelta(hours=1)
    fail(connector, at=base)
    fail(connector, retry=True, at=base + timedelta(minutes=10))
    assert notifications() == []


# --- sync_recovered --------------------------------------------------------------------------
def test_recovered_fires_on_a_success_after_a_failure(account, connector):
    make_policy(account, ["sync_recovered"])
    base = timezone.now() - timedelta(hours=1)
    finish_job(connector, JobStatus.FAILED, error=ERROR, at=base)
    finish_job(connector, JobStatus.CANCELLED, at=base + timedelta(minutes=5))  # ignored
    job = finish_job(connector, JobStatus.SUCCEEDED, at=base + timedelta(minutes=10))
    sync_event(job)

    [notification] = notifications()
    assert notification.kind == "sync_recovered"
    assert notification.title == "orders-db recovered"
    assert notification.data["job_id"] == str(job.id)


def test_recovered_does_not_fire_after_a_success_or_on_a_first_sync(account, connector):
    make_policy(account, ["sync_recovered"])
    base = timezone.now() - timedelta(hours=1)
    first = finish_job(connector, JobStatus.SUCCEEDED, at=base)
    sync_event(first)
    second = finish_job(connector, JobStatus.SUCCEEDED, at=base + timedelta(minutes=5))
    sync_event(second)
    assert notifications() == []


def test_a_retried_attempt_that_succeeds_is_not_a_recovery(account, connector):
    make_policy(account, ["sync_recovered"])
    base = timezone.now() - timedelta(hours=1)
    finish_job(connector, JobStatus.SUCCEEDED, at=base)
    run = uuid.uuid4()
    finish_job(connector, JobStatus.FAILED, error=ERROR, run_id=run, at=base + timedelta(minutes=5))
    retry = finish_job(
        connector, JobStatus.SUCCEEDED, run_id=run, attempt=2, at=base + timedelta(minutes=6)
    )
    sync_event(retry)
    assert notifications() == []


# --- schema_changed --------------------------------------------------------------------------
def test_schema_changed_fires_with_the_changes(account, connector):
    make_policy(account, ["schema_changed"])
    job = finish_job(connector, JobStatus.SUCCEEDED)

    class Change:
        def __init__(self, stream, change, column="", old_type="", new_type="", note=""):
            self.stream, self.change, self.column = stream, change, column
            self.old_type, self.new_type, self.note = old_type, new_type, note

    changes = [
        Change("orders", "column_added", "note", new_type="string"),
        Change("orders", "type_widened", "amount", "int32", "int64"),
    ]
    dispatch(account, EventType.SCHEMA_CHANGED, schema_changes_data(connector, job.id, changes))

    [notification] = notifications()
    assert notification.kind == "schema_changed"
    assert notification.title == "Schema changed: orders-db"
    assert "orders.note: column added" in notification.message
    assert "int32 -> int64" in notification.message
    assert notification.data["job_id"] == str(job.id)
    assert len(notification.data["changes"]) == 2 and notification.data["changes_total"] == 2

    # A sync that only created a table (a first sync, a stream enabled) does not alert.
    PolicyFiring.objects.all().delete()
    created = [Change("customers", "table_created")]
    dispatch(account, EventType.SCHEMA_CHANGED, schema_changes_data(connector, job.id, created))
    assert len(notifications()) == 1


# --- Scope -----------------------------------------------------------------------------------
def test_scopes_all_group_and_connector(account, destination, connector):
    other = make_connector(account, destination, name="billing-api")
    group = AlertGroup.objects.create(account=account, name="critical")
    group.connectors.add(connector)
    everyone = make_policy(account, ["sync_failed"], name="all")
    grouped = make_policy(account, ["sync_failed"], name="group", scope="group", group=group)
    single = make_policy(
        account, ["sync_failed"], name="connector", scope="connector", connector=other
    )

    fail(connector)
    assert {n.policy_id for n in notifications(connector_id=connector.id)} == {
        everyone.id,
        grouped.id,
    }
    fail(other)
    assert {n.policy_id for n in notifications(connector_id=other.id)} == {everyone.id, single.id}


def test_a_deleted_connectors_event_fires_nothing(account, connector):
    make_policy(account, ["sync_failed"])
    job = finish_job(connector, JobStatus.FAILED, error=ERROR)
    data = sync_data(job.id)
    connector.delete()
    dispatch(account, EventType.SYNC_FAILED, data)
    assert notifications() == []


# --- Cooldown --------------------------------------------------------------------------------
def test_cooldown_suppresses_a_second_firing_then_lets_it_through(account, connector):
    policy = make_policy(account, ["sync_failed"], cooldown_minutes=60)
    fail(connector)
    fail(connector)
    assert len(notifications()) == 1
    firing = PolicyFiring.objects.get(policy=policy, connector_id=connector.id)
    assert firing.condition == "sync_failed" and firing.suppressed == 1

    PolicyFiring.objects.filter(pk=firing.pk).update(
        last_notified_at=timezone.now() - timedelta(minutes=61)
    )
    fail(connector)
    assert len(notifications()) == 2
    assert notifications()[-1].data["suppressed_since_last"] == 1
    firing.refresh_from_db()
    assert firing.suppressed == 0
    assert firing.last_notified_at > timezone.now() - timedelta(minutes=1)


def test_cooldown_is_per_policy_connector_and_condition(account, destination, connector):
    other = make_connector(account, destination, name="billing-api")
    first = make_policy(account, ["sync_failed", "consecutive_failures"], consecutive_failures=2)
    second = make_policy(account, ["sync_failed"])
    base = timezone.now() - timedelta(hours=1)

    fail(connector, at=base)
    assert {(n.policy_id, n.kind) for n in notifications()} == {
        (first.id, "sync_failed"),
        (second.id, "sync_failed"),
    }
    # Another connector has its own clock.
    fail(other, at=base + timedelta(minutes=1))
    assert len(notifications(connector_id=other.id)) == 2
    # Another condition of the same policy and connector has its own clock too.
    fail(connector, at=base + timedelta(minutes=2))
    kinds = [(n.policy_id, n.kind) for n in notifications(connector_id=connector.id)]
    assert kinds.count((first.id, "consecutive_failures")) == 1
    assert kinds.count((first.id, "sync_failed")) == 1  # this one in cooldown
    assert PolicyFiring.objects.count() == 5


def test_cooldown_zero_never_suppresses(account, connector):
    make_policy(account, ["sync_failed"], cooldown_minutes=0)
    fail(connector)
    fail(connector)
    assert len(notifications()) == 2


# --- Freshness -------------------------------------------------------------------------------
def test_freshness_fires_for_stale_connectors_only(account, destination):
    now = timezone.now()
    stale = make_connector(account, destination, name="stale")
    fresh = make_connector(account, destination, name="fresh")
    paused = make_connector(account, destination, name="paused", paused=True)
    never = make_connector(account, destination, name="never")
    new = make_connector(account, destination, name="new")
    Connector.objects.filter(id__in=[stale.id, fresh.id, paused.id, never.id]).update(
        created_at=now - timedelta(days=2)
    )
    finish_job(stale, JobStatus.SUCCEEDED, at=now - timedelta(hours=3))
    finish_job(stale, JobStatus.FAILED, error=ERROR, at=now - timedelta(minutes=5))
    finish_job(fresh, JobStatus.SUCCEEDED, at=now - timedelta(minutes=30))
    finish_job(paused, JobStatus.SUCCEEDED, at=now - timedelta(hours=5))
    make_policy(account, ["data_stale"], freshness_minutes=120)

    assert alerts_check_freshness() == 2
    by_connector = {n.connector_id: n for n in notifications()}
    assert set(by_connector) == {stale.id, never.id}
    assert by_connector[stale.id].title == "Data is stale: stale (last success 3 h ago)"
    assert by_connector[stale.id].kind == "data_stale"
    assert by_connector[stale.id].data["freshness_minutes"] == 120
    assert by_connector[never.id].title == "Data is stale: never (never synced)"
    assert new.id not in by_connector


def test_freshness_respects_cooldown_and_scope(account, destination, connector):
    Connector.objects.filter(id=connector.id).update(created_at=timezone.now() - timedelta(days=1))
    other = make_connector(account, destination, name="other")
    Connector.objects.filter(id=other.id).update(created_at=timezone.now() - timedelta(days=1))
    group = AlertGroup.objects.create(account=account, name="g")
    group.connectors.add(connector)
    policy = make_policy(account, ["data_stale"], freshness_minutes=60, scope="group", group=group)
    make_policy(account, ["data_stale"], freshness_minutes=60, enabled=False)

    assert check_freshness() == 1  # the beat task
    assert alerts_check_freshness() == 0
    assert PolicyFiring.objects.get(policy=policy).suppressed == 1
    PolicyFiring.objects.update(last_notified_at=timezone.now() - timedelta(hours=2))
    assert alerts_check_freshness() == 1
    assert {n.connector_id for n in notifications()} == {connector.id}


def test_freshness_check_queries_do_not_grow_with_connectors(
    account, destination, django_assert_max_num_queries
):
    for index in range(10):
        c = make_connector(account, destination, name=f"c{index}")
        finish_job(c, JobStatus.SUCCEEDED, at=timezone.now() - timedelta(minutes=5))
    make_policy(account, ["data_stale"], freshness_minutes=60)
    # Policies, group members, connectors with their last success: nothing fires.
    with django_assert_max_num_queries(3):
        assert alerts_check_freshness() == 0


# --- Channels --------------------------------------------------------------------------------
def test_email_channel_sends_once_after_commit(
    account, connector, django_capture_on_commit_callbacks
):
    make_policy(
        account,
        ["sync_failed"],
        notify_in_app=False,
        email_recipients=["ops@example.com", "lead@example.com"],
    )
    job = finish_job(connector, JobStatus.FAILED, error=ERROR)
    with transaction.atomic():
        event = event_raise(account_id=account.id, type="sync.failed", data=sync_data(job.id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event_dispatch(event_id=event.id)
    [notification] = notifications()
    assert notification.in_app is False
    assert notification.email_recipients == ["ops@example.com", "lead@example.com"]
    assert notification.emailed_at is None and mail.outbox == []
    # The email task is enqueued on commit, not sent in the transaction.
    assert any("email_enqueue" in c.__qualname__ for c in callbacks)

    # The worker's task, run twice (a redelivered message), sends one email.
    send_notification_email(str(notification.id))
    assert channels.notification_email_send(notification_id=notification.id) is False
    [email] = mail.outbox
    assert email.subject == "[Landed] Sync failed: orders-db"
    assert email.to == ["ops@example.com", "lead@example.com"]
    assert "connection refused" in email.body
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_webhook_channel_raises_an_alert_event_for_the_endpoint(account, connector):
    endpoint = WebhookEndpoint.objects.create(
        account=account, url="https://hooks.example.com/x", encrypted_secret="x"
    )
    other = WebhookEndpoint.objects.create(
        account=account, url="https://hooks.example.com/y", encrypted_secret="y"
    )
    policy = make_policy(account, ["sync_failed"], webhook_endpoint=endpoint)
    fail(connector)

    [notification] = notifications()
    [alert] = Event.objects.filter(type="alert.triggered")
    assert alert.endpoint_id == endpoint.id and alert.account_id == account.id
    assert alert.data == {
        "policy": {"id": str(policy.id), "name": policy.name},
        "condition": "sync_failed",
        "connector": {"id": str(connector.id), "name": "orders-db", "type": "sample"},
        "notification": {
            "id": str(notification.id),
            "title": "Sync failed: orders-db",
            "message": notification.message,
            "created_at": notification.created_at.isoformat(),
        },
    }
    # Dispatched, it goes to the policy's endpoint alone and fires no further alerts.
    event_dispatch(event_id=alert.id)
    assert {d.endpoint_id for d in alert.deliveries.all()} == {endpoint.id}
    assert other.id not in {d.endpoint_id for d in alert.deliveries.all()}
    assert len(notifications()) == 1


def test_policy_fire_suppressed_writes_nothing(account, connector):
    policy = make_policy(account, ["sync_failed"], email_recipients=["ops@example.com"])
    kwargs = {
        "policy": policy,
        "connector_id": connector.id,
        "condition": "sync_failed",
        "title": "t",
        "message": "m",
        "data": {},
    }
    assert policy_fire(**kwargs) is not None
    assert policy_fire(**kwargs) is None
    assert Notification.objects.count() == 1
    assert SyncReceipt.objects.count() == 0


# --- Robustness ------------------------------------------------------------------------------
def test_a_failing_evaluation_does_not_hold_back_the_dispatch(
    account, connector, monkeypatch, caplog
):
    """Evaluation runs in the dispatch's transaction: an error there is logged and rolled
    back to its savepoint, and the event is still delivered (not retried by the sweep
    forever)."""
    endpoint = WebhookEndpoint.objects.create(
        account=account, url="https://hooks.example.com/x", encrypted_secret="x"
    )
    make_policy(account, ["sync_failed"])

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("channel exploded")

    monkeypatch.setattr(channels, "notification_deliver", broken)
    job = finish_job(connector, JobStatus.FAILED, error=ERROR)
    event = sync_event(job)

    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert [d.endpoint_id for d in event.deliveries.all()] == [endpoint.id]
    assert notifications() == []  # the half-written firing was rolled back
    assert PolicyFiring.objects.count() == 0
    assert "webhooks.alert_evaluation_failed" in caplog.text


def test_a_transient_database_error_in_evaluation_retries_the_dispatch(
    account, connector, monkeypatch
):
    """A deadlock or a lost connection is not the policy's fault: the dispatch is rolled
    back whole and the sweep sends the event again (alerts are not lost to it)."""
    from django.db import OperationalError

    from webhooks.alerts import evaluation

    make_policy(account, ["sync_failed"])

    def deadlock(**kwargs: Any) -> None:
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(evaluation, "policies_applying", deadlock)
    job = finish_job(connector, JobStatus.FAILED, error=ERROR)
    with transaction.atomic():
        event = event_raise(account_id=account.id, type="sync.failed", data=sync_data(job.id))
    with pytest.raises(OperationalError):
        event_dispatch(event_id=event.id)
    event.refresh_from_db()
    assert event.dispatched_at is None

    monkeypatch.undo()
    event_dispatch(event_id=event.id)
    assert len(notifications()) == 1


def test_a_cooldown_or_freshness_of_millennia_does_not_overflow(account, connector):
    """The model takes any positive integer: `now - timedelta(minutes=2e9)` is before year 1
    and raised OverflowError, failing every dispatch and every freshness check."""
    make_policy(account, ["sync_failed"], cooldown_minutes=2_000_000_000)
    fail(connector)
    fail(connector)
    assert len(notifications()) == 1
    assert PolicyFiring.objects.get().suppressed == 1

    make_policy(account, ["data_stale"], freshness_minutes=2_000_000_000)
    assert alerts_check_freshness() == 0


def test_one_failing_freshness_firing_does_not_silence_the_others(
    account, destination, monkeypatch, caplog
):
    from webhooks.alerts import evaluation

    long_ago = timezone.now() - timedelta(days=2)
    first = make_connector(account, destination, name="a-first")
    second = make_connector(account, destination, name="b-second")
    Connector.objects.update(created_at=long_ago)
    make_policy(account, ["data_stale"], freshness_minutes=60)
    real_fire = evaluation.policy_fire

    def fire(**kwargs: Any) -> Any:
        if kwargs["connector_id"] == first.id:
            raise RuntimeError("boom")
        return real_fire(**kwargs)

    monkeypatch.setattr(evaluation, "policy_fire", fire)
    assert alerts_check_freshness() == 1
    assert [n.connector_id for n in notifications()] == [second.id]
    assert "webhooks.freshness_fire_failed" in caplog.text


def test_a_failure_whose_retry_was_cancelled_did_not_fail_for_good(account, connector):
    """A run ends as its last attempt did: a failed attempt whose automatic retry was
    cancelled is a cancelled sync, neither a failure in a row nor one to recover from."""
    make_policy(account, ["consecutive_failures", "sync_recovered"], consecutive_failures=2)
    base = timezone.now() - timedelta(hours=1)
    run = uuid.uuid4()
    fail(connector, run_id=run, attempt=1, retry=True, at=base)
    finish_job(
        connector, JobStatus.CANCELLED, run_id=run, attempt=2, at=base + timedelta(minutes=1)
    )
    fail(connector, at=base + timedelta(minutes=10))
    assert failed_runs_in_a_row(connector_id=connector.id) == 1
    assert notifications() == []

    # The run before the success is the failed one: a recovery.
    success = finish_job(connector, JobStatus.SUCCEEDED, at=base + timedelta(minutes=20))
    sync_event(success)
    assert [n.kind for n in notifications()] == ["sync_recovered"]

    # A success after the cancelled retry alone is not a recovery.
    run = uuid.uuid4()
    fail(connector, run_id=run, attempt=1, retry=True, at=base + timedelta(minutes=30))
    finish_job(
        connector, JobStatus.CANCELLED, run_id=run, attempt=2, at=base + timedelta(minutes=31)
    )
    success = finish_job(connector, JobStatus.SUCCEEDED, at=base + timedelta(minutes=40))
    sync_event(success)
    assert [n.kind for n in notifications()] == ["sync_recovered"]


def test_an_email_whose_title_has_a_line_break_is_sent(account, destination):
    """A connector's name may hold a line break; in a subject it made every send fail
    (BadHeaderError), so the email never went out."""
    connector = make_connector(account, destination, name="orders\r\ndb")
    make_policy(account, ["sync_failed"], email_recipients=["ops@example.com"])
    fail(connector)
    [notification] = notifications()
    assert channels.notification_email_send(notification_id=notification.id) is True
    [email] = mail.outbox
    assert email.subject == "[Landed] Sync failed: orders db"


def test_emails_backing_off_do_not_hold_back_the_ones_due(account, broker):
    """The requeue took the 200 oldest unsent emails, then dropped those still waiting: 200
    emails backing off (the mail server down) kept a lost email from being sent again."""
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(
            account=account,
            kind="sync_failed",
            title=f"backing off {index}",
            email_recipients=["ops@example.com"],
            email_attempts=4,  # waits 30 s x 2^4
            created_at=now - timedelta(hours=1),
            email_enqueued_at=now - timedelta(seconds=60),
        )
        for index in range(200)
    )
    lost = Notification.objects.create(
        account=account,
        kind="sync_failed",
        title="lost",
        email_recipients=["ops@example.com"],
        created_at=now - timedelta(seconds=45),
        email_enqueued_at=now - timedelta(seconds=45),
    )
    assert channels.emails_requeue(now=now, lost_after_seconds=30) == 1
    assert queued(broker) == [("webhooks.send_notification_email", [str(lost.id)])]
