"""An API's own rate-limit headers, honoured (the definition's `rate_limit`).

Many APIs say how many requests are left in the current window and when it resets
(`X-RateLimit-Remaining`, `X-RateLimit-Reset`: GitHub, and others after it), and refuse a
request over the limit with a status that does not always say so (GitHub answers 403 as often
as 429). With a rule:

* a response of one of `statuses` that carries `Retry-After`, or says no request is left
  (`remaining_header` is 0) and when the window resets (`reset_header`), is a rate limit, not
  a refusal: the request is sent again once the wait is over;
* a successful response that says no request is left makes the next request wait for the
  reset, instead of being refused first.

A wait is bounded by `max_wait_seconds`: a limit that resets later than that fails the
request with a retryable error that names the reset time (the sync is retried later), rather
than holding a worker for an hour. Without a rule, a 429's Retry-After is still honoured (the
requester's retries), and nothing else is read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

DEFAULT_REMAINING_HEADER = "X-RateLimit-Remaining"
DEFAULT_RESET_HEADER = "X-RateLimit-Reset"
DEFAULT_STATUSES = (403, 429)
DEFAULT_MAX_WAIT_SECONDS = 900.0
# A worker sleeping longer than an hour for one request is a worker lost to everyone else.
MAX_WAIT_LIMIT_SECONDS = 3600.0
# A reset announced to the second: a request sent at that second may still be counted in the
# old window.
_RESET_MARGIN_SECONDS = 1.0
# "interval_milliseconds": the header gives the window's length, not its reset (HubSpot's
# X-HubSpot-RateLimit-Interval-Milliseconds): a request over the limit waits one window.
RESET_FORMATS = ("epoch_seconds", "seconds", "interval_milliseconds")
_KEYS = {
    "remaining_header",
    "reset_header",
    "reset_format",
    "statuses",
    "max_wait_seconds",
    "requests_per_second",
}
# The most requests a second a rule may allow (spacing below a millisecond is no spacing).
MAX_REQUESTS_PER_SECOND = 1000.0


@dataclass(frozen=True)
class RateLimitRule:
    remaining_header: str = DEFAULT_REMAINING_HEADER
    reset_header: str = DEFAULT_RESET_HEADER
    reset_format: str = "epoch_seconds"  # an instant (Unix seconds), or seconds from now
    statuses: frozenset[int] = frozenset(DEFAULT_STATUSES)
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    # The API's documented rate (HubSpot's search: 4 a second): requests are spaced by its
    # inverse. None: not spaced.
    requests_per_second: float | None = None

    @classmethod
    def from_config(cls, raw: Any) -> RateLimitRule | None:
        """The rule of a checked definition's `rate_limit` (None: no rule)."""
        if not isinstance(raw, dict):
            return None
        return cls(
            remaining_header=raw.get("remaining_header") or DEFAULT_REMAINING_HEADER,
            reset_header=raw.get("reset_header") or DEFAULT_RESET_HEADER,
            reset_format=raw.get("reset_format") or "epoch_seconds",
            statuses=frozenset(raw.get("statuses") or DEFAULT_STATUSES),
            max_wait_seconds=float(raw.get("max_wait_seconds", DEFAULT_MAX_WAIT_SECONDS)),
            requests_per_second=(
                float(raw["requests_per_second"]) if raw.get("requests_per_second") else None
            ),
        )

    def limited_wait(self, response: requests.Response) -> float | None:
        """Seconds to wait before sending a refused request again, when the refusal is this
        API's rate limit; None when it is not one."""
        if response.status_code not in self.statuses:
            return None
        retry_after = retry_after_seconds(response)
        if retry_after is not None:
            return retry_after
        return self._until_reset(response)

    def pause_after(self, response: requests.Response) -> float | None:
        """Seconds the next request should wait, when this (accepted) response used the last
        request of the window; None otherwise."""
        return self._until_reset(response)

    def _until_reset(self, response: requests.Response) -> float | None:
        remaining = (response.headers.get(self.remaining_header) or "").strip()
        reset = (response.headers.get(self.reset_header) or "").strip()
        if remaining != "0" or not reset:
            return None
        try:
            value = float(reset)
        except ValueError:
            return None
        if self.reset_format == "seconds":
            return max(value, 0.0) + _RESET_MARGIN_SECONDS
        if self.reset_format == "interval_milliseconds":
            return max(value, 0.0) / 1000
        return max(value - time.time(), 0.0) + _RESET_MARGIN_SECONDS


def retry_after_seconds(response: requests.Response) -> float | None:
    """The response's Retry-After (seconds, or an HTTP date) as seconds from now; None when
    it has none (or an unreadable one)."""
    header = (response.headers.get("Retry-After") or "").strip()
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def rate_limit_issues(raw: Any) -> list[tuple[tuple[str, ...], str, str]]:
    """(location under `rate_limit`, message, issue type) of each problem of the rule."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [((), "Give an object: {remaining_header, reset_header, ...}.", "dict_type")]
    issues: list[tuple[tuple[str, ...], str, str]] = []
    for key in raw:
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            issues.append(((key,), f"Unknown key; known keys: {known}.", "extra_forbidden"))
    for key in ("remaining_header", "reset_header"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            issues.append(((key,), "Give a header name.", "string_type"))
    reset_format = raw.get("reset_format")
    if reset_format is not None and reset_format not in RESET_FORMATS:
        issues.append(
            (("reset_format",), f"Input should be one of: {', '.join(RESET_FORMATS)}", "enum")
        )
    statuses = raw.get("statuses")
    if statuses is not None and (
        not isinstance(statuses, list)
        or not statuses
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in statuses
        )
    ):
        issues.append((("statuses",), "Give a list of HTTP error statuses (400-599).", "list_type"))
    rate = raw.get("requests_per_second")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not 0 < rate <= MAX_REQUESTS_PER_SECOND
    ):
        issues.append(
            (
                ("requests_per_second",),
                f"Give a number of requests above 0, at most {MAX_REQUESTS_PER_SECOND:g}.",
                "float_type",
            )
        )
    max_wait = raw.get("max_wait_seconds")
    if max_wait is not None and (
        isinstance(max_wait, bool)
        or not isinstance(max_wait, int | float)
        or not 0 <= max_wait <= MAX_WAIT_LIMIT_SECONDS
    ):
        issues.append(
            (
                ("max_wait_seconds",),
                f"Give a number of seconds from 0 to {MAX_WAIT_LIMIT_SECONDS:g}.",
                "float_type",
            )
        )
    return issues
