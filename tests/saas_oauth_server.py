"""A local Slack, Microsoft identity platform, Salesforce, HubSpot and Shopify, as far as their
OAuth goes: one real HTTP server on 127.0.0.1 that speaks each provider's documented
authorize and token protocol (with its own error shapes), so that Authlib's requests client is
exercised as in production.

Paths (the settings point each provider here, see `configure`):
  Slack        GET  /slack/oauth/v2/authorize          POST /slack/api/oauth.v2.access
               (errors as 200 {"ok": false}; token rotation: 12 h tokens, new refresh token
               on each refresh)
  Microsoft    GET  /microsoft/<tenant>/oauth2/v2.0/authorize  (PKCE required)
               POST /microsoft/<tenant>/oauth2/v2.0/token      (refresh tokens rotate)
  Salesforce   GET  /salesforce/<login|sandbox>/services/oauth2/authorize (PKCE required)
               POST /salesforce/<login|sandbox>/services/oauth2/token (instance_url, id; no
               expires_in; refresh tokens kept)
  HubSpot      GET  /hubspot/app/oauth/authorize       POST /hubspot/api/oauth/v1/token
               GET  /hubspot/api/oauth/v1/access-tokens/<token>
               (errors as {"status": "BAD_...", "message"}; refresh tokens kept)
  Shopify      GET  /shopify/<shop>/admin/oauth/authorize (a callback signed with an HMAC)
               POST /shopify/<shop>/admin/oauth/access_token (offline tokens, no refresh)

The data APIs of the sources plug in (`apis`: objects with `answer(method, path, query, raw,
headers)` returning (status, body, headers) or None): tests/saas_apis/.

Controls: `deny_next()`, `fail(path, status, times)`, `revoke_all(provider)`,
`expire_access_tokens(provider)`,
`expires_in[provider]`, `hits(path)`, `refreshes(provider)`, `token_is_valid(token)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

CLIENT_ID = "landed-saas-client"
CLIENT_SECRET = "landed-saas-secret"
PKCE_REQUIRED = {"microsoft", "salesforce"}
ROTATES_REFRESH_TOKENS = {"slack", "microsoft"}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def shopify_hmac(params: dict[str, str], secret: str = CLIENT_SECRET) -> str:
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class SaaSOAuth:
    def __init__(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        # access token -> provider; refresh token -> grant info
        self.access_tokens: dict[str, str] = {}
        # Access tokens past their expiry (the provider answers "expired", not "invalid").
        self.expired_tokens: set[str] = set()
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.expires_in: dict[str, int] = {
            "slack": 43200,
            "microsoft": 3599,
            "hubspot": 1800,
        }
        self.requests: list[tuple[str, str]] = []
        self.refresh_calls: dict[str, int] = defaultdict(int)
        # Slack's workspace, Salesforce's org, HubSpot's portal the next consent is for.
        self.account_ids = {"slack": "T0001", "salesforce": "00D000000000001", "hubspot": 4242}
        self.refresh_delay = 0.0
        # The providers' data APIs (tests/saas_apis/): each answers the paths it knows, with
        # the tokens this server issued.
        self.apis: list[Any] = []
        self._failures: dict[str, deque[int]] = defaultdict(deque)
        self._deny = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- Controls --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def configure(self, settings: Any) -> None:
        """Point every provider's settings at this server, with its client credentials."""
        for prefix in ("SLACK", "MICROSOFT", "SALESFORCE", "HUBSPOT", "SHOPIFY"):
            setattr(settings, f"{prefix}_CLIENT_ID", CLIENT_ID)
            setattr(settings, f"{prefix}_CLIENT_SECRET", CLIENT_SECRET)
        settings.SLACK_OAUTH_URL = f"{self.url}/slack"
        settings.SLACK_API_URL = f"{self.url}/slack/api"
        settings.MICROSOFT_LOGIN_URL = f"{self.url}/microsoft"
        settings.MICROSOFT_TENANT = "organizations"
        settings.SALESFORCE_LOGIN_URL = f"{self.url}/salesforce/login"
        settings.SALESFORCE_SANDBOX_LOGIN_URL = f"{self.url}/salesforce/sandbox"
        settings.HUBSPOT_OAUTH_URL = f"{self.url}/hubspot/app"
        settings.HUBSPOT_API_URL = f"{self.url}/hubspot/api"
        settings.SHOPIFY_SHOP_URL_TEMPLATE = f"{self.url}/shopify/{{shop}}"

    def deny_next(self) -> None:
        with self._lock:
            self._deny += 1

    def fail(self, path: str, status: int = 500, *, times: int = 1) -> None:
        with self._lock:
            self._failures[path].extend([status] * times)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if urlsplit(p).path == path)

    def refreshes(self, provider: str) -> int:
        with self._lock:
            return self.refresh_calls[provider]

    def revoke_all(self, provider: str) -> None:
        """The user revoked the app: every token of the provider stops working."""
        with self._lock:
            for token, owner in list(self.access_tokens.items()):
                if owner == provider:
                    del self.access_tokens[token]
            for token, info in list(self.refresh_tokens.items()):
                if info["provider"] == provider:
                    del self.refresh_tokens[token]

    def expire_access_tokens(self, provider: str) -> None:
        """Every live access token of the provider expires now (refresh tokens stay good)."""
        with self._lock:
            for token, owner in list(self.access_tokens.items()):
                if owner == provider:
                    del self.access_tokens[token]
                    self.expired_tokens.add(token)

    def token_is_expired(self, token: str) -> bool:
        with self._lock:
            return token in self.expired_tokens

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            return token in self.access_tokens

    # --- Serving -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append((method, handler.path))
            failures = self._failures.get(parts.path)
            injected = failures.popleft() if failures else None
        if injected is not None:
            status, body, extra = injected, {"error": "server_error"}, {}
        else:
            status, body, extra = self._route(method, parts.path, query, raw, headers)
        if isinstance(body, str | bytes):
            data = body.encode() if isinstance(body, str) else body
            content_type = extra.pop("Content-Type", "text/plain")
        else:
            data = json.dumps(body).encode() if body is not None else b""
            content_type = "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        form = dict(parse_qsl(raw, keep_blank_values=True))
        if raw.startswith("{"):
            form = json.loads(raw)
        segments = path.strip("/").split("/")
        provider = segments[0] if segments else ""
        if method == "GET" and path.endswith("/authorize"):
            return self._authorize(provider, path, query)
        if method == "POST" and (
            path.endswith("/oauth.v2.access")
            or path.endswith("/oauth2/v2.0/token")
            or path.endswith("/services/oauth2/token")
            or path.endswith("/oauth/v1/token")
            or path.endswith("/admin/oauth/access_token")
        ):
            return self._token(provider, path, form, headers)
        if method == "GET" and path.startswith("/hubspot/api/oauth/v1/access-tokens/"):
            token = segments[-1]
            if not self.token_is_valid(token):
                return 404, {"status": "error", "message": "not found"}, {}
            return 200, {"hub_id": self.account_ids["hubspot"], "hub_domain": "acme.com"}, {}
        for api in self.apis:
            answer = api.answer(method, path, query, raw, headers)
            if answer is not None:
                return answer
        return 404, {"error": "not_found"}, {}

    # --- Authorize ---------------------------------------------------------------------------
    def _authorize(
        self, provider: str, path: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if query.get("client_id") != CLIENT_ID:
            return 400, "invalid client_id", {}
        redirect_uri = query.get("redirect_uri", "")
        state = query.get("state", "")
        if not redirect_uri:
            return 400, "redirect_uri missing", {}
        challenge = query.get("code_challenge")
        if provider in PKCE_REQUIRED and (
            not challenge or query.get("code_challenge_method") != "S256"
        ):
            return self._back(redirect_uri, error="invalid_request", state=state)
        with self._lock:
            deny = self._deny > 0
            self._deny -= 1 if deny else 0
        if deny:
            return self._back(
                redirect_uri, error="access_denied", error_description="declined", state=state
            )
        code = secrets.token_urlsafe(24)
        shop = path.split("/")[2] if provider == "shopify" else ""
        with self._lock:
            self.codes[code] = {
                "provider": provider,
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "scope": query.get("scope", ""),
                "expires": time.time() + 600,
                "used": False,
                "shop": shop,
                "sandbox": "/sandbox/" in path,
            }
        if provider == "shopify":
            params = {
                "code": code,
                "host": base64.b64encode(f"{shop}/admin".encode()).decode(),
                "shop": shop,
                "state": state,
                "timestamp": str(int(time.time())),
            }
            params["hmac"] = shopify_hmac(params)
            return self._back(redirect_uri, **params)
        return self._back(redirect_uri, code=code, state=state)

    @staticmethod
    def _back(redirect_uri: str, **params: str) -> tuple[int, Any, dict[str, str]]:
        sep = "&" if "?" in redirect_uri else "?"
        return 302, None, {"Location": f"{redirect_uri}{sep}{urlencode(params)}"}

    # --- Token -------------------------------------------------------------------------------
    def _token(
        self, provider: str, path: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return self._error(provider, 401, "invalid_client", "client authentication failed")
        grant_type = form.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            return self._refresh(provider, form)
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            valid = grant is not None and not grant["used"] and grant["expires"] > time.time()
            if grant is not None:
                grant["used"] = True
        if not valid or grant is None or grant["provider"] != provider:
            return self._error(provider, 400, "invalid_grant", "invalid authorization code")
        if provider != "shopify" and form.get("redirect_uri") != grant["redirect_uri"]:
            return self._error(provider, 400, "invalid_grant", "redirect_uri mismatch")
        if grant["challenge"] and s256(form.get("code_verifier") or "") != grant["challenge"]:
            return self._error(provider, 400, "invalid_grant", "code_verifier mismatch")
        return 200, self._issue(provider, grant["scope"], grant), {}

    def _refresh(self, provider: str, form: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        with self._lock:
            self.refresh_calls[provider] += 1
            info = self.refresh_tokens.get(form.get("refresh_token", ""))
            if info is not None and provider in ROTATES_REFRESH_TOKENS:
                # Rotation: the refresh token is spent by its use.
                del self.refresh_tokens[form["refresh_token"]]
        if info is None or info["provider"] != provider:
            return self._error(provider, 400, "invalid_grant", "refresh token revoked")
        answer = self._issue(provider, info["scope"], info, refresh=True)
        if provider not in ROTATES_REFRESH_TOKENS:
            answer.pop("refresh_token", None)
        return 200, answer, {}

    def _issue(
        self, provider: str, scope: str, grant: dict[str, Any], *, refresh: bool = False
    ) -> dict[str, Any]:
        access = f"{provider}-at-{secrets.token_urlsafe(16)}"
        refresh_token = f"{provider}-rt-{secrets.token_urlsafe(16)}"
        with self._lock:
            self.access_tokens[access] = provider
            if provider != "shopify" and (not refresh or provider in ROTATES_REFRESH_TOKENS):
                self.refresh_tokens[refresh_token] = {
                    "provider": provider,
                    "scope": scope,
                    "sandbox": grant.get("sandbox"),
                }
        if provider == "slack":
            return {
                "ok": True,
                "access_token": access,
                "token_type": "bot",
                "scope": scope,
                "expires_in": self.expires_in["slack"],
                "refresh_token": refresh_token,
                "team": {"id": self.account_ids["slack"], "name": "Acme"},
                "app_id": "A0001",
            }
        if provider == "microsoft":
            return {
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": self.expires_in["microsoft"],
                "ext_expires_in": self.expires_in["microsoft"],
                "access_token": access,
                "refresh_token": refresh_token,
            }
        if provider == "salesforce":
            org = self.account_ids["salesforce"]
            host = "sandbox" if grant.get("sandbox") else "login"
            return {
                "access_token": access,
                "refresh_token": refresh_token,
                "instance_url": f"{self.url}/salesforce/instance",
                "id": f"{self.url}/salesforce/{host}/id/{org}/005000000000001",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": "sig",
                "scope": scope,
            }
        if provider == "hubspot":
            return {
                "token_type": "bearer",
                "access_token": access,
                "refresh_token": refresh_token,
                "expires_in": self.expires_in["hubspot"],
            }
        return {"access_token": access, "scope": scope}

    @staticmethod
    def _error(
        provider: str, status: int, error: str, description: str
    ) -> tuple[int, Any, dict[str, str]]:
        if provider == "slack":
            code = {
                "invalid_grant": "invalid_refresh_token"
                if "refresh" in description
                else "invalid_code",
                "invalid_client": "invalid_client_id",
            }.get(error, error)
            return 200, {"ok": False, "error": code}, {}
        if provider == "hubspot":
            status_name = {
                "invalid_grant": "BAD_REFRESH_TOKEN"
                if "refresh" in description
                else "BAD_AUTH_CODE",
                "invalid_client": "BAD_CLIENT_ID",
            }.get(error, "error")
            return status, {"status": status_name, "message": description}, {}
        if provider == "shopify":
            return status, {"error": error, "error_description": description}, {}
        return status, {"error": error, "error_description": description}, {}


@contextmanager
def running() -> Iterator[SaaSOAuth]:
    server = SaaSOAuth()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(5)
