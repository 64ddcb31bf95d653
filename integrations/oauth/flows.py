"""Connector OAuth, the popup pattern of the reference:

1. `GET /connectors/oauth/{provider}/authorize` (signed in): an `OAuthFlow` row remembers the
   account, the PKCE verifier, the provider's parameters, the connector to re-link if any, and
   the frontend origin the result goes to (from the sign-in allow-list); the answer is the
   provider's authorize URL with a `state` that signs a reference to the row. The client opens
   it in a popup.
2. The provider sends the popup to `GET /connectors/oauth/{provider}/callback`: the state is
   checked and spent (once, atomically), the code exchanged, and the tokens stored encrypted
   on an `OAuthGrant` (a new one, or the re-linked connector's own). The grant gets a
   short-lived, single-use result code, which the callback's page posts to the opener window
   (to the flow's frontend origin only) before closing.
3. The opener trades the code at `GET /connectors/oauth/result` for the grant's reference
   (`credential_id`), never the tokens, and creates the connector with it.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from connectors.framework import registry
from connectors.models import Connector
from integrations.models import OAuthFlow, OAuthGrant, OAuthGrantStatus
from integrations.oauth.providers import (
    PROVIDERS,
    GrantRefused,
    Provider,
    ProviderUnreachable,
    TokenSet,
)
from integrations.oauth.tokens import CREDENTIAL_FIELD, credential_kind
from landed.accounts.hashing import hash_secret
from landed.accounts.models import Account
from landed.accounts.oauth.redirects import redirect_target
from landed.api.errors import (
    BadRequestError,
    NotFoundError,
    RequestValidationError,
)
from landed.security.secrets import encrypt_secrets

logger = logging.getLogger("integrations.oauth")

_STATE_SALT = "landed.integrations.oauth.state"


def provider_get(name: str) -> Provider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise NotFoundError(
            "Unknown OAuth provider",
            f"Providers: {', '.join(PROVIDERS)}.",
        )
    return provider


def callback_url(provider: Provider, server_origin: str) -> str:
    """The redirect URI registered at the provider: the configured base, or this server's own
    origin as the request names it."""
    base = settings.OAUTH_REDIRECT_BASE_URL or server_origin
    return f"{base.rstrip('/')}/connectors/oauth/{provider.name}/callback"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ["query", field], "msg": message, "type": kind}])


@dataclass(frozen=True)
class Authorization:
    authorize_url: str
    state: str
    expires_at: Any
    redirect_uri: str
    scopes: list[str]


def oauth_authorize(
    *,
    account: Account,
    provider_name: str,
    query: dict[str, str],
    server_origin: str,
) -> Authorization:
    """Start an authorization (step 1 of the module docstring)."""
    provider = provider_get(provider_name)
    provider.require_configured()
    connector = _relinked_connector(account, provider, query.get("connector_id"))
    given = dict(query)
    if connector is not None:
        # Re-linking keeps the connector's shop or login host unless the client names one.
        grant = OAuthGrant.objects.filter(
            pk=connector.config.get(CREDENTIAL_FIELD), account=account
        ).first()
        for key in ("shop", "environment"):
            if grant is not None and not given.get(key) and grant.external_account.get(key):
                given[key] = str(grant.external_account[key])
    params = provider.clean_params(given)
    streams = [s.strip() for s in (query.get("streams") or "").split(",") if s.strip()]
    scopes = provider.scopes_for(streams or None)

    redirect_to = query.get("redirect_to") or settings.OAUTH_FRONTEND_URL
    target = redirect_target(redirect_to)
    if target is None:
        raise _invalid(
            "redirect_to",
            "Not an allowed frontend URL (OAUTH_FRONTEND_URL's origin, or one of "
            "OAUTH_ALLOWED_REDIRECT_URLS).",
        )
    now = timezone.now()
    state_id = secrets.token_urlsafe(32)
    flow = OAuthFlow.objects.create(
        state_hash=hash_secret(state_id),
        account=account,
        provider=provider.name,
        # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; this is 64.
        code_verifier=secrets.token_urlsafe(48) if provider.pkce else "",
        redirect_uri=callback_url(provider, server_origin),
        opener_origin=_origin(target),
        params={**params, "scopes": scopes},
        connector_id=connector.pk if connector else None,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.OAUTH_STATE_TTL_SECONDS),
    )
    # Authorizations nobody finished are worthless after expiry; keep the table small.
    OAuthFlow.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    state = signing.TimestampSigner(salt=_STATE_SALT).sign_object(
        {"id": state_id, "p": provider.name}
    )
    url = provider.authorization_url(
        state=state,
        redirect_uri=flow.redirect_uri,
        scopes=scopes,
        code_verifier=flow.code_verifier,
        params=params,
    )
    return Authorization(url, state, flow.expires_at, flow.redirect_uri, scopes)


def _relinked_connector(
    account: Account, provider: Provider, raw_id: str | None
) -> Connector | None:
    if not raw_id:
        return None
    try:
        connector_id = uuid.UUID(raw_id)
    except ValueError:
        connector_id = None
    connector = (
        Connector.objects.filter(pk=connector_id, account=account).first() if connector_id else None
    )
    if connector is None:
        raise _invalid("connector_id", "No connector with this id in this account.", "not_found")
    spec = registry.source_spec(connector.type)
    if spec is None or spec.credentials != credential_kind(provider.name):
        raise _invalid(
            "connector_id",
            f"This connector does not read with a {provider.label} authorization.",
        )
    return connector


class CallbackFailed(BadRequestError):
    """An authorization that cannot be completed. `code` is what the opener is told."""

    def __init__(self, code: str, message: str, detail: str = "", *, status: int = 400) -> None:
        super().__init__(message, detail or None)
        self.code = code
        self.status_code = status


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback page posts to `origin`: the result code, or an error code."""

    origin: str
    provider: str
    code: str | None = None
    error: str | None = None
    message: str = ""
    reason: str = ""
    status: int = 200


