"""The `salesforce` source: the org's objects, their fields and types discovered from the REST
API's `describe`, read with SOQL through the query endpoint, incremental by `SystemModstamp`.

It reads with the org's OAuth grant (GET /connectors/oauth/salesforce/authorize): the platform
binds the connector's `credential_id` (`spec.credentials`) and hands the source a
TokenProvider and the org's REST API URL, its instance URL and SALESFORCE_API_VERSION
(`api_url`). An expired session answers 401 `INVALID_SESSION_ID`: the token is refreshed once
(the engine's rule for a refused token).

Each object is a stream; the definition the http_api engine reads is built per request from
what discovery found (`request.stream.columns`): `GET query?q=SELECT <fields> FROM <object>
[WHERE SystemModstamp >= <boundary>] ORDER BY SystemModstamp ASC, Id ASC`, paged by
`nextRecordsUrl` (kept in the sync's state: an interrupted read resumes at its page; a locator
Salesforce no longer honours starts again from the boundary). The boundary is in the query
itself (SOQL takes no separate parameter for it), and it is inclusive: the records at the
boundary's instant come back and are dropped by their keys (docs/http_api.md, Incremental).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from connectors.framework.base import (
    Batch,
    CheckResult,
    ConfigError,
    ConnectorError,
    ReadRequest,
    Source,
    Stream,
    StreamNotFoundError,
)
from connectors.framework.credentials import TokenProvider
from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField, with_defaults
from connectors.sources.http_api.source import HttpApiSource

CREDENTIALS = "oauth_salesforce"
DEFAULT_OBJECTS = ["Account", "Contact", "Opportunity", "Lead", "User"]
CURSOR = "SystemModstamp"
# An object's or field's API name: letters, digits and underscores (custom ones end in __c).
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# The most objects one connector reads (each is a stream and a table).
MAX_OBJECTS = 200

# Salesforce's field types, as the engine's column types. Compound fields (address,
# location) are JSON; binary ones (base64) are not read (they need a request per record).
_TYPES = {
    "id": "string",
    "reference": "string",
    "string": "string",
    "picklist": "string",
    "multipicklist": "string",
    "combobox": "string",
    "textarea": "string",
    "email": "string",
    "url": "string",
    "phone": "string",
    "encryptedstring": "string",
    "anyType": "string",
    "time": "string",
    "boolean": "boolean",
    "int": "bigint",
    "long": "bigint",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "timestamptz",
    "address": "json",
    "location": "json",
    "complexvalue": "json",
}


def soql_instant(raw: Any) -> str | None:
    """A date or date-time as a SOQL datetime literal (`2024-01-01T00:00:00.000+0000`)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}+0000"
    )


def column_types(describe: dict[str, Any]) -> dict[str, str]:
    """The readable fields of a `describe` answer and their column types, in its order."""
    columns: dict[str, str] = {}
    for field in describe.get("fields") or []:
        name, kind = field.get("name"), _TYPES.get(str(field.get("type")))
        if isinstance(name, str) and API_NAME.match(name) and kind is not None:
            columns[name] = kind
    return columns


def soql(object_name: str, fields: list[str], boundary: str | None) -> str:
    """The query of one read. Every name is an API name (checked here, whatever produced it)
    and the boundary a literal `soql_instant` wrote: nothing else reaches the text."""
    bad = [n for n in [object_name, *fields] if not API_NAME.match(n)]
    if bad:
        raise ConfigError(f"Not a Salesforce API name: {bad[0][:80]!r}.")
    where = f" WHERE {CURSOR} >= {boundary}" if boundary else ""
    select = ", ".join(fields)
    return f"SELECT {select} FROM {object_name}{where} ORDER BY {CURSOR} ASC, Id ASC"  # noqa: S608


def _definition(api_url: str, streams: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "base_url": api_url,
        "auth_type": "provided_token",
        # Salesforce's daily API limit answers 403 REQUEST_LIMIT_EXCEEDED: not a wait, a
        # failure of the sync (retried later), reported with Salesforce's words.
        "streams": streams,
    }


