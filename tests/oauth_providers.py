"""A local Google and GitHub for the tests: real HTTP servers on 127.0.0.1 that speak the parts
of each provider's documented protocol that Landed uses, so that Authlib's requests client and
joserfc are exercised as in production.

Google (OpenID Connect):
  GET  /.well-known/openid-configuration   the discovery document
  GET  /o/oauth2/v2/auth                    authorize: checks client_id, the registered
                                            redirect_uri, response_type and the PKCE challenge
                                            (S256), then redirects back with code and state (or
                                            error=access_denied)
  POST /token                               client authentication (body or basic), the code
                                            (single use), redirect_uri, the PKCE verifier; an
                                            ID token signed RS256 with the test key
  GET  /oauth2/v3/certs                     the JWKS
  GET  /v1/userinfo                         Bearer token -> sub, email, email_verified
  GET  /tokeninfo?access_token=             whom a token was issued to
GitHub (OAuth app):
  GET  /login/oauth/authorize               as above (GitHub's error parameters)
  POST /login/oauth/access_token            errors in a 200 body, as GitHub answers
  GET  /api/user, /api/user/emails          the user; its addresses (needs user:email)
  POST /api/applications/{client_id}/token  "check a token" (basic auth: client id, secret)
Both:
  GET  /app/callback                        a stand-in frontend page: answers its query as JSON

Controls: `user` (who is signed in at the provider and consents), `deny_next()`,
`fail(path, status, times)`, `id_token_claims` (overrides), `sign_with_other_key()`,
`rotate_key()`, `issue_access_token(...)`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "landed-test-client"
CLIENT_SECRET = "landed-test-secret"


@functools.cache
def rsa_key(kid: str) -> RSAKey:
    """A test signing key (made once per test run: RSA generation takes a moment)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _Answer:
    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _redirect(url: str) -> _Answer:
    return _Answer(302, None, {"Location": url})


