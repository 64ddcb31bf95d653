"""The providers people sign in with, spoken through Authlib's requests client (the OAuth 2.0
protocol, PKCE) and joserfc (the ID token's signature):

- Google, by OpenID Connect: endpoints from its discovery document; the ID token verified
  against its published keys (JWKS), with `iss`, `aud`, `exp`, `nonce`, and `email_verified`.
- GitHub, by OAuth 2.0 and its REST API: `/user` and `/user/emails` (the primary address, and
  whether GitHub verified it).

Each provider is off (503) until its client id and secret are set. A provider that cannot be
reached, or answers with a server error, is a 502.
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from landed.accounts.models import SocialIdentity
from landed.accounts.oauth.errors import (
    CODE_REJECTED,
    EMAIL_UNVERIFIED,
    ID_TOKEN_INVALID,
    INVALID_TOKEN,
    OAuthFlowError,
    provider_unavailable,
)
from landed.api.errors import NotConfiguredError

logger = logging.getLogger("landed.accounts.oauth")

GOOGLE = SocialIdentity.Provider.GOOGLE.value
GITHUB = SocialIdentity.Provider.GITHUB.value

# Asymmetric signatures only: an ID token is never accepted unsigned or HMAC-signed (with a key
# an attacker could choose), whatever a discovery document lists.
_ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
# Clocks differ a little between Google and us.
_ID_TOKEN_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says signed in. `subject` is the provider's stable id of the account;
    `email_verified` is the provider's word that the person controls `email`."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    name: str = ""


class Provider:
    name: ClassVar[str]
    label: ClassVar[str]
    settings_prefix: ClassVar[str]
    scope: ClassVar[str]
    # How the client authenticates to the token endpoint (both providers document the body).
    token_endpoint_auth_method: ClassVar[str] = "client_secret_post"  # noqa: S105

    @property
    def client_id(self) -> str:
        return str(getattr(settings, f"{self.settings_prefix}_CLIENT_ID"))

    @property
    def client_secret(self) -> str:
        return str(getattr(settings, f"{self.settings_prefix}_CLIENT_SECRET"))

    def require_configured(self) -> None:
        if not (self.client_id and self.client_secret):
            raise NotConfiguredError(
                f"Sign-in with {self.label} is not configured",
                f"Set {self.settings_prefix}_CLIENT_ID and {self.settings_prefix}_CLIENT_SECRET "
                "(see docs/auth.md).",
            )

    def redirect_uri(self, request: HttpRequest) -> str:
        """The callback URL registered at the provider: the configured base, or this server's
        own origin as the request names it."""
        base = getattr(settings, f"{self.settings_prefix}_REDIRECT_BASE_URL") or (
            settings.OAUTH_REDIRECT_BASE_URL or request.build_absolute_uri("/")
        )
        return f"{base.rstrip('/')}/auth/oauth/{self.name}/callback"

    def session(
        self, *, redirect_uri: str | None = None, token: str | None = None
    ) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token={"access_token": token, "token_type": "Bearer"} if token else None,
            default_timeout=settings.OAUTH_HTTP_TIMEOUT_SECONDS,
        )

    # --- What each provider implements -----------------------------------------------------
    def authorization_url(
        self, *, state: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> str:
        raise NotImplementedError

    def identity_from_code(
        self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> ProviderIdentity:
        raise NotImplementedError

    def identity_from_access_token(self, access_token: str) -> ProviderIdentity:
        raise NotImplementedError

    # --- Shared plumbing ---------------------------------------------------------------------
    @contextmanager
    def calling(self, what: str) -> Iterator[None]:
        """Turn the ways a call to the provider fails into the API's errors."""
        try:
            yield
        except OAuthError as exc:
            # The token endpoint refused the code: used before, expired, or the PKCE verifier
            # or redirect URI does not match.
            raise OAuthFlowError(
                CODE_REJECTED,
                f"{self.label} refused the sign-in code",
                f"{exc.error}: {exc.description}" if exc.description else str(exc.error),
            ) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "no"
            raise provider_unavailable(self.label, f"{what}: HTTP {status}") from exc
        except requests.RequestException as exc:
            logger.warning("accounts.oauth_unreachable provider=%s what=%s", self.name, what)
            raise provider_unavailable(self.label, f"{what}: {type(exc).__name__}") from exc
        except ValueError as exc:  # a body that is not the JSON documented
            raise provider_unavailable(self.label, f"{what}: unreadable answer") from exc

    def json_of(self, response: requests.Response, what: str, *, token_error: bool = False) -> Any:
        """The JSON body of a provider's answer. With `token_error`, a 400/401/403 means the
        access token was refused."""
        if response.status_code >= 500:
            raise provider_unavailable(self.label, f"{what}: HTTP {response.status_code}")
        if token_error and response.status_code in (400, 401, 403, 404, 422):
            raise OAuthFlowError(
                INVALID_TOKEN,
                f"Invalid {self.label} access token",
                f"{self.label} refused the token ({what}: HTTP {response.status_code}).",
                status=401,
            )
        if response.status_code != 200:
            raise provider_unavailable(self.label, f"{what}: HTTP {response.status_code}")
        return response.json()

    def cached_json(self, url: str, what: str, *, refresh: bool = False) -> dict[str, Any]:
        """A provider's public document (discovery, keys), kept OAUTH_METADATA_CACHE_SECONDS in
        the shared cache. A cache outage costs a fetch, not the sign-in."""
        key = f"landed:oauth:{self.name}:{hashlib.sha256(url.encode()).hexdigest()[:32]}"
        if not refresh:
            try:
                found = cache.get(key)
            except Exception:
                logger.exception("accounts.oauth_cache_unavailable")
                found = None
            if isinstance(found, dict):
                return found
        with self.calling(what), requests.Session() as http:
            document = self.json_of(
                http.get(url, timeout=settings.OAUTH_HTTP_TIMEOUT_SECONDS), what
            )
        if not isinstance(document, dict):
            raise provider_unavailable(self.label, f"{what}: not a JSON object")
        try:
            cache.set(key, document, settings.OAUTH_METADATA_CACHE_SECONDS)
        except Exception:
            logger.exception("accounts.oauth_cache_unavailable")
        return document


