"""``LOG_FORMAT=json``: one JSON object per line on stderr, for log shippers.

Each line carries the time (UTC), level, logger, message, the request's correlation id, its
route (the endpoint name, never the raw path) and, once the gate resolved one, the principal's
credential kind and ids. Credentials never appear: the line is built from named fields only
(no headers, no bodies, no query strings), and Authlib's records were already masked by
``app.logredact`` before any handler sees them. ``text`` (the default) leaves logging as the
deployer set it up.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context

from app.config import ConfigurationError

FORMATS = frozenset({"text", "json"})
ACCESS_LOGGER = "app.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": _or_none(getattr(record, "correlation_id", None)),
        }
        if has_request_context():
            entry["route"] = g.get("ops_route")
            principal = g.get("principal")
            if principal is not None:
                entry["principal_kind"] = principal.credential_kind
                entry["principal_id"] = principal.credential_id
                entry["user_id"] = str(principal.user_id) if principal.user_id else None
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str, separators=(",", ":"))


def _or_none(value: object) -> object:
    return None if value in (None, "-") else value


class _JsonHandler(logging.Handler):
    """Writes each record as one line to whatever ``sys.stderr`` is now (so gunicorn's
    redirection, or a test's capture, is honoured)."""

    previous_level = logging.WARNING

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(app: Flask) -> None:
    """Apply LOG_FORMAT to the root logger: json installs (once) the JSON handler at INFO;
    text removes it again, restoring the level it found."""
    log_format = app.config["LOG_FORMAT"]
    if log_format not in FORMATS:
        raise ConfigurationError(f"LOG_FORMAT must be text or json, got {log_format!r}")
    root = logging.getLogger()
    installed = [h for h in root.handlers if isinstance(h, _JsonHandler)]
    if log_format == "json":
        if not installed:
            handler = _JsonHandler()
            handler.previous_level = root.level
            root.addHandler(handler)
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)
        return
    uninstall()


def uninstall() -> None:
    """Remove the JSON handler (if installed) and restore the root level it found."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(handler)
        root.setLevel(handler.previous_level)


def json_enabled(app: Flask) -> bool:
    return bool(app.config["LOG_FORMAT"] == "json")


access_log = logging.getLogger(ACCESS_LOGGER)