class FakeProvider:
    """The parts both providers share: a server, the authorize endpoint, codes and tokens."""

    authorize_path = ""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        # Registered callback URLs; the authorize endpoint refuses any other.
        self.redirect_uris: set[str] = set()
        self.user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
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

    # --- The test's controls ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def frontend_url(self) -> str:
        return f"{self.url}/app/callback"

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def deny_next(self) -> None:
        """The next person at the consent screen declines."""
        with self._lock:
            self._deny += 1

    def fail(self, path: str, status: int = 500, *, times: int = 1) -> None:
        """Answer the next `times` requests to `path` with `status`."""
        with self._lock:
            self._failures[path].extend([status] * times)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if urlsplit(p).path == path)

    def issue_access_token(
        self, user: dict[str, Any] | None = None, *, client_id: str | None = None, scope: str = ""
    ) -> str:
        """An access token as a sign-in elsewhere (NextAuth) would have got it."""
        return self._new_access_token(user or self.user, client_id or self.client_id, scope)

    # --- Serving -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        path = urlsplit(handler.path).path
        query = dict(parse_qsl(urlsplit(handler.path).query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append((method, handler.path))
            failures = self._failures.get(path)
            injected = failures.popleft() if failures else None
        if injected is not None:
            answer = _Answer(injected, {"error": "server_error", "message": "injected"})
        elif path == "/app/callback":
            answer = _Answer(200, query)
        elif path == self.authorize_path and method == "GET":
            answer = self._authorize(query)
        else:
            answer = self._route(method, path, query, raw, headers)
        self._write(handler, answer)

    def _write(self, handler: BaseHTTPRequestHandler, answer: _Answer) -> None:
        body = answer.body
        content_type = answer.headers.pop("Content-Type", "application/json")
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> _Answer:
        raise NotImplementedError

    # --- Authorization -----------------------------------------------------------------------
    def _authorize(self, query: dict[str, str]) -> _Answer:
        """The consent screen, with the person already signed in at the provider."""
        if query.get("client_id") != self.client_id:
            return _Answer(400, "Error 401: invalid_client", {"Content-Type": "text/plain"})
        redirect_uri = query.get("redirect_uri", "")
        if self.redirect_uris and redirect_uri not in self.redirect_uris:
            return _Answer(400, "Error 400: redirect_uri_mismatch", {"Content-Type": "text/plain"})
        state = query.get("state", "")
        challenge = query.get("code_challenge")
        if not challenge or query.get("code_challenge_method") != "S256":
            return _redirect(self._back(redirect_uri, error="invalid_request", state=state))
        with self._lock:
            deny = self._deny > 0
            self._deny -= 1 if deny else 0
        if deny:
            return _redirect(self._back(redirect_uri, **self._denied(), state=state))
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {
                "user": dict(self.user),
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "nonce": query.get("nonce"),
                "scope": query.get("scope", ""),
                "expires": time.time() + 600,
                "used": False,
            }
        return _redirect(self._back(redirect_uri, code=code, state=state))

    def _denied(self) -> dict[str, str]:
        return {"error": "access_denied"}

    @staticmethod
    def _back(redirect_uri: str, **params: str) -> str:
        return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"

    def _redeem(self, form: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
        """The code's grant, or None and why not. A code is spent by its first presentation,
        whether or not the rest checks out (RFC 6749 10.5)."""
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant["used"] or grant["expires"] < time.time():
                return None, "code"
            grant["used"] = True
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return None, "redirect_uri"
        verifier = form.get("code_verifier") or ""
        if s256(verifier) != grant["challenge"]:
            return None, "code_verifier"
        return grant, ""

    def _client_from(self, form: dict[str, str], headers: dict[str, str]) -> tuple[str, str]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def _new_access_token(self, user: dict[str, Any], client_id: str, scope: str) -> str:
        token = self.token_prefix + secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens[token] = {"user": dict(user), "client_id": client_id, "scope": scope}
        return token

    token_prefix = "at_"

    def _bearer(self, headers: dict[str, str]) -> dict[str, Any] | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with self._lock:
            return self.access_tokens.get(token.strip())


class FakeGoogle(FakeProvider):
    authorize_path = "/o/oauth2/v2/auth"
    token_prefix = "ya29."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = {
            "sub": "108000000000000000001",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
        }
        self.key = rsa_key("google-test-1")
        self.published_keys = [self.key]
        self.id_token_claims: dict[str, Any] = {}
        self._signing_key = self.key
        # Google's own issuer: nothing ties it to the server's address.
        self.issuer = "https://accounts.google.com"

    def sign_with_other_key(self) -> None:
        """Sign ID tokens with a key Google does not publish (same key id)."""
        self._signing_key = rsa_key("google-test-forged")

    def rotate_key(self) -> None:
        """Publish a new key and sign with it, as Google does every few weeks."""
        self.key = rsa_key("google-test-2")
        self.published_keys = [self.key]
        self._signing_key = self.key

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> _Answer:
        if path == "/.well-known/openid-configuration":
            return _Answer(200, self._discovery())
        if path == "/oauth2/v3/certs":
            keys = KeySet(self.published_keys).as_dict(private=False)
            return _Answer(200, keys)
        if path == "/token" and method == "POST":
            return self._token(dict(parse_qsl(raw)), headers)
        if path == "/v1/userinfo":
            grant = self._bearer(headers)
            if grant is None:
                return _Answer(
                    401,
                    {"error": "invalid_request", "error_description": "Invalid Credentials"},
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                )
            user = grant["user"]
            return _Answer(200, {k: user[k] for k in ("sub", "email", "email_verified", "name")})
        if path == "/tokeninfo":
            with self._lock:
                grant = self.access_tokens.get(query.get("access_token", ""))
            if grant is None:
                return _Answer(400, {"error_description": "Invalid Value"})
            return _Answer(
                200,
                {
                    "azp": grant["client_id"],
                    "aud": grant["client_id"],
                    "sub": grant["user"]["sub"],
                    "scope": grant["scope"],
                    "exp": str(int(time.time()) + 3599),
                    "expires_in": "3599",
                    "email": grant["user"]["email"],
                    "email_verified": "true" if grant["user"]["email_verified"] else "false",
                    "access_type": "online",
                },
            )
        return _Answer(404, {"error": "not_found"})

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}{self.authorize_path}",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/v1/userinfo",
            "jwks_uri": f"{self.url}/oauth2/v3/certs",
            "response_types_supported": ["code", "token", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> _Answer:
        client_id, secret = self._client_from(form, headers)
        if (client_id, secret) != (self.client_id, self.client_secret):
            return _Answer(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") != "authorization_code":
            return _Answer(400, {"error": "unsupported_grant_type"})
        grant, problem = self._redeem(form)
        if grant is None:
            return _Answer(400, {"error": "invalid_grant", "error_description": f"Bad {problem}"})
        access_token = self._new_access_token(grant["user"], client_id, grant["scope"])
        return _Answer(
            200,
            {
                "access_token": access_token,
                "expires_in": 3599,
                "scope": grant["scope"],
                "token_type": "Bearer",
                "id_token": self.id_token(grant["user"], nonce=grant["nonce"]),
            },
        )

    def id_token(self, user: dict[str, Any], *, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": user["sub"],
            "email": user["email"],
            "email_verified": user["email_verified"],
            "name": user.get("name", ""),
            "iat": now,
            "exp": now + 3600,
        }
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.id_token_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        # The published key's id, whichever key signs (a forged token names a real key).
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self._signing_key)


class FakeGitHub(FakeProvider):
    authorize_path = "/login/oauth/authorize"
    token_prefix = "gho_"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = {
            "id": 583231,
            "login": "octocat",
            "name": "The Octocat",
            "emails": [
                {
                    "email": "octo@example.com",
                    "primary": True,
                    "verified": True,
                    "visibility": "private",
                },
                {
                    "email": "octocat@users.noreply.github.com",
                    "primary": False,
                    "verified": True,
                    "visibility": None,
                },
            ],
        }

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def _denied(self) -> dict[str, str]:
        return {
            "error": "access_denied",
            "error_description": "The user has denied your application access.",
            "error_uri": "https://docs.github.com/apps/troubleshooting-authorization-request-errors",
        }

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> _Answer:
        if path == "/login/oauth/access_token" and method == "POST":
            return self._token(dict(parse_qsl(raw)), headers)
        if path in ("/api/user", "/api/user/emails") and method == "GET":
            grant = self._bearer(headers)
            if grant is None:
                return _Answer(
                    401,
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401",
                    },
                )
            if path == "/api/user":
                return _Answer(200, self._user_json(grant["user"]))
            if "user:email" not in grant["scope"].replace(",", " ").split():
                return _Answer(404, {"message": "Not Found", "status": "404"})
            return _Answer(200, grant["user"]["emails"])
        if path == f"/api/applications/{self.client_id}/token" and method == "POST":
            if self._client_from({}, headers) != (self.client_id, self.client_secret):
                return _Answer(401, {"message": "Requires authentication", "status": "401"})
            token = json.loads(raw or "{}").get("access_token", "")
            with self._lock:
                grant = self.access_tokens.get(token)
            if grant is None or grant["client_id"] != self.client_id:
                return _Answer(404, {"message": "Not Found", "status": "404"})
            return _Answer(
                200,
                {
                    "id": 1,
                    "token": token,
                    "scopes": grant["scope"].replace(",", " ").split(),
                    "app": {"client_id": self.client_id, "name": "Landed"},
                    "user": self._user_json(grant["user"]),
                },
            )
        return _Answer(404, {"message": "Not Found"})

    @staticmethod
    def _user_json(user: dict[str, Any]) -> dict[str, Any]:
        public = next((e["email"] for e in user["emails"] if e.get("visibility") == "public"), None)
        return {
            "login": user["login"],
            "id": user["id"],
            "node_id": f"MDQ6VXNlcj{user['id']}",
            "type": "User",
            "name": user.get("name"),
            "email": public,
        }

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> _Answer:
        as_json = "application/json" in headers.get("accept", "")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return self._token_answer(
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                },
                as_json,
            )
        grant, problem = self._redeem(form)
        if grant is None:
            error = (
                "redirect_uri_mismatch" if problem == "redirect_uri" else "bad_verification_code"
            )
            return self._token_answer(
                {
                    "error": error,
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/troubleshooting-oauth-app-access-token-request-errors",
                },
                as_json,
            )
        scope = ",".join(grant["scope"].split())
        token = self._new_access_token(grant["user"], client_id, scope)
        return self._token_answer(
            {"access_token": token, "token_type": "bearer", "scope": scope}, as_json
        )

    @staticmethod
    def _token_answer(body: dict[str, str], as_json: bool) -> _Answer:
        # GitHub answers errors with 200 too; form-encoded unless JSON is asked for.
        if as_json:
            return _Answer(200, body)
        return _Answer(200, urlencode(body), {"Content-Type": "application/x-www-form-urlencoded"})
