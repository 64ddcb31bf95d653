"""Webhook signatures: `Landed-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
HMAC's key is the endpoint's secret and its message is `"<t>.<raw body>"`. One `v1=` per
secret in force (two during a rotation's overlap), so a receiver holding either verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SIGNATURE_HEADER = "Landed-Signature"
EVENT_TYPE_HEADER = "Landed-Event-Type"
EVENT_ID_HEADER = "Landed-Event-Id"
DELIVERY_ID_HEADER = "Landed-Delivery-Id"
# How old a signature a receiver should accept, as docs/webhooks.md advises.
DEFAULT_TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_force: list[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature(secret, timestamp, body)}" for secret in secrets_in_force]
    return ",".join(parts)


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (the same steps as the docs' snippet): a `v1` made with `secret`
    over this body, and a timestamp no older (or newer) than the tolerance."""
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
