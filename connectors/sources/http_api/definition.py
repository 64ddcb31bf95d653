"""The declarative definition of an HTTP API source: parsed from the connector's config into
typed, immutable parts, and checked so that a bad definition is a 422 naming the bad part
(`loc` ["body", "config", "streams", 0, "paginator", "type"]) when the connector is saved.

Parsing never raises on a definition that passed `definition_issues`; the source parses the
saved config again before it connects, and reports a definition saved by an older version that
no longer passes as a ConfigError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connectors.framework.base import ConfigError
from connectors.framework.spec import ConfigIssue
from connectors.sources.http_api.auth import AUTHS
from connectors.sources.http_api.bodies import (
    METHODS,
    REQUEST_FORMATS,
    body_placeholders,
    request_value,
)
from connectors.sources.http_api.body_errors import body_error_issues
from connectors.sources.http_api.paginators import (
    DEFAULT_MAX_PAGES,
    PAGINATORS,
    NoPagination,
    Paginator,
)
from connectors.sources.http_api.ratelimit import rate_limit_issues
from connectors.sources.http_api.records import Path
from connectors.sources.http_api.urls import is_http_url

# Column types a stream may declare (each value is coerced to it, see records.py).
DECLARABLE_TYPES = (
    "string",
    "json",
    "boolean",
    "smallint",
    "integer",
    "bigint",
    "real",
    "double",
    "date",
    "timestamp",
    "timestamptz",
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# A placeholder of a child stream's path: a field of the parent record, or a dotted path into
# it ({parent.id}, {parent.owner.login}).
PARENT_PLACEHOLDER = re.compile(r"\{parent\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\}")
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")


@dataclass(frozen=True)
class ParentDef:
    stream: str
    field: str = "id"  # the parent's value `include_as` copies (a dotted path: nested)
    include_as: str | None = None  # copy the parent's value into each child record


# "ascending": oldest first by the cursor (what a `result_window` needs to move on).
RECORDS_ORDERS = ("any", "descending", "ascending")


@dataclass(frozen=True)
class IncrementalDef:
    cursor_field: str
    request_param: str | None = None
    start_value: Any = None
    # "descending": the API lists records newest first by the cursor (and has no parameter to
    # ask for the newer ones): a page holding a record older than the boundary is the last
    # one read. "any": every page is read, records older than the boundary dropped.
    records_order: str = "any"
    # How the boundary is sent with `request_param` (bodies.py): as stored, or an instant as
    # Unix seconds or milliseconds (an API filtering by epoch milliseconds, as HubSpot's search).
    request_format: str = "as_is"
    # Delta-link mode (an API that hands out a link to "the changes since this read", as
    # Microsoft Graph's delta queries do): where that link is in the body of a round's last
    # page. The state is that link; `cursor_field` is then a column the engine fills with the
    # time each page was read. `path` and `params` (default: the stream's) start a full round.
    delta_link_path: Path | None = None
    delta_path: str | None = None
    delta_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class StreamDef:
    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    record_selector: Path = ()
    primary_key: tuple[str, ...] = ()
    paginator: Paginator = field(default_factory=NoPagination)
    parent: ParentDef | None = None
    incremental: IncrementalDef | None = None
    columns: dict[str, str] = field(default_factory=dict)
    # Top-level fields set from nested values of each record (a cursor nested in an object).
    add_fields: dict[str, Path] = field(default_factory=dict)
    # Error statuses that mean "no records here" for this stream's requests (a repository
    # with issues turned off answers 410; an empty one, 409 to its commits).
    ignore_statuses: frozenset[int] = frozenset()
    # Error codes of the definition's `body_errors` that mean the same (Slack's
    # `not_in_channel`: the app was not invited to that channel).
    ignore_error_codes: frozenset[str] = frozenset()
    # POST with a JSON body whose placeholders the request's parameters fill (bodies.py).
    method: str = "GET"
    request_body: dict[str, Any] | None = None
    # The most records the API serves for one query (HubSpot's search: 10,000): reaching it,
    # the read starts a new query from the last record's cursor value (source.py).
    result_window: int | None = None


@dataclass(frozen=True)
class Definition:
    base_url: str
    streams: tuple[StreamDef, ...]

    def stream(self, name: str) -> StreamDef | None:
        return next((s for s in self.streams if s.name == name), None)


# --- the allowed keys of each part ----------------------------------------------------------
_STREAM_KEYS = {
    "name",
    "path",
    "params",
    "record_selector",
    "primary_key",
    "paginator",
    "parent",
    "incremental",
    "columns",
    "add_fields",
    "ignore_statuses",
    "ignore_error_codes",
    "method",
    "request_body",
    "result_window",
}
_PARENT_KEYS = {"stream", "field", "include_as"}
_INCREMENTAL_KEYS = {
    "cursor_field",
    "request_param",
    "start_value",
    "records_order",
    "request_format",
}
# The keys of the delta-link mode (see IncrementalDef).
_DELTA_KEYS = {"delta_link_path", "path", "params"}


class _Issues:
    def __init__(self) -> None:
        self.items: list[ConfigIssue] = []

    def add(self, loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> None:
        self.items.append(ConfigIssue(str(loc[0]), msg, kind, tuple(loc[1:])))


def definition_issues(config: dict[str, Any]) -> list[ConfigIssue]:
    """Everything wrong with the definition, each issue located."""
    _, issues = _parse(config)
    return issues


def parse_definition(config: dict[str, Any]) -> Definition:
    """The definition; a ConfigError naming the first problem if it has any."""
    definition, issues = _parse(config)
    if issues or definition is None:
        first = issues[0]
        where = ".".join(str(part) for part in (first.field, *first.path))
        raise ConfigError(f"The HTTP API definition is not valid: {where}: {first.msg}")
    return definition


def _parse(config: dict[str, Any]) -> tuple[Definition | None, list[ConfigIssue]]:
    issues = _Issues()
    base_url = config.get("base_url")
    if not isinstance(base_url, str) or not is_http_url(base_url):
        issues.add(("base_url",), "Give an absolute http:// or https:// URL.", "url_scheme")
    elif urlsplit(base_url).query or urlsplit(base_url).fragment:
        issues.add(("base_url",), "Put query parameters in a stream's params.", "url_parsing")
    _check_auth(config, issues)
    _check_headers(config.get("headers"), issues)
    for loc, msg, kind in rate_limit_issues(config.get("rate_limit")):
        issues.add(("rate_limit", *loc), msg, kind)
    for loc, msg, kind in body_error_issues(config.get("body_errors")):
        issues.add(("body_errors", *loc), msg, kind)

    raw_streams = config.get("streams")
    if not isinstance(raw_streams, list) or not raw_streams:
        issues.add(("streams",), "Give a list of one or more stream definitions.", "list_type")
        return None, issues.items
    streams: list[StreamDef] = []
    # Each parsed stream's own index in the list: with a name defined twice, an issue of the
    # second definition must point at it, not at the first.
    indexes: list[int] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_streams):
        stream = _parse_stream(raw, ("streams", index), config, issues)
        if stream is None:
            continue
        if stream.name in seen:
            issues.add(("streams", index, "name"), f"Stream '{stream.name}' is defined twice.")
            continue
        seen.add(stream.name)
        streams.append(stream)
        indexes.append(index)
    _check_parents(streams, indexes, raw_streams, issues)
    if issues.items:
        return None, issues.items
    return Definition(base_url=str(base_url).rstrip("/"), streams=tuple(streams)), []


def _check_auth(config: dict[str, Any], issues: _Issues) -> None:
    auth = AUTHS.get(config.get("auth_type") or "none")
    if auth is None:  # refused by the spec's choices
        return
    for name, msg, kind in auth.config_issues(config):
        issues.add((name,), msg, kind)


def _check_headers(headers: Any, issues: _Issues) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        issues.add(("headers",), "Give an object of header names to text values.", "dict_type")
        return
    for name, value in headers.items():
        if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
            issues.add(("headers", name), "Not a valid header name.")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            issues.add(("headers", name), "A header value is one line of text.", "string_type")


def _parse_path(value: Any) -> Path | None:
    """A dotted string ("data.items") or a list of keys and indexes; None when neither."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.split(".") if part != "")
    if isinstance(value, list) and all(
        isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in value
    ):
        return tuple(value)
    return None


