"""Writes: sign-up, sign-in with lockout, API keys, one-time auth codes."""

import logging
import math
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from landed.accounts.hashing import hash_secret
from landed.accounts.models import (
    Account,
    ApiKey,
    AuthCode,
    LoginThrottle,
    SignIn,
    User,
    normalize_email,
)
from landed.api.errors import ConflictError, NotAuthenticatedError, RateLimitedError
from landed.api.ratelimit import UNKNOWN_CLIENT_IP, client_ip

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
    """Check credentials, under two limits (docs/auth.md#failed-sign-ins):

    - LOGIN_LOCKOUT_THRESHOLD failures in a row for an email from one client address lock
      that email, from that address only, for LOGIN_LOCKOUT_SECONDS, even with the right
      password. A stranger's failures never lock the owner out from the owner's address.
    - From LOGIN_BACKOFF_THRESHOLD failures for the email from all addresses together, each
      further attempt for it waits a delay doubling up to LOGIN_BACKOFF_MAX_SECONDS, except
      from an address that signed in to the email recently: guessing from many addresses
      stays slow, and costs the owner at most that short wait.
    """
    email = normalize_email(email)
    address = client_ip(request) if request is not None else UNKNOWN_CLIENT_IP
    now = timezone.now()
    rows = {
        throttle.client_address: throttle
        for throttle in LoginThrottle.objects.filter(
            email=email, client_address__in=[address, LoginThrottle.ALL_ADDRESSES]
        )
    }
    here, everywhere = rows.get(address), rows.get(LoginThrottle.ALL_ADDRESSES)
    if here is not None and here.is_locked(now):
        raise _locked_error(here, now)
    known = here is not None and here.is_known_address(now)
    if everywhere is not None and not known and _backoff_applies(everywhere, now):
        _claim_backoff_slot(email, now)

    # authenticate() hashes the password even for an unknown email, so that timing does not
    # tell whether an account exists.
    user = authenticate(request, email=email, password=password)
    if user is None:
        here = _record_failed_login(email, address, now)
        if here.is_locked(now):
            raise _locked_error(here, now)
        raise NotAuthenticatedError("Invalid email or password")

    # The address's failures are forgiven and it becomes known. The email's count across
    # addresses is not reset: one success of the owner must not give a guesser a fresh run.
    LoginThrottle.objects.update_or_create(
        email=email,
        client_address=address,
        defaults={"failed_attempts": 0, "locked_until": None, "last_succeeded_at": now},
    )
    logger.info("accounts.login user_id=%s", user.id)
    return user


def _record_failed_login(email: str, address: str, now: datetime) -> LoginThrottle:
    """Count a failure for (email, address) and for the email across addresses; returns the
    address's row."""
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    backoff_window = timedelta(seconds=settings.LOGIN_BACKOFF_WINDOW_SECONDS)
    with transaction.atomic():
        # Always in this order (the blank address first), so two failures cannot deadlock.
        everywhere, _ = LoginThrottle.objects.select_for_update().get_or_create(
            email=email, client_address=LoginThrottle.ALL_ADDRESSES
        )
        here, _ = LoginThrottle.objects.select_for_update().get_or_create(
            email=email, client_address=address
        )

        if here.last_failed_at and now - here.last_failed_at > window:
            here.failed_attempts = 0  # old failures no longer count
        here.failed_attempts += 1
        here.last_failed_at = now
        if here.failed_attempts >= settings.LOGIN_LOCKOUT_THRESHOLD:
            here.locked_until = now + window
            here.failed_attempts = 0
            logger.warning(
                "accounts.login_locked email_hash=%s client_ip=%s", hash_secret(email)[:12], address
            )
        here.save()

        if everywhere.last_failed_at and now - everywhere.last_failed_at > backoff_window:
            everywhere.failed_attempts = 0
        everywhere.failed_attempts += 1
        everywhere.last_failed_at = now
        if everywhere.failed_attempts >= settings.LOGIN_BACKOFF_THRESHOLD:
            everywhere.locked_until = now + _backoff_delay(everywhere.failed_attempts)
            if everywhere.failed_attempts == settings.LOGIN_BACKOFF_THRESHOLD:
                logger.warning("accounts.login_backoff email_hash=%s", hash_secret(email)[:12])
        everywhere.save()

    # Rows that stopped failing long ago and whose address is no longer known tell nothing
    # any more; keep the table small.
    stale_failures = Q(last_failed_at__isnull=True) | Q(
        last_failed_at__lt=now - max(2 * window, backoff_window)
    )
    stale_success = Q(last_succeeded_at__isnull=True) | Q(
        last_succeeded_at__lt=now - timedelta(seconds=settings.LOGIN_KNOWN_ADDRESS_SECONDS)
    )
    LoginThrottle.objects.filter(stale_failures & stale_success).exclude(
        locked_until__gt=now
    ).delete()
    return here


