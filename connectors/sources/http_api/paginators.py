"""Pagination styles, one class per kind: what each page request adds, and where the next
page is.

A page is addressed by a token that is plain JSON (an offset, a page number, a cursor, a URL),
so that a sync's state can hold the page to resume from. `first_token` addresses the first
page; `next_token` returns END when the page just read was the last. A page asked for twice
in one chain of requests (a repeating token, or an API that ignores the offset) is caught by
the source (source.py `_requests`), which knows every request of the chain.

A stream definition's `paginator.type` names its kind in PAGINATORS; the definition checks a
paginator's keys against its class (`keys`, `config_issues`) and builds it with `from_values`.
A new kind is one class here and one entry in PAGINATORS.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol
from urllib.parse import urljoin

import requests

from connectors.framework.base import ConnectorError
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.records import Path, value_at
from connectors.sources.http_api.urls import url_origin

END: Any = object()  # no page after this one (never stored: states hold tokens only)
# Pages one chain of requests (a stream, or one parent record's children) reads at most: the
# last guard against an API whose paging never ends in a way no other check notices.
DEFAULT_MAX_PAGES = 1_000_000


class Paginator(Protocol):
    """What the source asks of a stream's paginator."""

    @property
    def kind(self) -> str: ...  # its `type` in the definition

    @property
    def max_pages(self) -> int: ...

    @property
    def token_is_url(self) -> bool: ...  # a URL: stored without the credentials it carries

    # The API decides what a page's number means (offset, page number): a page repeating the
    # one before says the API ignores the paginator's parameter.
    @property
    def numbered(self) -> bool: ...

    # A page number past the last is answered with the last page again (an API clamping it):
    # such a repeat ends the paging instead.
    @property
    def clamps_past_last(self) -> bool: ...

    def first_token(self) -> Any: ...

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]: ...

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class BasePaginator:
    """What every kind shares: the definition keys it takes, its own checks of them, how it
    is built from the parsed values, and the defaults of the `Paginator` protocol."""

    kind: ClassVar[str]
    keys: ClassVar[frozenset[str]]  # the keys its definition may hold
    required: ClassVar[tuple[str, ...]] = ()  # keys that must hold a value
    default_size_param: ClassVar[str | None] = None
    token_is_url: ClassVar[bool] = False
    numbered: ClassVar[bool] = False
    clamps_past_last: ClassVar[bool] = False

    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def config_issues(cls, raw: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(key, message, issue type) of each problem of the kind's own in a definition."""
        return [
            (key, f"Required by the '{cls.kind}' paginator.", "missing")
            for key in cls.required
            if raw.get(key) in (None, "", [])
        ]

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> BasePaginator:
        """The paginator of a checked definition's values (those of other kinds ignored)."""
        own = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in own})

    def first_token(self) -> Any:
        return None  # cursor, next URL, link header: the first page has none

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters of the page `token` addresses."""
        raise NotImplementedError

    def next_token(
        self,
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
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class NoPagination(BasePaginator):
    """One request."""

    kind = "none"
    keys = frozenset({"type"})

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return url, dict(params)

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any:
        return END


@dataclass(frozen=True, kw_only=True)
class SizedPaginator(BasePaginator):
    """A kind that may send its page size in a parameter of its own (`size_param`)."""

    page_size: int | None = None
    size_param: str | None = None

    def sized(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with the page size, when the kind sends one."""
        return {**params, self.size_param: self.page_size} if self.size_param else dict(params)


def _is_last_page(records: list[Any], page_size: int | None, *, sized: bool) -> bool:
    # A short page is the last. An API that caps the page size below `page_size` must be
    # given its cap as page_size, or paging would stop after the first (short) page.
    return not records or (sized and len(records) < (page_size or 0))


@dataclass(frozen=True, kw_only=True)
class OffsetPaginator(BasePaginator):
    """`limit` and `offset` parameters; the token is the offset."""

    kind = "offset"
    keys = frozenset({"type", "page_size", "max_pages", "limit_param", "offset_param"})
    numbered = True

    page_size: int | None = None
    limit_param: str = "limit"
    offset_param: str = "offset"

    def first_token(self) -> Any:
        return 0

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return url, {**params, self.limit_param: self.page_size, self.offset_param: token}

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any:
        if _is_last_page(records, self.page_size, sized=True):
            return END
        return token + len(records)


