"""The schedule, through the HTTP API and the scheduler's own service: a new connector's first
scheduled sync is due one interval after its creation (so the user's first manual sync is the
first sync); after any sync, manual or scheduled, the next is due one interval after that sync
was triggered. `next_sync_at` on the connector is that rule, and the scheduler selects the due
connectors by it (in SQL), so the two cannot disagree."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.utils import timezone

from billing.models import BillingAccount
from connectors.models import Connector
from syncs import services
from syncs.models import Job, JobStatus
from syncs.schedule import connectors_due

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HOUR = timedelta(minutes=60)


@pytest.fixture
def destination(client, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path / "duckdb"))
    body = {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}}
    response = client.post("/destinations", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create(client, destination: dict, name: str = "demo", **fields) -> dict:
    body = {
        "name": name,
        "type": "sample",
        "config": {"size": 10},
        "destination_id": destination["id"],
        "sync_frequency_minutes": 60,
        **fields,
    }
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def rewind(connector_id: str, by: timedelta) -> None:
    """As if `by` had passed: the connector's creation and last trigger move back."""
    Connector.objects.filter(id=connector_id).update(
        created_at=F("created_at") - by, last_triggered_at=F("last_triggered_at") - by
    )
    Job.objects.filter(connector_id=connector_id).update(created_at=F("created_at") - by)


def settle(job_id: str) -> None:
    Job.objects.filter(id=job_id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())


def scheduled(django_capture_on_commit_callbacks) -> set[str]:
    """The connectors the scheduler triggers now (their jobs are only enqueued on commit)."""
    with django_capture_on_commit_callbacks(execute=False):
        jobs = services.syncs_trigger_due()
    return {str(c) for c in Job.objects.filter(id__in=jobs).values_list("connector_id", flat=True)}


def test_a_new_connector_waits_one_interval_for_its_first_scheduled_sync(
    client, destination, django_capture_on_commit_callbacks
):
    connector = create(client, destination)
    assert at(connector["next_sync_at"]) == at(connector["created_at"]) + HOUR
    # Not in the first seconds, nor in the first hour.
    assert scheduled(django_capture_on_commit_callbacks) == set()
    rewind(connector["id"], timedelta(minutes=59))
    assert scheduled(django_capture_on_commit_callbacks) == set()

    # A connector created and left alone starts on its own after one interval.
    rewind(connector["id"], timedelta(minutes=2))
    assert scheduled(django_capture_on_commit_callbacks) == {connector["id"]}
    job = client.get(f"/jobs?connector_id={connector['id']}").json()["items"][0]
    assert job["trigger"] == "schedule"
    after = client.get(f"/connectors/{connector['id']}").json()
    assert at(after["next_sync_at"]) == at(job["created_at"]) + HOUR


def test_the_first_manual_sync_is_the_first_sync_and_restarts_the_clock(
    client, destination, django_capture_on_commit_callbacks
):
    connector = create(client, destination)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/connectors/{connector['id']}/sync", {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["trigger"] == "manual"
    assert client.get(f"/jobs?connector_id={connector['id']}").json()["total"] == 1
    settle(job["id"])

    # The next sync is due an interval after the manual one, not after the creation.
    rewind(connector["id"], timedelta(minutes=30))
    manual = Job.objects.get(id=job["id"])
    shown = client.get(f"/connectors/{connector['id']}").json()
    assert at(shown["next_sync_at"]) == manual.created_at + HOUR
    assert scheduled(django_capture_on_commit_callbacks) == set()
    rewind(connector["id"], timedelta(minutes=31))
    assert scheduled(django_capture_on_commit_callbacks) == {connector["id"]}


def test_next_sync_at_is_null_without_a_schedule_while_paused_or_while_schedules_pause(
    client, destination, user
):
    manual = create(client, destination, name="manual", sync_frequency_minutes=None)
    paused = create(client, destination, name="paused", paused=True)
    assert manual["next_sync_at"] is None and paused["next_sync_at"] is None

    resumed = client.patch(f"/connectors/{paused['id']}", {"paused": False}, format="json")
    assert resumed.status_code == 200, resumed.content
    assert at(resumed.json()["next_sync_at"]) == at(paused["created_at"]) + HOUR
    faster = client.patch(
        f"/connectors/{paused['id']}", {"sync_frequency_minutes": 5}, format="json"
    ).json()
    assert at(faster["next_sync_at"]) == at(paused["created_at"]) + timedelta(minutes=5)

    # An inactive subscription pauses the account's schedules (see docs/billing.md).
    BillingAccount.objects.update_or_create(
        account=user.account, defaults={"subscription_status": "canceled"}
    )
    listed = client.get("/connectors").json()["items"]
    assert [c["next_sync_at"] for c in listed] == [None, None]


