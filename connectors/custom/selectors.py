"""Reads of custom connectors: an account's list, and the source class of a custom type (one
version of its definition), for the connectors' services and the catalog."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet

from connectors.custom.source import CustomApiSource, custom_source_class
from connectors.models import CUSTOM_TYPE_PREFIX, Connector, CustomConnector, CustomConnectorVersion


def is_custom_type(type_name: str) -> bool:
    return type_name.startswith(CUSTOM_TYPE_PREFIX)


def custom_connector_list(*, account: Any) -> QuerySet[CustomConnector]:
    """The account's custom connectors, newest first, with what their responses show."""
    return (
        CustomConnector.objects.filter(account=account)
        .select_related("icon")
        .prefetch_related(
            Prefetch("versions", queryset=CustomConnectorVersion.objects.order_by("-number")),
            "versions__connectors",
        )
        .order_by("-created_at", "id")
    )


def custom_connector_for_type(*, account_id: Any, type_name: str) -> CustomConnector | None:
    """The account's custom connector whose connectors have the type `custom:<id>`; None for
    a type that names none of the account's."""
    if not is_custom_type(type_name):
        return None
    try:
        custom_id = uuid.UUID(type_name.removeprefix(CUSTOM_TYPE_PREFIX))
    except ValueError:
        return None
    return CustomConnector.objects.filter(account_id=account_id, id=custom_id).first()


def custom_version_get(
    *, custom_connector: CustomConnector, number: int | None
) -> CustomConnectorVersion | None:
    if number is None:
        return None
    return custom_connector.versions.filter(number=number).first()


def custom_connector_users(*, custom_connector: CustomConnector) -> QuerySet[Connector]:
    """The connectors of its type: those pinning one of its versions."""
    return Connector.objects.filter(custom_version__custom_connector=custom_connector).order_by(
        "name"
    )


def custom_source_of_version(version: CustomConnectorVersion) -> type[CustomApiSource]:
    """The source class that reads with this version of its custom connector's definition."""
    custom = version.custom_connector
    return custom_source_class(
        type_name=custom.type_name,
        display_name=custom.name,
        description=custom.description,
        definition=version.definition,
    )


def custom_source_catalog(*, account: Any) -> list[type[CustomApiSource]]:
    """The account's custom types that have a definition, each at its current version: what
    new connectors of the type pin."""
    sources = []
    for custom in custom_connector_list(account=account).filter(current_version__isnull=False):
        version = next(
            (v for v in custom.versions.all() if v.number == custom.current_version), None
        )
        if version is not None:
            sources.append(custom_source_of_version(version))
    return sources
