"""A declarative HTTP API source: a JSON REST API described by configuration, not code."""

from connectors.sources.http_api.source import HttpApiSource

__all__ = ["HttpApiSource"]
