"""Backfills: a stream read in full again, merging into its table, by the next sync.

Requested when a column is added to an incremental merge stream (the rows loaded before lack
it) and when such a stream is enabled again (rows changed while it was off were never
loaded). Append streams get none: their table is a log of what each sync read, and a full
re-read would append every row once more.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.framework.base import LoadMode, SyncMode
from connectors.framework.base import SchemaChange as AppliedSchemaChange
from connectors.models import Connector
from syncs.models import Backfill, BackfillReason, BackfillStatus, Job, StreamSchema

logger = logging.getLogger("syncs")


def backfill_wanted(*, sync_mode: SyncMode, load_mode: LoadMode) -> bool:
    """Whether a stream so loaded needs a full re-read to catch up (see the module's doc)."""
    return sync_mode == "incremental" and load_mode == "merge"


def backfill_request(
    *,
    connector: Connector | Any,
    stream: str,
    reason: BackfillReason | str,
    column: str = "",
    job: Job | None = None,
) -> Backfill:
    """A pending backfill for the stream; the one already pending for the same cause if any."""
    pending = Backfill.objects.filter(
        connector=connector,
        stream=stream,
        reason=reason,
        column=column,
        status=BackfillStatus.PENDING,
    )
    existing = pending.first()
    if existing is not None:
        return existing
    backfill = Backfill(
        connector=connector,
        stream=stream,
        reason=reason,
        column=column,
        requested_by_job=job,
        requested_run_id=job.run_id if job is not None else None,
    )
    try:
        with transaction.atomic():
            backfill.save(force_insert=True)
    except IntegrityError:
        return pending.get()
    logger.info(
        "syncs.backfill_requested connector=%s stream=%s reason=%s column=%s",
        getattr(connector, "id", connector),
        stream,
        reason,
        column,
    )
    return backfill


def backfills_request_added_columns(
    *, connector: Connector, stream: str, changes: Sequence[AppliedSchemaChange], job: Job
) -> None:
    """Rows loaded before a column was added lack it: the next sync reads them again."""
    for change in changes:
        if change.change == "column_added":
            backfill_request(
                connector=connector,
                stream=stream,
                reason=BackfillReason.COLUMN_ADDED,
                column=change.column or "",
                job=job,
            )


def backfills_request_reenabled(*, connector: Connector, streams: list[Any]) -> list[Backfill]:
    """Backfills for streams (selections) just enabled again that a sync loaded before."""
    loaded = set(
        StreamSchema.objects.filter(
            connector=connector, stream__in=[s.stream.name for s in streams]
        ).values_list("stream", flat=True)
    )
    return [
        backfill_request(
            connector=connector, stream=s.stream.name, reason=BackfillReason.STREAM_REENABLED
        )
        for s in streams
        if s.stream.name in loaded and backfill_wanted(sync_mode=s.sync_mode, load_mode=s.load_mode)
    ]


def backfills_due(*, connector_id: Any, run_id: uuid.UUID | str) -> dict[str, list[Any]]:
    """Pending backfills a sync applies, by stream: all but those its own run requested."""
    due: dict[str, list[Any]] = {}
    rows = Backfill.objects.filter(connector_id=connector_id, status=BackfillStatus.PENDING)
    for backfill_id, stream, requested_run in rows.values_list("id", "stream", "requested_run_id"):
        if requested_run is not None and str(requested_run) == str(run_id):
            continue
        due.setdefault(stream, []).append(backfill_id)
    return due


def backfills_settle(*, ids: list[Any], job: Job, status: BackfillStatus) -> int:
    """Mark backfills completed (the stream was read in full and loaded) or skipped."""
    if not ids:
        return 0
    return Backfill.objects.filter(id__in=ids, status=BackfillStatus.PENDING).update(
        status=status, completed_at=timezone.now(), completed_by_job=job
    )
