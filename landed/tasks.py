"""Sending work to the workers: by task name, through the one Celery app.

A service enqueues the task by the name the task declares, and never imports a tasks module
(the tasks import the services). The queue comes from CELERY_TASK_ROUTES (settings), keyed by
the same names, so that a process that never loaded the tasks (the API) routes each message
to the queue its task declares."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from landed.celery import app

logger = logging.getLogger("landed.tasks")


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send `task_name(*args)` now, to run in `countdown` seconds if given. Raises when the
    broker cannot take the message: a caller that can do without it (a sweep sends it
    again later) catches and logs."""
    app.send_task(task_name, args=list(args), countdown=countdown)


def enqueue_on_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """`enqueue` once the current transaction commits (at once outside one), so that a worker
    never looks for a row that was rolled back.

    A message the broker cannot take (it is down, restarting) is logged, not raised: the
    change it follows is committed already, and raising from the commit would answer the
    request that made it with a 500 (a sync that was in fact created, say). Every row sent
    this way is one that a sweep sends again while it waits (syncs: `jobs_requeue_pending`)."""

    def send() -> None:
        try:
            enqueue(task_name, *args, countdown=countdown)
        except Exception:
            logger.exception("landed.enqueue_failed task=%s args=%s", task_name, args)

    transaction.on_commit(send)
