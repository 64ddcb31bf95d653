"""The HTTP API source: streams of a JSON REST API, described by configuration (see
docs/http_api.md for the definition format).

Reading walks the stream's pages (and, for a child stream, its parent's records, each parent
record's child pages in turn). A page is addressed by a position that is plain JSON:

* a stream without parent: `{"page": <token>}` (the paginator's token of that page);
* a child stream: `{"parent": <position of the parent's page>, "index": <record in that
  page>, "page": <token of the child's page>}`.

State (what each batch carries):

* full refresh: `{"position": <the next page to read>}`, null once the stream is read. A
  retried attempt of the same sync resumes there. That is exact for cursor and next-URL
  paging; offset and page-number paging are only as stable as the API's ordering (rows
  inserted or deleted meanwhile shift the pages).
* incremental: `{"cursor": C, "tie_keys": [...]}` once a read completes: C is the highest
  cursor value delivered, tie_keys the keys of the records delivered with cursor == C. The next
  read asks the API for records from C on (`request_param` = C, which the API must treat as
  inclusive, ">="), drops records below C and records at C whose key is in tie_keys, and
  delivers the rest. So a record that arrives later with the boundary's value is not lost,
  and one already delivered is not loaded twice. While a read is in progress its batches'
  state also holds `position`, `max` and `max_keys` (the highest cursor so far and its keys):
  the boundary moves only when the read completes, because an API need not return records in
  cursor order, and a resumed attempt goes on with the same request from the page reached.
  A record's key is its primary key, or a hash of the whole record for a stream without one.
  Records without a cursor value are not read incrementally.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import requests

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
from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField, with_defaults
from connectors.sources.http_api import paginators
from connectors.sources.http_api.definition import (
    AUTH_TYPES,
    Definition,
    StreamDef,
    definition_issues,
    parse_definition,
)
from connectors.sources.http_api.records import infer_columns, select_records, to_record_batch
from connectors.sources.http_api.requester import Requester, RetryPolicy

# Records sampled per stream to infer its columns, and pages read at most to find some.
SAMPLE_RECORDS = 500
SAMPLE_PAGES = 3
# Records held before a batch is emitted (whatever the runner's batch size): API records are
# Python objects until converted, so a batch stays small.
MAX_BUFFERED_RECORDS = 10_000


@dataclass
class _Page:
    records: list[dict[str, Any]]
    position: dict[str, Any]  # where this page is (to read it again)
    after: dict[str, Any] | None  # where the next page is; None: the stream is read
    nbytes: int


class HttpApiSource(Source):
    spec = ConnectorSpec(
        type="http_api",
        display_name="HTTP API (declarative)",
        description="Any JSON REST API, described by configuration: base URL, auth, streams "
        "with their paths, record selectors, pagination and incremental cursors.",
        category="api",
        auth_method="api_key",
        supports_incremental=True,
        fields=(
            SpecField("base_url", "string", "The API's base URL (http or https).", required=True),
            SpecField(
                "auth_type",
                "enum",
                "How requests authenticate.",
                default="none",
                choices=AUTH_TYPES,
            ),
            SpecField("api_key_name", "string", "api_key: the header or query parameter name."),
            SpecField(
                "api_key_in",
                "enum",
                "api_key: sent as a header or a query parameter.",
                default="header",
                choices=("header", "query"),
            ),
            SpecField("api_key", "secret", "api_key: the key."),
            SpecField("bearer_token", "secret", "bearer: the token (Authorization: Bearer)."),
            SpecField("username", "string", "basic: the user name."),
            SpecField("password", "secret", "basic: the password."),
            SpecField("token_url", "string", "oauth2_client_credentials: the token endpoint."),
            SpecField("client_id", "string", "oauth2_client_credentials: the client id."),
            SpecField("client_secret", "secret", "oauth2_client_credentials: the client secret."),
            SpecField("scopes", "string", "oauth2_client_credentials: space-separated scopes."),
            SpecField(
                "client_auth_method",
                "enum",
                "oauth2_client_credentials: client id and secret sent with HTTP basic auth or "
                "in the form body.",
                default="basic",
                choices=("basic", "body"),
            ),
            SpecField(
                "headers",
                "json",
                "Extra request headers, an object of names to values (not encrypted: put "
                "secrets in api_key or bearer_token).",
            ),
            SpecField(
                "streams", "json", "The stream definitions (see docs/http_api.md).", required=True
            ),
            SpecField(
                "page_size",
                "integer",
                "Default page size of paginators that send one.",
                default=100,
                minimum=1,
                maximum=100_000,
            ),
            SpecField(
                "request_timeout_seconds",
                "number",
                "Seconds to wait for a connection and for each read of a response.",
                default=30,
                minimum=0.1,
                maximum=300,
            ),
            SpecField(
                "max_retries",
                "integer",
                "Retries of a request that failed with 429, 408, 5xx, a timeout or a "
                "connection error.",
                default=5,
                minimum=0,
                maximum=20,
            ),
            SpecField(
                "backoff_base_seconds",
                "number",
                "First retry delay; each retry doubles it (with jitter).",
                default=1.0,
                minimum=0,
                maximum=60,
            ),
            SpecField(
                "max_backoff_seconds",
                "number",
                "Longest wait between retries, a Retry-After header included.",
                default=60,
                minimum=0,
                maximum=600,
            ),
        ),
    )
    url_fields = ("base_url", "token_url")

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return definition_issues(with_defaults(cls.spec, config))

    def __init__(
        self,
        config: dict[str, Any],
        *,
        hostaddr: str | None = None,
        allow_private_networks: bool = False,
    ) -> None:
        super().__init__(config, hostaddr=hostaddr, allow_private_networks=allow_private_networks)
        self.settings = with_defaults(self.spec, config)
        self._definition: Definition | None = None
        self._requester: Requester | None = None

    # --- contract --------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """One request: the first page of the first stream without a parent (after fetching
        an OAuth2 token, when that is the auth). Every failure is reported, never raised."""
        try:
            definition = self.definition
            stream = next((s for s in definition.streams if s.parent is None), None)
            if stream is None:
                raise ConfigError("Every stream has a parent: one at least must have none.")
            requester = self._new_requester(check=True)
            try:
                page = next(self._pages(stream, None, {}, requester=requester))
            finally:
                requester.close()
        except ConnectorError as error:
            return CheckResult.failure(error)
        except Exception as exc:  # check() reports, whatever happens
            return CheckResult.failure(ConnectorError(f"Unexpected error: {exc}"))
        count = len(page.records)
        return CheckResult.success(
            f"Read {count} record{'s' if count != 1 else ''} from stream '{stream.name}'."
        )

    def discover(self) -> list[Stream]:
        """Each stream with columns inferred from its first records (a child stream's from
        the first parent records' children)."""
        return [self._discover(stream) for stream in self.definition.streams]

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        stream = self.definition.stream(request.stream.name)
        if stream is None:
            raise StreamNotFoundError(
                f"The definition has no stream '{request.stream.name}' any more.",
                stream=request.stream.name,
            )
        state = request.state or {}
        if request.sync_mode == "incremental":
            boundary = _Boundary.start(stream, request, state)
            extra = boundary.request_params()
        else:
            boundary, extra = None, {}
        if "position" in state and state["position"] is None:
            return  # an earlier attempt read the whole stream
        position = state.get("position")
        limit = max(1, min(request.batch_rows, MAX_BUFFERED_RECORDS))
        columns = request.stream.columns
        buffered: list[dict[str, Any]] = []
        nbytes = 0
        for page in self._pages(stream, position, extra):
            kept = boundary.keep(page.records) if boundary else page.records
            buffered.extend(kept)
            nbytes += page.nbytes
            if page.after is not None and len(buffered) >= limit:
                yield self._batch(buffered, columns, stream, nbytes, boundary, page.after)
                buffered, nbytes = [], 0
        # Always a last batch, even empty: its state is the one the stream completes with.
        yield self._batch(buffered, columns, stream, nbytes, boundary, None)

    # --- parts -----------------------------------------------------------------------------
    @property
    def definition(self) -> Definition:
        if self._definition is None:
            self._definition = parse_definition(self.settings)
        return self._definition

    @property
    def requester(self) -> Requester:
        if self._requester is None:
            self._requester = self._new_requester()
        return self._requester

    def _new_requester(self, *, check: bool = False) -> Requester:
        settings = self.settings
        retries = int(settings.get("max_retries", 5))
        return Requester(
            settings,
            allow_private_networks=self.allow_private_networks,
            # A connection test answers quickly: one retry at most.
            retry=RetryPolicy(
                max_retries=min(retries, 1) if check else retries,
                backoff_base_seconds=float(settings.get("backoff_base_seconds", 1.0)),
                max_backoff_seconds=float(settings.get("max_backoff_seconds", 60)),
            ),
            timeout=float(settings.get("request_timeout_seconds", 30)),
        )

    def _discover(self, stream: StreamDef) -> Stream:
        sample: list[dict[str, Any]] = []
        for count, page in enumerate(self._pages(stream, None, {}), start=1):
            sample.extend(page.records[: SAMPLE_RECORDS - len(sample)])
            if sample or count >= SAMPLE_PAGES or len(sample) >= SAMPLE_RECORDS:
                break
        cursor = stream.incremental.cursor_field if stream.incremental else None
        required = [*stream.primary_key, *([cursor] if cursor else [])]
        if stream.parent and stream.parent.include_as:
            required.append(stream.parent.include_as)
        columns = infer_columns(sample, stream.columns, required)
        return Stream(
            name=stream.name,
            columns=tuple(columns),
            primary_key=stream.primary_key,
            cursor_candidates=(cursor,) if cursor else (),
            default_cursor=cursor,
            supports_incremental=cursor is not None,
            kind="collection",
        )

    def _batch(
        self,
        records: list[dict[str, Any]],
        columns: tuple,
        stream: StreamDef,
        nbytes: int,
        boundary: _Boundary | None,
        after: dict[str, Any] | None,
    ) -> Batch:
        batch: pa.RecordBatch = to_record_batch(records, columns, stream=stream.name)
        state = boundary.state(after) if boundary else {"position": after}
        return Batch(batch, state, bytes_read=nbytes)

    # --- paging ----------------------------------------------------------------------------
    def _pages(
        self,
        stream: StreamDef,
        position: dict[str, Any] | None,
        extra_params: dict[str, Any],
        *,
        requester: Requester | None = None,
    ) -> Iterator[_Page]:
        """The stream's pages from `position` (None: the first page) on."""
        requester = requester or self.requester
        if stream.parent is None:
            token = position["page"] if position else paginators.first_token(stream.paginator)
            for records, this, following, nbytes in self._requests(
                stream, stream.path, token, extra_params, requester
            ):
                after = None if following is paginators.END else {"page": following}
                yield _Page(records, {"page": this}, after, nbytes)
            return
        yield from self._child_pages(stream, position, extra_params, requester)

    def _child_pages(
        self,
        stream: StreamDef,
        position: dict[str, Any] | None,
        extra_params: dict[str, Any],
        requester: Requester,
    ) -> Iterator[_Page]:
        parent = stream.parent
        assert parent is not None  # only called for child streams
        parent_stream = self.definition.stream(parent.stream)
        if parent_stream is None:  # refused when the definition was saved
            raise ConfigError(f"Stream '{stream.name}' names no defined parent.")
        first = paginators.first_token(stream.paginator)
        start_index = position["index"] if position else 0
        start_token = position["page"] if position else first
        parent_position = position["parent"] if position else None
        # The parent's own records are read whole (no incremental filter): every parent's
        # children are asked for.
        for parent_page in self._pages(parent_stream, parent_position, {}, requester=requester):
            records = parent_page.records
            for index in range(start_index, len(records)):
                value = records[index].get(parent.field)
                if value is None or isinstance(value, dict | list):
                    raise ConnectorError(
                        f"Stream '{stream.name}': a record of '{parent.stream}' has no usable "
                        f"'{parent.field}' ({json.dumps(value)[:60]}).",
                        stream=stream.name,
                    )
                path = stream.path.replace(
                    f"{{parent.{parent.field}}}", quote(_text(value), safe="")
                )
                for child, this, following, nbytes in self._requests(
                    stream, path, start_token, extra_params, requester
                ):
                    if parent.include_as:
                        for record in child:
                            record[parent.include_as] = value
                    here = {"parent": parent_page.position, "index": index}
                    if following is not paginators.END:
                        after: dict[str, Any] | None = {**here, "page": following}
                    elif index + 1 < len(records):
                        after = {**here, "index": index + 1, "page": first}
                    elif parent_page.after is not None:
                        after = {"parent": parent_page.after, "index": 0, "page": first}
                    else:
                        after = None
                    yield _Page(child, {**here, "page": this}, after, nbytes)
                start_token = first
            start_index = 0

    def _requests(
        self,
        stream: StreamDef,
        path: str,
        token: Any,
        extra_params: dict[str, Any],
        requester: Requester,
    ) -> Iterator[tuple[list[dict[str, Any]], Any, Any, int]]:
        """(records, this page's token, the next page's token or END, bytes) per page."""
        base_url = self.definition.base_url
        url = f"{base_url}/{path.lstrip('/')}"
        params = {**stream.params, **extra_params}
        while True:
            page_url, page_params = paginators.request_for(stream.paginator, token, url, params)
            response = requester.get(page_url, page_params, stream=stream.name)
            where = f"Stream '{stream.name}': GET {requester.mask(response.url)}"
            body = _json_body(response, where, stream.name)
            records = select_records(body, stream.record_selector, where=where, stream=stream.name)
            following = paginators.next_token(
                stream.paginator,
                token,
                response,
                body,
                records,
                base_url=base_url,
                stream=stream.name,
            )
            yield records, token, following, len(response.content)
            if following is paginators.END:
                return
            token = following


def _json_body(response: requests.Response, where: str, stream: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no content type")
        raise ConnectorError(f"{where}: the response is not JSON ({kind}).", stream=stream) from exc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the incremental boundary ------------------------------------------------------------------
class _Boundary:
    """Which records an incremental read delivers, and the state it reaches (see the module
    docstring for the rule)."""

    def __init__(
        self,
        stream: StreamDef,
        cursor_field: str,
        primary_key: tuple[str, ...],
        cursor: Any,
        tie_keys: set[str],
        highest: Any,
        highest_keys: set[str],
    ) -> None:
        self.stream = stream
        self.cursor_field = cursor_field
        self.primary_key = primary_key
        self.cursor, self.tie_keys = cursor, tie_keys
        self.highest, self.highest_keys = highest, highest_keys

    @classmethod
    def start(cls, stream: StreamDef, request: ReadRequest, state: dict[str, Any]) -> _Boundary:
        incremental = stream.incremental
        if incremental is None:
            raise ConfigError(
                f"Stream '{stream.name}' defines no incremental cursor.", stream=stream.name
            )
        cursor_field = request.cursor_field or incremental.cursor_field
        if cursor_field != incremental.cursor_field:
            raise ConfigError(
                f"Stream '{stream.name}' is read incrementally by "
                f"'{incremental.cursor_field}', not '{cursor_field}'.",
                stream=stream.name,
            )
        primary_key = tuple(request.primary_key or stream.primary_key)
        cursor = state.get("cursor", incremental.start_value)
        tie_keys = set(state.get("tie_keys") or ())
        if "position" in state:  # an attempt that stopped mid-read: go on with its request
            highest, highest_keys = state.get("max"), set(state.get("max_keys") or ())
        else:
            highest, highest_keys = cursor, set(tie_keys)
        return cls(stream, cursor_field, primary_key, cursor, tie_keys, highest, highest_keys)

    def request_params(self) -> dict[str, Any]:
        param = self.stream.incremental.request_param if self.stream.incremental else None
        if param is None or self.cursor is None:
            return {}
        return {param: self.cursor}

    def keep(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for record in records:
            value = record.get(self.cursor_field)
            if value is None:
                continue
            if self.cursor is not None:
                order = _compare(value, self.cursor)
                if order < 0 or (order == 0 and self._key(record) in self.tie_keys):
                    continue
            kept.append(record)
            order = 1 if self.highest is None else _compare(value, self.highest)
            if order > 0:
                self.highest, self.highest_keys = value, {self._key(record)}
            elif order == 0:
                self.highest_keys.add(self._key(record))
        return kept

    def state(self, after: dict[str, Any] | None) -> dict[str, Any]:
        if after is None:  # the read is complete: the boundary moves
            return {"cursor": self.highest, "tie_keys": sorted(self.highest_keys)}
        return {
            "cursor": self.cursor,
            "tie_keys": sorted(self.tie_keys),
            "position": after,
            "max": self.highest,
            "max_keys": sorted(self.highest_keys),
        }

    def _key(self, record: dict[str, Any]) -> str:
        if self.primary_key:
            return json.dumps([record.get(k) for k in self.primary_key], sort_keys=True)
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _compare(a: Any, b: Any) -> int:
    """Cursor order: numerically when either side is a number (numeric text included),
    otherwise as text (ISO 8601 timestamps in one format and zone sort as text)."""
    if _is_number(a) or _is_number(b):
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            x, y = str(a), str(b)  # type: ignore[assignment]
    else:
        x, y = str(a), str(b)  # type: ignore[assignment]
    return (x > y) - (x < y)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
