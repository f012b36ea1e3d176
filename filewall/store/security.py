"""Password hashing (argon2id) and secrets (session cookies, API tokens).

Passwords: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile), verified in
constant time, rehashed on login when the parameters change. Session and API-token secrets
are 256-bit random strings; only their SHA-256 is stored (they carry full entropy, so a
slow hash adds nothing and a fast one keeps every request cheap).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("filewall-no-such-user")

TOKEN_PREFIX = "fwt_"
MIN_PASSWORD_LENGTH = 8


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
