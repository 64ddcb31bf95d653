"""Reads of accounts, users and keys."""

import hashlib

from django.db.models import QuerySet

from landed.accounts.models import Account, ApiKey


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


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
