"""The `state` of a sign-in with a provider: signed, single-use, bound to the browser that
started the sign-in by a short-lived cookie, and expiring after OAUTH_STATE_TTL_SECONDS (ten
minutes). What the callback needs besides (the PKCE verifier, the nonce, where to send the
browser) stays on the server, in an `OAuthState` row."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from landed.accounts.hashing import hash_secret
from landed.accounts.models import OAuthState
from landed.accounts.oauth.errors import (
    INVALID_STATE,
    STATE_EXPIRED,
    STATE_MISMATCH,
    STATE_USED,
    OAuthFlowError,
)

# The cookie that ties a sign-in to its browser. Sent only to the OAuth endpoints; SameSite=Lax,
# so that it rides the provider's top-level redirect back to the callback.
COOKIE_NAME = "landed_oauth"
COOKIE_PATH = "/auth/oauth/"
_SALT = "landed.accounts.oauth.state"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def browser_secret_for(cookie_value: str | None) -> str:
    """The browser's binding secret: the one its cookie already holds (so that two sign-ins
    started in two tabs both work), or a new one."""
    if cookie_value and 32 <= len(cookie_value) <= 128:
        return cookie_value
    return secrets.token_urlsafe(32)


def state_issue(
    *, provider: str, browser_secret: str, redirect_uri: str, redirect_to: str
) -> tuple[str, OAuthState]:
    """A new sign-in: the `state` to send to the provider, and its server-side row."""
    now = timezone.now()
    state_id = secrets.token_urlsafe(32)
    row = OAuthState.objects.create(
        state_hash=hash_secret(state_id),
        browser_hash=hash_secret(browser_secret),
        provider=provider,
        # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; this is 64.
        code_verifier=secrets.token_urlsafe(48),
        nonce=secrets.token_urlsafe(24),
        redirect_uri=redirect_uri,
        redirect_to=redirect_to,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.OAUTH_STATE_TTL_SECONDS),
    )
    # Sign-ins nobody finished are worthless after expiry; keep the table small.
    OAuthState.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    state = _signer().sign_object({"id": state_id, "p": provider})
    return state, row


def state_consume(*, provider: str, state: str, browser_secret: str | None) -> OAuthState:
    """The row of a valid `state` from this browser, spent by this call (atomically, so that a
    replayed callback fails even when both arrive at once)."""
    try:
        payload = _signer().unsign_object(state, max_age=settings.OAUTH_STATE_TTL_SECONDS)
    except signing.SignatureExpired as exc:
        raise _expired() from exc
    except (signing.BadSignature, ValueError) as exc:
        raise _invalid() from exc
    if (
        not isinstance(payload, dict)
        or payload.get("p") != provider
        or not isinstance(payload.get("id"), str)
    ):
        raise _invalid()

    row = OAuthState.objects.filter(
        state_hash=hash_secret(payload["id"]), provider=provider
    ).first()
    if row is None:
        raise _invalid()
    if not browser_secret or not constant_time_compare(
        row.browser_hash, hash_secret(browser_secret)
    ):
        raise OAuthFlowError(
            STATE_MISMATCH,
            "Sign-in started in another browser",
            "The sign-in cookie is missing or belongs to another sign-in; start again from "
            "the same browser.",
        )

    now = timezone.now()
    spent = OAuthState.objects.filter(pk=row.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if spent != 1:
        row.refresh_from_db(fields=["used_at"])
        if row.used_at is not None:
            raise OAuthFlowError(
                STATE_USED, "Sign-in already completed", "This sign-in link was already used."
            )
        raise _expired()
    return row


def _invalid() -> OAuthFlowError:
    return OAuthFlowError(
        INVALID_STATE, "Invalid sign-in state", "The state is missing, altered or unknown."
    )


def _expired() -> OAuthFlowError:
    minutes = settings.OAUTH_STATE_TTL_SECONDS // 60
    return OAuthFlowError(
        STATE_EXPIRED, "Sign-in expired", f"Finish signing in within {minutes} minutes."
    )
