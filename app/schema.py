"""Applying the migrations: on start-up for the embedded default, and from the CLI."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade as alembic_upgrade

log = logging.getLogger(__name__)


def upgrade(app: Flask) -> None:
    """``alembic upgrade head`` under a file lock in instance/, so several workers starting
    together migrate once."""
    os.makedirs(app.instance_path, exist_ok=True)
    lock_path = Path(app.instance_path, ".migrate.lock")
    with open(lock_path, "w") as lock, app.app_context():
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            alembic_upgrade(directory=app.extensions["migrate"].directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
