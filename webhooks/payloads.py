"""The `data` of each event type: the resources as the API returns them (docs/webhooks.md
lists every type's shape). Built inside the transaction that raises the event, so they show
the change as committed with it."""

from __future__ import annotations

from typing import Any


def connector_data(connector: Any) -> dict[str, Any]:
    """The connector as `GET /connectors/{id}` returns it."""
    from connectors.models import Connector
    from connectors.serializers import ConnectorSerializer
    from syncs.selectors import connectors_with_health

    annotated = connectors_with_health(Connector.objects.filter(id=connector.id)).first()
    if annotated is None:  # gone already
        return {"id": str(connector.id), "name": connector.name, "type": connector.type}
    return dict(ConnectorSerializer(annotated).data)


def destination_data(destination: Any) -> dict[str, Any]:
    from connectors.serializers import DestinationSerializer

    return dict(DestinationSerializer(destination).data)


def job_data(job_id: Any) -> dict[str, Any]:
    """The job as `GET /jobs/{id}` returns it."""
    from syncs.models import Job
    from syncs.serializers import JobSerializer

    job = Job.objects.prefetch_related("streams").get(id=job_id)
    return dict(JobSerializer(job).data)


def sync_data(job_id: Any, *, retry_job_id: Any = None) -> dict[str, Any]:
    """`sync.*`: the job, the connector (id, name, type) and, for a failure that will be
    tried again, the retry's job id."""
    from syncs.models import Job

    job = Job.objects.select_related("connector").get(id=job_id)
    connector = job.connector
    return {
        "job": job_data(job_id),
        "connector": {"id": str(connector.id), "name": connector.name, "type": connector.type},
        "retry_job_id": str(retry_job_id) if retry_job_id else None,
    }


def schema_changes_data(connector: Any, job_id: Any, changes: list[Any]) -> dict[str, Any]:
    """`schema.changed`: the changes one sync applied to its destination tables."""
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
