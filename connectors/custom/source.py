"""The source of a custom connector type: one version of its definition, compiled with the
connector's config and read by the http_api engine. Its streams are discovered live (columns
inferred from the first records), as an http_api connector's are.

Plain Python: the Django side (connectors/custom/selectors.py) makes one class per version
with `custom_source_class`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.custom.compile import compile_config, custom_spec
from connectors.framework.base import Batch, CheckResult, ReadRequest, Source, Stream
from connectors.framework.credentials import TokenProvider
from connectors.framework.spec import ConfigIssue, ConnectorSpec, with_defaults

if TYPE_CHECKING:
    from connectors.sources.http_api.source import HttpApiSource

# The compiled http_api config's URLs (HttpApiSource.url_fields), checked against the network
# policy when a connector is saved (their hosts may come from the connector's config through
# placeholders).
COMPILED_URL_FIELDS = ("base_url", "token_url")


def _engine() -> type[HttpApiSource]:
    # Imported when a custom source is first used, not with this module: the engine pulls in
    # pyarrow, which the API process (it imports this module through the connectors' services)
    # must not load just to start. The catalog's registry defers the built-in sources the same
    # way.
    from connectors.sources.http_api.source import HttpApiSource

    return HttpApiSource


class CustomApiSource(Source):
    spec: ClassVar[ConnectorSpec]
    definition: ClassVar[dict[str, Any]]

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
        self.engine = _engine()(
            type(self).compiled(config),
            allow_private_networks=allow_private_networks,
            credentials=credentials,
        )
        # Secret config fields may be substituted into headers or params: masked in every
        # message, as the credentials are.
        for spec_field in self.spec.fields:
            value = config.get(spec_field.name)
            if spec_field.secret and value:
                self.engine.masker.add(str(value))

    @classmethod
    def compiled(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The http_api config this connector's config makes (the spec's defaults filled)."""
        return compile_config(cls.definition, with_defaults(cls.spec, config))

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        """The engine's checks of the definition compiled with this config. The definition
        passed them with stand-in values, so what remains comes from the config's values: the
        config's own fields keep their names; an issue of the definition's parts (a base_url
        that a placeholder's value made invalid) is reported on the config as a whole."""
        own = {f.name for f in cls.spec.fields}
        issues = []
        for issue in _engine().config_issues(cls.compiled(config)):
            if issue.field in own:
                issues.append(issue)
                continue
            where = ".".join(str(p) for p in (issue.field, *issue.path))
            issues.append(
                ConfigIssue(
                    "", f"With this config, the definition's {where}: {issue.msg}", issue.type
                )
            )
        return issues

    def check(self) -> CheckResult:
        return self.engine.check()

    def discover(self) -> list[Stream]:
        return self.engine.discover()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        return self.engine.read(request)


def custom_source_class(
    *, type_name: str, display_name: str, description: str, definition: dict[str, Any]
) -> type[CustomApiSource]:
    """The source class of a custom type at one version of its definition."""
    spec = custom_spec(
        type_name=type_name,
        display_name=display_name,
        description=description,
        definition=definition,
    )
    return type(
        "CustomApiSource",
        (CustomApiSource,),
        {"spec": spec, "definition": definition, "__module__": __name__},
    )
