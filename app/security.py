"""Secrets: generation and one-way hashing of API keys and access tokens. Standard library only."""

from __future__ import annotations

import hashlib
import secrets
import string

KEY_ALPHABET = string.ascii_letters + string.digits


def random_string(length: int) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret: fast to look up, nothing to reverse."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key() -> str:
    """`sk-` + 48 characters from the CSPRNG (the one-api family's key format)."""
    return "sk-" + random_string(48)


def key_hint(key: str) -> str:
    """First and last four characters after `sk-`, for masked display (`sk-abcd...wxyz`)."""
    body = key[3:] if key.startswith("sk-") else key
    return f"{body[:4]}|{body[-4:]}"
