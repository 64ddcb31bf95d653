"""Secrets (API keys, one-time codes) are stored only as their SHA-256."""

import hashlib


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
