"""The operators' pages for connectors and destinations: the list's health and activity
columns, and the change pages' buttons (sync now, full resync, cancel, pause and resume, test
the connection), each a POST that calls the API's own service."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from connectors.models import Connector
from syncs import services as sync_services
from syncs.models import Job, JobStatus, SyncReceipt
from syncs.receipts import receipt_write
from tests.accounts.factories import AccountFactory
from tests.admin_helpers import (
    has_save_buttons,
    messages_of,
    operation_buttons,
    viewer_client,
)
from tests.connectors.factories import make_connector, make_destination
from webhooks.models import Event

# Each test runs in a transaction that is rolled back: the jobs it triggers are never handed
# to a worker (that happens on commit), so they stay pending.
pytestmark = pytest.mark.django_db

CONNECTORS = "/admin/connectors/connector/"


def page(connector: Connector) -> str:
    return f"{CONNECTORS}{connector.id}/change/"


def operation(connector: Connector, name: str) -> str:
    return f"{CONNECTORS}{connector.id}/operations/{name}/"


def finished_job(connector: Connector, status: str, *, minutes_ago: int = 5) -> Job:
    """A job settled as the lifecycle settles one, with its receipt."""
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    job = Job.objects.create(
        connector=connector,
        status=status,
        started_at=finished - timedelta(seconds=30),
        finished_at=finished,
        rows_written=3000,
    )
    receipt_write(job_id=job.id)
    return job


@pytest.fixture
def connector() -> Connector:
    return make_connector(AccountFactory(name="Acme"), name="demo", sync_frequency_minutes=60)


# --- The change page's buttons ---------------------------------------------------------------
def test_the_page_has_the_buttons_that_apply(operator: Client, connector: Connector) -> None:
    html = operator.get(page(connector)).content.decode()
    assert operation_buttons(html) == ["sync", "full_resync", "pause", "test"]
    # Each button is a form that POSTs with the CSRF token to the admin's own view.
    assert f'action="{operation(connector, "sync")}"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 4

    Connector.objects.filter(id=connector.id).update(paused=True)
    sync_services.sync_trigger(connector=connector)
    html = operator.get(page(connector)).content.decode()
    assert operation_buttons(html) == ["sync", "full_resync", "cancel_sync", "resume", "test"]


def test_sync_now(operator: Client, connector: Connector, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(operation(connector, "sync"))
    assert response.status_code == 302
    assert response["Location"] == page(connector)
    job = Job.objects.get(connector=connector)
    assert job.status == JobStatus.PENDING and job.trigger == "manual" and not job.full_resync
    assert len(callbacks) == 1  # enqueued after commit, by the one sync trigger
    [(level, text)] = messages_of(response)
    assert level == "success"
    assert f'href="/admin/syncs/job/{job.id}/change/"' in text


def test_full_resync(operator: Client, connector: Connector) -> None:
    response = operator.post(operation(connector, "full_resync"))
    assert response.status_code == 302
    assert Job.objects.get(connector=connector).full_resync is True


def test_a_second_sync_is_refused_as_the_api_refuses_it(operator: Client, connector: Connector):
    first = sync_services.sync_trigger(connector=connector)
    response = operator.post(operation(connector, "sync"))
    # The service's 409, as an error message on the page it came from: never a 500.
    assert response.status_code == 302 and response["Location"] == page(connector)
    assert messages_of(response) == [
        ("error", "Sync now: A sync of this connector is already pending or running.")
    ]
    assert list(Job.objects.filter(connector=connector)) == [first]


def test_cancel_the_running_sync_from_the_connector(operator: Client, connector: Connector):
    job = sync_services.sync_trigger(connector=connector)
    response = operator.post(operation(connector, "cancel_sync"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_reason == "Cancelled by operator ops@example.com"
    [(level, text)] = messages_of(response)
    assert level == "success" and text.startswith("Cancelled.")

    # Nothing left to cancel (a stale page): said so, as an error.
    response = operator.post(operation(connector, "cancel_sync"))
    assert messages_of(response)[-1] == (
        "error",
        "Cancel sync: No sync of this connector is pending or running.",
    )


def test_pause_and_resume(operator: Client, connector: Connector) -> None:
    response = operator.post(operation(connector, "pause"))
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.paused is True
    # Through the API's update, which tells webhooks about it.
    assert Event.objects.filter(type="connector.updated").count() == 1
    assert operation_buttons(operator.get(page(connector)).content.decode())[-2:] == [
        "resume",
        "test",
    ]

    operator.post(operation(connector, "resume"))
    connector.refresh_from_db()
    assert connector.paused is False
    assert Event.objects.filter(type="connector.updated").count() == 2


def test_test_connection(operator: Client, connector: Connector) -> None:
    response = operator.post(operation(connector, "test"))
    assert response.status_code == 302
    assert messages_of(response) == [
        ("success", "Connection test succeeded: Sample data is always available.")
    ]


def test_a_failed_connection_test_is_an_error_message(operator: Client, connector: Connector):
    # A PostgreSQL source on a port nothing listens on.
    failing = Connector.objects.create(
        account=connector.account,
        name="shop",
        type="postgres",
        config={"host": "127.0.0.1", "port": 1, "database": "shop", "username": "u"},
        destination=connector.destination,
        destination_schema="shop",
    )
    response = operator.post(operation(failing, "test"))
    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text.startswith("Connection test failed")
    # The API's test raises its event for a failed test: the same service ran.
    assert Event.objects.filter(type="connector.test_failed").count() == 1


def test_destination_test_connection(operator: Client, connector: Connector) -> None:
    destination_page = f"/admin/connectors/destination/{connector.destination_id}/change/"
    html = operator.get(destination_page).content.decode()
    assert operation_buttons(html) == ["test"]
    response = operator.post(
        f"/admin/connectors/destination/{connector.destination_id}/operations/test/"
    )
    assert response.status_code == 302 and response["Location"] == destination_page
    [(level, text)] = messages_of(response)
    assert level == "success" and text.startswith("Connection test succeeded")


def test_operations_are_posts_with_csrf(connector: Connector, operator: Client) -> None:
    assert operator.get(operation(connector, "sync")).status_code == 405
    assert not Job.objects.exists()
    # A browser's POST without the token (another site's form) is refused.
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = operator.cookies
    assert strict.post(operation(connector, "sync")).status_code == 403
    assert not Job.objects.exists()


def test_unknown_operations_and_rows(operator: Client, connector: Connector) -> None:
    assert operator.post(operation(connector, "explode")).status_code == 404
    gone = f"{CONNECTORS}00000000-0000-0000-0000-000000000000/operations/sync/"
    response = operator.post(gone)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    [(level, text)] = messages_of(response)
    assert level == "warning" and "00000000-0000-0000-0000-000000000000" in text
    assert operator.post(f"{CONNECTORS}not-a-uuid/operations/sync/").status_code == 302


def test_an_operator_who_may_only_look_gets_no_buttons(connector: Connector) -> None:
    viewer = viewer_client("connectors.view_connector", "connectors.view_destination")
    html = viewer.get(page(connector)).content.decode()
    assert operation_buttons(html) == []
    assert not has_save_buttons(html)
    for name in ("sync", "pause", "test"):
        assert viewer.post(operation(connector, name)).status_code == 403
    destination = connector.destination_id
    assert (
        viewer.post(f"/admin/connectors/destination/{destination}/operations/test/").status_code
        == 403
    )
    assert not Job.objects.exists()
    connector.refresh_from_db()
    assert connector.paused is False


# --- The list ----------------------------------------------------------------------------------
def test_the_list_shows_health_and_activity(operator: Client) -> None:
    account = AccountFactory()
    destination = make_destination(account)
    healthy = make_connector(account, destination, name="src-healthy", sync_frequency_minutes=60)
    finished_job(healthy, JobStatus.SUCCEEDED)
    Connector.objects.filter(id=healthy.id).update(last_triggered_at=timezone.now())
    failing = make_connector(account, destination, name="src-failing")
    finished_job(failing, JobStatus.SUCCEEDED, minutes_ago=10)
    finished_job(failing, JobStatus.FAILED)
    syncing = make_connector(account, destination, name="src-syncing", sync_frequency_minutes=15)
    running = sync_services.sync_trigger(connector=syncing)
    make_connector(account, destination, name="src-paused", paused=True)
    make_connector(account, destination, name="src-new")
    scheduled = make_connector(account, destination, name="src-scheduled", sync_frequency_minutes=5)
    # Never triggered, created longer than an interval ago: due at the scheduler's next tick.
    Connector.objects.filter(id=scheduled.id).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    make_connector(account, destination, name="src-fresh", sync_frequency_minutes=5)
    revoked = make_connector(account, destination, name="src-revoked", sync_frequency_minutes=5)
    gone = finished_job(revoked, JobStatus.FAILED)
    Job.objects.filter(id=gone.id).update(error={"type": "reauthorize_required"})
    SyncReceipt.objects.filter(job_id=gone.id).update(error={"type": "reauthorize_required"})
    # Not changed since that failure.
    Connector.objects.filter(id=revoked.id).update(updated_at=timezone.now() - timedelta(hours=1))

    html = operator.get(CONNECTORS).content.decode()
    for header in ("Health", "Last result", "Last synced", "Syncing now", "Next sync"):
        assert f">{header}</" in html, header
    kinds = ("healthy", "failing", "syncing", "paused", "new", "scheduled", "fresh", "revoked")
    names = [f"src-{n}" for n in kinds]
    rows = {name: _row(html, name) for name in names}
    assert "healthy" in rows["src-healthy"] and "succeeded" in rows["src-healthy"]
    assert "failing" in rows["src-failing"] and ">failed<" in rows["src-failing"]
    assert f'href="/admin/syncs/job/{running.id}/change/"' in rows["src-syncing"]
    assert f'title="{running.id}">{str(running.id)[:8]}<' in rows["src-syncing"]
    assert ">paused<" in rows["src-paused"]
    assert "never synced" in rows["src-new"] and "manual only" in rows["src-new"]
    assert "due now" in rows["src-scheduled"]
    # A new connector's first scheduled sync is one interval after its creation.
    assert "in 4 min" in rows["src-fresh"] or "in 5 min" in rows["src-fresh"], rows["src-fresh"]
    # Its schedule waits for the user to authorize its credentials again.
    assert "stopped: reauthorize" in rows["src-revoked"]
    # Times to the second.
    next_sync = timezone.localtime(Connector.objects.get(id=healthy.id).last_triggered_at)
    next_sync += timedelta(minutes=60)
    assert next_sync.strftime("%Y-%m-%d %H:%M:%S") in rows["src-healthy"]


@pytest.mark.parametrize(
    ("health", "expected"),
    [("failing", {"conn-a"}), ("syncing", {"conn-b"}), ("never_synced", {"conn-c"})],
)
def test_the_list_filters_by_health(operator: Client, health: str, expected: set[str]) -> None:
    account = AccountFactory()
    destination = make_destination(account)
    failing = make_connector(account, destination, name="conn-a")
    finished_job(failing, JobStatus.FAILED)
    syncing = make_connector(account, destination, name="conn-b")
    sync_services.sync_trigger(connector=syncing)
    make_connector(account, destination, name="conn-c")  # never synced
    html = operator.get(f"{CONNECTORS}?health={health}").content.decode()
    shown = {name for name in ("conn-a", "conn-b", "conn-c") if f">{name}<" in html}
    assert shown == expected


def test_the_list_is_one_query_whatever_its_length(
    operator: Client, django_assert_max_num_queries
) -> None:
    account = AccountFactory()
    destination = make_destination(account)
    for n in range(25):
        connector = make_connector(account, destination, name=f"c{n}", sync_frequency_minutes=60)
        finished_job(connector, JobStatus.SUCCEEDED if n % 2 else JobStatus.FAILED)
        if n % 3 == 0:
            sync_services.sync_trigger(connector=connector)
    operator.get(CONNECTORS)  # the session and the filters' lookups, once
    # The session, the user, the counts of the paginator, the rows with their health and
    # activity (and their account and destination) in one query: no query per row.
    with django_assert_max_num_queries(8):
        response = operator.get(CONNECTORS)
    assert response.status_code == 200
    assert response.content.decode().count('class="field-health_display"') == 25


def _row(html: str, name: str) -> str:
    """The list's table row of the connector called `name`."""
    start = html.index(f">{name}</a>")
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


def test_the_list_still_edits_schedules_and_pauses(operator: Client, connector: Connector):
    response = operator.post(
        CONNECTORS,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(connector.id),
            "form-0-sync_frequency_minutes": "15",
            "form-0-paused": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.sync_frequency_minutes == 15 and connector.paused is True
