"""Which user a provider's sign-in is: link or create.

- An identity already linked signs in to its user, whatever email the provider reports now:
  an identity belongs to the account it signed in to first.
- A new identity needs an email the provider has verified. With it, the identity is linked to
  the user of that email (an existing password account included) or a new account is made,
  with no usable password until the user sets one. An unverified email never takes over an
  account, nor claims an address for a new one.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from landed.accounts.models import SocialIdentity, User, normalize_email
from landed.accounts.oauth.errors import ACCOUNT_DISABLED, EMAIL_UNVERIFIED, OAuthFlowError
from landed.accounts.oauth.providers import ProviderIdentity

logger = logging.getLogger("landed.accounts")


def social_sign_in(*, identity: ProviderIdentity) -> User:
    """The user `identity` signs in as, linking or creating as the rules above say. Two first
    sign-ins at once (of one identity, or of one email) are decided by the unique constraints:
    the loser finds the winner's rows on its second try."""
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _sign_in(identity)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _sign_in(identity: ProviderIdentity) -> User:
    now = timezone.now()
    linked = (
        SocialIdentity.objects.select_for_update()
        .select_related("user")
        .filter(provider=identity.provider, subject=identity.subject)
        .first()
    )
    if linked is not None:
        _require_active(linked.user)
        linked.email = identity.email[:254]
        linked.last_login_at = now
        linked.save(update_fields=["email", "last_login_at"])
        logger.info(
            "accounts.oauth_login provider=%s user_id=%s", identity.provider, linked.user_id
        )
        return linked.user

    email = normalize_email(identity.email)
    # (An address longer than any user's may be is no address Landed can use.)
    if not email or not identity.email_verified or len(email) > 254:
        raise OAuthFlowError(
            EMAIL_UNVERIFIED,
            "No verified email",
            f"Your {_label(identity)} account has no verified email address; verify one there "
            "and sign in again.",
            status=403,
        )
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, None, account_name=identity.name[:200] or None)
        logger.info(
            "accounts.oauth_signup provider=%s account_id=%s", identity.provider, user.account_id
        )
    else:
        _require_active(user)
        logger.info("accounts.oauth_linked provider=%s user_id=%s", identity.provider, user.id)
    SocialIdentity.objects.create(
        user=user,
        provider=identity.provider,
        subject=identity.subject,
        email=email,
        created_at=now,
        last_login_at=now,
    )
    return user


def _require_active(user: User) -> None:
    if not user.is_active:
        raise OAuthFlowError(
            ACCOUNT_DISABLED, "Account disabled", "This account has been disabled.", status=403
        )


def _label(identity: ProviderIdentity) -> str:
    return SocialIdentity.Provider(identity.provider).label
