"""The catalog: every source and destination type that really works, by its type name."""

from __future__ import annotations

from connectors.framework.base import Destination, Source
from connectors.framework.spec import ConnectorSpec

# The implementations are imported when the catalog is first asked for, not with this module:
# each pulls in its driver (psycopg, PyMySQL, DuckDB, pyarrow compute), which a process that
# only needs the framework's types should not pay for. The worker asks at start (syncs.tasks).


def _sources() -> dict[str, type[Source]]:
    from connectors.sources.github import GitHubSource
    from connectors.sources.http_api.source import HttpApiSource
    from connectors.sources.hubspot import HubSpotSource
    from connectors.sources.microsoft import MicrosoftSource
    from connectors.sources.mysql import MySQLSource
    from connectors.sources.postgres import PostgresSource
    from connectors.sources.salesforce import SalesforceSource
    from connectors.sources.sample import SampleSource
    from connectors.sources.shopify import ShopifySource
    from connectors.sources.slack import SlackSource

    return {
        cls.spec.type: cls
        for cls in (
            SampleSource,
            PostgresSource,
            HttpApiSource,
            MySQLSource,
            GitHubSource,
            ShopifySource,
            SlackSource,
            SalesforceSource,
            HubSpotSource,
            MicrosoftSource,
        )
    }


def _destinations() -> dict[str, type[Destination]]:
    from connectors.destinations.duckdb import DuckDBDestination
    from connectors.destinations.postgres import PostgresDestination

    return {cls.spec.type: cls for cls in (DuckDBDestination, PostgresDestination)}


def source_types() -> dict[str, type[Source]]:
    return _sources()


def destination_types() -> dict[str, type[Destination]]:
    return _destinations()


def source_spec(type_name: str) -> ConnectorSpec | None:
    cls = _sources().get(type_name)
    return cls.spec if cls else None


def destination_spec(type_name: str) -> ConnectorSpec | None:
    cls = _destinations().get(type_name)
    return cls.spec if cls else None