def _unknown_keys(raw: dict[str, Any], allowed: set[str], loc: tuple, issues: _Issues) -> None:
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            issues.add((*loc, key), f"Unknown key; known keys: {known}.", "extra_forbidden")


def _text(raw: dict[str, Any], key: str, loc: tuple, issues: _Issues, *, required: bool) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            issues.add((*loc, key), "Field required", "missing")
        return None
    if not isinstance(value, str) or not value:
        issues.add((*loc, key), "Give a non-empty string.", "string_type")
        return None
    return value


def _positive_int(raw: dict[str, Any], key: str, loc: tuple, issues: _Issues) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        issues.add((*loc, key), "Give a whole number, 0 or more.", "int_type")
        return None
    return value


def _parse_stream(
    raw: Any, loc: tuple, config: dict[str, Any], issues: _Issues
) -> StreamDef | None:
    if not isinstance(raw, dict):
        issues.add(loc, "A stream definition is an object.", "dict_type")
        return None
    before = len(issues.items)
    _unknown_keys(raw, _STREAM_KEYS, loc, issues)
    name = _text(raw, "name", loc, issues, required=True)
    if name is not None and not _STREAM_NAME.match(name):
        issues.add(
            (*loc, "name"),
            "Use letters, digits, '_', '.' and '-' (at most 63), not starting with '.' or '-'.",
            "string_pattern_mismatch",
        )
    path = _text(raw, "path", loc, issues, required=True)
    if path is not None and (urlsplit(path).scheme or path.startswith("//")):
        issues.add((*loc, "path"), "A path is relative to base_url, not a full URL.")

    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(
        v is None or isinstance(v, str | int | float | bool) for v in params.values()
    ):
        issues.add((*loc, "params"), "Give an object of names to text or number values.")
        params = {}

    selector = _parse_path(raw.get("record_selector"))
    if selector is None:
        issues.add(
            (*loc, "record_selector"),
            'Give a dotted path ("data.items") or a list of keys and indexes.',
        )

    primary_key = raw.get("primary_key") or []
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    if not isinstance(primary_key, list) or not all(isinstance(k, str) and k for k in primary_key):
        issues.add((*loc, "primary_key"), "Give a field name or a list of field names.")
        primary_key = []

    paginator = _parse_paginator(raw.get("paginator"), (*loc, "paginator"), config, issues)
    parent = _parse_parent(raw.get("parent"), (*loc, "parent"), issues)
    incremental = _parse_incremental(raw.get("incremental"), (*loc, "incremental"), issues)
    columns = _parse_columns(raw.get("columns"), (*loc, "columns"), issues)
    add_fields = _parse_add_fields(raw.get("add_fields"), (*loc, "add_fields"), issues)
    ignore_statuses = _parse_statuses(raw.get("ignore_statuses"), (*loc, "ignore_statuses"), issues)
    ignore_codes = raw.get("ignore_error_codes") or []
    if not isinstance(ignore_codes, list) or not all(
        isinstance(c, str) and c for c in ignore_codes
    ):
        issues.add((*loc, "ignore_error_codes"), "Give a list of error codes.", "list_type")
        ignore_codes = []
    elif ignore_codes and not isinstance(config.get("body_errors"), dict):
        issues.add(
            (*loc, "ignore_error_codes"),
            "Error codes come from the definition's body_errors rule: define it first.",
        )
    if path is not None:
        _check_placeholders(path, params, parent, (*loc, "path"), issues)
    method, body = _parse_body(raw, params, paginator, incremental, loc, issues)
    window = _parse_window(raw, parent, paginator, incremental, loc, issues)
    if incremental is not None and incremental.delta_link_path is not None:
        if parent is not None:
            issues.add((*loc, "incremental"), "A delta_link_path stream has no parent.")
        if paginator is not None and not paginator.token_is_url:
            issues.add(
                (*loc, "paginator", "type"),
                "A delta_link_path round pages by URL: use next_url or link_header.",
            )
    if len(issues.items) > before or name is None or path is None:
        return None
    return StreamDef(
        name=name,
        path=path,
        params=dict(params),
        record_selector=selector or (),
        primary_key=tuple(primary_key),
        paginator=paginator or NoPagination(),
        parent=parent,
        incremental=incremental,
        columns=columns,
        add_fields=add_fields,
        ignore_statuses=ignore_statuses,
        ignore_error_codes=frozenset(ignore_codes),
        method=method,
        request_body=body,
        result_window=window,
    )


