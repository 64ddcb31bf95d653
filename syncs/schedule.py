"""When a connector's next scheduled sync is due: one rule, written once as a query expression,
by which the scheduler selects the due connectors and the API shows `next_sync_at`, so that the
two cannot disagree.

The rule (docs/syncs.md, "Schedules"): a connector with `sync_frequency_minutes` is next due
one interval after its last sync was triggered (manually, by the schedule, or as a retry), or,
never synced, one interval after it was created: the user's first manual sync is the first
sync, and a connector left alone starts on its own after one interval. There is no next sync
without a frequency, while the connector is paused, while its account's subscription is
inactive (billing/rules.py: schedules pause until it is active again), or while its schedule
is stopped because its credentials must be authorized again (`schedule_stopped`).
"""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    Exists,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.sql.compiler import SQLCompiler

from billing.rules import inactive_account_ids_q
from connectors.models import Connector
from syncs.models import ACTIVE_STATUSES, JobStatus, SyncReceipt


class MinutesAsDuration(Func):
    """An integer column of minutes as a duration, in each database's own representation of
    one: Django cannot multiply a duration by a column on SQLite, where a duration is an
    integer of microseconds (PostgreSQL has intervals)."""

    output_field = DurationField()
    template = "(%(expressions)s * INTERVAL '1 minute')"

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        sql, params = self.as_sql(
            compiler, connection, template="(%(expressions)s * 60000000)", **extra_context
        )
        return sql, list(params)


# Error types after which a connector's schedule stops until the user acts: syncing again
# cannot help (the grant it reads with is gone), and every scheduled attempt would fail the
# same way, raising the same alert.
SCHEDULE_STOPPING_ERRORS = ("reauthorize_required",)


def schedule_stopped() -> Exists:
    """Whether a connector's schedule is stopped, as an expression of its row: its last sync to
    succeed or fail failed with one of SCHEDULE_STOPPING_ERRORS, and the connector has not
    changed since (a connector changes when its config is edited, or when the credentials it
    names are authorized again). A manual sync is still allowed: when it succeeds, the schedule
    runs again."""
    decided = [JobStatus.SUCCEEDED, JobStatus.FAILED]
    later = SyncReceipt.objects.filter(
        connector=OuterRef(OuterRef("pk")),
        status__in=decided,
        finished_at__gt=OuterRef("finished_at"),
    )
    stopping = (
        SyncReceipt.objects.filter(
            connector=OuterRef("pk"),
            status=JobStatus.FAILED,
            finished_at__gte=OuterRef("updated_at"),
        )
        # One exact match per type, not `error__type__in`: on SQLite, Django reads the values
        # of an `__in` on a JSON key as JSON documents ("malformed JSON").
        .filter(reduce(operator.or_, (Q(error__type=t) for t in SCHEDULE_STOPPING_ERRORS)))
        .filter(~Exists(later))
    )
    return Exists(stopping)


def next_sync_at() -> Case:
    """The expression of a connector's next scheduled sync (NULL: none is coming)."""
    return Case(
        When(paused=True, then=Value(None)),
        When(sync_frequency_minutes__isnull=True, then=Value(None)),
        When(inactive_account_ids_q(), then=Value(None)),
        When(schedule_stopped(), then=Value(None)),
        default=Coalesce("last_triggered_at", "created_at")
        + MinutesAsDuration("sync_frequency_minutes"),
        output_field=DateTimeField(),
    )


def connectors_with_next_sync(queryset: QuerySet[Connector]) -> QuerySet[Connector]:
    """`queryset` with `next_sync_at` annotated."""
    return queryset.annotate(next_sync_at=next_sync_at())


def connectors_due(*, now: datetime) -> QuerySet[Connector]:
    """Connectors whose next sync is due at `now` and that have no sync pending or running (a
    sync that outlasts the interval is followed by the next one as soon as it ends, not
    overlapped)."""
    return (
        Connector.objects.annotate(next_sync_at=next_sync_at())
        .filter(next_sync_at__lte=now)
        .exclude(jobs__status__in=ACTIVE_STATUSES)
    )
