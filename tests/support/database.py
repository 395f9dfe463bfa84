"""Which database the run uses (SQLite by default, PostgreSQL with ``TEST_DATABASE_URL``) and
how a fresh one is migrated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import create_app
from tests.support.config import base_config

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql"))

requires_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs TEST_DATABASE_URL pointing at PostgreSQL (set by .ci/run)"
)


def psycopg_url(url: str) -> str:
    """``url`` with SQLAlchemy's psycopg (3) driver named, as the app's engine wants it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def migrate(database_url: str, instance: Path) -> None:
    """Bring the database at ``database_url`` to the latest revision."""
    from app import dbupgrade
    from app.extensions import db

    app = create_app({**base_config(database_url, instance)})
    dbupgrade.upgrade(app)
    with app.app_context():
        db.engine.dispose()  # SQLite: closing the last connection checkpoints the WAL
