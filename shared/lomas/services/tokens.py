"""Bearer tokens: 32 random bytes, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lomas_"  # noqa: S105 - a prefix, not a secret
TOKEN_BYTES = 32


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    # A fast hash is enough: tokens carry 256 bits of entropy, unlike passwords.
    return hashlib.sha256(token.encode()).hexdigest()