def _parse_add_fields(raw: Any, loc: tuple, issues: _Issues) -> dict[str, Path]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        issues.add(loc, "Give an object of field names to dotted paths.", "dict_type")
        return {}
    fields: dict[str, Path] = {}
    for name, raw_path in raw.items():
        path = _parse_path(raw_path)
        if not name or path is None or path == ():
            issues.add((*loc, name), "Give a dotted path or a list of keys and indexes.")
        else:
            fields[name] = path
    return fields


def _parse_body(
    raw: dict[str, Any],
    params: dict[str, Any],
    paginator: Paginator | None,
    incremental: IncrementalDef | None,
    loc: tuple,
    issues: _Issues,
) -> tuple[str, dict[str, Any] | None]:
    """The stream's method and body template (bodies.py): a POST's placeholders name the
    request's parameters, each checked so that a typo is a 422, not a member left out."""
    method = raw.get("method", "GET")
    if method not in METHODS:
        issues.add((*loc, "method"), f"Input should be one of: {', '.join(METHODS)}", "enum")
        return "GET", None
    body = raw.get("request_body")
    if body is None:
        return method, {} if method == "POST" else None
    if method != "POST":
        issues.add((*loc, "request_body"), "A request body is sent with method POST.")
        return method, None
    if not isinstance(body, dict):
        issues.add((*loc, "request_body"), "Give a JSON object.", "dict_type")
        return method, None
    known = set(params)
    for attribute in ("size_param", "cursor_param", "limit_param", "offset_param", "page_param"):
        name = getattr(paginator, attribute, None)
        if isinstance(name, str):
            known.add(name)
    if incremental is not None and incremental.request_param:
        known.add(incremental.request_param)
    for name in sorted(body_placeholders(body) - known):
        issues.add(
            (*loc, "request_body"),
            f"Unknown placeholder {{{name}}}; the request's parameters are: "
            f"{', '.join(sorted(known)) or 'none'}.",
        )
    return method, dict(body)


