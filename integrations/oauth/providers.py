"""The providers connectors authorize with (the reference's Connector OAuth rows), spoken
through Authlib's requests client: the authorize URL (with PKCE where the provider takes it),
the code exchange, refreshing, and revoking.

Each provider is off (503) until its client id and secret are set; its hosts are settings, so
that a test (or a sovereign cloud) points them elsewhere. What each one differs in:

- Slack (OAuth v2): errors come in a 200 body (`{"ok": false, "error": ...}`); with token
  rotation on, access tokens expire after 12 hours and each refresh hands out a new refresh
  token. No PKCE for apps with a secret.
- Microsoft identity platform (v2.0): PKCE; refresh tokens are replaced on every refresh.
- Salesforce: PKCE; a production or sandbox login host; the token answer names the org's
  instance URL (where its API lives) and says nothing of expiry (the org's session timeout).
- HubSpot: tokens expire after 30 minutes; errors are HubSpot's `{"status", "message"}`, not
  OAuth's `{"error"}`; the portal (hub id) comes from the token's metadata endpoint.
- Shopify: per shop (`<name>.myshopify.com`); the callback is signed with an HMAC of its query
  by the app's secret; offline access tokens do not expire and cannot be refreshed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django.conf import settings
from django.utils import timezone

from integrations.models import OAuthProvider
from landed.api.errors import ApplicationError, NotConfiguredError, UpstreamError

logger = logging.getLogger("integrations.oauth")

# A shop's domain as Shopify assigns it: nothing else is ever put into a URL we call.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$")


class GrantRefused(Exception):
    """The provider refused the code or the refresh token (`invalid_grant` and its kin): the
    grant is gone, or the code was used, expired, or made for another redirect URI."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class ProviderUnreachable(Exception):
    """The provider could not be reached, or answered with a server error."""


@dataclass
class TokenSet:
    """A provider's token answer, normalised."""

    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    scope: str = ""
    # Not secret: who and where at the provider (see OAuthGrant.external_account).
    external_account: dict[str, Any] = field(default_factory=dict)

    def secrets(self) -> dict[str, str]:
        values = {"access_token": self.access_token}
        if self.refresh_token:
            values["refresh_token"] = self.refresh_token
        return values


class BadProviderParams(ApplicationError):
    status_code = 422
    default_message = "Invalid authorization parameters"


