"""A bounded live sample of an API: the discovered streams' first pages (or, with no streams,
the base URL, the conventional places of an OpenAPI document and the links of an API index)
read through the http_api engine's requester, so that the outbound network policy, the time
and size limits and the masking of secrets are the engine's own.

What a sample settles: where the records are in a body (the record selector), how the API
pages (a Link header, a next URL or a cursor in the body, or offset / page parameters that
a second request confirms), the columns (records.py `infer_columns`), the primary key and the
cursor candidates. At most `max_requests` requests are sent (never more than
MAX_REQUESTS_CAP, an OAuth2 token request included), none retried, all within one deadline;
each is recorded with its URL masked.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from connectors.custom.discovery import heuristics as h
from connectors.custom.discovery.openapi import DocumentError, check_document, discover_from_openapi
from connectors.framework.base import ConnectorError
from connectors.sources.http_api.records import infer_columns, value_at
from connectors.sources.http_api.requester import Requester, RetryPolicy, http_status

DEFAULT_MAX_REQUESTS = 10
MAX_REQUESTS_CAP = 25
SAMPLE_PAGE_SIZE = 5
DEFAULT_REQUEST_SECONDS = 10.0
DEFAULT_TOTAL_SECONDS = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
CREDENTIAL_FIELDS = (
    "api_key",
    "bearer_token",
    "username",
    "password",
    "client_id",
    "client_secret",
)
# Where an API without a document given may serve its own.
CONVENTIONAL_DOCUMENT_PATHS = ("openapi.json", "swagger.json")
_AUTH_CREDENTIALS = {
    "api_key": ("api_key",),
    "bearer": ("bearer_token",),
    "basic": ("username",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}

# What an auth type needs besides the credentials: where to send them.
_AUTH_PLACEMENT = {"api_key": ("api_key_name",), "oauth2_client_credentials": ("token_url",)}


_CONFIG_PLACEHOLDER = re.compile(r"\{config\.([A-Za-z0-9_]+)\}")


class _BudgetSpent(Exception):
    """The sample's requests or time are used up."""


@dataclass
class _Page:
    status: int | None
    body: Any = None
    response: requests.Response | None = None
    error: str | None = None


@dataclass
class _StreamSample:
    records: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    status: int | None = None
    error: str | None = None
    first_params: dict[str, Any] = field(default_factory=dict)
    next_link: str | None = None


