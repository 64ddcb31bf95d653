"""Sources whose streams are an http_api definition built from their config (GitHub, Slack,
HubSpot, Shopify, Microsoft 365): each names how to build its manifest; reading, checking and
discovering its declared columns are the engine's, here once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from connectors.framework.base import Batch, CheckResult, ReadRequest, Source, Stream
from connectors.framework.credentials import TokenProvider
from connectors.framework.spec import ConfigIssue, with_defaults
from connectors.sources.http_api.source import HttpApiSource


class DeclaredApiSource(Source):
    """A source read by the http_api engine from the definition `build_manifest` makes of its
    config (the spec's defaults filled in). Its columns are declared: discovery makes no
    request, so every connector of the type has the same tables, and a stream the grant may
    not read fails alone when read rather than failing discovery."""

    build_manifest: ClassVar[Callable[[dict[str, Any]], dict[str, Any]]]

    def __init__(
        self,
        config: dict[str, Any],
        *,
        hostaddr: str | None = None,
        allow_private_networks: bool = False,
        credentials: TokenProvider | None = None,
    ) -> None:
        super().__init__(
            config,
            hostaddr=hostaddr,
            allow_private_networks=allow_private_networks,
            credentials=credentials,
        )
        self.engine = HttpApiSource(
            type(self).build_manifest(with_defaults(self.spec, config)),
            allow_private_networks=allow_private_networks,
            credentials=credentials,
        )

    def check(self) -> CheckResult:
        """One request: the first page of the first stream without a parent."""
        return self.engine.check()

    def discover(self) -> list[Stream]:
        return self.engine.declared_streams()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        return self.engine.read(request)


def start_date_issues(
    config: dict[str, Any], parse: Callable[[Any], str | None]
) -> list[ConfigIssue]:
    """The issue of a `start_date` that `parse` (the source's own format of it) cannot read."""
    raw = config.get("start_date")
    if isinstance(raw, str) and raw.strip() and parse(raw) is None:
        return [
            ConfigIssue(
                "start_date",
                "Give an ISO 8601 date or date-time, e.g. 2024-01-01.",
                "datetime_parsing",
            )
        ]
    return []