def oauth_callback(*, provider_name: str, query: dict[str, str]) -> CallbackOutcome:
    """Complete an authorization (step 2). Never raises: a failure is an outcome too, posted
    to the opener (to the configured frontend's origin when the state cannot tell which)."""
    fallback = _origin(settings.OAUTH_FRONTEND_URL)
    try:
        provider = provider_get(provider_name)
        flow = _flow_consume(provider, query.get("state"))
    except CallbackFailed as failure:
        return _failed(fallback, provider_name, failure)
    except NotFoundError as failure:
        return CallbackOutcome(
            fallback,
            provider_name,
            error="unknown_provider",
            message=failure.message,
            reason=str(failure.detail or ""),
            status=404,
        )
    try:
        code = _complete(provider, flow, query)
    except CallbackFailed as failure:
        logger.info(
            "integrations.oauth_callback_failed provider=%s code=%s", provider.name, failure.code
        )
        return _failed(flow.opener_origin, provider.name, failure)
    return CallbackOutcome(flow.opener_origin, provider.name, code=code)


def _failed(origin: str, provider: str, failure: CallbackFailed) -> CallbackOutcome:
    return CallbackOutcome(
        origin,
        provider,
        error=failure.code,
        message=failure.message,
        reason=str(failure.detail or ""),
        status=failure.status_code,
    )


