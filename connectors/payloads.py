"""The `data` of the connector and destination events: each resource as the API returns it
(docs/webhooks.md lists every type's shape). Built inside the transaction that raises the
event, so they show the change as committed with it."""

from __future__ import annotations

from typing import Any

from connectors.models import Connector, Destination
from connectors.serializers import ConnectorSerializer, DestinationSerializer
from syncs.selectors import connectors_with_health


def connector_data(connector: Connector) -> dict[str, Any]:
    """The connector as `GET /connectors/{id}` returns it."""
    annotated = connectors_with_health(Connector.objects.filter(id=connector.id)).first()
    if annotated is None:  # gone already
        return {"id": str(connector.id), "name": connector.name, "type": connector.type}
    return dict(ConnectorSerializer(annotated).data)


def destination_data(destination: Destination) -> dict[str, Any]:
    """The destination as `GET /destinations/{id}` returns it."""
    return dict(DestinationSerializer(destination).data)
