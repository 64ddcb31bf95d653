"""Secrets out of messages: the one place every user-facing message of the HTTP API source
passes through (check results, job errors, discovery errors, OAuth errors, response snippets).

The secrets are the config's secret fields (api_key, bearer_token, password, client_secret),
the base64 `username:password` pair of basic auth (an API may echo its Authorization header),
and every OAuth2 access token fetched while the source runs. Each is masked as it is and in
the forms it takes inside URLs, JSON and Python reprs, so that an API or a library quoting it
back does not leak it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from connectors.framework.base import ConnectorError

MASK = "***"
SECRET_FIELDS = ("api_key", "bearer_token", "password", "client_secret")


class Masker:
    def __init__(self, secrets: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._ordered: list[str] = []
        self._secrets: set[str] = set()
        # Query parameters whose values are secret whatever they hold (an API key's name).
        self.params: set[str] = set(params)
        for secret in secrets:
            self.add(secret)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Masker:
        secrets = [str(config[name]) for name in SECRET_FIELDS if config.get(name)]
        if (config.get("auth_type") or "none") == "basic" and config.get("username"):
            pair = f"{config['username']}:{config.get('password') or ''}".encode()
            secrets.append(base64.b64encode(pair).decode("ascii"))
        params = ()
        if config.get("auth_type") == "api_key" and config.get("api_key_in") == "query":
            params = (str(config.get("api_key_name") or ""),)
        return cls(secrets, params)

    def add(self, secret: str) -> None:
        """A secret learnt while running (an OAuth2 access token)."""
        if not secret:
            return
        self._secrets.add(secret)
        forms = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret),
            json.dumps(secret)[1:-1],
            repr(secret)[1:-1],
        }
        self._forms.update(form for form in forms if form)
        # Longest first: a secret that contains another is masked whole.
        self._ordered = sorted(self._forms, key=len, reverse=True)

    def is_secret(self, name: str, value: str) -> bool:
        """Whether a query parameter carries a credential: the API key's parameter, or any
        parameter whose value is a secret (an API echoing a token in its next link)."""
        return name in self.params or value in self._secrets

    def without_secrets(self, url: str) -> str:
        """`url` without the query parameters that carry a credential (see `is_secret`), the
        others left as they are written. A next-page URL is stored in states: the requester
        adds the credentials back to each request."""
        parts = urlsplit(url)
        if not parts.query:
            return url
        kept = []
        for item in parts.query.split("&"):
            pairs = parse_qsl(item, keep_blank_values=True)
            if pairs and self.is_secret(*pairs[0]):
                continue
            kept.append(item)
        if len(kept) == len(parts.query.split("&")):
            return url
        return urlunsplit(parts._replace(query="&".join(kept)))

    def mask(self, text: str) -> str:
        for form in self._ordered:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def mask_url(self, url: str) -> str:
        """`url` without user info, with secret query parameters' values replaced by ***, and
        every secret value masked wherever it appears."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "(an invalid URL)"
        query = [
            (k, MASK if k in self.params else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        netloc = parts.hostname or ""
        if ":" in netloc:  # an IPv6 literal
            netloc = f"[{netloc}]"
        if port:
            netloc = f"{netloc}:{port}"
        rebuilt = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))
        return self.mask(rebuilt)

    def masked(self, error: ConnectorError) -> ConnectorError:
        """`error` with its message masked (in place, so that its type and cause stay)."""
        message = self.mask(error.message)
        if message != error.message:
            error.message = message
            error.args = (message, *error.args[1:])
        return error