def _flow_consume(provider: Provider, state: str | None) -> OAuthFlow:
    try:
        payload = signing.TimestampSigner(salt=_STATE_SALT).unsign_object(
            state or "", max_age=settings.OAUTH_STATE_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise CallbackFailed("state_expired", "The authorization expired; start again.") from exc
    except (signing.BadSignature, ValueError) as exc:
        raise CallbackFailed("invalid_state", "The state is missing, altered or unknown.") from exc
    if not isinstance(payload, dict) or payload.get("p") != provider.name:
        raise CallbackFailed("invalid_state", "The state is missing, altered or unknown.")
    flow = OAuthFlow.objects.filter(
        state_hash=hash_secret(str(payload.get("id"))), provider=provider.name
    ).first()
    if flow is None:
        raise CallbackFailed("invalid_state", "The state is missing, altered or unknown.")
    now = timezone.now()
    spent = OAuthFlow.objects.filter(pk=flow.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if spent != 1:
        flow.refresh_from_db(fields=["used_at"])
        if flow.used_at is not None:
            raise CallbackFailed("state_used", "This authorization was already completed.")
        raise CallbackFailed("state_expired", "The authorization expired; start again.")
    return flow


def _complete(provider: Provider, flow: OAuthFlow, query: dict[str, str]) -> str:
    if query.get("error"):
        denied = query["error"] in ("access_denied", "consent_required", "user_denied")
        raise CallbackFailed(
            "access_denied" if denied else "provider_error",
            f"{provider.label} did not grant access",
            str(query.get("error_description") or query["error"])[:500],
        )
    code = query.get("code")
    if not code:
        raise CallbackFailed("code_missing", f"{provider.label} sent no authorization code.")
    params = {k: v for k, v in flow.params.items() if isinstance(v, str)}
    try:
        provider.verify_callback(query, params)
    except GrantRefused as exc:
        raise CallbackFailed(
            exc.error, f"{provider.label}'s callback could not be verified", exc.description
        ) from exc
    try:
        tokens = provider.exchange_code(
            code=code,
            redirect_uri=flow.redirect_uri,
            code_verifier=flow.code_verifier,
            params=params,
        )
    except GrantRefused as exc:
        raise CallbackFailed(
            "code_rejected", f"{provider.label} refused the authorization", str(exc)
        ) from exc
    except ProviderUnreachable as exc:
        raise CallbackFailed(
            "provider_unavailable", f"{provider.label} is unavailable", str(exc), status=502
        ) from exc
    return _grant_store(provider, flow, tokens)


def _grant_store(provider: Provider, flow: OAuthFlow, tokens: TokenSet) -> str:
    """Store the tokens (a new grant, or the re-linked connector's) and give the grant a new
    result code, returned in the clear once."""
    result_code = secrets.token_urlsafe(32)
    now = timezone.now()
    fields = {
        "encrypted_tokens": encrypt_secrets(tokens.secrets()),
        "access_expires_at": tokens.expires_at,
        "scopes": tokens.scope or " ".join(flow.params.get("scopes") or []),
        "external_account": tokens.external_account,
        "status": OAuthGrantStatus.ACTIVE,
        "revoked_at": None,
        "revoked_reason": "",
        "refreshed_at": now,
        "result_code_hash": hash_secret(result_code),
        "result_expires_at": now + timedelta(seconds=settings.CONNECTOR_OAUTH_RESULT_TTL_SECONDS),
    }
    with transaction.atomic():
        connector = (
            Connector.objects.select_for_update().filter(pk=flow.connector_id).first()
            if flow.connector_id
            else None
        )
        grant = (
            OAuthGrant.objects.filter(
                pk=connector.config.get(CREDENTIAL_FIELD), account_id=flow.account_id
            ).first()
            if connector is not None
            else None
        )
        if grant is not None:
            _check_same_account(provider, grant, tokens)
            OAuthGrant.objects.filter(pk=grant.pk).update(updated_at=now, **fields)
        else:
            grant = OAuthGrant.objects.create(
                account_id=flow.account_id, provider=provider.name, created_at=now, **fields
            )
            if connector is not None:
                connector.config = {**connector.config, CREDENTIAL_FIELD: str(grant.pk)}
                connector.save(update_fields=["config"])
        if connector is not None:
            # A changed connector's schedule runs again (syncs/schedule.py).
            Connector.objects.filter(pk=connector.pk).update(updated_at=now)
    logger.info(
        "integrations.oauth_granted provider=%s grant=%s relinked=%s",
        provider.name,
        grant.pk,
        bool(connector),
    )
    return result_code


def _check_same_account(provider: Provider, grant: OAuthGrant, tokens: TokenSet) -> None:
    """A connector re-linked to another Slack workspace, Salesforce org, shop or portal would
    mix two sources' data in its tables and state: refused."""
    before = grant.external_account.get("id")
    after = tokens.external_account.get("id")
    if before and after and str(before) != str(after):
        raise CallbackFailed(
            "account_mismatch",
            f"That is another {provider.label} account",
            f"The connector reads {before}; the authorization was for {after}. Create a new "
            "connector for it instead.",
            status=409,
        )


class ResultCodeInvalid(NotFoundError):
    status_code = 404
    default_message = "Unknown result code"


def oauth_result_consume(*, code: str) -> OAuthGrant:
    """Trade a result code for its grant, once (step 3)."""
    if not code:
        raise RequestValidationError(
            [{"loc": ["query", "code"], "msg": "Field required", "type": "missing"}]
        )
    now = timezone.now()
    with transaction.atomic():
        grant = (
            OAuthGrant.objects.select_for_update()
            .filter(result_code_hash=hash_secret(code))
            .first()
        )
        if grant is None or grant.result_expires_at is None or grant.result_expires_at <= now:
            raise ResultCodeInvalid(
                detail="The code is unknown, was already used, or expired "
                f"({settings.CONNECTOR_OAUTH_RESULT_TTL_SECONDS} s): authorize again."
            )
        OAuthGrant.objects.filter(pk=grant.pk).update(result_code_hash=None, result_expires_at=None)
    return grant