def sample_discovery(
    discovery: dict[str, Any],
    *,
    config: dict[str, Any] | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    allow_private_networks: bool = False,
    request_seconds: float = DEFAULT_REQUEST_SECONDS,
    total_seconds: float = DEFAULT_TOTAL_SECONDS,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """`discovery` (not changed) extended by a live sample; `config` holds the credentials and
    config fields' values to sample with."""
    result = copy.deepcopy(discovery)
    if not result.get("base_url"):
        result["warnings"].append("No base URL: the API was not sampled.")
        return result
    missing = [
        name
        for name in _CONFIG_PLACEHOLDER.findall(str(result["base_url"]))
        if name not in _config_values(result, config or {})
    ]
    if missing:
        result["warnings"].append(
            f"The base URL needs config field(s) {', '.join(missing)}: the API was not "
            "sampled (give their values in config)."
        )
        return result
    sampler = _Sampler(
        result,
        config or {},
        max_requests=max(1, min(int(max_requests), MAX_REQUESTS_CAP)),
        allow_private_networks=allow_private_networks,
        request_seconds=request_seconds,
        total_seconds=total_seconds,
        max_response_bytes=max_response_bytes,
    )
    try:
        sampler.run()
    finally:
        sampler.close()
    if "sampling" not in result["sources"]:
        result["sources"].append("sampling")
    result["requests"] = [*result.get("requests", []), *sampler.requests]
    return _without_working_keys(result)


class _Sampler:
    def __init__(
        self,
        discovery: dict[str, Any],
        config: dict[str, Any],
        *,
        max_requests: int,
        allow_private_networks: bool,
        request_seconds: float,
        total_seconds: float,
        max_response_bytes: int,
    ) -> None:
        self.discovery = discovery
        self.config = config
        self.max_requests = max_requests
        self.deadline = time.monotonic() + total_seconds
        self.requests: list[dict[str, Any]] = []
        self.warnings: list[str] = discovery["warnings"]
        self.values = _config_values(discovery, config)
        self.base_url = _filled(str(discovery["base_url"]), self.values).rstrip("/")
        self.requester = Requester(
            self._requester_config(),
            allow_private_networks=allow_private_networks,
            retry=RetryPolicy(max_retries=0),
            timeout=request_seconds,
            max_request_seconds=request_seconds,
            max_response_bytes=max_response_bytes,
        )
        self._send = self.requester.session.request
        self.requester.session.request = self._recorded  # type: ignore[method-assign,assignment]

    def close(self) -> None:
        self.requester.close()

    def _requester_config(self) -> dict[str, Any]:
        auth = self.discovery.get("auth") or {}
        kind = auth.get("type") or "none"
        compiled: dict[str, Any] = {"base_url": self.base_url, "auth_type": "none"}
        needed = _AUTH_CREDENTIALS.get(kind, ())
        # Where the credentials go: as discovered, else as the caller says.
        placement = {
            key: auth.get(key) or self.config.get(key)
            for key in ("api_key_name", "api_key_in", "token_url", "scopes")
            if auth.get(key) or self.config.get(key)
        }
        missing = [k for k in _AUTH_PLACEMENT.get(kind, ()) if not placement.get(k)]
        if needed and missing:
            self.warnings.append(
                f"Auth type '{kind}' needs {', '.join(missing)}, which neither the document "
                "nor the config gives: the API was sampled without authentication."
            )
        elif needed and all(self.config.get(name) for name in needed):
            compiled["auth_type"] = kind
            compiled.update({k: str(v) for k, v in placement.items()})
            for key, value in placement.items():
                if not auth.get(key):  # the caller's placement worked: part of the discovery
                    auth[key] = value
                    auth["evidence"] = auth.get("evidence") or "config"
            for key in (*CREDENTIAL_FIELDS, "client_auth_method"):
                if self.config.get(key) not in (None, ""):
                    compiled[key] = str(self.config[key])
        elif needed:
            self.warnings.append(
                f"No credentials for auth type '{kind}' were given: the API was sampled "
                "without authentication."
            )
        return compiled

    # --- requests --------------------------------------------------------------------------
    def _recorded(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        """Every request the requester sends (a token request too) passes here: counted
        against the budget and recorded with its URL masked."""
        if len(self.requests) >= self.max_requests or time.monotonic() > self.deadline:
            raise _BudgetSpent()
        try:
            full = requests.Request(method, url, params=kwargs.get("params")).prepare().url
        except requests.RequestException:
            full = url
        entry: dict[str, Any] = {
            "method": method,
            "url": self.requester.masker.mask_url(full or url),
            "status": None,
            "duration_ms": 0,
        }
        self.requests.append(entry)
        started = time.monotonic()
        try:
            response = self._send(method, url, *args, **kwargs)
        finally:
            entry["duration_ms"] = round((time.monotonic() - started) * 1000)
        entry["status"] = response.status_code
        return response

    def _has_budget(self) -> bool:
        return len(self.requests) < self.max_requests and time.monotonic() < self.deadline

    def _get(self, url: str, params: dict[str, Any], stream: str | None) -> _Page:
        try:
            response = self.requester.get(url, params, stream=stream)
        except ConnectorError as error:
            message = self.requester.masker.mask(error.message)
            return _Page(status=http_status(error), error=message)
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):
            return _Page(
                status=response.status_code, response=response, error="The answer is not JSON."
            )
        return _Page(status=response.status_code, body=body, response=response)

    # --- the sample ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if not self.discovery["streams"]:
                self._explore()
                if not self.discovery["streams"]:
                    self.warnings.append(
                        "The sample found no list of records at the base URL, no OpenAPI "
                        f"document at {' or '.join(CONVENTIONAL_DOCUMENT_PATHS)} and no links "
                        "to follow: give an OpenAPI document or the streams' paths."
                    )
            self._sample_streams()
        except _BudgetSpent:
            self.warnings.append(
                f"The sample stopped at its limit of {self.max_requests} requests or its time "
                "limit; streams not reached have no sample."
            )

    def _sample_streams(self) -> None:
        streams = self.discovery["streams"]
        samples: dict[str, _StreamSample] = {}
        # Parents first: a child's request needs a parent record.
        for stream in sorted(streams, key=lambda s: s.get("parent") is not None):
            if not self._has_budget():
                raise _BudgetSpent()
            samples[stream["name"]] = self._first_page(stream, samples)
        # Then, while requests remain, a second page of each paged stream confirms its paging.
        for stream in streams:
            sample = samples.get(stream["name"])
            if sample is not None and sample.records and stream.get("paginator"):
                if not self._has_budget():
                    raise _BudgetSpent()
                self._second_page(stream, sample)

    def _first_page(
        self, stream: dict[str, Any], samples: dict[str, _StreamSample]
    ) -> _StreamSample:
        sample = _StreamSample()
        stream["sample"] = _sample_out(sample)
        path = self._path(stream, samples)
        params = self._params(stream)
        if path is None or params is None or "{config." in path:
            sample.error = (
                "Not sampled: its parent has no sampled record."
                if path is None
                else "Not sampled: a config field it needs has no value."
            )
            stream["sample"] = _sample_out(sample)
            return sample
        url = f"{self.base_url}/{path.lstrip('/')}"
        params.update(_first_page_params(stream.get("paginator")))
        sample.first_params = params
        before = len(self.requests)
        page = self._get(url, params, stream["name"])
        sample.requests = len(self.requests) - before
        sample.status, sample.error = page.status, page.error
        if page.error is None:
            self._read_records(stream, page, sample)
        if page.response is not None and page.error is None:
            self._detect_paging(stream, page, sample)
            if not stream.get("paginator") and len(sample.records) >= 2:
                self._probe_paging(stream, url, params, sample)
        if sample.records:
            self._learn_from_records(stream, sample.records)
        stream["sample"] = _sample_out(sample)
        stream["_url"] = url
        return sample

    def _path(self, stream: dict[str, Any], samples: dict[str, _StreamSample]) -> str | None:
        path = _filled(str(stream.get("path") or ""), self.values)
        parent = stream.get("parent")
        if parent is None:
            return path
        parent_sample = samples.get(parent["stream"])
        record = parent_sample.records[0] if parent_sample and parent_sample.records else None
        if record is None:
            return None
        value = value_at(record, tuple(str(parent.get("field") or "id").split(".")))
        if value is None or isinstance(value, dict | list):
            return None
        return path.replace(f"{{parent.{parent.get('field') or 'id'}}}", quote(str(value), safe=""))

    def _params(self, stream: dict[str, Any]) -> dict[str, Any] | None:
        params = {}
        for name, value in (stream.get("params") or {}).items():
            if isinstance(value, str):
                value = _filled(value, self.values)
                if "{config." in value:
                    return None
            params[name] = value
        return params

    def _read_records(self, stream: dict[str, Any], page: _Page, sample: _StreamSample) -> None:
        selector = str(stream.get("record_selector") or "")
        found = _records_at(page.body, selector)
        if found is None:
            located = _locate_records(page.body, stream["name"])
            if located is None:
                sample.error = f"No list of records in the answer (record selector '{selector}')."
                return
            selector, found = located
            if selector != (stream.get("record_selector") or ""):
                stream["evidence"].append(f"sampled: records at '{selector or '(the body)'}'")
                stream["record_selector"] = selector
        sample.records = found

    def _detect_paging(self, stream: dict[str, Any], page: _Page, sample: _StreamSample) -> None:
        """The paging the answer shows: a Link header, a next URL or a cursor in the body.
        Shown paging wins over parameters a document lists (they may be other filters)."""
        assert page.response is not None
        documented = stream.get("paginator") or {}
        size = documented.get("size_param") or (
            documented.get("limit_param") if documented.get("type") == "offset" else None
        )
        sized = {"size_param": size} if size else {}
        link = (page.response.links.get("next") or {}).get("url")
        if link:
            stream["paginator"] = {"type": "link_header", **sized}
            stream["evidence"].append('sampled: a Link header with rel="next"')
            sample.next_link = urljoin(page.response.url, link)
            return
        next_url = _find_paging_value(page.body, h.NEXT_URL_NAMES, urls=True)
        if next_url is not None:
            stream["paginator"] = {"type": "next_url", "next_url_path": next_url[0], **sized}
            stream["evidence"].append(f"sampled: the next page's URL at '{next_url[0]}'")
            sample.next_link = urljoin(page.response.url, str(next_url[1]))
            return
        cursor = _find_paging_value(page.body, h.NEXT_CURSOR_NAMES, urls=False)
        if cursor is not None and documented.get("type") != "cursor":
            param = documented.get("cursor_param") or "cursor"
            stream["paginator"] = {
                "type": "cursor",
                "cursor_path": cursor[0],
                "cursor_param": param,
                **sized,
            }
            stream["evidence"].append(f"sampled: a next cursor at '{cursor[0]}'")
            self.warnings.append(
                f"Stream '{stream['name']}': the cursor is sent as '{param}' (a guess: check "
                "the API's documentation)."
            )

    def _probe_paging(
        self, stream: dict[str, Any], url: str, params: dict[str, Any], sample: _StreamSample
    ) -> None:
        """With nothing that shows paging: whether `limit`/`offset` or `page`/`per_page` ask for
        the second record alone (two more requests at most)."""
        second = sample.records[1]
        probes = (
            (
                {"limit": 1, "offset": 1},
                {"type": "offset", "limit_param": "limit", "offset_param": "offset"},
            ),
            (
                {"page": 2, "per_page": 1},
                {"type": "page_number", "page_param": "page", "size_param": "per_page"},
            ),
        )
        for probe, paginator in probes:
            if not self._has_budget():
                return
            page = self._get(url, {**params, **probe}, stream["name"])
            records = _records_at(page.body, str(stream.get("record_selector") or ""))
            if page.error is None and records is not None and records == [second]:
                stream["paginator"] = paginator
                stream["evidence"].append(f"sampled: {_query(probe)} answers the second record")
                return

    def _second_page(self, stream: dict[str, Any], sample: _StreamSample) -> None:
        paginator = stream["paginator"]
        kind = paginator.get("type")
        url = stream.get("_url") or self.base_url
        if kind in ("link_header", "next_url"):
            if not sample.next_link:
                return
            if urlsplit(sample.next_link).netloc != urlsplit(self.base_url).netloc:
                self.warnings.append(
                    f"Stream '{stream['name']}': the next page is on another site; not followed."
                )
                return
            page = self._get(sample.next_link, {}, stream["name"])
        elif len(sample.records) < SAMPLE_PAGE_SIZE:
            return  # a short first page is the last: nothing to confirm
        elif kind == "offset":
            params = dict(sample.first_params)
            params[paginator.get("offset_param") or "offset"] = len(sample.records)
            page = self._get(url, params, stream["name"])
        elif kind == "page_number":
            params = dict(sample.first_params)
            params[paginator.get("page_param") or "page"] = 2
            page = self._get(url, params, stream["name"])
        else:
            return
        records = _records_at(page.body, str(stream.get("record_selector") or ""))
        if page.error is not None or records is None:
            self.warnings.append(
                f"Stream '{stream['name']}': the second page could not be read "
                f"({page.error or 'no records there'})."
            )
            return
        summary = stream["sample"]
        summary["requests"] += 1
        summary["records"] += len(records)
        if records and records == sample.records:
            self.warnings.append(
                f"Stream '{stream['name']}': the second page repeats the first: the API "
                f"ignores the {kind} paging; the stream is read without paging."
            )
            stream["paginator"] = None
            return
        stream["evidence"].append(f"sampled: a second page ({kind}) gave {len(records)} records")
        self._learn_from_records(stream, records)

    def _learn_from_records(self, stream: dict[str, Any], records: list[dict[str, Any]]) -> None:
        columns = stream.setdefault("columns", {})
        temporal = [
            name
            for name in records[0]
            if all(_is_instant(r.get(name)) for r in records if r.get(name) is not None)
            and any(r.get(name) is not None for r in records)
        ]
        for column in infer_columns(records, {}, ()):
            columns.setdefault(
                column.name, "timestamptz" if column.name in temporal else column.type
            )
        if not stream.get("primary_key"):
            key = h.primary_key(records[0], stream["name"])
            values = [r.get(key[0]) for r in records] if key else []
            if key and None not in values and len(set(map(str, values))) == len(values):
                stream["primary_key"] = key
                stream["evidence"].append(f"sampled: '{key[0]}' is unique in the sample")
        known = list(stream.get("cursor_candidates") or [])
        stream["cursor_candidates"] = known + [
            c for c in h.cursor_candidates(temporal) if c not in known
        ]

    # --- with no document ------------------------------------------------------------------
    def _explore(self) -> None:
        """No streams known: the base URL's answer, an OpenAPI document at a conventional
        place, or the same-site links of an API index."""
        root = self._get(self.base_url, {}, None)
        if root.error is None and _locate_records(root.body, "records") is not None:
            self._add_stream(_name_of(self.base_url), "/", "GET / answers a list of records")
            return
        for path in CONVENTIONAL_DOCUMENT_PATHS:
            if not self._has_budget():
                raise _BudgetSpent()
            found = self._get(f"{self.base_url}/{path}", {}, None)
            if found.error is None and self._use_document(found.body, path):
                return
        if root.error is None and isinstance(root.body, dict):
            for name, value in list(root.body.items())[:8]:
                linked = self._same_site_path(value)
                if linked is not None:
                    stream_name = re.sub(r"_?(url|uri|href|link)$", "", h.snake(str(name)))
                    self._add_stream(
                        stream_name or _name_of(linked), linked, f"GET / links '{name}'"
                    )

    def _use_document(self, body: Any, path: str) -> bool:
        try:
            check_document(body)
            found = discover_from_openapi(body, base_url=self.base_url)
        except DocumentError:
            return False
        if not found["streams"]:
            return False
        self.discovery["sources"] = [*self.discovery["sources"], "openapi"]
        for key in ("title", "auth", "config_fields", "streams"):
            self.discovery[key] = found[key]
        self.warnings.extend([f"Read the OpenAPI document at /{path}.", *found["warnings"]])
        return True

    def _same_site_path(self, value: Any) -> str | None:
        if not isinstance(value, str) or "{" in value:
            return None
        try:
            target = urlsplit(urljoin(self.base_url + "/", value))
        except ValueError:
            return None
        base = urlsplit(self.base_url)
        if target.scheme not in ("http", "https") or target.netloc != base.netloc:
            return None
        if not target.path.startswith(base.path) or target.query:
            return None
        return target.path[len(base.path) :].strip("/") or None

    def _add_stream(self, name: str, path: str, evidence: str) -> None:
        taken = {s["name"] for s in self.discovery["streams"]}
        self.discovery["streams"].append(
            {
                "name": h.unique_stream_name(name, taken),
                "path": path,
                "method": "GET",
                "record_selector": "",
                "params": {},
                "paginator": None,
                "primary_key": None,
                "cursor_candidates": [],
                "incremental_param": None,
                "columns": {},
                "parent": None,
                "evidence": [evidence],
                "sample": None,
            }
        )


def _without_working_keys(discovery: dict[str, Any]) -> dict[str, Any]:
    for stream in discovery.get("streams", []):
        stream.pop("_url", None)
    return discovery


def _sample_out(sample: _StreamSample) -> dict[str, Any]:
    return {
        "status": sample.status,
        "records": len(sample.records),
        "requests": sample.requests,
        "error": sample.error,
    }


def _config_values(discovery: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    values = {}
    for spec in discovery.get("config_fields") or []:
        name = spec.get("name")
        value = config.get(name, spec.get("default"))
        if name and value is not None:
            values[str(name)] = str(value)
    return values


def _filled(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"{{config.{name}}}", quote(value, safe=""))
    return text


def _first_page_params(paginator: dict[str, Any] | None) -> dict[str, Any]:
    """A small first page: the sample needs a few records, and a full page of them shows
    whether there is a second."""
    if not paginator:
        return {}
    kind = paginator.get("type")
    if kind == "offset":
        return {
            paginator.get("limit_param") or "limit": SAMPLE_PAGE_SIZE,
            paginator.get("offset_param") or "offset": 0,
        }
    size = paginator.get("size_param")
    params: dict[str, Any] = {size: SAMPLE_PAGE_SIZE} if size else {}
    if kind == "page_number":
        params[paginator.get("page_param") or "page"] = 1
    return params


def _records_at(body: Any, selector: str) -> list[dict[str, Any]] | None:
    found = value_at(body, tuple(p for p in selector.split(".") if p)) if selector else body
    if isinstance(found, list) and all(isinstance(r, dict) for r in found):
        return found
    return None


def _locate_records(body: Any, stream_name: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(selector, records) of the list of objects in `body`: the body itself, a property, or a
    property of a `data`-like object."""
    if isinstance(body, list):
        return ("", body) if all(isinstance(r, dict) for r in body) else None
    if not isinstance(body, dict):
        return None
    arrays = [
        k for k, v in body.items() if isinstance(v, list) and all(isinstance(r, dict) for r in v)
    ]
    chosen = h.record_array_name(arrays, stream_name)
    if chosen is not None:
        return chosen, body[chosen]
    container = h.find_name([k for k, v in body.items() if isinstance(v, dict)], ("data", "result"))
    if container is not None:
        inner = _locate_records(body[container], stream_name)
        if inner is not None and inner[0]:
            return f"{container}.{inner[0]}", inner[1]
    return None


def _find_paging_value(body: Any, wanted: tuple[str, ...], *, urls: bool) -> tuple[str, Any] | None:
    """(dotted path, value) of a non-empty next-page value at the top of the body or in a
    `meta`/`links`/`pagination` object."""
    if not isinstance(body, dict):
        return None
    scalars = [k for k, v in body.items() if _usable(v, urls)]
    found = h.find_name(scalars, wanted)
    if found is not None:
        return found, body[found]
    containers = [k for k, v in body.items() if isinstance(v, dict)]
    container = h.find_name(containers, h.PAGING_CONTAINERS)
    if container is not None:
        inner = _find_paging_value(body[container], wanted, urls=urls)
        if inner is not None and "." not in inner[0]:
            return f"{container}.{inner[0]}", inner[1]
    return None


def _usable(value: Any, urls: bool) -> bool:
    if not isinstance(value, str | int) or isinstance(value, bool) or value in ("", 0):
        return False
    looks_like_url = isinstance(value, str) and (value.startswith(("http://", "https://", "/")))
    return looks_like_url if urls else not looks_like_url


def _is_instant(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10 or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _name_of(url_or_path: str) -> str:
    segments = [s for s in urlsplit(url_or_path).path.split("/") if s]
    return h.snake(segments[-1]) if segments else "records"


def _query(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())
