"""URL checks the HTTP API source's definition and paging share."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_http_url(url: str) -> bool:
    """Whether `url` is an absolute http:// or https:// URL with a host (and a valid port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    # urlsplit keeps spaces in a host and silently drops tabs and newlines anywhere: neither
    # can a request carry.
    clean = " " not in parts.netloc and url.isprintable()
    return parts.scheme in ("http", "https") and bool(parts.hostname) and clean


def url_origin(url: str) -> str:
    """scheme://host:port of `url`, the port made explicit; a ValueError for a bad port."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}:{parts.port or default}"
