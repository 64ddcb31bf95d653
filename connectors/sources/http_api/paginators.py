"""Pagination styles: what each page request adds, and where the next page is.

A page is addressed by a token that is plain JSON (an offset, a page number, a cursor, a URL),
so that a sync's state can hold the page to resume from. `first_token` addresses the first
page; `next_token` returns END when the page just read was the last. A page asked for twice
in one chain of requests (a repeating token, or an API that ignores the offset) is caught by
the source (source.py `_requests`), which knows every request of the chain.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from connectors.framework.base import ConnectorError
from connectors.sources.http_api.definition import PaginatorDef
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.records import value_at

END: Any = object()  # no page after this one (never stored: states hold tokens only)


def first_token(paginator: PaginatorDef) -> Any:
    if paginator.type == "offset":
        return 0
    if paginator.type == "page_number":
        return paginator.start_page
    return None  # cursor, next URL, link header: the first page has none


def request_for(
    paginator: PaginatorDef, token: Any, url: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The URL and query parameters of the page `token` addresses."""
    kind, size = paginator.type, paginator.page_size
    if kind == "offset":
        return url, {**params, paginator.limit_param: size, paginator.offset_param: token}
    sized = {**params, paginator.size_param: size} if paginator.size_param else dict(params)
    if kind == "page_number":
        return url, {**sized, paginator.page_param: token}
    if kind == "cursor":
        return url, sized if token is None else {**sized, paginator.cursor_param: token}
    if kind in ("next_url", "link_header"):
        # The next URL carries every parameter the API wants for the next page.
        return (url, sized) if token is None else (token, {})
    return url, dict(params)


def next_token(
    paginator: PaginatorDef,
    token: Any,
    response: requests.Response,
    body: Any,
    records: list[Any],
    *,
    base_url: str,
    stream: str,
    masker: Masker,
) -> Any:
    """The token of the page after this one, or END."""
    kind = paginator.type
    if kind == "none":
        return END
    if kind in ("offset", "page_number"):
        # A short page is the last. An API that caps the page size below `page_size` must be
        # given its cap as page_size, or paging would stop after the first (short) page.
        sized = kind == "offset" or paginator.size_param is not None
        if not records or (sized and len(records) < (paginator.page_size or 0)):
            return END
        return token + len(records) if kind == "offset" else token + 1
    if kind == "cursor":
        following = value_at(body, paginator.cursor_path)
        # Missing, null, empty text and false end the paging; 0 is a cursor like any other
        # (`0 in (None, "", False)` is true in Python: compared by identity for that reason).
        if following is None or following is False or following == "":
            return END
        if isinstance(following, dict | list):
            raise ConnectorError(
                f"Stream '{stream}': the cursor at cursor_path is an object or a list, not a "
                "value to send as a query parameter.",
                stream=stream,
            )
        return following
    if kind == "next_url":
        link = value_at(body, paginator.next_url_path)
    else:
        link = (response.links.get(paginator.rel) or {}).get("url")
    if not link or not isinstance(link, str):
        return END
    try:
        # Without its credentials: the URL is stored as the next page's token (in states),
        # and the requester adds them to every request anyway (they would go twice).
        following = masker.without_secrets(urljoin(response.url, link))
        origin = _origin(following)
    except ValueError as exc:  # a port out of range, a bad IPv6 literal
        raise ConnectorError(
            f"Stream '{stream}': the next page's URL is not valid ({masker.mask(link[:200])!r}).",
            stream=stream,
        ) from exc
    if origin != _origin(base_url):
        raise ConnectorError(
            f"Stream '{stream}': the next page is on another site ({origin}); "
            f"only pages under {_origin(base_url)} are followed.",
            stream=stream,
        )
    return following


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}:{parts.port or default}"
