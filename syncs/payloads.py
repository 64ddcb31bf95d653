"""The `data` of the sync and schema events: the job as the API returns it (docs/webhooks.md
lists every type's shape). Built inside the transaction that raises the event, so they show
the change as committed with it."""

from __future__ import annotations

from typing import Any

from connectors.models import Connector
from syncs.models import Job
from syncs.serializers import JobSerializer


def job_data(job_id: Any) -> dict[str, Any]:
    """The job as `GET /jobs/{id}` returns it."""
    job = Job.objects.prefetch_related("streams").get(id=job_id)
    return dict(JobSerializer(job).data)


def sync_data(job_id: Any, *, retry_job_id: Any = None) -> dict[str, Any]:
    """`sync.*`: the job, the connector (id, name, type) and, for a failure that will be
    tried again, the retry's job id."""
    job = Job.objects.select_related("connector").get(id=job_id)
    connector = job.connector
    return {
        "job": job_data(job_id),
        "connector": {"id": str(connector.id), "name": connector.name, "type": connector.type},
        "retry_job_id": str(retry_job_id) if retry_job_id else None,
    }


def schema_changes_data(connector: Connector, job_id: Any, changes: list[Any]) -> dict[str, Any]:
    """`schema.changed`: the changes one sync applied to its destination tables (each with
    stream, change, column, old_type, new_type, note)."""
    return {
        "connector": {"id": str(connector.id), "name": connector.name, "type": connector.type},
        "job_id": str(job_id),
        "changes": [
            {
                "stream": c.stream,
                "change": c.change,
                "column": c.column or None,
                "old_type": c.old_type or None,
                "new_type": c.new_type or None,
                "note": c.note or "",
            }
            for c in changes
        ],
    }
