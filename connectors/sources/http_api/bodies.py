"""Requests with a JSON body (a stream's `method: POST` and `request_body`), and how a boundary
value is sent (`incremental.request_format`).

Some APIs are read by POSTing a query: HubSpot's CRM search takes its filters, its sort, the
page size and the page's cursor in a JSON body. A stream says so with `method: "POST"` and a
`request_body` template. The request's parameters (the stream's `params`, the paginator's page
size and cursor, the incremental `request_param`) fill the template's placeholders: a string
that is exactly `"{name}"` becomes the value of parameter `name`, with its JSON type (a page
size stays a number). A member (or list item) whose parameter has no value for this request
(the first page's cursor) is left out. Parameters the body does not name go in the query
string, as for GET.

Placeholders are whole strings only: text holding braces among other characters (a GraphQL
query) is sent as it is.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any

METHODS = ("GET", "POST")
REQUEST_FORMATS = ("as_is", "epoch_seconds", "epoch_milliseconds")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")
# Left out of the body: the placeholder's parameter has no value for this request.
_ABSENT = object()


def placeholder_name(value: Any) -> str | None:
    """The parameter a template value names (`"{after}"` -> `after`); None for anything else."""
    if not isinstance(value, str):
        return None
    match = _PLACEHOLDER.fullmatch(value)
    return match.group(1) if match else None


def body_placeholders(template: Any) -> set[str]:
    """Every parameter name the template's placeholders hold."""
    name = placeholder_name(template)
    if name is not None:
        return {name}
    if isinstance(template, dict):
        return set().union(*(body_placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(body_placeholders(v) for v in template))
    return set()


def fill_body(template: Any, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The body for one request, and the parameters it does not name (for the query)."""
    named = body_placeholders(template)
    body = _filled(template, params)
    return (
        {} if body is _ABSENT else body,
        {k: v for k, v in params.items() if k not in named},
    )


def _filled(template: Any, params: dict[str, Any]) -> Any:
    name = placeholder_name(template)
    if name is not None:
        value = params.get(name)
        return _ABSENT if value is None else value
    if isinstance(template, dict):
        filled = {key: _filled(value, params) for key, value in template.items()}
        return {key: value for key, value in filled.items() if value is not _ABSENT}
    if isinstance(template, list):
        items = [_filled(value, params) for value in template]
        return [value for value in items if value is not _ABSENT]
    return template


def request_value(value: Any, request_format: str) -> Any:
    """A boundary value as the API is sent it; None when it cannot be (not an instant).

    `epoch_seconds` and `epoch_milliseconds` send an ISO 8601 date or date-time as a Unix time
    (a time without an offset taken as UTC), rounded down: the parameter is inclusive, so the
    boundary's own records still come back (and are dropped by their keys). A value that is
    already a number (or numeric text) is taken to be in that unit and sent as it is."""
    if request_format == "as_is" or value is None:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = calendar.timegm(moment.utctimetuple())
    if request_format == "epoch_seconds":
        return seconds
    return seconds * 1000 + moment.microsecond // 1000
