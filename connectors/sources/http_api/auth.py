"""Authentication of API requests, one class per `auth_type`: nothing, an API key (header or
query parameter), a bearer token, HTTP basic, an OAuth2 access token obtained with the
client-credentials grant and cached until shortly before it expires, or a token the platform
supplies (`provided_token`: a GitHub App installation's, say), which users of the `http_api`
type cannot choose: only a source whose spec names credentials gets a provider.

The definition checks a config against its auth type's class (`config_issues`), and the
requester builds it with `build_auth`. A new type is one class here and one entry in AUTHS.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import requests

from connectors.framework.base import AuthenticationError, ConfigError, ConnectorError
from connectors.framework.credentials import TokenProvider
from connectors.sources.http_api.masking import Masker
from connectors.sources.http_api.urls import is_http_url

# An access token is renewed this long before the expiry its endpoint announced.
_EXPIRY_MARGIN_SECONDS = 30
_DEFAULT_TOKEN_LIFETIME_SECONDS = 3600


# (token_url, form data, basic credentials or None) -> the token endpoint's response
TokenPost = Callable[[str, dict[str, str], tuple[str, str] | None], requests.Response]


class Auth(Protocol):
    """Adds credentials to a request; `renew` reports whether trying again can help a refusal
    (a response of one of `renew_statuses`)."""

    @property
    def renew_statuses(self) -> frozenset[int]: ...

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None: ...

    def renew(self) -> bool: ...


class BaseAuth:
    """What every auth type shares: the config fields it needs, its own checks of the config,
    and the defaults of the `Auth` protocol."""

    kind: ClassVar[str]  # its `auth_type`
    required: ClassVar[tuple[str, ...]] = ()  # config fields that must hold a value
    # Offered to users of the `http_api` type (its spec's choices); a type that needs what
    # only the platform supplies is not.
    user_selectable: ClassVar[bool] = True
    # Refusals that a renewed credential may cure.
    renew_statuses: ClassVar[frozenset[int]] = frozenset({401})

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(field, message, issue type) of each problem of the config for this type."""
        return [
            (name, f"Required when auth_type is '{cls.kind}'.", "missing")
            for name in cls.required
            if not config.get(name)
        ]

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        """The auth of a checked config; `post` sends a token request, `masker` learns the
        secrets obtained, `credentials` hands out the tokens the platform supplies (if any)."""
        raise NotImplementedError

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        return None

    def renew(self) -> bool:
        return False


class NoAuth(BaseAuth):
    kind = "none"

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        return cls()


class ApiKeyAuth(BaseAuth):
    kind = "api_key"
    required = ("api_key_name", "api_key")

    def __init__(self, name: str, key: str, where: str) -> None:
        self.name, self.key, self.where = name, key, where

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        return cls(config["api_key_name"], config["api_key"], config.get("api_key_in") or "header")

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        (params if self.where == "query" else headers)[self.name] = self.key


class HeaderAuth(BaseAuth):
    """An Authorization header of a fixed value."""

    def __init__(self, value: str) -> None:
        self.value = value

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = self.value


class BearerAuth(HeaderAuth):
    kind = "bearer"
    required = ("bearer_token",)

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        return cls(f"Bearer {config['bearer_token']}")


class BasicAuth(HeaderAuth):
    kind = "basic"
    required = ("username",)

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        pair = f"{config['username']}:{config.get('password') or ''}".encode()
        return cls(f"Basic {base64.b64encode(pair).decode('ascii')}")


