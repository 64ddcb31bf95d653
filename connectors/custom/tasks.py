"""The custom connectors' Celery tasks: thin and idempotent, acknowledged late; each takes ids
and calls a service. Services send them by name (`landed.tasks.enqueue_on_commit`); settings
route each, by name, to its queue (CELERY_TASK_ROUTES) and import this module in the workers
(CELERY_IMPORTS: autodiscovery looks for `connectors.tasks` only)."""

from __future__ import annotations

from celery import shared_task

from connectors.custom.generation import generation_run


@shared_task(
    name="connectors.custom_generate",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def custom_generate(generation_id: str) -> None:
    """Run the generation attempt (a second delivery finds it claimed or done: no-op)."""
    generation_run(generation_id=generation_id)
