"""The billing app's Celery tasks: thin; each calls a service. Sent by the beat schedule, by
name; settings route each, by name, to its queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from billing.usage import usage_report_all


@shared_task(name="billing.report_usage", ignore_result=True)
def report_usage() -> int:
    return usage_report_all()
