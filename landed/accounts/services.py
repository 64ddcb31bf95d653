"""Writes: sign-up, sign-in with lockout, API keys, one-time auth codes."""

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from landed.accounts.hashing import hash_secret
from landed.accounts.models import Account, ApiKey, AuthCode, LoginThrottle, User, normalize_email
from landed.api.errors import ConflictError, NotAuthenticatedError, RateLimitedError

logger = logging.getLogger("landed.accounts")

API_KEY_PREFIX = "lnd_"
# Writing last_used_at on every request would turn each read into a write; a minute is enough.
API_KEY_TOUCH_INTERVAL = timedelta(seconds=60)


def account_signup(*, email: str, password: str, name: str | None = None) -> User:
    """Create an account and its first user. The email's unique constraint decides a race
    between two sign-ups, and the account row is rolled back with the losing user."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, account_name=name)
    except IntegrityError as exc:
        raise ConflictError(
            "Email already registered", "Sign in instead, or use another email."
        ) from exc
    logger.info("accounts.signup account_id=%s", user.account_id)
    return user


def user_login(*, request: HttpRequest | None, email: str, password: str) -> User:
    """Check credentials. After LOGIN_LOCKOUT_THRESHOLD failures in a row for an email, that
    email is locked for LOGIN_LOCKOUT_SECONDS, even with the right password."""
    email = normalize_email(email)
    now = timezone.now()
    throttle = LoginThrottle.objects.filter(email=email).first()
    if throttle is not None and throttle.is_locked(now):
        raise _locked_error(throttle, now)

    # authenticate() hashes the password even for an unknown email, so that timing does not
    # tell whether an account exists.
    user = authenticate(request, email=email, password=password)
    if user is None:
        throttle = _record_failed_login(email, now)
        if throttle.is_locked(now):
            raise _locked_error(throttle, now)
        raise NotAuthenticatedError("Invalid email or password")

    LoginThrottle.objects.filter(email=email).delete()
    logger.info("accounts.login user_id=%s", user.id)
    return user


def _record_failed_login(email: str, now: datetime) -> LoginThrottle:
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    with transaction.atomic():
        throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(email=email)
        if throttle.last_failed_at and now - throttle.last_failed_at > window:
            throttle.failed_attempts = 0  # old failures no longer count
        throttle.failed_attempts += 1
        throttle.last_failed_at = now
        if throttle.failed_attempts >= settings.LOGIN_LOCKOUT_THRESHOLD:
            throttle.locked_until = now + window
            throttle.failed_attempts = 0
            logger.warning("accounts.login_locked email_hash=%s", hash_secret(email)[:12])
        throttle.save()
    # Rows of emails that stopped failing long ago tell nothing any more; keep the table small.
    LoginThrottle.objects.filter(last_failed_at__lt=now - 2 * window).exclude(
        locked_until__gt=now
    ).delete()
    return throttle


def _locked_error(throttle: LoginThrottle, now: datetime) -> RateLimitedError:
    seconds = int((throttle.locked_until - now).total_seconds()) + 1
    minutes = max(1, round(seconds / 60))
    return RateLimitedError(
        seconds,
        message="Account locked",
        detail=(
            f"Too many failed sign-in attempts for this email. Sign-in is locked for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}."
        ),
    )


def api_key_create(*, user: User, name: str = "") -> tuple[ApiKey, str]:
    """A new key for the user's account. The raw key is returned here and never again."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        account_id=user.account_id,
        created_by=user,
        name=name,
        prefix=raw_key[:12],
        key_hash=hash_secret(raw_key),
    )
    logger.info("accounts.api_key_created api_key_id=%s account_id=%s", key.id, key.account_id)
    return key, raw_key


def api_keys_revoke_all(*, account: Account) -> int:
    """Revoke every active key of the account at once; returns how many were revoked."""
    count = ApiKey.objects.filter(account=account, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    logger.info("accounts.api_keys_revoked account_id=%s count=%s", account.id, count)
    return count


def api_key_touch(*, key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def auth_code_issue(*, user: User) -> str:
    """A single-use code, valid AUTH_CODE_TTL_SECONDS, for `POST /auth/exchange-code`."""
    now = timezone.now()
    raw_code = secrets.token_urlsafe(32)
    AuthCode.objects.create(
        code_hash=hash_secret(raw_code),
        user=user,
        expires_at=now + timedelta(seconds=settings.AUTH_CODE_TTL_SECONDS),
    )
    # Codes are worthless after expiry; keep the table small.
    AuthCode.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return raw_code


def auth_code_exchange(*, code: str) -> User:
    """The user a valid code was issued to. The code is spent by this call, atomically, so two
    concurrent exchanges of one code cannot both succeed."""
    now = timezone.now()
    code_hash = hash_secret(code)
    spent = AuthCode.objects.filter(
        code_hash=code_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1:
        raise NotAuthenticatedError("Invalid code", "The code is unknown, expired or already used.")
    user = AuthCode.objects.select_related("user").get(code_hash=code_hash).user
    if not user.is_active:
        raise NotAuthenticatedError("Invalid code", "The account is disabled.")
    return user