class Provider:
    name: ClassVar[str]
    label: ClassVar[str]
    settings_prefix: ClassVar[str]
    pkce: ClassVar[bool] = False
    # Scopes asked whatever streams are read, and those each stream needs.
    base_scopes: ClassVar[tuple[str, ...]] = ()
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {}
    scope_separator: ClassVar[str] = " "
    token_endpoint_auth_method: ClassVar[str] = "client_secret_post"  # noqa: S105

    # --- Settings -------------------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return str(getattr(settings, f"{self.settings_prefix}_CLIENT_ID", ""))

    @property
    def client_secret(self) -> str:
        return str(getattr(settings, f"{self.settings_prefix}_CLIENT_SECRET", ""))

    def require_configured(self) -> None:
        if not (self.client_id and self.client_secret):
            raise NotConfiguredError(
                f"{self.label} is not configured",
                f"Set {self.settings_prefix}_CLIENT_ID and {self.settings_prefix}_CLIENT_SECRET "
                "(see docs/connector_oauth.md).",
            )

    # --- What a flow needs -----------------------------------------------------------------------
    def clean_params(self, query: dict[str, str]) -> dict[str, str]:
        """The provider's own authorize parameters (Shopify's shop, Salesforce's login host),
        checked; raises BadProviderParams."""
        return {}

    def scopes_for(self, streams: list[str] | None) -> list[str]:
        """The scopes for reading `streams` (all of the source's streams when None)."""
        unknown = [s for s in streams or [] if s not in self.stream_scopes]
        if unknown:
            raise BadProviderParams(
                detail=[
                    {
                        "loc": ["query", "streams"],
                        "msg": f"Unknown {self.label} streams: {', '.join(unknown)}. Streams: "
                        f"{', '.join(sorted(self.stream_scopes))}.",
                        "type": "enum",
                    }
                ]
            )
        scopes = list(self.base_scopes)
        for stream in streams or list(self.stream_scopes):
            scopes.extend(s for s in self.stream_scopes[stream] if s not in scopes)
        return scopes

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        raise NotImplementedError

    def token_endpoint(self, params: dict[str, str]) -> str:
        raise NotImplementedError

    def verify_callback(self, query: dict[str, str], params: dict[str, str]) -> None:
        """Checks of the callback's own (Shopify's HMAC); raises GrantRefused."""

    # --- The protocol, through Authlib ------------------------------------------------------
    def session(
        self, *, redirect_uri: str | None = None, scope: str | None = None
    ) -> OAuth2Session:
        session = OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256" if self.pkce else None,
            default_timeout=settings.OAUTH_HTTP_TIMEOUT_SECONDS,
        )
        session.register_compliance_hook("access_token_response", self._compliant)
        session.register_compliance_hook("refresh_token_response", self._compliant)
        return session

    def authorization_url(
        self,
        *,
        state: str,
        redirect_uri: str,
        scopes: list[str],
        code_verifier: str,
        params: dict[str, str],
    ) -> str:
        scope = self.scope_separator.join(scopes)
        with self.session(redirect_uri=redirect_uri, scope=scope) as session:
            extra: dict[str, str] = {"code_verifier": code_verifier} if self.pkce else {}
            url, _ = session.create_authorization_url(
                self.authorize_endpoint(params), state=state, **extra, **self.authorize_extras()
            )
        return str(url)

    def authorize_extras(self) -> dict[str, str]:
        return {}

    def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str, params: dict[str, str]
    ) -> TokenSet:
        extra = {"code_verifier": code_verifier} if self.pkce and code_verifier else {}
        with self.session(redirect_uri=redirect_uri) as session, self.calling("token endpoint"):
            token = session.fetch_token(self.token_endpoint(params), code=code, **extra)
        tokens = self.token_set(dict(token), params)
        tokens.external_account = {**self.external_account(token, params), **params}
        return tokens

    def refresh(self, *, refresh_token: str, params: dict[str, str]) -> TokenSet:
        with self.session() as session, self.calling("token endpoint"):
            token = session.refresh_token(self.token_endpoint(params), refresh_token=refresh_token)
        tokens = self.token_set(dict(token), params)
        # Providers that do not rotate refresh tokens answer without one: keep the old one.
        tokens.refresh_token = tokens.refresh_token or refresh_token
        return tokens

    def token_set(self, token: dict[str, Any], params: dict[str, str]) -> TokenSet:
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnreachable(f"{self.label}'s token endpoint sent no access token")
        expires_at = None
        expires_in = token.get("expires_in")
        if isinstance(expires_in, int | float) or (
            isinstance(expires_in, str) and expires_in.isdigit()
        ):
            expires_at = timezone.now() + timedelta(seconds=float(expires_in))
        refresh = token.get("refresh_token")
        scope = token.get("scope")
        return TokenSet(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else "",
            expires_at=expires_at,
            scope=scope if isinstance(scope, str) else "",
        )

    def external_account(self, token: Any, params: dict[str, str]) -> dict[str, Any]:
        return {}

    # --- Turning a provider's answers into ours ---------------------------------------------
    def _compliant(self, response: requests.Response) -> requests.Response:
        """Make a token answer read as RFC 6749 says, for Authlib: a server error raises, and
        a provider's own error shape becomes `{"error", "error_description"}`."""
        if response.status_code >= 500 or response.status_code == 429:
            response.raise_for_status()
        return response

    @contextmanager
    def calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except OAuthError as exc:
            raise GrantRefused(str(exc.error), str(exc.description or "")) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "no"
            raise ProviderUnreachable(f"{self.label} {what}: HTTP {status}") from exc
        except requests.RequestException as exc:
            logger.warning("integrations.oauth_unreachable provider=%s what=%s", self.name, what)
            raise ProviderUnreachable(f"{self.label} {what}: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise ProviderUnreachable(f"{self.label} {what}: unreadable answer") from exc

    def unavailable(self, detail: str) -> UpstreamError:
        return UpstreamError(f"{self.label} is unavailable", detail)


class Slack(Provider):
    name = OAuthProvider.SLACK.value
    label = "Slack"
    settings_prefix = "SLACK"
    scope_separator = ","
    base_scopes = ("team:read",)
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "channels": ("channels:read",),
        "users": ("users:read", "users:read.email"),
        "messages": ("channels:read", "channels:history"),
    }

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        return f"{settings.SLACK_OAUTH_URL.rstrip('/')}/oauth/v2/authorize"

    def token_endpoint(self, params: dict[str, str]) -> str:
        return f"{settings.SLACK_API_URL.rstrip('/')}/oauth.v2.access"

    def _compliant(self, response: requests.Response) -> requests.Response:
        super()._compliant(response)
        # Slack answers its errors with HTTP 200 and {"ok": false, "error": "..."}.
        try:
            body = response.json()
        except ValueError:
            return response
        if isinstance(body, dict) and body.get("ok") is False:
            error = str(body.get("error") or "unknown_error")
            mapped = "invalid_grant" if error in _SLACK_GRANT_ERRORS else error
            _rewrite(response, {"error": mapped, "error_description": error})
        return response

    def external_account(self, token: Any, params: dict[str, str]) -> dict[str, Any]:
        team = token.get("team") if isinstance(token.get("team"), dict) else {}
        return {"id": team.get("id"), "name": team.get("name")} if team else {}


