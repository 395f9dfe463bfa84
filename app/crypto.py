"""Credential material: generation, digests, constant-time comparison, password hashing and
encryption of the few secrets that must be recoverable (TOTP seeds).

Store what verifies, never what can be replayed: tokens, codes, keys and client secrets are
high-entropy, so a SHA-256 digest is enough to look them up and verify them; passwords are
low-entropy, so they get argon2id.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

TOKEN_BYTES = 32  # 256 bits of entropy in every opaque credential

# One prefix per kind of credential, so a leaked value says what it is and a value of one
# kind can never be accepted as another (the lookups are by kind as well).
PREFIX_ACCESS_TOKEN = "tga_"
PREFIX_REFRESH_TOKEN = "tgr_"
PREFIX_AUTHORIZATION_CODE = "tgc_"
PREFIX_CLIENT_SECRET = "tgs_"

# Compared against when a client or user does not exist, so that the answer takes as long.
_DUMMY_DIGEST = hashlib.sha256(b"tollgate-dummy-secret").hexdigest()


def new_token(prefix: str) -> str:
    """A fresh opaque credential: ``prefix`` + 256 random bits, base64url (43 characters)."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def new_identifier(nbytes: int = 18) -> str:
    """A public identifier (client_id): random, not secret."""
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """SHA-256 hex digest of a credential; what the database stores and looks up."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def verify_digest(value: str | None, stored_digest: str | None) -> bool:
    """Constant-time check of ``value`` against a stored digest; a missing digest still costs
    a digest and a comparison, so unknown and wrong look alike."""
    presented = digest(value or "")
    expected = stored_digest or _DUMMY_DIGEST
    return hmac.compare_digest(presented, expected) and stored_digest is not None


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# --- passwords ---------------------------------------------------------------------------------


def _hasher() -> PasswordHasher:
    config = current_app.config
    return _cached_hasher(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
    )


@lru_cache(maxsize=8)
def _cached_hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """argon2id verification; with no stored hash a dummy hash is verified instead, so an
    unknown account costs the same time as a wrong password."""
    hasher = _hasher()
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            hasher.verify(_dummy_password_hash(hasher), password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _dummy_password_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


# --- encryption at rest ------------------------------------------------------------------------


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in current_app.config["ENCRYPTION_KEYS"].split(",") if k.strip()]
    return _cached_fernet(tuple(keys))


@lru_cache(maxsize=8)
def _cached_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    """Encrypt with the first configured key (ENCRYPTION_KEYS); older keys still decrypt."""
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured keys") from exc