class Google(Provider):
    name = GOOGLE
    label = "Google"
    settings_prefix = "GOOGLE_OAUTH"
    scope = "openid email profile"

    def metadata(self) -> dict[str, Any]:
        """Google's OpenID Connect discovery document."""
        metadata = self.cached_json(settings.GOOGLE_OAUTH_DISCOVERY_URL, "discovery document")
        required = (
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        )
        missing = [name for name in required if not isinstance(metadata.get(name), str)]
        if missing:
            raise provider_unavailable(self.label, f"discovery document lacks {', '.join(missing)}")
        return metadata

    def authorization_url(
        self, *, state: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> str:
        endpoint = self.metadata()["authorization_endpoint"]
        with self.session(redirect_uri=redirect_uri) as session:
            url, _ = session.create_authorization_url(
                endpoint, state=state, code_verifier=code_verifier, nonce=nonce
            )
        return str(url)

    def identity_from_code(
        self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> ProviderIdentity:
        metadata = self.metadata()
        with self.session(redirect_uri=redirect_uri) as session, self.calling("token endpoint"):
            token = session.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=code_verifier
            )
        claims = self.verify_id_token(token, nonce=nonce, metadata=metadata)
        return ProviderIdentity(
            provider=self.name,
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=_is_true(claims.get("email_verified")),
            name=str(claims.get("name") or ""),
        )

    def verify_id_token(
        self, token: dict[str, Any], *, nonce: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims, once its signature (Google's published keys), issuer,
        audience (our client id), expiry and nonce check out."""
        raw = token.get("id_token")
        if not isinstance(raw, str) or not raw:
            raise OAuthFlowError(ID_TOKEN_INVALID, "No ID token", "Google sent no ID token.")
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(
            algorithms=[alg for alg in offered if alg in _ID_TOKEN_ALGORITHMS] or ["RS256"]
        )
        issuer = metadata["issuer"]
        # Google documents both spellings of its issuer for ID tokens.
        issuers = [issuer, issuer.removeprefix("https://")]
        try:
            try:
                decoded = jwt.decode(raw, self._key_set(metadata), registry=registry)
            except InvalidKeyIdError:
                # Google rotates its keys: a key id we do not know means fetch them again, once.
                decoded = jwt.decode(raw, self._key_set(metadata, refresh=True), registry=registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "values": issuers},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(leeway=_ID_TOKEN_LEEWAY_SECONDS)
        except JoseError as exc:
            logger.warning("accounts.oauth_id_token_invalid reason=%s", exc)
            raise OAuthFlowError(
                ID_TOKEN_INVALID, "Invalid ID token", f"Google's ID token failed a check: {exc}"
            ) from exc
        return dict(claims)

    def _key_set(self, metadata: dict[str, Any], *, refresh: bool = False) -> KeySet:
        document = self.cached_json(metadata["jwks_uri"], "signing keys", refresh=refresh)
        try:
            return KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError) as exc:
            raise provider_unavailable(self.label, "signing keys: unreadable") from exc

    def identity_from_access_token(self, access_token: str) -> ProviderIdentity:
        """An access token from a sign-in the frontend made (NextAuth): Google says whom it was
        issued to (tokeninfo: it must be our client, or any site's token could sign in here)
        and who it is for (userinfo)."""
        metadata = self.metadata()
        with self.session(token=access_token) as session, self.calling("userinfo"):
            info = self.json_of(
                session.get(
                    settings.GOOGLE_OAUTH_TOKENINFO_URL,
                    params={"access_token": access_token},
                    withhold_token=True,
                ),
                "tokeninfo",
                token_error=True,
            )
            if self.client_id not in (info.get("aud"), info.get("azp")):
                raise OAuthFlowError(
                    INVALID_TOKEN,
                    "Invalid Google access token",
                    "The token was issued to another application.",
                    status=401,
                )
            claims = self.json_of(
                session.get(metadata["userinfo_endpoint"]), "userinfo", token_error=True
            )
        if not isinstance(claims, dict) or not claims.get("sub"):
            raise provider_unavailable(self.label, "userinfo: no subject")
        if info.get("sub") and str(info["sub"]) != str(claims["sub"]):
            raise OAuthFlowError(
                INVALID_TOKEN, "Invalid Google access token", "Token and user differ.", status=401
            )
        return ProviderIdentity(
            provider=self.name,
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=_is_true(claims.get("email_verified")),
            name=str(claims.get("name") or ""),
        )


class GitHub(Provider):
    name = GITHUB
    label = "GitHub"
    settings_prefix = "GITHUB_OAUTH"
    # read:user for the profile, user:email for the private and verified addresses.
    scope = "read:user user:email"
    _api_headers: ClassVar[dict[str, str]] = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }

    def _url(self, path: str) -> str:
        return f"{settings.GITHUB_OAUTH_BASE_URL.rstrip('/')}{path}"

    def _api(self, path: str) -> str:
        return f"{settings.GITHUB_API_BASE_URL.rstrip('/')}{path}"

    def authorization_url(
        self, *, state: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> str:
        # GitHub takes PKCE (S256) for OAuth apps; it has no OpenID nonce.
        with self.session(redirect_uri=redirect_uri) as session:
            url, _ = session.create_authorization_url(
                self._url("/login/oauth/authorize"), state=state, code_verifier=code_verifier
            )
        return str(url)

    def identity_from_code(
        self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> ProviderIdentity:
        with self.session(redirect_uri=redirect_uri) as session:
            with self.calling("token endpoint"):
                session.fetch_token(
                    self._url("/login/oauth/access_token"), code=code, code_verifier=code_verifier
                )
            return self._identity(session, token_error=False)

    def identity_from_access_token(self, access_token: str) -> ProviderIdentity:
        """An access token from a sign-in the frontend made (NextAuth). GitHub's "check a token"
        says whether it was issued to our OAuth app (else any site's token could sign in
        here); then the user and emails, as after our own sign-in."""
        with self.session(token=access_token) as session:
            with self.calling("check token"):
                checked = session.post(
                    self._api(f"/applications/{self.client_id}/token"),
                    json={"access_token": access_token},
                    auth=(self.client_id, self.client_secret),
                    headers=self._api_headers,
                    withhold_token=True,
                )
                if checked.status_code == 401:
                    # Our own client id and secret were refused: a configuration problem.
                    raise provider_unavailable(
                        self.label, "check token: GitHub refused this server's client secret"
                    )
                self.json_of(checked, "check token", token_error=True)
            return self._identity(session, token_error=True)

    def _identity(self, session: OAuth2Session, *, token_error: bool) -> ProviderIdentity:
        with self.calling("user"):
            user = self.json_of(
                session.get(self._api("/user"), headers=self._api_headers),
                "user",
                token_error=token_error,
            )
            emails_response = session.get(self._api("/user/emails"), headers=self._api_headers)
            if emails_response.status_code in (403, 404):
                # The token lacks the user:email scope.
                raise OAuthFlowError(
                    EMAIL_UNVERIFIED,
                    "No verified email",
                    "GitHub did not share the account's email addresses (user:email scope).",
                    status=403,
                )
            emails = self.json_of(emails_response, "user emails", token_error=token_error)
        if not isinstance(user, dict) or user.get("id") is None or not isinstance(emails, list):
            raise provider_unavailable(self.label, "user: unexpected answer")
        primary = next(
            (e for e in emails if isinstance(e, dict) and e.get("primary") and e.get("email")),
            None,
        )
        return ProviderIdentity(
            provider=self.name,
            subject=str(user["id"]),
            email=str(primary["email"]) if primary else "",
            email_verified=bool(primary and primary.get("verified") is True),
            name=str(user.get("name") or user.get("login") or ""),
        )


def _is_true(value: Any) -> bool:
    # Google has sent email_verified as the string "true" in some tokens.
    return value is True or value == "true"


_PROVIDERS: dict[str, Provider] = {GOOGLE: Google(), GITHUB: GitHub()}


def provider_get(name: str) -> Provider:
    return _PROVIDERS[name]


PROVIDER_NAMES = tuple(_PROVIDERS)