def test_the_scheduler_triggers_exactly_the_connectors_whose_next_sync_at_has_passed(
    client, destination, django_capture_on_commit_callbacks
):
    ages = {  # name: (minutes since creation, minutes since the last trigger, frequency, paused)
        "new": (0, None, 60, False),
        "due-never-synced": (90, None, 60, False),
        "not-due-never-synced": (30, None, 60, False),
        "due-synced": (600, 70, 60, False),
        "not-due-synced": (600, 50, 60, False),
        "paused-due": (600, 70, 60, True),
        "manual-only": (600, 70, None, False),
        "fast": (600, 6, 5, False),
    }
    now = timezone.now()
    for name, (created, triggered, frequency, paused) in ages.items():
        made = create(
            client, destination, name=name, sync_frequency_minutes=frequency, paused=paused
        )
        Connector.objects.filter(id=made["id"]).update(
            created_at=now - timedelta(minutes=created),
            last_triggered_at=None if triggered is None else now - timedelta(minutes=triggered),
        )
    listed = client.get("/connectors").json()["items"]
    shown_due = {
        c["id"] for c in listed if c["next_sync_at"] and at(c["next_sync_at"]) <= timezone.now()
    }
    names = {c["id"]: c["name"] for c in listed}

    triggered = scheduled(django_capture_on_commit_callbacks)

    assert triggered == shown_due
    assert {names[c] for c in triggered} == {"due-never-synced", "due-synced", "fast"}


def test_a_connector_synced_since_the_schedulers_query_is_not_triggered_again(
    client, destination, django_capture_on_commit_callbacks
):
    connector = create(client, destination)
    rewind(connector["id"], timedelta(minutes=61))
    due = list(connectors_due(now=timezone.now()))
    assert [str(c.id) for c in due] == [connector["id"]]
    # Meanwhile the user syncs it, and the sync is already over.
    with django_capture_on_commit_callbacks(execute=False):
        job = client.post(f"/connectors/{connector['id']}/sync", {}, format="json").json()
    settle(job["id"])

    with django_capture_on_commit_callbacks(execute=False):
        assert services.sync_trigger_scheduled(connector=due[0], now=timezone.now()) is None
    assert Job.objects.filter(connector_id=connector["id"]).count() == 1


def test_the_schedule_rule_runs_on_the_embedded_default_sqlite(tmp_path):
    """The rule is SQL with arithmetic on timestamps, which each database spells its own way:
    run the scheduler and the connector list on SQLite, as `make run` with nothing configured
    does (this suite's database is PostgreSQL)."""
    script = """
import json
from datetime import timedelta

import django
from django.core.management import call_command

django.setup()
call_command("migrate", verbosity=0)

from django.utils import timezone

from connectors.models import Connector, Destination
from connectors.selectors import connector_list
from landed.accounts.models import Account
from syncs import services

account = Account.objects.create(name="sqlite")
destination = Destination.objects.create(account=account, name="d", type="duckdb", config={})
now = timezone.now()
for name, created, triggered in [("new", 0, None), ("due", 90, None), ("synced", 90, 30)]:
    Connector.objects.create(
        account=account, name=name, type="sample", destination=destination,
        destination_schema=name, sync_frequency_minutes=60,
        created_at=now - timedelta(minutes=created),
        last_triggered_at=None if triggered is None else now - timedelta(minutes=triggered),
    )
shown = {c.name: c.next_sync_at.isoformat() for c in connector_list(account=account)}
triggered = services.syncs_trigger_due()
names = sorted(Connector.objects.filter(jobs__id__in=triggered).values_list("name", flat=True))
print(json.dumps({"now": now.isoformat(), "shown": shown, "triggered": names}))
"""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} and not k.startswith("PYTEST_")
    }
    env.update(LANDED_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="landed.settings")
    # The file broker's folders, as scripts/run.sh makes them: the scheduled job is enqueued.
    for folder in ("processed", "control"):
        (tmp_path / "data" / "broker" / folder).mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    now = datetime.fromisoformat(out["now"])
    shown = {name: datetime.fromisoformat(value) for name, value in out["shown"].items()}
    assert shown == {
        "new": now + HOUR,
        "due": now - timedelta(minutes=30),
        "synced": now + timedelta(minutes=30),
    }
    assert out["triggered"] == ["due"]
