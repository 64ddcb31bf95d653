"""The Celery queues, named by workload, so that the fleet scales per queue: `scripts/run.sh`
starts workers for `syncs` apart from those for `default` and `webhooks`.

Settings route each task, by name, to one of these (CELERY_TASK_ROUTES): the one place a task's
queue is set, so that a message sent by name from a process that never loaded the task (the
API) lands where the task's workers listen. (A task's own `queue` attribute would say it a
second time, and Celery deprecates it from 5.7 in favour of the routes.) Plain Python, so
that settings can import it."""

from enum import StrEnum


class Queue(StrEnum):
    # Long syncs, on workers of their own.
    SYNCS = "syncs"
    # Webhook deliveries and alert emails: short HTTP calls, never behind a long sync.
    WEBHOOKS = "webhooks"
    # The scheduler's light, frequent work, and anything not routed elsewhere.
    DEFAULT = "default"
