"""JWTs (djangorestframework-simplejwt): issue, and read an expired one back for refresh."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts.models import User
from landed.api.errors import NotAuthenticatedError


def access_token_for(user: User) -> dict[str, Any]:
    """The token half of every sign-in response."""
    token = AccessToken.for_user(user)
    token["account_id"] = str(user.account_id)
    return {
        "access_token": str(token),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


def verify_refreshable(raw_token: str, *, user: User) -> None:
    """Accept a JWT for refresh: our signature, an access token of `user`, issued less than
    JWT_REFRESH_MAX_AGE_SECONDS ago. Its expiry is deliberately not checked."""
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
    max_age = timedelta(seconds=settings.JWT_REFRESH_MAX_AGE_SECONDS)
    issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=UTC)
    if timezone.now() - issued_at > max_age:
        raise NotAuthenticatedError(
            "Token too old to refresh",
            f"Tokens can be refreshed for {max_age.days} days after issue; sign in again.",
        )
