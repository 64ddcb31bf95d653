"""The HTTP API source: streams of a JSON REST API, described by configuration (see
docs/http_api.md for the definition format).

Reading walks the stream's pages (and, for a child stream, its parent's records, each parent
record's child pages in turn). A page is addressed by a position that is plain JSON:

* a stream without parent: `{"page": <token>}` (the paginator's token of that page);
* a child stream: `{"parent": <position of the parent's page>, "index": <record in that
  page>, "page": <token of the child's page>}`;
* a stream with a `result_window`: `{"page": <token>, "from": <the query's lower bound>,
  "skip": [<keys delivered at it>], "read": <the query's records before this page>}`.

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
  Records without a cursor value (null, missing, NaN or an infinity) are not read
  incrementally. Cursor values are ranked by kind, numbers (numeric text included) before
  instants (ISO 8601) before text, then compared within their kind (`_compare`): a total
  order, the same for the filter and for the highest value. At most MAX_TIE_KEYS keys are
  kept: ties past it are delivered again by the next read (at least once at the boundary)
  instead of the state growing without bound. A resumed read whose stored position the API
  refuses (400/404/410/422 to its first request: an expired cursor or next URL) starts again
  from the boundary.
* incremental by a delta link (`delta_link_path`, an API that hands out a link to the changes
  since a read, as Microsoft Graph does): `{"delta_link": URL}`, see `_read_delta`.

A child request answered 404 means its parent was deleted after it was listed: no records for
that parent (logged), unless every child request of a read from the start answers 404 (then
the path is wrong, and the 404 fails the stream).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
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
from connectors.framework.credentials import TokenProvider
from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField, with_defaults
from connectors.sources.http_api.auth import USER_AUTHS
from connectors.sources.http_api.bodies import fill_body, request_value
from connectors.sources.http_api.definition import (
    PARENT_PLACEHOLDER,
    Definition,
    StreamDef,
    definition_issues,
    parse_definition,
)
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.paginators import END, following_url
from connectors.sources.http_api.records import (
    infer_columns,
    select_records,
    to_record_batch,
    value_at,
)
from connectors.sources.http_api.requester import (
    DEFAULT_MAX_REQUEST_SECONDS,
    DEFAULT_MAX_RESPONSE_BYTES,
    Requester,
    RetryPolicy,
    body_error_code,
    http_status,
)
from connectors.sources.http_api.urls import url_origin

logger = logging.getLogger(__name__)

# Records sampled per stream to infer its columns, and pages read at most to find some.
SAMPLE_RECORDS = 500
SAMPLE_PAGES = 3
# Records held before a batch is emitted (whatever the runner's batch size): API records are
# Python objects until converted, so a batch stays small.
MAX_BUFFERED_RECORDS = 10_000
# Keys kept in an incremental state for the records sharing the boundary's cursor value. Past
# it, the others are not remembered: delivered again by the next read (at least once at the
# boundary, which a merge load absorbs) rather than making the state grow without bound.
MAX_TIE_KEYS = 10_000
# Statuses of the first request of a resumed read that mean its stored page position (a
# cursor, a next URL) has expired: the read starts again from the boundary.
_EXPIRED_POSITION_STATUSES = frozenset({400, 404, 410, 422})


# Whether a page's records end a chain of requests (those after them are not wanted).
_Stop = Callable[[list[dict[str, Any]]], bool]
# Handed the body and the response of a chain's last page.
_OnEnd = Callable[[Any, requests.Response], None]


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
                choices=USER_AUTHS,
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
                "rate_limit",
                "json",
                "The API's rate-limit headers to honour: {remaining_header, reset_header, "
                "reset_format, statuses, max_wait_seconds, requests_per_second} (see "
                "docs/http_api.md).",
            ),
            SpecField(
                "body_errors",
                "json",
                "Errors the API answers with a 2xx status, read from the body: "
                "{success_path, success_value, code_path, auth_codes, retry_codes} (see "
                "docs/http_api.md).",
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
                "max_request_seconds",
                "number",
                "Longest time one request may take in all, its body included (retried like a "
                "timeout when exceeded).",
                default=DEFAULT_MAX_REQUEST_SECONDS,
                minimum=0.1,
                maximum=3600,
            ),
            SpecField(
                "max_response_bytes",
                "integer",
                "Largest response body read (after decompression); a larger one fails the stream.",
                default=DEFAULT_MAX_RESPONSE_BYTES,
                minimum=1024,
                maximum=2**31,
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
    # The class of the requesters it sends with (one that reports each request, in the custom
    # connectors' sandbox).
    requester_class: type[Requester] = Requester

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return definition_issues(with_defaults(cls.spec, config))

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
        self._definition: Definition | None = None
        self._requester: Requester | None = None
        # One for every requester of this source: an OAuth2 token any of them fetches is
        # masked in every message.
        self.masker = Masker.from_config(self.settings)

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
            return CheckResult.failure(self.masker.masked(error))
        except Exception as exc:  # check() reports, whatever happens
            error = ConnectorError(f"Unexpected error: {exc}")
            return CheckResult.failure(self.masker.masked(error))
        count = len(page.records)
        return CheckResult.success(
            f"Read {count} record{'s' if count != 1 else ''} from stream '{stream.name}'."
        )

    def discover(self) -> list[Stream]:
        """Each stream with columns inferred from its first records (a child stream's from
        the first parent records' children)."""
        try:
            return [self._discover(stream) for stream in self.definition.streams]
        except ConnectorError as error:
            self.masker.masked(error)  # in place: the type, the stream and the cause stay
            raise

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        try:
            yield from self._read(request)
        except ConnectorError as error:
            self.masker.masked(error)  # in place: the type, the stream and the cause stay
            raise

    def _read(self, request: ReadRequest) -> Iterator[Batch]:
        stream = self.definition.stream(request.stream.name)
        if stream is None:
            raise StreamNotFoundError(
                f"The definition has no stream '{request.stream.name}' any more.",
                stream=request.stream.name,
            )
        state = request.state or {}
        if (
            request.sync_mode == "incremental"
            and stream.incremental is not None
            and stream.incremental.delta_link_path is not None
        ):
            yield from self._read_delta(stream, request, state)
            return
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
        stop = boundary.passed if boundary is not None and boundary.descending else None
        pages = self._pages(stream, position, extra, stop=stop)
        if boundary is not None and position is not None:
            pages = self._resumed(stream, pages, boundary)
        for page in pages:
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
        return self.requester_class(
            settings,
            allow_private_networks=self.allow_private_networks,
            # A connection test answers quickly: one retry at most.
            retry=RetryPolicy(
                max_retries=min(retries, 1) if check else retries,
                backoff_base_seconds=float(settings.get("backoff_base_seconds", 1.0)),
                max_backoff_seconds=float(settings.get("max_backoff_seconds", 60)),
            ),
            timeout=float(settings.get("request_timeout_seconds", 30)),
            masker=self.masker,
            max_request_seconds=float(
                settings.get("max_request_seconds", DEFAULT_MAX_REQUEST_SECONDS)
            ),
            max_response_bytes=int(settings.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)),
            credentials=self.credentials,
        )

    def _resumed(
        self,
        stream: StreamDef,
        pages: Iterator[_Page],
        boundary: _Boundary,
    ) -> Iterator[_Page]:
        """The pages of an incremental read resumed from a stored position; when the API
        refuses that position before any page came (a cursor or next URL that expired since,
        typically in a later sync), the read starts again from the boundary instead. Records
        the interrupted read delivered come again then (a merge absorbs them; an append loads
        them twice)."""
        try:
            first = next(pages)
        except StopIteration:
            return
        except ConnectorError as error:
            status = http_status(error)
            if status not in _EXPIRED_POSITION_STATUSES:
                raise
            logger.warning(
                "http_api.resume_refused stream=%s status=%s: reading again from the boundary",
                stream.name,
                status,
            )
            boundary.restart()
            stop = boundary.passed if boundary.descending else None
            yield from self._pages(stream, None, boundary.request_params(), stop=stop)
            return
        yield first
        yield from pages

    def _read_delta(
        self, stream: StreamDef, request: ReadRequest, state: dict[str, Any]
    ) -> Iterator[Batch]:
        """An incremental read in delta-link mode (docs/http_api.md, "Delta links"): the
        state is `{"delta_link": URL}`, the link the API gave at the end of the last complete
        round; the next round starts there and receives the changes since. While a round is
        read its batches carry `position` (the next page's URL) beside the link it started
        from, so a resumed attempt goes on from the page reached; the link moves only with
        the round's last batch."""
        incremental = stream.incremental
        assert incremental is not None and incremental.delta_link_path is not None
        full = replace(
            stream,
            path=incremental.delta_path or stream.path,
            params=stream.params if incremental.delta_params is None else incremental.delta_params,
        )
        link = state.get("delta_link")
        if not self._on_site(link):
            link = None
        starts: list[dict[str, Any] | None] = []
        # A position of this mode's own (a full refresh's would lead to no delta link).
        position = state.get("position") if "delta_link" in state else None
        if isinstance(position, dict) and self._on_site(position.get("page")):
            starts.append(position)
        if link is not None:
            starts.append({"page": link})
        starts.append(None)
        ends: list[tuple[Any, requests.Response]] = []
        limit = max(1, min(request.batch_rows, MAX_BUFFERED_RECORDS))
        columns = request.stream.columns
        buffered: list[dict[str, Any]] = []
        nbytes = 0
        round_link = link
        for index, start in enumerate(starts):
            pages = self._pages(full, start, {}, on_end=lambda b, r: ends.append((b, r)))
            try:
                first = next(pages)
            except StopIteration:
                break
            except ConnectorError as error:
                if start is None or http_status(error) not in _EXPIRED_POSITION_STATUSES:
                    raise
                # A link the API no longer honours (Graph: 410 syncStateNotFound): the next
                # start, in the end a full round. Deletions meanwhile are not seen then.
                logger.warning(
                    "http_api.delta_link_refused stream=%s status=%s: starting over from %s",
                    stream.name,
                    http_status(error),
                    "the stored link" if starts[index + 1] is not None else "a full round",
                )
                if starts[index + 1] is None:
                    round_link = None
                continue
            for page in itertools.chain([first], pages):
                buffered.extend(page.records)
                nbytes += page.nbytes
                if page.after is not None and len(buffered) >= limit:
                    progress = {"delta_link": round_link, "position": page.after}
                    batch = to_record_batch(buffered, columns, stream=stream.name)
                    yield Batch(batch, progress, bytes_read=nbytes)
                    buffered, nbytes = [], 0
            break
        if not ends:
            raise ConnectorError(
                f"Stream '{stream.name}': the delta round ended without a last page.",
                stream=stream.name,
            )
        body, response = ends[-1]
        following = following_url(
            value_at(body, incremental.delta_link_path),
            response,
            base_url=self.definition.base_url,
            stream=stream.name,
            masker=self.masker,
        )
        if following is END:
            raise ConnectorError(
                f"Stream '{stream.name}': the last page of the delta round has no delta link "
                f"at {'.'.join(str(p) for p in incremental.delta_link_path)}.",
                stream=stream.name,
            )
        batch = to_record_batch(buffered, columns, stream=stream.name)
        yield Batch(batch, {"delta_link": following}, bytes_read=nbytes)

    def _on_site(self, url: Any) -> bool:
        """Whether a stored URL (a delta link, a round's next page) is on base_url's site: a
        state kept from before base_url changed is not followed (credentials go with every
        request); its round starts over instead."""
        if not isinstance(url, str) or not url:
            return False
        try:
            return url_origin(url) == url_origin(self.definition.base_url)
        except ValueError:
            return False

    def declared_streams(self) -> list[Stream]:
        """Each stream with the columns its definition declares (with its key, cursor and
        parent value), without a request: the discovery of a source whose definition declares
        every column it loads (fields no column names are not loaded)."""
        try:
            return [self._stream(stream, []) for stream in self.definition.streams]
        except ConnectorError as error:
            self.masker.masked(error)
            raise

    def _discover(self, stream: StreamDef) -> Stream:
        sample: list[dict[str, Any]] = []
        for count, page in enumerate(self._pages(stream, None, {}), start=1):
            sample.extend(page.records[: SAMPLE_RECORDS - len(sample)])
            if sample or count >= SAMPLE_PAGES or len(sample) >= SAMPLE_RECORDS:
                break
        return self._stream(stream, sample)

    def _stream(self, stream: StreamDef, sample: list[dict[str, Any]]) -> Stream:
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
        stop: _Stop | None = None,
        on_end: _OnEnd | None = None,
    ) -> Iterator[_Page]:
        """The stream's pages from `position` (None: the first page) on. `stop` ends a chain
        of requests after a page it is true of (the records after it are not wanted);
        `on_end` is handed the last page's body and response (a stream without parent)."""
        requester = requester or self.requester
        if stream.result_window is not None:
            yield from self._window_pages(stream, position, extra_params, requester, stop)
            return
        if stream.parent is None:
            token = position["page"] if position else stream.paginator.first_token()
            for records, this, following, nbytes in self._requests(
                stream, stream.path, token, extra_params, requester, stop, on_end
            ):
                after = None if following is END else {"page": following}
                yield _Page(records, {"page": this}, after, nbytes)
            return
        yield from self._child_pages(stream, position, extra_params, requester, stop)

    def _child_pages(
        self,
        stream: StreamDef,
        position: dict[str, Any] | None,
        extra_params: dict[str, Any],
        requester: Requester,
        stop: _Stop | None,
    ) -> Iterator[_Page]:
        parent = stream.parent
        assert parent is not None  # only called for child streams
        parent_stream = self.definition.stream(parent.stream)
        if parent_stream is None:  # refused when the definition was saved
            raise ConfigError(f"Stream '{stream.name}' names no defined parent.")
        first = stream.paginator.first_token()
        start_index = position["index"] if position else 0
        start_token = position["page"] if position else first
        parent_position = position["parent"] if position else None
        # Child requests answered (a page at least) and refused with 404, in a read from the
        # start: when every one is a 404 the path is wrong, not every parent deleted.
        found, from_start = 0, position is None
        # The parent's own records are read whole (no incremental filter): every parent's
        # children are asked for.
        for parent_page in self._pages(parent_stream, parent_position, {}, requester=requester):
            records = parent_page.records
            for index in range(start_index, len(records)):
                record = records[index]
                path = _child_path(stream, record)
                value = value_at(record, _dotted(parent.field))
                here = {"parent": parent_page.position, "index": index}
                if index + 1 < len(records):
                    following_parent: dict[str, Any] | None = {
                        **here,
                        "index": index + 1,
                        "page": first,
                    }
                elif parent_page.after is not None:
                    following_parent = {"parent": parent_page.after, "index": 0, "page": first}
                else:
                    following_parent = None
                params = {**_child_params(stream, record), **extra_params}
                chain = self._requests(stream, path, start_token, params, requester, stop)
                # A stored page of a resumed read is not a deleted parent: its 404 is for
                # read() to judge (an expired position).
                resumed = start_token != first
                start_token = first
                try:
                    for child, this, following, nbytes in chain:
                        if parent.include_as:
                            for record in child:
                                record[parent.include_as] = value
                        if following is not END:
                            after: dict[str, Any] | None = {**here, "page": following}
                        else:
                            after = following_parent
                        if this == first:
                            found += 1
                        yield _Page(child, {**here, "page": this}, after, nbytes)
                        resumed = False
                except StreamNotFoundError as error:
                    if resumed:
                        raise
                    # The parent was deleted between its listing and this request: it has no
                    # children (any more). Its other pages are not asked for.
                    logger.info(
                        "http_api.child_not_found stream=%s path=%s: %s",
                        stream.name,
                        path[:120],
                        error.message,
                    )
                    if following_parent is None:
                        if from_start and found == 0:
                            error.message = (
                                f"{error.message} (every parent's {stream.name} answered 404: "
                                "check the stream's path)"
                            )
                            error.args = (error.message,)
                            raise
                        # The stream's last page is gone with the parent: end it all the same,
                        # so that the read completes and its state says so.
                        yield _Page([], {**here, "page": first}, None, 0)
            start_index = 0

    def _window_pages(
        self,
        stream: StreamDef,
        position: dict[str, Any] | None,
        extra_params: dict[str, Any],
        requester: Requester,
        stop: _Stop | None,
    ) -> Iterator[_Page]:
        """The pages of a stream whose API serves at most `result_window` records for one
        query (HubSpot's search answers 400 past 10,000). Records come oldest first by the
        cursor; when the next page would pass the window, a new query starts at the last
        record's cursor value (`request_param`, inclusive), and the records of that value
        already delivered are dropped by their keys (the boundary's tie rule). Positions say
        which query a page belongs to: `from` (its lower bound; none: the read's own),
        `skip` (the keys delivered at `from`) and `read` (the query's records before it)."""
        incremental = stream.incremental
        window = stream.result_window
        assert incremental is not None and incremental.request_param and window  # definition
        param, field = incremental.request_param, incremental.cursor_field
        temporal = stream.columns.get(field) in _TEMPORAL_TYPES
        page_size = getattr(stream.paginator, "page_size", None) or 1
        first = stream.paginator.first_token()
        position = position or {}
        start: Any = position.get("from")
        skip: set[str] = set(position.get("skip") or ())
        read = int(position.get("read") or 0)
        token = position.get("page", first)
        while True:
            params = dict(extra_params)
            if start is not None:
                params[param] = _sent_value(stream, start)
            elif param not in params and incremental.start_value is not None:
                # A full-refresh read: the window moves from the definition's start.
                params[param] = _sent_value(stream, incremental.start_value)
            last, last_keys = start, set(skip)
            moved = False
            chain = self._requests(stream, stream.path, token, params, requester, stop)
            for records, this, following, nbytes in chain:
                here = {"page": this, "from": start, "skip": sorted(skip), "read": read}
                read += len(records)
                fresh = []
                for record in records:
                    value = record.get(field)
                    key = _record_key(record, stream.primary_key)
                    if value is None or not _finite(value):
                        fresh.append(record)  # not read incrementally (the boundary drops it)
                        continue
                    order = 1 if last is None else _compare(value, last, temporal)
                    if order < 0:
                        raise ConnectorError(
                            f"Stream '{stream.name}': the API did not list records oldest "
                            f"first by '{field}' ({json.dumps(value, default=str)[:40]} after "
                            f"{json.dumps(last, default=str)[:40]}), which its result_window "
                            "needs: sort the query by the cursor, ascending.",
                            stream=stream.name,
                        )
                    if order == 0 and start is not None and last == start and key in skip:
                        continue  # delivered by the query before this one
                    fresh.append(record)
                    if order > 0:
                        last, last_keys = value, {key}
                    elif len(last_keys) < MAX_TIE_KEYS:
                        last_keys.add(key)
                after: dict[str, Any] | None
                if following is not END and read + page_size > window:
                    if last is None or (start is not None and _compare(last, start, temporal) == 0):
                        raise ConnectorError(
                            f"Stream '{stream.name}': more than {window} records (the API's "
                            f"result window) share '{field}' = "
                            f"{json.dumps(last, default=str)[:40]}: they cannot be read past "
                            "the window.",
                            stream=stream.name,
                        )
                    moved = True
                    after = {"page": first, "from": last, "skip": sorted(last_keys), "read": 0}
                elif following is END:
                    after = None
                else:
                    after = {"page": following, "from": start, "skip": sorted(skip), "read": read}
                yield _Page(fresh, here, after, nbytes)
                if moved:
                    break
            chain.close()
            if not moved:
                return
            logger.info(
                "http_api.window_moved stream=%s from=%s after=%s records",
                stream.name,
                last,
                read,
            )
            start, skip, read, token = last, last_keys, 0, first

    def _requests(
        self,
        stream: StreamDef,
        path: str,
        token: Any,
        extra_params: dict[str, Any],
        requester: Requester,
        stop: _Stop | None = None,
        on_end: _OnEnd | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Any, Any, int]]:
        """(records, this page's token, the next page's token or END, bytes) per page.

        One chain of requests (a stream's pages, or one parent record's children) never asks
        for a page twice: a token naming a page already requested ends it with an error, since
        paging would never end; so does a page past the paginator's max_pages (a last, empty
        answer past it is not counted). For offset and page-number paging, where the API
        decides what a page number means, a non-empty body byte for byte the previous page's
        is checked too: page 2 repeating page 1 is an error (the API ignores the paginator's
        parameter), a page number past the last answered with the last page again (an API
        clamping the page number) ends the paging.
        """
        base_url = self.definition.base_url
        url = f"{base_url}/{path.lstrip('/')}"
        params = {**stream.params, **extra_params}
        paginator = stream.paginator
        masker = requester.masker
        if isinstance(token, str) and paginator.token_is_url:
            token = masker.without_secrets(token)  # a state stored before secrets were left out
        requested: set[int] = set()
        previous_body: bytes | None = None
        distinct = 0  # pages of the chain with distinct non-empty bodies
        while True:
            page_url, page_params = paginator.request_for(token, url, params)
            body: Any = None
            if stream.method == "POST":  # the parameters the body names go there (bodies.py)
                body, page_params = fill_body(stream.request_body or {}, page_params)
            key = requester.request_key(page_url, page_params)
            if body is not None:
                key = f"{key} {json.dumps(body, sort_keys=True, default=str)}"
            # A chain may be a million pages long: 64 bits of a hash per request (a false
            # repeat has odds of about 1 in 10^7 for such a chain).
            key_digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            if key_digest in requested:
                raise ConnectorError(
                    f"Stream '{stream.name}': {stream.method} {requester.mask(key)} not sent: "
                    "the API named a page already read as the next one (paging would never "
                    "end).",
                    stream=stream.name,
                )
            requested.add(key_digest)
            past_max = len(requested) > paginator.max_pages
            try:
                response = requester.request(
                    stream.method, page_url, page_params, stream=stream.name, json_body=body
                )
            except ConnectorError as error:
                if (
                    http_status(error) not in stream.ignore_statuses
                    and body_error_code(error) not in stream.ignore_error_codes
                ):
                    raise
                # The stream's definition says this answer means "nothing here" (a repository
                # with issues turned off): no records, and no page after.
                logger.info(
                    "http_api.status_ignored stream=%s status=%s code=%s",
                    stream.name,
                    http_status(error),
                    body_error_code(error),
                )
                yield [], token, END, 0
                return
            where = f"Stream '{stream.name}': {stream.method} {requester.mask(response.url)}"
            content = response.content
            body = _json_body(content, response, where, stream.name)
            records = select_records(body, stream.record_selector, where=where, stream=stream.name)
            if stream.add_fields:
                for record in records:
                    for name, nested in stream.add_fields.items():
                        record[name] = value_at(record, nested)
            if stream.incremental is not None and stream.incremental.delta_link_path is not None:
                # A delta round's cursor column: when the page was read (the API gives none).
                read_at = datetime.now(UTC).isoformat()
                for record in records:
                    record[stream.incremental.cursor_field] = read_at
            if paginator.numbered and records:
                digest = hashlib.sha256(content).digest()
                if digest == previous_body:
                    if paginator.clamps_past_last and distinct >= 2:
                        # The API serves its last page again for any number past it.
                        yield [], token, END, len(content)
                        return
                    raise ConnectorError(
                        f"{where} answered the same body as the page before: the API ignores "
                        f"the '{paginator.kind}' paginator's parameters (paging would never "
                        "end).",
                        stream=stream.name,
                    )
                previous_body = digest
                distinct += 1
            following = paginator.next_token(
                token,
                response,
                body,
                records,
                base_url=base_url,
                stream=stream.name,
                masker=masker,
            )
            if following is not END and stop is not None and stop(records):
                following = END
            if past_max and (records or following is not END):
                raise ConnectorError(
                    f"{where}: page {len(requested)} is past the paginator's max_pages "
                    f"({paginator.max_pages}): raise max_pages if the API has that many "
                    "(paging would never end otherwise).",
                    stream=stream.name,
                )
            if following is END and on_end is not None:
                on_end(body, response)
            yield records, token, following, len(content)
            if following is END:
                return
            token = following


