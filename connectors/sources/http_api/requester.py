"""Sending requests: credentials added, failures retried with a bound, the rest mapped to
connector errors that name the stream, the URL (secrets masked) and the HTTP status.

Retried: 429 (after its Retry-After, in seconds or as an HTTP date, capped), 408, every 5xx,
timeouts and connection failures, with exponential backoff and jitter, at most `max_retries`
times; then a retryable error (the sync is retried later). A 401 renews an OAuth2 token once.
Not retried: 401/403 (credentials), 404 (a wrong path), other 4xx, redirects (never followed:
a redirect target is another host to check against the network policy).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
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
from connectors.framework.outbound import session as outbound_session
from connectors.sources.http_api.auth import Auth, build_auth

_RETRIED_STATUSES = frozenset({408, 429})
_SNIPPET = 200


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
        header = (response.headers.get("Retry-After") or "").strip()
        if header:
            try:
                seconds = float(header)
            except ValueError:
                try:
                    seconds = parsedate_to_datetime(header).timestamp() - time.time()
                except (TypeError, ValueError, IndexError):
                    seconds = -1.0
            if seconds >= 0:
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
    ) -> None:
        self.session = outbound_session(
            allow_private_networks=allow_private_networks, timeout=timeout
        )
        self.session.headers["Accept"] = "application/json"
        self.session.headers.update(config.get("headers") or {})
        self.retry = retry
        self.auth: Auth = build_auth(config, self._post_token)
        self._secrets = {
            str(config[name])
            for name in ("api_key", "bearer_token", "password", "client_secret")
            if config.get(name)
        }

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, params: dict[str, Any], *, stream: str | None) -> requests.Response:
        """A 2xx response to GET `url`, after retries; a ConnectorError otherwise."""
        renewed = False
        attempt = 0
        while True:
            headers: dict[str, str] = {}
            query = {k: v for k, v in params.items() if v is not None}
            self.auth.apply(headers, query)
            response = self._send("GET", url, stream, attempt, params=query, headers=headers)
            if response is None:
                attempt += 1
                continue
            if response.status_code == 401 and not renewed and self.auth.renew():
                renewed = True
                continue
            return self._accepted(response, stream)

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
        """One try: the response, or None when it should be tried again (after the wait)."""
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            self._give_up_or_wait(attempt, stream, method, url, kwargs, exc, None)
            return None
        except requests.ConnectionError as exc:
            self._give_up_or_wait(attempt, stream, method, url, kwargs, exc, None)
            return None
        except requests.RequestException as exc:
            where = self._where(stream, method, url, kwargs.get("params"))
            raise ConnectorError(f"{where} failed: {exc}", stream=stream) from exc
        status = response.status_code
        if status in _RETRIED_STATUSES or status >= 500:
            self._give_up_or_wait(attempt, stream, method, response.url, {}, None, response)
            return None
        return response

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
            if isinstance(error, requests.Timeout):
                raise TransientError(f"{where} timed out after {tries}.", stream=stream)
            raise UnreachableError(
                f"{where} could not connect after {tries}: {_reason(error)}", stream=stream
            )
        if response is not None and response.status_code in (429, 503):
            delay = self.retry.retry_after(response, attempt)
        else:
            delay = self.retry.backoff(attempt)
        if response is not None:
            response.close()
        time.sleep(delay)

    def _accepted(self, response: requests.Response, stream: str | None) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        where = self._where(stream, "GET", response.url, None)
        detail = f"{where} answered HTTP {status}: {self._snippet(response)}"
        if status == 401:
            raise AuthenticationError(detail, stream=stream)
        if status == 403:
            raise PermissionError_(detail, stream=stream)
        if status == 404:
            raise StreamNotFoundError(detail, stream=stream)
        if 300 <= status < 400:
            target = response.headers.get("Location", "?")
            raise ConnectorError(
                f"{where} redirected (HTTP {status}) to {self.mask(target)}; redirects are not "
                "followed: use the final address in base_url or the stream's path.",
                stream=stream,
            )
        raise ConnectorError(detail, stream=stream)

    def _where(
        self, stream: str | None, method: str, url: str, params: dict[str, Any] | None
    ) -> str:
        full = requests.Request(method, url, params=params).prepare().url or url
        prefix = f"Stream '{stream}': " if stream else ""
        return f"{prefix}{method} {self.mask(full)}"

    def mask(self, url: str) -> str:
        """`url` with the values of secret query parameters replaced by ***."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return "(an invalid URL)"
        hidden = self.auth.secret_params()
        query = [
            (k, "***" if k in hidden or v in self._secrets else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))

    def _snippet(self, response: requests.Response) -> str:
        text = " ".join((response.text or "").split())[:_SNIPPET] or "(empty body)"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _reason(error: BaseException | None) -> str:
    return str(error)[:_SNIPPET] if error is not None else "unknown error"
