"""The configuration every test app starts from."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")

# One of each per run: every app a run builds (and a CLI process given them) can read what
# another one signed or encrypted.
SECRET_KEY = secrets.token_urlsafe(32)
ENCRYPTION_KEY = Fernet.generate_key().decode()
SECRET_KEY_JWT_KEY = secrets.token_urlsafe(64)
ACCESS_KEY_JWT_KEY = secrets.token_urlsafe(48)
SESSION_JWT_KEY = secrets.token_urlsafe(48)
PARTNER_SSO_KEY = secrets.token_urlsafe(48)


def base_config(database_url: str, instance: Path) -> dict[str, Any]:
    """``create_app`` overrides for a test app on ``database_url``."""
    return {
        "APP_ENV": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "SECRET_KEY_JWT_KEY": SECRET_KEY_JWT_KEY,
        "ACCESS_KEY_JWT_KEY": ACCESS_KEY_JWT_KEY,
        "SESSION_JWT_KEY": SESSION_JWT_KEY,
        "PARTNER_SSO_KEY": PARTNER_SSO_KEY,
        "AUTO_MIGRATE": False,
        "REDIS_URL": TEST_REDIS_URL,
        "APP_URL": "https://auth.tollgate.test",
        # Cheap argon2id for tests; production parameters are the argon2-cffi defaults.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "SERVER_NAME": None,
    }


def without_password(url: str) -> str:
    """``url`` with its password masked, for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
