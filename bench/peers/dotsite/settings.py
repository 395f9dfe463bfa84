"""Minimal Django settings for the django-oauth-toolkit peer.

Database: $BENCH_DOT_DB, a SQLite file path or a postgresql://user@host:port/name URL.
"""

import os
from urllib.parse import urlsplit

SECRET_KEY = "bench-only-not-a-secret"  # a throwaway peer
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "oauth2_provider",
]
# Kept empty on purpose: the Flask peers run no middleware either.
MIDDLEWARE: list[str] = []

ROOT_URLCONF = "dotsite.urls"
WSGI_APPLICATION = "dotsite.wsgi.application"

_DB = os.environ.get("BENCH_DOT_DB", "/tmp/tollgate-bench/data/dot.db")
if _DB.startswith("postgresql://"):
    _url = urlsplit(_DB)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",  # psycopg 3
            "NAME": _url.path.lstrip("/"),
            "USER": _url.username or "postgres",
            "PASSWORD": _url.password or "",
            "HOST": _url.hostname or "127.0.0.1",
            "PORT": str(_url.port or 5432),
            # Persistent connection per worker (SQLAlchemy pools connections too).
            "CONN_MAX_AGE": None,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _DB,
            "CONN_MAX_AGE": None,
            # IMMEDIATE avoids SQLITE_BUSY on read->write lock upgrades with several workers
            # writing; journal_mode=WAL is set in the file by seed.py.
            # synchronous=NORMAL: the same WAL durability as Tollgate's embedded default.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA synchronous=NORMAL",
            },
        }
    }

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read", "write": "Write", "introspection": "Introspect tokens"},
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
