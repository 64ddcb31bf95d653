"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, with rotation.

`ENCRYPTION_KEYS` lists Fernet keys, newest first: the first encrypts, all decrypt, so a new
key is rolled in by putting it first and running `manage.py rotate_secrets`, then the old one
is dropped. With no keys set, one key is derived from SECRET_KEY (HKDF), so that a fresh
machine runs; production sets its own.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"landed-secrets", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    raw = [k.encode() for k in keys] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(key) for key in raw])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_secrets(values: dict[str, Any]) -> str:
    """An encrypted token of `values` (an empty dict encrypts to the empty string)."""
    if not values:
        return ""
    return fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        plain = fernet().decrypt(token.encode())
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "Stored credentials cannot be decrypted: is ENCRYPTION_KEYS missing the key they "
            "were encrypted with?"
        ) from exc
    # A token that decrypts was made by `encrypt_secrets` (only the keys' holders can make
    # one), which encrypts a dict.
    values: dict[str, Any] = json.loads(plain)
    return values


def rotate_token(token: str) -> str:
    """`token` re-encrypted with the newest key."""
    return fernet().rotate(token.encode()).decode() if token else token


# Encrypted columns of other apps, which `manage.py rotate_secrets` re-encrypts too: each app
# registers its own when it loads (landed/ imports no app).
_ENCRYPTED_COLUMNS: list[tuple[Any, str]] = []


def encrypted_column_register(model: Any, field: str) -> None:
    if (model, field) not in _ENCRYPTED_COLUMNS:
        _ENCRYPTED_COLUMNS.append((model, field))


def encrypted_columns() -> list[tuple[Any, str]]:
    return list(_ENCRYPTED_COLUMNS)