def _backoff_applies(everywhere: LoginThrottle, now: datetime) -> bool:
    backoff_window = timedelta(seconds=settings.LOGIN_BACKOFF_WINDOW_SECONDS)
    return (
        everywhere.failed_attempts >= settings.LOGIN_BACKOFF_THRESHOLD
        and everywhere.last_failed_at is not None
        and now - everywhere.last_failed_at <= backoff_window
    )


def _backoff_delay(failed_attempts: int) -> timedelta:
    """1, 2, 4, ... seconds from the threshold on, up to LOGIN_BACKOFF_MAX_SECONDS."""
    beyond = min(max(failed_attempts - settings.LOGIN_BACKOFF_THRESHOLD, 0), 30)
    return timedelta(seconds=min(2**beyond, settings.LOGIN_BACKOFF_MAX_SECONDS))


def _claim_backoff_slot(email: str, now: datetime) -> None:
    """Let one attempt through per delay, or raise 429. The slot is taken under the row's
    lock before the password is checked: otherwise attempts sent at once from many addresses
    would all find the wait over and all be checked."""
    with transaction.atomic():
        everywhere = (
            LoginThrottle.objects.select_for_update()
            .filter(email=email, client_address=LoginThrottle.ALL_ADDRESSES)
            .first()
        )
        if everywhere is None:  # purged a moment ago: its failures no longer count
            return
        if everywhere.is_locked(now):
            raise _backoff_error(everywhere, now)
        everywhere.locked_until = now + _backoff_delay(everywhere.failed_attempts)
        everywhere.save(update_fields=["locked_until"])


def _locked_error(throttle: LoginThrottle, now: datetime) -> RateLimitedError:
    seconds = _seconds_until(throttle, now)
    minutes = max(1, round(seconds / 60))
    return RateLimitedError(
        seconds,
        message="Account locked",
        detail=(
            f"Too many failed sign-in attempts for this email from your address. Sign-in is "
            f"locked for {minutes} more minute{'s' if minutes != 1 else ''}."
        ),
    )


def _backoff_error(throttle: LoginThrottle, now: datetime) -> RateLimitedError:
    seconds = _seconds_until(throttle, now)
    return RateLimitedError(
        seconds,
        detail=(
            f"Too many failed sign-in attempts for this email. Try again in {seconds} "
            f"second{'s' if seconds != 1 else ''}."
        ),
    )


def _seconds_until(throttle: LoginThrottle, now: datetime) -> int:
    assert throttle.locked_until is not None
    return math.ceil((throttle.locked_until - now).total_seconds())


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


def auth_code_issue(*, user: User, sign_in: SignIn) -> str:
    """A single-use code, valid AUTH_CODE_TTL_SECONDS, for `POST /auth/exchange-code`. Its JWT
    will belong to `sign_in`, the session the browser was just signed in to."""
    now = timezone.now()
    raw_code = secrets.token_urlsafe(32)
    AuthCode.objects.create(
        code_hash=hash_secret(raw_code),
        user=user,
        sign_in=sign_in,
        expires_at=now + timedelta(seconds=settings.AUTH_CODE_TTL_SECONDS),
    )
    # Codes are worthless after expiry; keep the table small.
    AuthCode.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return raw_code


def auth_code_exchange(*, code: str) -> tuple[User, SignIn]:
    """The user a valid code was issued to, and the sign-in its JWT belongs to. The code is
    spent by this call, atomically, so two concurrent exchanges of one code cannot both
    succeed."""
    now = timezone.now()
    code_hash = hash_secret(code)
    spent = AuthCode.objects.filter(
        code_hash=code_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1:
        raise NotAuthenticatedError("Invalid code", "The code is unknown, expired or already used.")
    auth_code = AuthCode.objects.select_related("user", "sign_in").get(code_hash=code_hash)
    user, sign_in = auth_code.user, auth_code.sign_in
    if not user.is_active:
        raise NotAuthenticatedError("Invalid code", "The account is disabled.")
    if sign_in is None:
        # Only a code issued before codes named their session; signing out deletes the codes.
        raise NotAuthenticatedError("Invalid code", "The code belongs to no session.")
    return user, sign_in