@dataclass(frozen=True, kw_only=True)
class PageNumberPaginator(SizedPaginator):
    """A page number parameter; the token is the page number."""

    kind = "page_number"
    keys = frozenset({"type", "page_size", "max_pages", "page_param", "size_param", "start_page"})
    default_size_param = "per_page"
    numbered = True
    clamps_past_last = True

    page_param: str = "page"
    start_page: int = 1

    def first_token(self) -> Any:
        return self.start_page

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return url, {**self.sized(params), self.page_param: token}

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any:
        if _is_last_page(records, self.page_size, sized=self.size_param is not None):
            return END
        return token + 1


@dataclass(frozen=True, kw_only=True)
class CursorPaginator(SizedPaginator):
    """The next page's cursor, read from the body and sent as a parameter."""

    kind = "cursor"
    keys = frozenset(
        {"type", "page_size", "max_pages", "size_param", "cursor_path", "cursor_param"}
    )
    required = ("cursor_path",)

    cursor_path: Path = ()
    cursor_param: str = "cursor"

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        sized = self.sized(params)
        return url, sized if token is None else {**sized, self.cursor_param: token}

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any:
        following = value_at(body, self.cursor_path)
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


@dataclass(frozen=True, kw_only=True)
class LinkPaginator(SizedPaginator):
    """A kind whose token is the next page's URL, as the API gives it (`link`)."""

    token_is_url = True

    def request_for(
        self, token: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        # The next URL carries every parameter the API wants for the next page.
        return (url, self.sized(params)) if token is None else (token, {})

    def next_token(
        self,
        token: Any,
        response: requests.Response,
        body: Any,
        records: list[Any],
        *,
        base_url: str,
        stream: str,
        masker: Masker,
    ) -> Any:
        link = self.link(response, body)
        return _following_url(link, response, base_url=base_url, stream=stream, masker=masker)

    def link(self, response: requests.Response, body: Any) -> Any:
        """The next page's URL as the response gives it (None or anything but text: none)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class NextUrlPaginator(LinkPaginator):
    """The next page's URL, read from the body."""

    kind = "next_url"
    keys = frozenset({"type", "page_size", "max_pages", "size_param", "next_url_path"})
    required = ("next_url_path",)

    next_url_path: Path = ()

    def link(self, response: requests.Response, body: Any) -> Any:
        return value_at(body, self.next_url_path)


@dataclass(frozen=True, kw_only=True)
class LinkHeaderPaginator(LinkPaginator):
    """The next page's URL, from the response's Link header (RFC 8288) of relation `rel`."""

    kind = "link_header"
    keys = frozenset({"type", "page_size", "max_pages", "size_param", "rel"})

    rel: str = "next"

    def link(self, response: requests.Response, body: Any) -> Any:
        return (response.links.get(self.rel) or {}).get("url")


def _following_url(
    link: Any, response: requests.Response, *, base_url: str, stream: str, masker: Masker
) -> Any:
    """The next page's URL from `link` (relative to the response's), or END without one; a
    ConnectorError for a URL that is not valid or leaves the API's site."""
    if not link or not isinstance(link, str):
        return END
    try:
        # Without its credentials: the URL is stored as the next page's token (in states),
        # and the requester adds them to every request anyway (they would go twice).
        following = masker.without_secrets(urljoin(response.url, link))
        origin = url_origin(following)
    except ValueError as exc:  # a port out of range, a bad IPv6 literal
        raise ConnectorError(
            f"Stream '{stream}': the next page's URL is not valid ({masker.mask(link[:200])!r}).",
            stream=stream,
        ) from exc
    if origin != url_origin(base_url):
        raise ConnectorError(
            f"Stream '{stream}': the next page is on another site ({origin}); "
            f"only pages under {url_origin(base_url)} are followed.",
            stream=stream,
        )
    return following


def following_url(
    link: Any, response: requests.Response, *, base_url: str, stream: str, masker: Masker
) -> Any:
    """A URL the API gave in a body (a next page, a delta link), checked as a next page's URL
    is: resolved against the response's, on base_url's site, without credentials; END when
    there is none."""
    return _following_url(link, response, base_url=base_url, stream=stream, masker=masker)


# Every kind by its `type` in a definition, in the order the 422 message lists them.
PAGINATORS: dict[str, type[BasePaginator]] = {
    cls.kind: cls
    for cls in (
        NoPagination,
        OffsetPaginator,
        PageNumberPaginator,
        CursorPaginator,
        NextUrlPaginator,
        LinkHeaderPaginator,
    )
}