def _parse_window(
    raw: dict[str, Any],
    parent: ParentDef | None,
    paginator: Paginator | None,
    incremental: IncrementalDef | None,
    loc: tuple,
    issues: _Issues,
) -> int | None:
    """`result_window`: the most records one query serves. Moving past it takes a query that
    starts at the last record's cursor value, so the records must come oldest first and the
    boundary must be a request parameter."""
    window = raw.get("result_window")
    if window is None:
        return None
    here = (*loc, "result_window")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        issues.add(here, "Give a whole number of records, 1 or more.", "int_type")
        return None
    if parent is not None:
        issues.add(here, "A child stream cannot have a result window.")
    if paginator is None or isinstance(paginator, NoPagination):
        issues.add(here, "A result window bounds the paging: define a paginator.")
    if (
        incremental is None
        or not incremental.request_param
        or incremental.records_order != "ascending"
    ):
        issues.add(
            here,
            "A result window needs an incremental cursor sent with request_param, and the "
            "records sorted by it oldest first (records_order: ascending).",
        )
    return window


def _parse_statuses(raw: Any, loc: tuple, issues: _Issues) -> frozenset[int]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in raw
    ):
        issues.add(loc, "Give a list of HTTP error statuses (400-599).", "list_type")
        return frozenset()
    if 401 in raw or 429 in raw:
        # A refusal of the credentials or a rate limit read as "nothing here" would load
        # nothing, silently.
        issues.add(loc, "401 and 429 cannot be ignored.", "value_error")
        return frozenset()
    return frozenset(raw)