# Slack's codes for a code or refresh token it will not honour (its `invalid_grant`s).
_SLACK_GRANT_ERRORS = frozenset(
    {
        "invalid_code",
        "code_already_used",
        "invalid_refresh_token",
        "token_revoked",
        "token_expired",
        "invalid_grant_type",
        "bad_redirect_uri",
        "oauth_authorization_url_mismatch",
    }
)


class Microsoft(Provider):
    name = OAuthProvider.MICROSOFT.value
    label = "Microsoft"
    settings_prefix = "MICROSOFT"
    pkce = True
    base_scopes = ("offline_access", "User.Read")
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "users": ("User.Read.All",),
        "groups": ("Group.Read.All",),
    }

    def _base(self) -> str:
        return f"{settings.MICROSOFT_LOGIN_URL.rstrip('/')}/{settings.MICROSOFT_TENANT}"

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        return f"{self._base()}/oauth2/v2.0/authorize"

    def token_endpoint(self, params: dict[str, str]) -> str:
        return f"{self._base()}/oauth2/v2.0/token"


class Salesforce(Provider):
    name = OAuthProvider.SALESFORCE.value
    label = "Salesforce"
    settings_prefix = "SALESFORCE"
    pkce = True
    base_scopes = ("api", "refresh_token")
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {}

    def scopes_for(self, streams: list[str] | None) -> list[str]:
        # Salesforce's objects are discovered per org; `api` reads every one the user can.
        return list(self.base_scopes)

    def clean_params(self, query: dict[str, str]) -> dict[str, str]:
        environment = query.get("environment") or "production"
        if environment not in ("production", "sandbox"):
            raise BadProviderParams(
                detail=[
                    {
                        "loc": ["query", "environment"],
                        "msg": "Give production or sandbox.",
                        "type": "enum",
                    }
                ]
            )
        return {"environment": environment}

    def _login(self, params: dict[str, str]) -> str:
        if params.get("environment") == "sandbox":
            return str(settings.SALESFORCE_SANDBOX_LOGIN_URL).rstrip("/")
        return str(settings.SALESFORCE_LOGIN_URL).rstrip("/")

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        return f"{self._login(params)}/services/oauth2/authorize"

    def token_endpoint(self, params: dict[str, str]) -> str:
        return f"{self._login(params)}/services/oauth2/token"

    def external_account(self, token: Any, params: dict[str, str]) -> dict[str, Any]:
        # `id` is https://login.salesforce.com/id/<org id>/<user id>.
        identity = str(token.get("id") or "")
        parts = urlsplit(identity).path.strip("/").split("/")
        org = parts[-2] if len(parts) >= 3 and parts[-3] == "id" else None
        instance = str(token.get("instance_url") or "").rstrip("/")
        return {"id": org, "instance_url": instance}