class OAuth2ClientCredentials(BaseAuth):
    kind = "oauth2_client_credentials"
    required = ("token_url", "client_id", "client_secret")

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: str | None,
        client_auth: str,
        post: TokenPost,
        masker: Masker,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.client_auth = client_auth
        self.post = post
        self.masker = masker
        self._token: str | None = None
        self._expires_at = 0.0
        self._renewed = False

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[tuple[str, str, str]]:
        issues = super().config_issues(config)
        token_url = config.get("token_url")
        if token_url and not is_http_url(str(token_url)):
            issues.append(("token_url", "Give an absolute http:// or https:// URL.", "url_scheme"))
        return issues

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        return cls(
            token_url=config["token_url"],
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            scopes=config.get("scopes") or None,
            client_auth=config.get("client_auth_method") or "basic",
            post=post,
            masker=masker,
        )

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = f"Bearer {self.access_token()}"

    def renew(self) -> bool:
        """Drop the cached token after a 401 (revoked or expired early): once per token, so
        that an API that refuses every token fails instead of looping."""
        if self._renewed:
            return False
        self._token, self._renewed = None, True
        return True

    def access_token(self) -> str:
        if self._token is None or time.monotonic() >= self._expires_at:
            self._token, lifetime = self._fetch()
            self._expires_at = time.monotonic() + max(lifetime - _EXPIRY_MARGIN_SECONDS, 1)
        return self._token

    def _fetch(self) -> tuple[str, float]:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = self.scopes
        basic = None
        if self.client_auth == "body":
            data.update(client_id=self.client_id, client_secret=self.client_secret)
        else:
            basic = (self.client_id, self.client_secret)
        response = self.post(self.token_url, data, basic)
        where = f"The token endpoint {self.masker.mask_url(self.token_url)}"
        if response.status_code in (400, 401, 403):
            # Masked before it is cut short: a cut secret would leak its start.
            reason = self.masker.mask(_oauth_error(response))[:200]
            raise AuthenticationError(
                f"{where} refused the client credentials (HTTP {response.status_code}: {reason})."
            )
        try:
            payload = response.json()
            token = payload["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConnectorError(
                f"{where} answered HTTP {response.status_code} without an access_token."
            ) from exc
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"{where} sent an empty token.")
        # From now on the token is a secret of every message.
        self.masker.add(token)
        lifetime = payload.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = _DEFAULT_TOKEN_LIFETIME_SECONDS
        self._renewed = False
        return token, float(lifetime)


class ProvidedTokenAuth(BaseAuth):
    """`Authorization: Bearer <token>` with a token the platform supplies through the source's
    TokenProvider (connectors/framework/credentials.py), which caches it and mints a new one
    before it expires. A refused token (401, and 403: an installation suspended meanwhile
    answers 403) is renewed once: a provider whose grant is gone raises
    ReauthorizeRequiredError then, and a token refused again is the API's answer."""

    kind = "provided_token"
    user_selectable = False
    renew_statuses = frozenset({401, 403})

    def __init__(
        self,
        provider: TokenProvider,
        masker: Masker,
        *,
        header: str = "Authorization",
        prefix: str = "Bearer ",
    ) -> None:
        self.provider = provider
        self.masker = masker
        # Where the token goes: `Authorization: Bearer <token>` for most APIs; a source's
        # definition may name another header and prefix (Shopify: `X-Shopify-Access-Token`).
        self.header = header
        self.prefix = prefix
        self._token: str | None = None
        self._refresh = False
        self._renewed = False

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        post: TokenPost,
        masker: Masker,
        credentials: TokenProvider | None = None,
    ) -> Auth:
        if credentials is None:
            raise ConfigError(
                "This source authenticates with credentials the platform supplies, and none "
                "were given."
            )
        return cls(
            credentials,
            masker,
            header=str(config.get("token_header") or "Authorization"),
            prefix=str(config.get("token_prefix", "Bearer ")),
        )

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        token = self.provider.access_token(refresh=self._refresh)
        self._refresh = False
        if token != self._token:
            # A new token may be renewed once in its turn; and it is a secret of every message.
            self._token, self._renewed = token, False
            self.masker.add(token)
        headers[self.header] = f"{self.prefix}{token}"

    def renew(self) -> bool:
        if self._renewed:
            return False
        self._refresh = self._renewed = True
        return True


def _oauth_error(response: requests.Response) -> str:
    try:
        payload = response.json()
        reason = payload.get("error_description") or payload.get("error") or "no reason given"
    except (ValueError, AttributeError):
        reason = response.text or "no reason given"
    return " ".join(str(reason).split())


# Every type by its `auth_type`, in the order the spec lists them.
AUTHS: dict[str, type[BaseAuth]] = {
    cls.kind: cls
    for cls in (
        NoAuth,
        ApiKeyAuth,
        BearerAuth,
        BasicAuth,
        OAuth2ClientCredentials,
        ProvidedTokenAuth,
    )
}
# The types a user of the `http_api` type may choose.
USER_AUTHS: tuple[str, ...] = tuple(kind for kind, cls in AUTHS.items() if cls.user_selectable)


def build_auth(
    config: dict[str, Any],
    post: TokenPost,
    masker: Masker,
    credentials: TokenProvider | None = None,
) -> Auth:
    """The auth the config names (none for a type it does not know)."""
    kind = config.get("auth_type") or "none"
    auth = AUTHS.get(kind, NoAuth) if isinstance(kind, str) else NoAuth
    return auth.from_config(config, post, masker, credentials)
