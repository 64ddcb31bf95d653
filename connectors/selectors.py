"""Reads of connectors, destinations and the catalog."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from connectors.custom.selectors import custom_source_catalog
from connectors.framework import registry
from connectors.framework.base import Destination as DestinationImpl
from connectors.framework.base import Source
from connectors.framework.spec import with_defaults
from connectors.models import Connector, Destination
from landed.accounts.models import Account
from landed.api.errors import NotFoundError
from syncs.schedule import connectors_with_next_sync
from syncs.selectors import connectors_with_health


def connector_list(*, account: Account) -> QuerySet[Connector]:
    connectors = connectors_with_health(
        Connector.objects.filter(account=account).select_related("custom_version")
    )
    return connectors_with_next_sync(connectors).order_by("-created_at", "id")


def connector_get(*, account: Account, connector_id: Any) -> Connector:
    connector = connector_list(account=account).filter(id=connector_id).first()
    if connector is None:
        raise NotFoundError("Connector not found")
    return connector


def destination_list(*, account: Account) -> QuerySet[Destination]:
    return Destination.objects.filter(account=account).order_by("-created_at", "id")


def destination_get(*, account: Account, destination_id: Any) -> Destination:
    destination = destination_list(account=account).filter(id=destination_id).first()
    if destination is None:
        raise NotFoundError("Destination not found")
    return destination


def _catalog(types: dict[str, type[Source]] | dict[str, type[DestinationImpl]]) -> dict:
    items = [
        {
            "type": cls.spec.type,
            "name": cls.spec.display_name,
            "description": cls.spec.description,
            "category": cls.spec.category,
            "auth_method": cls.spec.auth_method,
            "supports_incremental": cls.spec.supports_incremental,
            "has_static_schema": cls.spec.static_schema,
            "fields": [f.as_dict() for f in cls.spec.fields],
        }
        for cls in sorted(types.values(), key=lambda c: c.spec.display_name.lower())
    ]
    return {"items": items, "total": len(items)}


def source_catalog(*, account: Account | None = None) -> dict:
    """The built-in types, and the account's custom types at their current version (none for
    an anonymous caller)."""
    types: dict[str, type[Source]] = dict(registry.source_types())
    if account is not None:
        types.update({cls.spec.type: cls for cls in custom_source_catalog(account=account)})
    return _catalog(types)


def destination_catalog() -> dict:
    return _catalog(registry.destination_types())


def source_static_schema(*, type_name: str) -> dict:
    cls = registry.source_types().get(type_name)
    if cls is None:
        raise NotFoundError("Unknown connector type", f"No connector type '{type_name}'.")
    if not cls.spec.static_schema:
        raise NotFoundError(
            "This connector type has no fixed schema",
            "Its streams depend on the system it connects to: create the connector and use "
            "GET /connectors/{id}/streams.",
        )
    # A fixed schema does not depend on config: discover with the spec's defaults.
    streams = cls(with_defaults(cls.spec, {})).discover()
    return {"type": type_name, "streams": [s.as_dict() for s in streams]}
