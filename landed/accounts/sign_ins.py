"""Sign-ins: what binds a session and its JWTs together, so that ending one ends the other.

Every Django login (the API's, OAuth's, the admin's) creates a `SignIn` whose id the session
keeps; every JWT names the sign-in it was issued under in its `sid` claim. A JWT is accepted
only while its sign-in row exists, its user is active, and (for a session's) the user's
password is the one it signed in with. The check reads the sign-in with its user in the one
query that reads the user anyway, so a session's JWT costs no extra query.
"""

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from landed.accounts.models import ApiKey, SignIn, User

logger = logging.getLogger("landed.accounts")

# Where the session keeps its sign-in's id.
SESSION_SIGN_IN_KEY = "landed_sign_in"
# The JWT claim that names the sign-in.
SIGN_IN_CLAIM = "sid"


def sign_in_create(*, user: User) -> SignIn:
    """A new session sign-in of `user`. Also drops sign-ins whose session has expired."""
    now = timezone.now()
    sign_in = SignIn.objects.create(
        user=user, auth_hash=user.get_session_auth_hash(), created_at=now
    )
    # A session lives SESSION_COOKIE_AGE from its sign-in; its row is worthless after that.
    expired = now - timedelta(seconds=settings.SESSION_COOKIE_AGE) - timedelta(days=1)
    SignIn.objects.filter(api_key__isnull=True, created_at__lt=expired).delete()
    return sign_in


def sign_in_for_api_key(*, key: ApiKey) -> SignIn:
    """The sign-in the JWTs that `key` obtains belong to: one per key, ended by its revocation."""
    sign_in, _ = SignIn.objects.get_or_create(api_key=key, defaults={"user_id": key.created_by_id})
    return sign_in


def sign_in_of_session(request: HttpRequest) -> SignIn | None:
    """The sign-in of the request's session (None without one). A session Django still takes
    has the user's current password hash; if its sign-in has an older one (an operator changed
    their own password in the admin and kept that session), the session gets a new sign-in:
    its new JWTs work, the ones from before the change stay ended."""
    sign_in = sign_in_get(request.session.get(SESSION_SIGN_IN_KEY))
    if sign_in is None or str(sign_in.user_id) != str(request.session.get(SESSION_KEY)):
        return None
    if not constant_time_compare(sign_in.auth_hash, sign_in.user.get_session_auth_hash()):
        user = sign_in.user
        sign_in.delete()
        sign_in = sign_in_create(user=user)
        request.session[SESSION_SIGN_IN_KEY] = str(sign_in.id)
    return sign_in


def sign_in_get(sign_in_id: Any) -> SignIn | None:
    """The sign-in with this id, with its user (an API key's sign-in reads its key when
    checked: one more query, for those JWTs only); None for an unknown or malformed id."""
    try:
        parsed = uuid.UUID(str(sign_in_id))
    except ValueError:
        return None
    try:
        return SignIn.objects.select_related("user").get(pk=parsed)
    except SignIn.DoesNotExist:
        return None


def sign_in_is_live(sign_in: SignIn) -> bool:
    """Whether the JWTs of this (existing) sign-in are still good."""
    if not sign_in.user.is_active:
        return False
    if sign_in.api_key is not None:
        return sign_in.api_key.revoked_at is None
    return constant_time_compare(sign_in.auth_hash, sign_in.user.get_session_auth_hash())


def sign_in_end(*, sign_in_id: Any) -> None:
    """End one sign-in: its session's JWTs stop working at once."""
    sign_in = sign_in_get(sign_in_id)
    if sign_in is not None:
        sign_in.delete()


def user_sign_out_everywhere(*, user: User) -> int:
    """End every sign-in of `user`: all sessions and all JWTs (those API keys obtained too; the
    keys themselves stay). Returns how many sign-ins ended."""
    count, _ = SignIn.objects.filter(user=user).delete()
    logger.info("accounts.signed_out_everywhere user_id=%s sign_ins=%s", user.id, count)
    return count


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Every login starts a sign-in, kept in the session it starts."""
    if request is None or not hasattr(request, "session"):
        return
    request.session[SESSION_SIGN_IN_KEY] = str(sign_in_create(user=user).id)


def on_user_logged_out(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """Logout ends the session's sign-in, and so its JWTs. (Django flushes the session after
    this signal.)"""
    if request is not None and hasattr(request, "session"):
        sign_in_end(sign_in_id=request.session.get(SESSION_SIGN_IN_KEY))