def _parse_paginator(
    raw: Any, loc: tuple, config: dict[str, Any], issues: _Issues
) -> Paginator | None:
    if raw is None:
        return NoPagination()
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        issues.add(loc, "A paginator is an object with a type.", "dict_type")
        return None
    kind = raw.get("type", "none")
    paginator = PAGINATORS.get(kind) if isinstance(kind, str) else None
    if paginator is None:
        issues.add((*loc, "type"), f"Input should be one of: {', '.join(PAGINATORS)}", "enum")
        return None
    _unknown_keys(raw, set(paginator.keys), loc, issues)
    for key, msg, issue_type in paginator.config_issues(raw):
        issues.add((*loc, key), msg, issue_type)
    names = {}
    for key in ("limit_param", "offset_param", "page_param", "cursor_param", "rel"):
        if key in raw:
            names[key] = _text(raw, key, loc, issues, required=True)
    size_param = raw.get("size_param", paginator.default_size_param)
    if size_param is not None and (not isinstance(size_param, str) or not size_param):
        issues.add((*loc, "size_param"), "Give a parameter name, or null to send no page size.")
    page_size = _positive_int(raw, "page_size", loc, issues)
    if page_size == 0:
        issues.add((*loc, "page_size"), "A page holds at least one record.", "greater_than")
    start_page = _positive_int(raw, "start_page", loc, issues)
    max_pages = _positive_int(raw, "max_pages", loc, issues)
    if max_pages == 0:
        issues.add((*loc, "max_pages"), "Read one page at least.", "greater_than")
    paths = {}
    for key in ("cursor_path", "next_url_path"):
        if raw.get(key) not in (None, "", []):
            path = _parse_path(raw[key])
            if path is None:
                issues.add((*loc, key), "Give a dotted path or a list of keys and indexes.")
            else:
                paths[key] = path
    default_size = config.get("page_size") if isinstance(config.get("page_size"), int) else 100
    return paginator.from_values(
        {
            "page_size": page_size or default_size,
            "size_param": size_param if isinstance(size_param, str) else None,
            "start_page": start_page if start_page is not None else 1,
            "max_pages": max_pages or DEFAULT_MAX_PAGES,
            **{k: v for k, v in names.items() if v is not None},
            **paths,
        }
    )


def _parse_parent(raw: Any, loc: tuple, issues: _Issues) -> ParentDef | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        issues.add(loc, "A parent is an object: {stream, field}.", "dict_type")
        return None
    _unknown_keys(raw, _PARENT_KEYS, loc, issues)
    stream = _text(raw, "stream", loc, issues, required=True)
    parent_field = _text(raw, "field", loc, issues, required=False) or "id"
    include_as = _text(raw, "include_as", loc, issues, required=False)
    return ParentDef(stream, parent_field, include_as) if stream else None


def _parse_incremental(raw: Any, loc: tuple, issues: _Issues) -> IncrementalDef | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        issues.add(loc, "Incremental is an object: {cursor_field, request_param}.", "dict_type")
        return None
    _unknown_keys(raw, _INCREMENTAL_KEYS | _DELTA_KEYS, loc, issues)
    cursor_field = _text(raw, "cursor_field", loc, issues, required=True)
    request_param = _text(raw, "request_param", loc, issues, required=False)
    start_value = raw.get("start_value")
    if start_value is not None and (
        isinstance(start_value, bool) or not isinstance(start_value, str | int | float)
    ):
        issues.add((*loc, "start_value"), "Give a text or number value.")
    records_order = raw.get("records_order", "any")
    if records_order not in RECORDS_ORDERS:
        issues.add(
            (*loc, "records_order"), f"Input should be one of: {', '.join(RECORDS_ORDERS)}", "enum"
        )
        records_order = "any"
    request_format = raw.get("request_format", "as_is")
    if request_format not in REQUEST_FORMATS:
        issues.add(
            (*loc, "request_format"),
            f"Input should be one of: {', '.join(REQUEST_FORMATS)}",
            "enum",
        )
        request_format = "as_is"
    elif start_value is not None and request_value(start_value, request_format) is None:
        issues.add(
            (*loc, "start_value"),
            f"Give an ISO 8601 date or date-time: request_format '{request_format}' sends it "
            "as a Unix time.",
            "datetime_parsing",
        )
    if cursor_field is None:
        return None
    if raw.get("delta_link_path") is None:
        for key in ("path", "params"):
            if key in raw:
                issues.add((*loc, key), "Only a delta_link_path round takes its own path.")
        return IncrementalDef(
            cursor_field, request_param, start_value, records_order, request_format
        )
    return _parse_delta(raw, loc, issues, cursor_field)


