"""Applying the migrations (`alembic upgrade head`) at start-up and before tests: not the
marshmallow schemas, which live in each feature's schemas.py."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from alembic import command
from flask import Flask

log = logging.getLogger(__name__)


def upgrade(app: Flask) -> None:
    """``alembic upgrade head`` under a file lock in instance/, so several workers starting
    together migrate once."""
    os.makedirs(app.instance_path, exist_ok=True)
    lock_path = Path(app.instance_path, ".migrate.lock")
    with open(lock_path, "w") as lock, app.app_context():
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            migrate = app.extensions["migrate"]
            config = migrate.migrate.get_config(migrate.directory)
            # Quiet: start-up and CLI output stay clean (stdout carries the CLI's JSON, stderr
            # its one-line errors); `flask db upgrade` still logs what it does.
            config.attributes["quiet"] = True
            command.upgrade(config, "heads")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
