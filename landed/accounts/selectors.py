"""Reads of accounts, users and keys."""

from django.db.models import QuerySet

from landed.accounts.hashing import hash_secret
from landed.accounts.models import Account, ApiKey


def api_key_get_active(*, raw_key: str) -> ApiKey | None:
    """The active key whose hash matches `raw_key`, with its creator and account."""
    return (
        ApiKey.objects.select_related("created_by", "account")
        .filter(key_hash=hash_secret(raw_key), revoked_at__isnull=True)
        .first()
    )


def api_key_list(*, account: Account) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(account=account, revoked_at__isnull=True).order_by(
        "-created_at", "id"
    )