def _parse_delta(
    raw: dict[str, Any], loc: tuple, issues: _Issues, cursor_field: str
) -> IncrementalDef:
    """The delta-link mode of `incremental`: the state is a link the API gave, so a request
    parameter, a start value or an order of records would mean nothing there."""
    link_path = _parse_path(raw.get("delta_link_path"))
    if not link_path:
        issues.add((*loc, "delta_link_path"), "Give a dotted path or a list of keys.")
    for key in ("request_param", "start_value", "records_order", "request_format"):
        if key in raw:
            issues.add((*loc, key), "A delta_link_path round asks the API's link, not a value.")
    path = raw.get("path")
    if path is not None and (
        not isinstance(path, str)
        or not path
        or urlsplit(path).scheme
        or path.startswith("//")
        or "{" in path
    ):
        issues.add((*loc, "path"), "Give a path relative to base_url, without placeholders.")
        path = None
    params = raw.get("params")
    if params is not None and (
        not isinstance(params, dict)
        or not all(isinstance(v, str | int | float | bool) for v in params.values())
        or any("{" in v for v in params.values() if isinstance(v, str))
    ):
        issues.add((*loc, "params"), "Give an object of names to text or number values.")
        params = None
    return IncrementalDef(
        cursor_field,
        delta_link_path=link_path or None,
        delta_path=path,
        delta_params=dict(params) if params is not None else None,
    )


def _parse_columns(raw: Any, loc: tuple, issues: _Issues) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        issues.add(loc, "Give an object of field names to column types.", "dict_type")
        return {}
    for name, kind in raw.items():
        if kind not in DECLARABLE_TYPES:
            issues.add(
                (*loc, name), f"Input should be one of: {', '.join(DECLARABLE_TYPES)}", "enum"
            )
    return dict(raw)


def _check_placeholders(
    path: str, params: dict[str, Any], parent: ParentDef | None, loc: tuple, issues: _Issues
) -> None:
    """A child stream names its parent's fields in its path or in the text of its params
    (`{parent.id}`); nothing else is a placeholder, and only a child stream has them."""
    texts = {"path": path} | {
        name: value for name, value in params.items() if isinstance(value, str)
    }
    found_any = False
    for where, text in texts.items():
        here = loc if where == "path" else (*loc[:-1], "params", where)
        names = _PLACEHOLDER.findall(text)
        if not names:
            continue
        if parent is None:
            issues.add(here, "Placeholders like {parent.id} need a parent stream.")
            continue
        valid = PARENT_PLACEHOLDER.findall(text)
        found_any = found_any or bool(valid)
        for name in names:
            if f"{{{name}}}" not in {f"{{parent.{v}}}" for v in valid}:
                issues.add(
                    here,
                    f"Unknown placeholder {{{name}}}; use {{parent.{parent.field}}} (or another "
                    "field of the parent record, {parent.<field>}, a dotted path for a nested "
                    "one).",
                )
        if text.count("{") != len(names) or text.count("}") != len(names):
            issues.add(here, "Unbalanced braces.")
    if parent is not None and not found_any:
        issues.add(
            loc,
            f"A child stream's path (or a param) holds {{parent.{parent.field}}}.",
            "missing",
        )


def _check_parents(
    streams: list[StreamDef], indexes: list[int], raw: list[Any], issues: _Issues
) -> None:
    by_name = {s.name: s for s in streams}
    # Names of every definition, parsed or not: a parent whose own definition has an issue is
    # reported there, not again as missing here.
    names = {
        item.get("name")
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    for stream, index in zip(streams, indexes, strict=True):
        if stream.parent is None:
            continue
        loc = ("streams", index, "parent", "stream")
        if stream.parent.stream not in names:
            issues.add(loc, f"No stream named '{stream.parent.stream}' is defined.")
            continue
        # Follow the chain of parents: it must end at a stream without one.
        seen: set[str] = {stream.name}
        current: str | None = stream.parent.stream
        while current is not None:
            if current in seen:
                issues.add(loc, "Parents form a cycle.")
                break
            seen.add(current)
            ancestor = by_name.get(current)
            current = ancestor.parent.stream if ancestor and ancestor.parent else None
