"""Destinations and connectors as rows, for tests that need them without the API's checks."""

from typing import Any

from connectors.models import Connector, Destination


def make_destination(account: Any, name: str = "lake") -> Destination:
    return Destination.objects.create(
        account=account, name=name, type="duckdb", config={"path": f"{name}.duckdb"}
    )


def make_connector(
    account: Any, destination: Destination | None = None, *, name: str = "demo", **fields: Any
) -> Connector:
    """A sample connector; without a destination, one of its own (`lake-<name>`)."""
    return Connector.objects.create(
        account=account,
        name=name,
        type="sample",
        config={},
        destination=destination or make_destination(account, f"lake-{name}"),
        destination_schema=name.replace("-", "_").replace("\r", "_").replace("\n", "_"),
        **fields,
    )