class SalesforceSource(Source):
    spec = ConnectorSpec(
        type="salesforce",
        display_name="Salesforce",
        description="Objects of a Salesforce org (fields and types from the API's describe), "
        "read with SOQL, incremental by SystemModstamp. Authorize the org first: GET "
        "/connectors/oauth/salesforce/authorize, then GET /connectors/oauth/result gives the "
        "credential_id.",
        category="api",
        auth_method="oauth2",
        supports_incremental=True,
        credentials=CREDENTIALS,
        fields=(
            SpecField(
                "credential_id",
                "string",
                "The org's authorization (GET /connectors/oauth/result's credential_id).",
                required=True,
            ),
            SpecField(
                "objects",
                "json",
                "API names of the objects to read (custom ones end in __c), default Account, "
                "Contact, Opportunity, Lead and User.",
            ),
            SpecField(
                "start_date",
                "string",
                "Only records modified since (ISO 8601, e.g. 2024-01-01); empty: all of them.",
            ),
        ),
    )

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        objects = config.get("objects")
        if objects is not None and (
            not isinstance(objects, list)
            or not objects
            or len(objects) > MAX_OBJECTS
            or not all(isinstance(o, str) and API_NAME.match(o) for o in objects)
            or len(set(objects)) != len(objects)
        ):
            issues.append(
                ConfigIssue(
                    "objects",
                    f"Give a list of 1 to {MAX_OBJECTS} distinct object API names (letters, "
                    'digits and underscores), e.g. ["Account", "Invoice__c"].',
                    "list_type",
                )
            )
        raw = config.get("start_date")
        if isinstance(raw, str) and raw.strip() and soql_instant(raw) is None:
            issues.append(
                ConfigIssue(
                    "start_date",
                    "Give an ISO 8601 date or date-time, e.g. 2024-01-01.",
                    "datetime_parsing",
                )
            )
        return issues

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
        self.settings = with_defaults(self.spec, config)
        self.api_url = str(self.settings.get("api_url") or "").rstrip("/")
        self.objects = list(self.settings.get("objects") or DEFAULT_OBJECTS)

    def _engine(self, streams: list[dict[str, Any]]) -> HttpApiSource:
        return HttpApiSource(
            _definition(self.api_url, streams),
            allow_private_networks=self.allow_private_networks,
            credentials=self.credentials,
        )

    def describe(self, object_name: str) -> dict[str, str]:
        """The object's readable fields and their column types (one request)."""
        engine = self._engine([{"name": object_name, "path": f"sobjects/{object_name}/describe"}])
        try:
            response = engine.requester.get(
                f"{self.api_url}/sobjects/{object_name}/describe", {}, stream=object_name
            )
        except StreamNotFoundError as error:
            error.message = (
                f"Salesforce has no object '{object_name}' this user can read (check the "
                "connector's objects and the user's permissions)."
            )
            error.args = (error.message,)
            raise
        finally:
            engine.requester.close()
        body = response.json()
        if not isinstance(body, dict) or not body.get("queryable", True):
            raise ConnectorError(
                f"Salesforce's object '{object_name}' cannot be queried.", stream=object_name
            )
        columns = column_types(body)
        if "Id" not in columns or CURSOR not in columns:
            raise ConnectorError(
                f"Salesforce's object '{object_name}' has no Id or {CURSOR}: it cannot be synced.",
                stream=object_name,
            )
        return columns

    def _stream_definition(
        self, object_name: str, columns: dict[str, str], boundary: str | None
    ) -> dict[str, Any]:
        start = soql_instant(self.settings.get("start_date"))
        return {
            "name": object_name,
            "path": "query",
            "params": {"q": soql(object_name, list(columns), boundary or start)},
            "record_selector": "records",
            "primary_key": "Id",
            "paginator": {"type": "next_url", "next_url_path": "nextRecordsUrl"},
            "incremental": {"cursor_field": CURSOR},
            "columns": columns,
        }

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """One request: the first object's describe."""
        try:
            self.describe(self.objects[0])
        except ConnectorError as error:
            return CheckResult.failure(error)
        return CheckResult.success(f"Described '{self.objects[0]}'.")

    def discover(self) -> list[Stream]:
        """Each object with the columns its describe lists."""
        definitions = [
            self._stream_definition(name, self.describe(name), None) for name in self.objects
        ]
        return self._engine(definitions).declared_streams()

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        name = request.stream.name
        columns = {c.name: c.type for c in request.stream.columns}
        if not columns:  # a stream saved before its columns were known
            columns = self.describe(name)
        boundary = None
        state = request.state or {}
        if request.sync_mode == "incremental":
            boundary = soql_instant(state.get("cursor")) if state.get("cursor") else None
        engine = self._engine([self._stream_definition(name, columns, boundary)])
        return engine.read(request)