class HubSpot(Provider):
    name = OAuthProvider.HUBSPOT.value
    label = "HubSpot"
    settings_prefix = "HUBSPOT"
    base_scopes = ("oauth",)
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "contacts": ("crm.objects.contacts.read",),
        "companies": ("crm.objects.companies.read",),
        "deals": ("crm.objects.deals.read",),
        "owners": ("crm.objects.owners.read",),
    }

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        return f"{settings.HUBSPOT_OAUTH_URL.rstrip('/')}/oauth/authorize"

    def token_endpoint(self, params: dict[str, str]) -> str:
        return f"{settings.HUBSPOT_API_URL.rstrip('/')}/oauth/v1/token"

    def _compliant(self, response: requests.Response) -> requests.Response:
        super()._compliant(response)
        # HubSpot's errors are {"status": "BAD_REFRESH_TOKEN", "message": ...}.
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                return response
            if isinstance(body, dict) and "error" not in body:
                status = str(body.get("status") or "error")
                error = "invalid_grant" if status.startswith("BAD_") else status.lower()
                _rewrite(
                    response,
                    {"error": error, "error_description": str(body.get("message") or status)},
                )
        return response

    def external_account(self, token: Any, params: dict[str, str]) -> dict[str, Any]:
        """The portal the token reads: HubSpot's access-token metadata endpoint."""
        url = (
            f"{settings.HUBSPOT_API_URL.rstrip('/')}/oauth/v1/access-tokens/{token['access_token']}"
        )
        with self.calling("token metadata"):
            response = requests.get(url, timeout=settings.OAUTH_HTTP_TIMEOUT_SECONDS)
            response.raise_for_status()
            body = response.json()
        if not isinstance(body, dict):
            raise ProviderUnreachable("HubSpot token metadata: not a JSON object")
        hub = body.get("hub_id")
        return {"id": str(hub) if hub is not None else None, "name": body.get("hub_domain")}


class Shopify(Provider):
    name = OAuthProvider.SHOPIFY.value
    label = "Shopify"
    settings_prefix = "SHOPIFY"
    scope_separator = ","
    stream_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "orders": ("read_orders",),
        "customers": ("read_customers",),
        "products": ("read_products",),
    }

    def clean_params(self, query: dict[str, str]) -> dict[str, str]:
        shop = (query.get("shop") or "").strip().lower()
        if not SHOP_DOMAIN.match(shop):
            raise BadProviderParams(
                detail=[
                    {
                        "loc": ["query", "shop"],
                        "msg": "Give the shop's myshopify.com domain, e.g. example.myshopify.com.",
                        "type": "value_error",
                    }
                ]
            )
        return {"shop": shop}

    @staticmethod
    def shop_url(shop: str) -> str:
        return str(settings.SHOPIFY_SHOP_URL_TEMPLATE).format(shop=shop).rstrip("/")

    def authorize_endpoint(self, params: dict[str, str]) -> str:
        return f"{self.shop_url(params['shop'])}/admin/oauth/authorize"

    def token_endpoint(self, params: dict[str, str]) -> str:
        return f"{self.shop_url(params['shop'])}/admin/oauth/access_token"

    def verify_callback(self, query: dict[str, str], params: dict[str, str]) -> None:
        """Shopify signs the callback's query with the app's secret: the HMAC-SHA256, in hex,
        of its other parameters sorted by name and joined as `k=v&k=v`."""
        given = query.get("hmac", "")
        message = "&".join(
            f"{k}={v}" for k, v in sorted(query.items()) if k not in ("hmac", "signature")
        )
        expected = hmac.new(
            self.client_secret.encode(), message.encode(), hashlib.sha256
        ).hexdigest()
        if not given or not hmac.compare_digest(given, expected):
            raise GrantRefused("invalid_signature", "The callback's HMAC does not match.")
        if (query.get("shop") or "").lower() != params.get("shop"):
            raise GrantRefused("shop_mismatch", "The callback names another shop.")

    def external_account(self, token: Any, params: dict[str, str]) -> dict[str, Any]:
        return {"id": params.get("shop")}


def _rewrite(response: requests.Response, body: dict[str, str]) -> None:
    """Replace a response's JSON body (what Authlib then reads)."""
    response._content = json.dumps(body).encode()
    response.status_code = 400


PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (Slack(), Microsoft(), Salesforce(), HubSpot(), Shopify())
}
