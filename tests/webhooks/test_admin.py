"""The operators' pages for webhook endpoints, events, deliveries and alerts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Connector, Destination
from landed.security import secrets
from tests.accounts.factories import AccountFactory
from tests.admin_helpers import has_save_buttons, messages_of, operation_buttons, viewer_client
from tests.broker import broker as broker  # a fixture
from tests.broker import queued
from webhooks.admin import SECRET_FIELDS, WebhookEndpointAdmin
from webhooks.alerts.models import AlertGroup, Notification, NotificationPolicy
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db

SECRET = "whsec_visible-nowhere"
PREVIOUS = "whsec_the-previous-one"


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        account=AccountFactory(name="Acme"),
        url="https://hooks.example.com/landed",
        description="ops channel",
        event_types=["sync.failed"],
        encrypted_secret=secrets.encrypt_secrets({"secret": SECRET}),
        encrypted_previous_secret=secrets.encrypt_secrets({"secret": PREVIOUS}),
        previous_secret_expires_at=timezone.now() + timedelta(hours=1),
    )


@pytest.fixture
def delivery(endpoint) -> Delivery:
    event = Event.objects.create(
        account=endpoint.account,
        type="sync.failed",
        data={"job": {"id": "j1", "status": "failed"}, "connector": {"name": "shop"}},
        dispatched_at=timezone.now(),
    )
    finished = timezone.now() - timedelta(hours=1)
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event=event,
        status=DeliveryStatus.FAILED,
        attempts=2,
        next_attempt_at=finished,
        finished_at=finished,
    )
    for number, code in ((1, 500), (2, 503)):
        DeliveryAttempt.objects.create(
            delivery=delivery,
            endpoint=endpoint,
            event_id=event.id,
            event_type=event.type,
            attempt=number,
            succeeded=False,
            status_code=code,
            duration_ms=12.5,
            error=f"The endpoint answered HTTP {code}.",
        )
    return delivery


@pytest.fixture
def alerts(endpoint) -> NotificationPolicy:
    account = endpoint.account
    destination = Destination.objects.create(
        account=account, name="wh", type="postgres", config={"host": "127.0.0.1"}
    )
    connector = Connector.objects.create(
        account=account,
        name="shop",
        type="postgres",
        config={"host": "127.0.0.1"},
        destination=destination,
        destination_schema="shop",
    )
    group = AlertGroup.objects.create(account=account, name="critical")
    group.connectors.add(connector)
    policy = NotificationPolicy.objects.create(
        account=account,
        name="on-call",
        conditions=["sync_failed"],
        scope="group",
        group=group,
        webhook_endpoint=endpoint,
    )
    Notification.objects.create(
        account=account,
        policy=policy,
        connector=connector,
        kind="sync_failed",
        title="Sync failed: shop",
        data={"job_id": "j1"},
    )
    return policy


def assert_no_secret(html: str, endpoint: WebhookEndpoint) -> None:
    assert SECRET not in html
    assert PREVIOUS not in html
    assert endpoint.encrypted_secret not in html
    assert endpoint.encrypted_previous_secret not in html


def test_every_page_opens_with_rows(operator, endpoint, delivery, alerts):
    notification = Notification.objects.get()
    attempt = delivery.log.first()
    pages = {
        "webhookendpoint": endpoint.id,
        "event": delivery.event_id,
        "delivery": delivery.id,
        "deliveryattempt": attempt.id,
        "alertgroup": alerts.group_id,
        "notificationpolicy": alerts.id,
        "notification": notification.id,
    }
    for model, pk in pages.items():
        listing = operator.get(f"/admin/webhooks/{model}/")
        assert listing.status_code == 200, model
        assert f"/admin/webhooks/{model}/{pk}/change/" in listing.content.decode(), model
        detail = operator.get(f"/admin/webhooks/{model}/{pk}/change/")
        assert detail.status_code == 200, model
        assert_no_secret(listing.content.decode() + detail.content.decode(), endpoint)


def test_endpoint_page_never_shows_the_secret(operator, endpoint):
    admin_class = WebhookEndpointAdmin
    shown = {*admin_class.fields, *admin_class.readonly_fields, *admin_class.list_display}
    assert not shown & set(SECRET_FIELDS)

    html = operator.get(f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/").content.decode()
    assert_no_secret(html, endpoint)
    assert "https://hooks.example.com/landed" in html
    for name in SECRET_FIELDS:
        assert name not in html
    # Search by the account's name finds it.
    found = operator.get("/admin/webhooks/webhookendpoint/", {"q": "Acme"}).content.decode()
    assert "https://hooks.example.com/landed" in found


def test_saving_the_endpoint_keeps_its_secret(operator, endpoint):
    before = WebhookEndpoint.objects.get(id=endpoint.id)
    response = operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        {
            "url": "https://hooks.example.com/v2",
            "description": "moved",
            "event_types": '["sync.failed", "sync.succeeded"]',
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/v2"
    assert endpoint.description == "moved"
    assert endpoint.event_types == ["sync.failed", "sync.succeeded"]
    assert endpoint.encrypted_secret == before.encrypted_secret
    assert secrets.decrypt_secrets(endpoint.encrypted_secret) == {"secret": SECRET}
    assert secrets.decrypt_secrets(endpoint.encrypted_previous_secret) == {"secret": PREVIOUS}
    assert endpoint.previous_secret_expires_at == before.previous_secret_expires_at


def test_endpoint_form_refuses_unknown_event_types(operator, endpoint):
    response = operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        {"url": endpoint.url, "description": "", "event_types": '["nope"]', "enabled": "on"},
    )
    assert response.status_code == 200
    assert "Unknown event types: nope" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["sync.failed"]


def test_enable_again_action(operator, endpoint):
    now = timezone.now()
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        enabled=False,
        disabled_at=now,
        disabled_reason="Every delivery attempt failed for 72 hours.",
        failing_since=now - timedelta(days=3),
        consecutive_timeouts=4,
        breaker_open_until=now + timedelta(minutes=5),
    )
    listing = operator.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert "open (4 timeouts in a row)" in listing
    response = operator.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "enable_again", "_selected_action": [str(endpoint.id)]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is True
    assert endpoint.disabled_at is None and endpoint.failing_since is None
    # A receiver fixed and enabled again is not held for its old timeouts.
    assert endpoint.consecutive_timeouts == 0 and endpoint.breaker_open_until is None
    assert endpoint.disabled_reason == ""
    assert secrets.decrypt_secrets(endpoint.encrypted_secret) == {"secret": SECRET}


def test_endpoints_are_not_added_here(operator):
    assert operator.get("/admin/webhooks/webhookendpoint/add/").status_code == 403


@pytest.mark.parametrize("status", [DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED])
def test_redeliver(operator, delivery, status, broker, django_capture_on_commit_callbacks):
    Delivery.objects.filter(id=delivery.id).update(status=status)

    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(
            "/admin/webhooks/delivery/",
            {"action": "redeliver", "_selected_action": [str(delivery.id)]},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    delivery.refresh_from_db()
    now = timezone.now()
    assert delivery.status == DeliveryStatus.PENDING
    assert abs(delivery.next_attempt_at - now) < timedelta(seconds=5)
    assert abs(delivery.enqueued_at - now) < timedelta(seconds=5)
    assert delivery.finished_at is None and delivery.locked_until is None
    assert delivery.attempts == 2  # the next attempt is number 3
    assert queued(broker) == []  # only after commit
    callbacks[0]()
    assert queued(broker) == [("webhooks.deliver", [str(delivery.id)])]


def test_redeliver_skips_a_disabled_endpoint(
    operator, delivery, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.filter(id=delivery.endpoint_id).update(enabled=False)
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(
            "/admin/webhooks/delivery/",
            {"action": "redeliver", "_selected_action": [str(delivery.id)]},
            follow=True,
        )
    assert "is disabled" in response.content.decode()
    assert callbacks == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_deliveries_and_events_are_read_only(operator, delivery):
    assert operator.get("/admin/webhooks/delivery/add/").status_code == 403
    assert operator.get(f"/admin/webhooks/delivery/{delivery.id}/delete/").status_code == 403
    assert operator.get("/admin/webhooks/deliveryattempt/add/").status_code == 403
    assert operator.get("/admin/webhooks/event/add/").status_code == 403
    page = operator.get(f"/admin/webhooks/delivery/{delivery.id}/change/").content.decode()
    # The attempt log is inline.
    assert "The endpoint answered HTTP 503." in page
    event_page = operator.get(f"/admin/webhooks/event/{delivery.event_id}/change/").content
    assert "<pre>{\n  &quot;connector&quot;: {" in event_page.decode()


def test_mark_read_action(operator, alerts):
    notification = Notification.objects.get()
    response = operator.post(
        "/admin/webhooks/notification/",
        {"action": "mark_read", "_selected_action": [str(notification.id)]},
    )
    assert response.status_code == 302
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_policy_form_keeps_to_its_account(operator, alerts):
    other_group = AlertGroup.objects.create(account=AccountFactory(), name="theirs")
    form = {
        "name": "on-call",
        "enabled": "on",
        "conditions": '["sync_failed"]',
        "consecutive_failures": "3",
        "scope": "group",
        "notify_in_app": "on",
        "email_recipients": "[]",
        "cooldown_minutes": "60",
    }
    response = operator.post(
        f"/admin/webhooks/notificationpolicy/{alerts.id}/change/",
        {**form, "group": str(other_group.id)},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()  # not among its choices
    alerts.refresh_from_db()
    assert alerts.group.name == "critical"

    # A valid change is saved; the group of a connector-scoped policy is dropped.
    connector = Connector.objects.get(account=alerts.account)
    response = operator.post(
        f"/admin/webhooks/notificationpolicy/{alerts.id}/change/",
        {**form, "scope": "connector", "group": str(alerts.group_id), "connector": connector.id},
    )
    assert response.status_code == 302, response.content.decode()
    alerts.refresh_from_db()
    assert alerts.scope == "connector" and alerts.connector == connector
    assert alerts.group is None


def test_alert_group_form(operator, alerts):
    group = alerts.group
    theirs = Connector.objects.create(
        account=AccountFactory(),
        name="theirs",
        type="postgres",
        config={},
        destination=Destination.objects.get(),
        destination_schema="x",
    )
    url = f"/admin/webhooks/alertgroup/{group.id}/change/"
    page = operator.get(url).content.decode()
    assert "shop" in page and "theirs" not in page  # only the account's connectors
    response = operator.post(url, {"name": "renamed", "description": "", "connectors": []})
    assert response.status_code == 302, response.content.decode()
    group.refresh_from_db()
    assert group.name == "renamed" and group.connectors.count() == 0
    response = operator.post(url, {"name": "renamed", "connectors": [str(theirs.id)]})
    assert response.status_code == 200
    assert group.connectors.count() == 0


def test_policies_and_groups_are_added_here(operator, alerts):
    assert operator.get("/admin/webhooks/alertgroup/add/").status_code == 200
    assert operator.get("/admin/webhooks/notificationpolicy/add/").status_code == 200
    form = {
        "name": "new",
        "enabled": "on",
        "conditions": '["data_stale"]',
        "freshness_minutes": "180",
        "consecutive_failures": "3",
        "scope": "group",
        "notify_in_app": "on",
        "email_recipients": '["oncall@example.com"]',
        "cooldown_minutes": "60",
    }
    other = AccountFactory()
    response = operator.post(
        "/admin/webhooks/notificationpolicy/add/",
        {**form, "account": str(other.id), "group": str(alerts.group_id)},
    )
    assert response.status_code == 200
    assert "The group belongs to another account." in response.content.decode()
    response = operator.post(
        "/admin/webhooks/notificationpolicy/add/",
        {**form, "account": str(alerts.account_id), "group": str(alerts.group_id)},
    )
    assert response.status_code == 302, response.content.decode()
    assert NotificationPolicy.objects.get(name="new").email_recipients == ["oncall@example.com"]


def test_switching_enabled_on_in_the_form_clears_the_disabling(operator, endpoint):
    WebhookEndpoint.objects.filter(id=endpoint.id).update(
        enabled=False, disabled_at=timezone.now(), disabled_reason="failing"
    )
    response = operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        {"url": endpoint.url, "description": "", "event_types": "[]", "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_at is None and endpoint.disabled_reason == ""
    assert endpoint.event_types == []
    assert secrets.decrypt_secrets(endpoint.encrypted_secret) == {"secret": SECRET}


def test_endpoint_url_follows_the_api_rules(operator, endpoint, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    response = operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        {"url": "http://hooks.example.com/plain", "event_types": "[]", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "The URL must start with https://." in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/landed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cooldown_minutes", "2000000000"),  # overflowed the evaluation's date arithmetic
        ("cooldown_minutes", "-1"),
        ("freshness_minutes", "2000000000"),
        ("freshness_minutes", "1"),
        ("consecutive_failures", "1"),
        ("consecutive_failures", "101"),
    ],
)
def test_policy_form_keeps_the_apis_bounds(operator, alerts, field, value):
    form = {
        "name": "on-call",
        "enabled": "on",
        "conditions": '["sync_failed", "data_stale"]',
        "consecutive_failures": "3",
        "freshness_minutes": "180",
        "scope": "all",
        "notify_in_app": "on",
        "email_recipients": "[]",
        "cooldown_minutes": "60",
    }
    url = f"/admin/webhooks/notificationpolicy/{alerts.id}/change/"
    response = operator.post(url, {**form, field: value})
    assert response.status_code == 200
    alerts.refresh_from_db()
    assert alerts.scope == "group" and alerts.cooldown_minutes == 60  # unchanged
    assert operator.post(url, form).status_code == 302


def test_policy_form_needs_a_channel(operator, alerts):
    form = {
        "name": "on-call",
        "enabled": "on",
        "conditions": '["sync_failed"]',
        "consecutive_failures": "3",
        "scope": "all",
        "email_recipients": "[]",
        "cooldown_minutes": "60",
    }
    url = f"/admin/webhooks/notificationpolicy/{alerts.id}/change/"
    response = operator.post(url, form)  # in-app off, no email, no endpoint
    assert response.status_code == 200
    assert "At least one channel" in response.content.decode()
    assert (
        operator.post(
            url, {**form, "webhook_endpoint": str(alerts.webhook_endpoint_id)}
        ).status_code
        == 302
    )


# --- The delivery page's "Redeliver" button ----------------------------------------------------
def redeliver_url(delivery: Delivery) -> str:
    return f"/admin/webhooks/delivery/{delivery.id}/operations/redeliver/"


def test_delivery_page_has_redeliver_and_no_save(operator, delivery):
    html = operator.get(f"/admin/webhooks/delivery/{delivery.id}/change/").content.decode()
    assert operation_buttons(html) == ["redeliver"]
    assert f'action="{redeliver_url(delivery)}"' in html
    assert not has_save_buttons(html)


def test_redeliver_button(operator, delivery, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(redeliver_url(delivery))
    assert response.status_code == 302
    assert response["Location"] == f"/admin/webhooks/delivery/{delivery.id}/change/"
    assert messages_of(response) == [("success", "Redelivery queued: attempt 3 is made now.")]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.finished_at is None
    assert queued(broker) == []  # only after commit
    [enqueue] = callbacks
    enqueue()
    assert queued(broker) == [("webhooks.deliver", [str(delivery.id)])]


def test_redeliver_button_refuses_a_disabled_endpoint(
    operator, delivery, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.filter(id=delivery.endpoint_id).update(enabled=False)
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(redeliver_url(delivery))
    assert response.status_code == 302
    assert messages_of(response) == [
        (
            "error",
            "Redeliver: Its endpoint https://hooks.example.com/landed is disabled; "
            "enable it again first.",
        )
    ]
    assert callbacks == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_redeliver_button_refuses_while_an_attempt_runs(operator, delivery):
    Delivery.objects.filter(id=delivery.id).update(
        status=DeliveryStatus.PENDING, locked_until=timezone.now() + timedelta(seconds=30)
    )
    response = operator.post(redeliver_url(delivery))
    assert messages_of(response) == [("error", "Redeliver: An attempt is in progress.")]


def test_redeliver_needs_the_change_permission(delivery):
    viewer = viewer_client("webhooks.view_delivery", "webhooks.view_deliveryattempt")
    html = viewer.get(f"/admin/webhooks/delivery/{delivery.id}/change/").content.decode()
    assert operation_buttons(html) == []
    assert viewer.post(redeliver_url(delivery)).status_code == 403
    viewer.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.id)]},
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
