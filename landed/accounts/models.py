"""An account owns every resource; users sign in to it; API keys act for it."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.utils import timezone


def normalize_email(email: str) -> str:
    """Emails are compared and stored lower-cased, so `A@x.io` and `a@x.io` are one user."""
    return email.strip().lower()


class Account(models.Model):
    """The reference's "customer": the owner of connectors, destinations, syncs and keys."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @transaction.atomic
    def create_user(
        self,
        email: str,
        password: str | None = None,
        *,
        account: Account | None = None,
        **extra: Any,
    ) -> "User":
        email = normalize_email(email)
        if not email:
            raise ValueError("A user needs an email address")
        if account is None:
            account = Account.objects.create(name=extra.pop("account_name", None) or email)
        user = self.model(email=email, account=account, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField(max_length=254, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Operators: may sign in to this admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["-date_joined"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class ApiKey(models.Model):
    """A programmatic credential. Only the SHA-256 of the raw key is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    # The first characters of the raw key, so that people can tell their keys apart.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["account", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SignIn(models.Model):
    """One sign-in: a session (the `landed_session` cookie holds its id) and the JWTs issued
    under it (their `sid` claim), or the JWTs handed out to an API key by `GET /auth/me`.
    Deleting the row ends them all at their next request: logout deletes the session's row,
    signing out everywhere all of a user's rows, revoking a key ends its row's JWTs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_ins")
    api_key = models.OneToOneField(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="sign_in"
    )
    # The user's session auth hash (an HMAC of the password hash) when the session was signed
    # in, as Django keeps it in the session: a password change ends the sign-in's JWTs as it
    # ends the session. Blank for an API key's, which outlive password changes as keys do.
    auth_hash = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"sign-in of {self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class LoginThrottle(models.Model):
    """Failed sign-ins for an email address, whether or not a user has that address, so that
    the lockout reveals nothing about which emails exist.

    One row per (email, client address) holds that address's lockout, and when it last signed
    in to the email (which makes it a known address). The email's row with a blank address
    counts failures from every address, and `locked_until` there is the global backoff: no
    attempt for the email before then, except from a known address."""

    ALL_ADDRESSES = ""

    email = models.CharField(max_length=254)
    client_address = models.CharField(
        max_length=45, blank=True, help_text="Blank: the email's failures from every address."
    )
    failed_attempts = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "login lockout"
        indexes = [
            models.Index(fields=["last_failed_at"]),
            models.Index(fields=["last_succeeded_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "client_address"], name="accounts_loginthrottle_email_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} from {self.client_address or 'all addresses'}"

    def is_locked(self, now: Any = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())

    def is_known_address(self, now: datetime) -> bool:
        """This address signed in to the email recently: the global backoff spares it."""
        known_for = timedelta(seconds=settings.LOGIN_KNOWN_ADDRESS_SECONDS)
        return self.last_succeeded_at is not None and now - self.last_succeeded_at < known_for


class AuthCode(models.Model):
    """A short-lived, single-use code handed to a browser (after OAuth) and exchanged for a
    JWT. Only its hash is kept."""

    code_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_codes")
    # The session the browser was signed in to when the code was issued; the code's JWT
    # belongs to it.
    sign_in = models.ForeignKey(
        SignIn, null=True, blank=True, on_delete=models.CASCADE, related_name="auth_codes"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"code for {self.user_id}"


class SocialIdentity(models.Model):
    """A provider's account (Google, GitHub) linked to a user. The provider's stable user id
    (`subject`) decides who signs in, never the email: an identity stays with the user it first
    signed in to, whatever email the provider reports later."""

    class Provider(models.TextChoices):
        GOOGLE = "google", "Google"
        GITHUB = "github", "GitHub"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="social_identities")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    subject = models.CharField(max_length=255, help_text="The provider's id of the account.")
    email = models.EmailField(
        max_length=254, blank=True, help_text="The email the provider reported last."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "created_at"]
        verbose_name = "linked sign-in"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "subject"], name="accounts_socialidentity_provider_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.email or self.subject}"


class OAuthState(models.Model):
    """One sign-in with a provider, from the redirect to its consent screen to the callback:
    what the callback needs that must not travel through the browser (the PKCE verifier, the
    OpenID Connect nonce). The `state` itself and the browser's cookie are kept as hashes."""

    state_hash = models.CharField(max_length=64, unique=True)
    browser_hash = models.CharField(max_length=64)
    provider = models.CharField(max_length=20, choices=SocialIdentity.Provider.choices)
    code_verifier = models.CharField(max_length=128)
    nonce = models.CharField(max_length=64, blank=True)
    redirect_uri = models.CharField(max_length=2000, help_text="The callback URL sent.")
    redirect_to = models.CharField(max_length=2000, help_text="Where the browser goes after.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth sign-in attempt"
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.provider} sign-in at {self.created_at:%Y-%m-%d %H:%M:%S}"
