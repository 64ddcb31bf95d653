"""Tasks sent by name (landed.tasks) land on the queue their task declares, read from the real
Redis broker: also from a process that never loaded the tasks (the API), which routes by
CELERY_TASK_ROUTES alone."""

import os
import subprocess
import sys
from pathlib import Path

import kombu.exceptions
import pytest
from django.conf import settings

import billing.tasks
import connectors.custom.tasks
import landed.tasks
import syncs.tasks
import webhooks.tasks
from landed.celery import app
from landed.queues import Queue
from landed.tasks import enqueue, enqueue_on_commit
from tests.broker import broker as broker  # a fixture
from tests.broker import queued

ROOT = Path(__file__).resolve().parents[2]
TASK_MODULES = (syncs.tasks, webhooks.tasks, billing.tasks, connectors.custom.tasks)
# Where each task's messages must wait: long syncs on their own queue, short HTTP calls on
# another, the scheduler's light work on the default one.
EXPECTED_QUEUES = {
    Queue.SYNCS: ["syncs.run"],
    Queue.WEBHOOKS: [
        "webhooks.deliver",
        "webhooks.dispatch_event",
        "webhooks.send_notification_email",
    ],
    Queue.DEFAULT: [
        "alerts.check_freshness",
        "billing.report_usage",
        "connectors.custom_generate",
        "syncs.prune_history",
        "syncs.reap_stale_jobs",
        "syncs.trigger_due",
        "webhooks.prune",
        "webhooks.sweep",
    ],
}


def project_tasks() -> set[str]:
    """The names of the tasks the apps' tasks modules register."""
    modules = {module.__name__ for module in TASK_MODULES}
    return {task.name for task in app.tasks.values() if task.__module__ in modules}


def test_every_task_is_routed_to_a_queue_by_name():
    assert project_tasks() == set(settings.CELERY_TASK_ROUTES)
    routed = {name: route["queue"] for name, route in settings.CELERY_TASK_ROUTES.items()}
    assert {queue: sorted(n for n, q in routed.items() if q == queue) for queue in Queue} == (
        EXPECTED_QUEUES
    )
    # What the beat sends is a task a worker runs.
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= project_tasks()


def test_sent_by_name_from_a_process_without_the_tasks_each_lands_on_its_queue(broker):
    code = (
        "import sys, django; django.setup(); from django.conf import settings; "
        "from landed.tasks import enqueue; "
        f"loaded = [m for m in {[m.__name__ for m in TASK_MODULES]!r} if m in sys.modules]; "
        "assert not loaded, loaded; "
        "[enqueue(name, 'routing-check') for name in settings.CELERY_TASK_ROUTES]"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "landed.settings"}
    sent = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert sent.returncode == 0, sent.stderr
    for queue, names in EXPECTED_QUEUES.items():
        assert sorted(task for task, _args in queued(broker, queue)) == names, queue
    # Nothing went to a queue no worker listens on.
    lists = [key.decode() for key in broker.keys("*") if broker.type(key) == b"list"]
    assert sorted(lists) == sorted(queue.value for queue in Queue)


def test_sent_by_name_where_the_tasks_are_loaded_too(broker):
    enqueue("syncs.run", "job-1", countdown=None)
    enqueue("webhooks.deliver", "delivery-1")
    assert queued(broker, Queue.SYNCS) == [("syncs.run", ["job-1"])]
    assert queued(broker, Queue.WEBHOOKS) == [("webhooks.deliver", ["delivery-1"])]


@pytest.mark.django_db
def test_on_commit_sends_only_once_the_transaction_commits(
    broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("webhooks.dispatch_event", "event-1")
        assert queued(broker, Queue.WEBHOOKS) == []
    assert queued(broker, Queue.WEBHOOKS) == [("webhooks.dispatch_event", ["event-1"])]


@pytest.mark.django_db
def test_on_commit_with_the_broker_down_logs_and_leaves_the_commit_standing(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """The change is committed before the message is sent: a broker that cannot take it must
    not turn the request that made the change into an error (a sweep sends it again)."""

    def broker_down(task_name: str, *args: object, countdown: float | None = None) -> None:
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379.")

    monkeypatch.setattr(landed.tasks, "enqueue", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("syncs.run", "job-1")
    (record,) = [r for r in caplog.records if r.name == "landed.tasks"]
    assert record.getMessage() == "landed.enqueue_failed task=syncs.run args=('job-1',)"
    assert record.exc_info is not None