def _dotted(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def _child_path(stream: StreamDef, record: dict[str, Any]) -> str:
    """The child stream's path for one parent record: each {parent.<field>} replaced by the
    record's value there, URL-encoded as one path segment."""
    parent = stream.parent
    assert parent is not None  # only called for child streams

    def value(match: re.Match[str]) -> str:
        found = value_at(record, _dotted(match.group(1)))
        if found is None or isinstance(found, dict | list):
            raise ConnectorError(
                f"Stream '{stream.name}': a record of '{parent.stream}' has no usable "
                f"'{match.group(1)}' ({json.dumps(found)[:60]}).",
                stream=stream.name,
            )
        return quote(_text(found), safe="")

    return PARENT_PLACEHOLDER.sub(value, stream.path)


def _child_params(stream: StreamDef, record: dict[str, Any]) -> dict[str, Any]:
    """The child stream's params that name the parent record's fields ({parent.<field>}),
    filled in with its values for one parent record (as text; the query encodes them)."""
    parent = stream.parent
    assert parent is not None  # only called for child streams
    filled: dict[str, Any] = {}
    for name, text in stream.params.items():
        if not isinstance(text, str) or "{parent." not in text:
            continue

        def value(match: re.Match[str]) -> str:
            found = value_at(record, _dotted(match.group(1)))
            if found is None or isinstance(found, dict | list):
                raise ConnectorError(
                    f"Stream '{stream.name}': a record of '{parent.stream}' has no usable "
                    f"'{match.group(1)}' ({json.dumps(found)[:60]}).",
                    stream=stream.name,
                )
            return _text(found)

        filled[name] = PARENT_PLACEHOLDER.sub(value, text)
    return filled


def _json_body(content: bytes, response: requests.Response, where: str, stream: str) -> Any:
    """The parsed body, decoded from the bytes read (UTF-8, -16 or -32, as JSON is) without a
    decoded copy kept; a body in another declared charset is decoded as it says."""
    try:
        try:
            return json.loads(content)
        except UnicodeDecodeError:
            return response.json()
    except RecursionError as exc:
        raise ConnectorError(
            f"{where}: the response is JSON nested too deeply to read.", stream=stream
        ) from exc
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no content type")
        raise ConnectorError(f"{where}: the response is not JSON ({kind}).", stream=stream) from exc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the incremental boundary ------------------------------------------------------------------
_TEMPORAL_TYPES = frozenset({"date", "timestamp", "timestamptz"})


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
        *,
        temporal: bool = False,
    ) -> None:
        self.stream = stream
        self.cursor_field = cursor_field
        self.primary_key = primary_key
        self.temporal = temporal
        self.descending = bool(
            stream.incremental and stream.incremental.records_order == "descending"
        )
        self.cursor, self.tie_keys = cursor, tie_keys
        self.highest, self.highest_keys = highest, _capped(highest_keys)
        # The state's key lists, sorted once per change rather than for every batch.
        self._sorted_ties = sorted(tie_keys)
        self._sorted_highest: list[str] | None = None

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
        # Declared as a date or time (in the definition, or in the stream the request names):
        # values compare as instants even in forms the strict ISO 8601 check would not take.
        declared = {
            stream.columns.get(cursor_field),
            *(c.type for c in request.stream.columns if c.name == cursor_field),
        }
        temporal = bool(declared & _TEMPORAL_TYPES)
        return cls(
            stream,
            cursor_field,
            primary_key,
            cursor,
            tie_keys,
            highest,
            highest_keys,
            temporal=temporal,
        )

    def restart(self) -> None:
        """Forget the interrupted read's progress: read again from the boundary."""
        self.highest, self.highest_keys = self.cursor, _capped(self.tie_keys)
        self._sorted_highest = None

    def request_params(self) -> dict[str, Any]:
        param = self.stream.incremental.request_param if self.stream.incremental else None
        if param is None or self.cursor is None:
            return {}
        return {param: _sent_value(self.stream, self.cursor)}

    def passed(self, records: list[dict[str, Any]]) -> bool:
        """Whether a record of `records` is older than the boundary: with records listed
        newest first, none after it is new."""
        if self.cursor is None:
            return False
        return any(
            value is not None and _finite(value) and _compare(value, self.cursor, self.temporal) < 0
            for value in (record.get(self.cursor_field) for record in records)
        )

    def keep(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for record in records:
            value = record.get(self.cursor_field)
            if value is None or not _finite(value):
                continue  # no cursor value (NaN and infinities count as none)
            key: str | None = None
            if self.cursor is not None:
                order = _compare(value, self.cursor, self.temporal)
                if order < 0:
                    continue
                if order == 0:
                    key = self._key(record)
                    if key in self.tie_keys:
                        continue
            kept.append(record)
            order = 1 if self.highest is None else _compare(value, self.highest, self.temporal)
            if order > 0:
                self.highest, self.highest_keys = value, {key or self._key(record)}
                self._sorted_highest = None
            elif order == 0 and len(self.highest_keys) < MAX_TIE_KEYS:
                # Past the cap a tie is not remembered: the next read delivers it again.
                self.highest_keys.add(key or self._key(record))
                self._sorted_highest = None
        return kept

    def state(self, after: dict[str, Any] | None) -> dict[str, Any]:
        if self._sorted_highest is None:
            self._sorted_highest = sorted(self.highest_keys)
        if after is None:  # the read is complete: the boundary moves
            return {"cursor": self.highest, "tie_keys": self._sorted_highest}
        return {
            "cursor": self.cursor,
            "tie_keys": self._sorted_ties,
            "position": after,
            "max": self.highest,
            "max_keys": self._sorted_highest,
        }

    def _key(self, record: dict[str, Any]) -> str:
        if self.primary_key:
            return json.dumps([record.get(k) for k in self.primary_key], sort_keys=True)
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _record_key(record: dict[str, Any], primary_key: tuple[str, ...]) -> str:
    """A record's key for the tie rule: its primary key, or a hash of the whole record."""
    if primary_key:
        return json.dumps([record.get(k) for k in primary_key], sort_keys=True)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sent_value(stream: StreamDef, value: Any) -> Any:
    """A boundary value as the stream's `request_param` sends it (`request_format`)."""
    incremental = stream.incremental
    request_format = incremental.request_format if incremental else "as_is"
    sent = request_value(value, request_format)
    if sent is None:
        raise ConnectorError(
            f"Stream '{stream.name}': the cursor value {json.dumps(value, default=str)[:60]} is "
            f"not a date or time, which request_format '{request_format}' sends as a Unix time.",
            stream=stream.name,
        )
    return sent


def _capped(keys: set[str]) -> set[str]:
    """At most MAX_TIE_KEYS of `keys` (a state written before the cap may hold more)."""
    if len(keys) <= MAX_TIE_KEYS:
        return set(keys)
    return set(sorted(keys)[:MAX_TIE_KEYS])


# --- cursor order --------------------------------------------------------------------------------
# Kinds of cursor values, ranked: every number is before every instant, every instant before
# every text, so that the order is total whatever the mix (within a kind: by value).
_NUMBER, _INSTANT, _TEXT = 0, 1, 2


def _compare(a: Any, b: Any, temporal: bool = False) -> int:
    """Cursor order, a total order: values are ranked by kind first (numbers, then instants,
    then text), then compared within their kind. Numbers are JSON numbers and numeric text
    ("100" is after "99"), compared exactly; instants are ISO 8601 dates or date-times (or any
    form `datetime.fromisoformat` reads, when the column is declared a date or timestamp),
    offsets applied ("...:00Z" is before "...:00.250Z"); anything else is text (other JSON
    values as their JSON text)."""
    x, y = _cursor_key(a, temporal), _cursor_key(b, temporal)
    return (x > y) - (x < y)


def _cursor_key(value: Any, temporal: bool) -> tuple[int, Any]:
    number = _as_number(value)
    if number is not None:
        return _NUMBER, number
    moment = _instant(value) if temporal else _strict_instant(value)
    if moment is not None:
        return _INSTANT, moment
    return _TEXT, _plain(value)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _finite(value: Any) -> bool:
    """False for NaN and ±Infinity (JSON extensions Python's parser accepts): not a cursor
    value (PostgreSQL's jsonb, where states are kept, refuses them)."""
    return not isinstance(value, float) or math.isfinite(value)


_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def as_decimal(value: float | int) -> Decimal:
    """A JSON number as the Decimal it is written as: a float by its shortest repr (0.1 is
    Decimal("0.1"), not the binary value Decimal(0.1) is)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _as_number(value: Any) -> Decimal | None:
    """A JSON number or numeric text as an exact Decimal (floats would round large integers);
    None for anything else (booleans, NaN and infinities included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return as_decimal(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _numeric_text(value)
    return None


@lru_cache(maxsize=1024)
def _numeric_text(text: str) -> Decimal | None:
    stripped = text.strip()
    return Decimal(stripped) if _NUMERIC_TEXT.fullmatch(stripped) else None


# An ISO 8601 date or date-time: the time optional, its fraction any length, its offset "Z",
# "+hh:mm", "+hhmm" or "+hh". A time without an offset is taken as UTC.
_ISO_8601 = re.compile(
    r"(\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
# The whole seconds since 0001-01-01T00:00:00Z and the fraction (exact). Counted in seconds
# rather than as a UTC datetime: an offset applied near the calendar's limits
# ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00") leaves datetime's range, not an
# integer's.
Instant = tuple[int, Decimal]


def _strict_instant(value: Any) -> Instant | None:
    return _parse_instant(value, False) if isinstance(value, str) else None


def _instant(value: Any) -> Instant | None:
    return _parse_instant(value, True) if isinstance(value, str) else None


@lru_cache(maxsize=1024)
def _parse_instant(text: str, lenient: bool) -> Instant | None:
    match = _ISO_8601.fullmatch(text.strip())
    try:
        if match is not None:
            day, time, fraction, offset = match.groups()
            iso = day if time is None else f"{day}T{time}"
            if offset:
                iso += "+00:00" if offset in ("Z", "z") else offset
            moment = datetime.fromisoformat(iso)
            part = Decimal(f"0.{fraction}") if fraction else Decimal(0)
        elif lenient:
            moment = datetime.fromisoformat(text.strip())
            part = Decimal(moment.microsecond) / 1_000_000
        else:
            return None
        shift = moment.utcoffset() or timedelta(0)
    except (ValueError, OverflowError):  # a month 13, a day 32, an offset of 24 hours
        return None
    seconds = (
        moment.toordinal() * 86_400
        + moment.hour * 3_600
        + moment.minute * 60
        + moment.second
        - (shift.days * 86_400 + shift.seconds)
    )
    # Sub-second offsets (Python reads "+01:00:00.5") move the fraction too.
    part += Decimal(shift.microseconds) / -1_000_000 if shift.microseconds else 0
    return seconds + int(part // 1), part % 1
