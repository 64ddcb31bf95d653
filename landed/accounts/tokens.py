"""JWTs (djangorestframework-simplejwt): issue, and read an expired one back for refresh.

Each JWT names its sign-in (`sid`): it is good only while that sign-in lasts (sign_ins.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts.models import SignIn, User
from landed.accounts.sign_ins import SIGN_IN_CLAIM, sign_in_get, sign_in_is_live
from landed.api.errors import NotAuthenticatedError

SIGN_IN_ENDED = "The sign-in this token belongs to has ended (signed out); sign in again."


def access_token_for(user: User, *, sign_in: SignIn) -> dict[str, Any]:
    """The token half of every sign-in response."""
    token = AccessToken.for_user(user)
    token["account_id"] = str(user.account_id)
    token[SIGN_IN_CLAIM] = str(sign_in.id)
    return {
        "access_token": str(token),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


def verify_refreshable(raw_token: str, *, user: User) -> None:
    """Accept a JWT for refresh: our signature, an access token of `user` whose sign-in has not
    ended, issued less than JWT_REFRESH_MAX_AGE_SECONDS ago. Its expiry is deliberately not
    checked."""
    try:
        claims = jwt.decode(
            raw_token,
            key=jwt_settings.SIGNING_KEY,
            algorithms=[jwt_settings.ALGORITHM],
            options={"verify_exp": False, "require": ["iat", "exp"]},
            audience=jwt_settings.AUDIENCE,
            issuer=jwt_settings.ISSUER,
            leeway=jwt_settings.LEEWAY,
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticatedError("Invalid token", str(exc)) from exc

    if claims.get(jwt_settings.TOKEN_TYPE_CLAIM) != "access":
        raise NotAuthenticatedError("Invalid token", "Not an access token.")
    if str(claims.get(jwt_settings.USER_ID_CLAIM)) != str(user.id):
        raise NotAuthenticatedError("Invalid token", "The token belongs to another session.")
    sign_in = sign_in_get(claims.get(SIGN_IN_CLAIM))
    if sign_in is None or sign_in.user_id != user.id or not sign_in_is_live(sign_in):
        raise NotAuthenticatedError("Invalid token", SIGN_IN_ENDED)
    max_age = timedelta(seconds=settings.JWT_REFRESH_MAX_AGE_SECONDS)
    issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=UTC)
    if timezone.now() - issued_at > max_age:
        raise NotAuthenticatedError(
            "Token too old to refresh",
            f"Tokens can be refreshed for {max_age.days} days after issue; sign in again.",
        )
