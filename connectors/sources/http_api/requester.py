"""Sending requests: credentials added, failures retried with a bound, the rest mapped to
connector errors that name the stream, the URL (secrets masked) and the HTTP status.

Retried: 429 (after its Retry-After, in seconds or as an HTTP date, capped), 408, every 5xx,
timeouts and connection failures, with exponential backoff and jitter, at most `max_retries`
times; then a retryable error (the sync is retried later). With a `rate_limit` rule
(ratelimit.py), a response that the API's rate-limit headers mark as over the limit is sent
again after the reset (bounded), and an accepted one that used the last request of the window
holds the next request until then. A 401 renews an OAuth2 token once (a platform-supplied
token: a 401 or 403). Not retried: 401/403 (credentials), 404 (a wrong path), other 4xx,
redirects (never followed: a redirect target is another host to check against the network
policy).

Bodies are streamed and read against a wall-clock deadline (`max_request_seconds`, from the
moment the request is sent; the read timeout alone bounds each socket read, so a server
trickling bytes could hold a request for ever) and a size limit (`max_response_bytes`, counted
after decompression). A deadline is retried like a timeout; a body too large is not.

Every message is masked (connectors/sources/http_api/masking.py), and a connection failure is
reported as its cause ("connection refused", "could not resolve host ...") rather than as
urllib3's text, which quotes the URL with its query (an API key in it).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from connectors.framework.base import (
    AuthenticationError,
    ConnectorError,
    PermissionError_,
    StreamNotFoundError,
    TransientError,
    UnreachableError,
)
from connectors.framework.credentials import TokenProvider
from connectors.framework.http import session as outbound_session
from connectors.sources.http_api.auth import Auth, build_auth
from connectors.sources.http_api.body_errors import BodyErrorRule
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.ratelimit import RateLimitRule, retry_after_seconds
from landed.security.outbound import CURRENT_WATCH as _WATCH
from landed.security.outbound import DeadlineExceeded as _DeadlineExceeded
from landed.security.outbound import Watch as _Watch
from landed.security.outbound import error_cause as _cause
from landed.security.outbound import read_chunks as _chunks
from landed.security.outbound import watch_connections as _watch_connections

_RETRIED_STATUSES = frozenset({408, 429})
_SNIPPET = 200
_CHUNK = 64 * 1024
DEFAULT_MAX_REQUEST_SECONDS = 300.0
DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024


class _TooLarge(Exception):
    """The body is larger than max_response_bytes (not retried: it would be again)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential, with jitter so that many workers do not retry in step: between half
        and all of base * 2^attempt, capped."""
        delay = min(self.max_backoff_seconds, self.backoff_base_seconds * 2**attempt)
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not for secrets

    def retry_after(self, response: requests.Response, attempt: int) -> float:
        """What a 429 or 503 asks for (seconds or an HTTP date), capped; backoff otherwise."""
        seconds = retry_after_seconds(response)
        if seconds is not None:
            return min(seconds, self.max_backoff_seconds)
        return self.backoff(attempt)


class Requester:
    def __init__(
        self,
        config: dict[str, Any],
        *,
        allow_private_networks: bool,
        retry: RetryPolicy,
        timeout: float,
        masker: Masker | None = None,
        max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        credentials: TokenProvider | None = None,
    ) -> None:
        self.session = outbound_session(
            allow_private_networks=allow_private_networks, timeout=timeout
        )
        self.session.headers["Accept"] = "application/json"
        _watch_connections(self.session)
        self.session.headers.update(config.get("headers") or {})
        self.retry = retry
        self.timeout = timeout
        self.max_request_seconds = max_request_seconds
        self.max_response_bytes = max_response_bytes
        self.masker = masker or Masker.from_config(config)
        self.auth: Auth = build_auth(config, self._post_token, self.masker, credentials)
        self.rate_limit = RateLimitRule.from_config(config.get("rate_limit"))
        self.body_errors = BodyErrorRule.from_config(config.get("body_errors"))
        # When the API said the window's last request was used: the next waits for its reset
        # (monotonic clock).
        self._paused_until = 0.0
        # When the last request was sent (a rule's `requests_per_second` spaces them).
        self._last_sent = 0.0

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, params: dict[str, Any], *, stream: str | None) -> requests.Response:
        """A 2xx response to GET `url` (its body read), after retries; a ConnectorError
        otherwise."""
        return self.request("GET", url, params, stream=stream)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any],
        *,
        stream: str | None,
        json_body: Any = None,
    ) -> requests.Response:
        """`get` for any method: a POST sends `json_body` as its JSON body (bodies.py)."""
        body = {} if json_body is None else {"json": json_body}
        renewed = False
        attempt = 0
        while True:
            self._wait_for_window()
            headers: dict[str, str] = {}
            query = query_values(params)
            try:
                self.auth.apply(headers, query)
            except ConnectorError as error:  # fetching an OAuth2 token failed
                raise self.masker.masked(error) from None
            response = self._send(
                method, url, stream, attempt, params=query, headers=headers, **body
            )
            if response is None:
                attempt += 1
                continue
            status = response.status_code
            if status in self.auth.renew_statuses and not renewed and self.auth.renew():
                renewed = True
                continue
            accepted = self._accepted(response, stream)
            if self.body_errors is not None:
                code = self.body_errors.error_code(accepted)
                if code is not None:
                    if code in self.body_errors.auth_codes and not renewed and self.auth.renew():
                        renewed = True
                        continue
                    if code in self.body_errors.retry_codes and attempt < self.retry.max_retries:
                        time.sleep(self.retry.backoff(attempt))
                        attempt += 1
                        continue
                    raise self._body_error(accepted, code, stream)
            if self.rate_limit is not None:
                pause = self.rate_limit.pause_after(accepted)
                if pause is not None and pause <= self.rate_limit.max_wait_seconds:
                    self._paused_until = time.monotonic() + pause
            return accepted

    def _wait_for_window(self) -> None:
        remaining = self._paused_until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        if self.rate_limit is not None and self.rate_limit.requests_per_second:
            # An API that allows so many requests a second: this connection's requests are
            # spaced so, rather than refused first.
            gap = 1.0 / self.rate_limit.requests_per_second
            wait = self._last_sent + gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_sent = time.monotonic()

    def request_key(self, url: str, params: dict[str, Any]) -> str:
        """What identifies the request for `url` and `params`: its URL with the query sorted
        (and secret parameters left out), to notice a page asked for twice."""
        full = requests.Request("GET", url, params=query_values(params)).prepare().url or url
        parts = urlsplit(full)
        query = sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in self.masker.params
        )
        return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, urlencode(query), ""))

    def _post_token(
        self, url: str, data: dict[str, str], basic: tuple[str, str] | None
    ) -> requests.Response:
        attempt = 0
        while True:
            response = self._send("POST", url, None, attempt, data=data, auth=basic)
            if response is not None:
                return response
            attempt += 1

    def _send(
        self, method: str, url: str, stream: str | None, attempt: int, **kwargs: Any
    ) -> requests.Response | None:
        """One try: the response with its body read, or None when it should be tried again
        (after the wait)."""
        deadline = time.monotonic() + self.max_request_seconds
        watch = _Watch(self.max_request_seconds)
        reset = _WATCH.set(watch)
        try:
            try:
                response = self.session.request(method, url, stream=True, **kwargs)
                self._read_body(response, deadline)
            except Exception as exc:
                if watch.stop():  # the watchdog cut the connection: that is the deadline
                    raise _DeadlineExceeded(self.max_request_seconds) from exc
                raise
            finally:
                watch.stop()
                _WATCH.reset(reset)
        except (requests.Timeout, requests.ConnectionError) as exc:
            self._give_up_or_wait(attempt, stream, method, url, kwargs, exc, None)
            return None
        except _TooLarge as exc:
            where = self._where(stream, method, url, kwargs.get("params"))
            raise ConnectorError(
                self.masker.mask(
                    f"{where} answered more than max_response_bytes "
                    f"({self.max_response_bytes} bytes): ask for smaller pages (page_size) "
                    "or raise max_response_bytes."
                ),
                stream=stream,
            ) from exc
        except requests.RequestException as exc:
            where = self._where(stream, method, url, kwargs.get("params"))
            raise ConnectorError(
                f"{where} failed: {self._describe(exc, url)}", stream=stream
            ) from exc
        status = response.status_code
        wait = self.rate_limit.limited_wait(response) if self.rate_limit is not None else None
        if wait is not None:
            self._wait_rate_limit(attempt, stream, method, response, wait)
            return None
        if status in _RETRIED_STATUSES or status >= 500:
            self._give_up_or_wait(attempt, stream, method, response.url, {}, None, response)
            return None
        return response

    def _wait_rate_limit(
        self,
        attempt: int,
        stream: str | None,
        method: str,
        response: requests.Response,
        wait: float,
    ) -> None:
        """Sleep until the API's rate limit lets the request through again; a retryable
        error when the reset is further off than the rule's bound, or the retries are used."""
        assert self.rate_limit is not None  # only called with a rule
        where = self._where(stream, method, response.url, None)
        bound = self.rate_limit.max_wait_seconds
        if wait > bound:
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + wait))
            raise TransientError(
                f"{where} is over the API's rate limit until about {reset} (HTTP "
                f"{response.status_code}), longer than the rate limit's max_wait_seconds "
                f"({bound:g} s): the sync is retried later.",
                stream=stream,
            )
        if attempt >= self.retry.max_retries:
            raise TransientError(
                f"{where} was still over the API's rate limit after {attempt + 1} attempts "
                f"(HTTP {response.status_code}): {self._snippet(response)}",
                stream=stream,
            )
        time.sleep(wait)

    def _read_body(self, response: requests.Response, deadline: float) -> None:
        """Read the streamed body into `response.content`, within the deadline and the size
        limit. `read1` returns what one socket read brings, so the deadline is checked however
        slowly the bytes come (a plain read of a chunk would wait for the whole chunk)."""
        limit = self.max_response_bytes
        declared = (response.headers.get("Content-Length") or "").strip()
        # One buffer (not chunks joined into a second copy): json.loads reads it as it is.
        content = bytearray()
        try:
            if declared.isdigit() and int(declared) > limit:
                raise _TooLarge()
            for chunk in _chunks(response, deadline, self.max_request_seconds):
                if len(content) + len(chunk) > limit:
                    raise _TooLarge()
                content += chunk
        except BaseException:
            response.close()  # the connection is in an unknown state: not reused
            raise
        response._content = content
        response._content_consumed = True
        response.close()  # the body is read: the connection goes back to the pool

    def _give_up_or_wait(
        self,
        attempt: int,
        stream: str | None,
        method: str,
        url: str,
        kwargs: dict[str, Any],
        error: requests.RequestException | None,
        response: requests.Response | None,
    ) -> None:
        where = self._where(stream, method, url, kwargs.get("params"))
        if attempt >= self.retry.max_retries:
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            if response is not None:
                raise TransientError(
                    f"{where} failed with HTTP {response.status_code} after {tries}: "
                    f"{self._snippet(response)}",
                    stream=stream,
                )
            reason = self._describe(error, url)
            if isinstance(error, requests.Timeout):
                raise TransientError(f"{where} failed after {tries}: {reason}.", stream=stream)
            raise UnreachableError(
                f"{where} could not connect after {tries}: {reason}.", stream=stream
            )
        if response is not None and response.status_code in (429, 503):
            delay = self.retry.retry_after(response, attempt)
        else:
            delay = self.retry.backoff(attempt)
        time.sleep(delay)

    def _accepted(self, response: requests.Response, stream: str | None) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        where = self._where(stream, _method(response), response.url, None)
        detail = f"{where} answered HTTP {status}: {self._snippet(response)}"
        error: ConnectorError
        if status == 401:
            error = AuthenticationError(detail, stream=stream)
        elif status == 403:
            error = PermissionError_(detail, stream=stream)
        elif status == 404:
            error = StreamNotFoundError(detail, stream=stream)
        elif 300 <= status < 400:
            target = self.mask(response.headers.get("Location", "?"))
            error = ConnectorError(
                f"{where} redirected (HTTP {status}) to {target}; redirects are not "
                "followed: use the final address in base_url or the stream's path.",
                stream=stream,
            )
        else:
            error = ConnectorError(detail, stream=stream)
        error.http_status = status  # type: ignore[attr-defined]  # read by http_status()
        raise error

    def _body_error(
        self, response: requests.Response, code: str, stream: str | None
    ) -> ConnectorError:
        """The error a successful status's body reported (`body_errors`)."""
        where = self._where(stream, _method(response), response.url, None)
        detail = f"{where} answered error '{code}': {self._snippet(response)}"
        rule = self.body_errors
        error: ConnectorError
        if rule is not None and code in rule.auth_codes:
            error = AuthenticationError(detail, stream=stream)
        elif rule is not None and code in rule.retry_codes:
            error = TransientError(detail, stream=stream)
        else:
            error = ConnectorError(detail, stream=stream)
        error.error_code = code  # type: ignore[attr-defined]  # read by body_error_code()
        return error

    def _where(
        self, stream: str | None, method: str, url: str, params: dict[str, Any] | None
    ) -> str:
        try:
            full = requests.Request(method, url, params=params).prepare().url or url
        except requests.RequestException:
            full = url
        prefix = f"Stream '{stream}': " if stream else ""
        return f"{prefix}{method} {self.mask(full)}"

    def mask(self, url: str) -> str:
        """`url` with the values of secret query parameters replaced by ***."""
        return self.masker.mask_url(url)

    def _snippet(self, response: requests.Response) -> str:
        # Masked before it is cut short: a cut secret would leak its start.
        try:
            text = response.text or ""
        except (requests.RequestException, RuntimeError):
            text = ""
        text = self.masker.mask(" ".join(text.split()))
        return text[:_SNIPPET] or "(empty body)"

    def _describe(self, error: BaseException | None, url: str) -> str:
        """The cause of a failed request in a few words, masked (before it is cut short)."""
        cause = _cause(error, url, self.timeout, deadline_name="max_request_seconds")
        return self.masker.mask(cause)[:_SNIPPET]


def query_values(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters as the API gets them: None left out, booleans as JSON's true/false
    (Python would send True/False)."""
    return {
        k: ("true" if v else "false") if isinstance(v, bool) else v
        for k, v in params.items()
        if v is not None
    }


def http_status(error: BaseException) -> int | None:
    """The HTTP status an error of `Requester.get` reports (None: not an HTTP answer)."""
    return getattr(error, "http_status", None)


def body_error_code(error: BaseException) -> str | None:
    """The error code a successful status's body reported (`body_errors`); None otherwise."""
    return getattr(error, "error_code", None)


def _method(response: requests.Response) -> str:
    """The method of the request `response` answers (GET or a search's POST)."""
    request = getattr(response, "request", None)
    return str(getattr(request, "method", None) or "GET")
