"""Credentials never reach a log record.

Authlib's grants log every token response they issue at DEBUG ("Issue token %r to %r": the
access and refresh token in clear), so running with DEBUG logging — ours or a deployer's —
would write live credentials to the log. A filter on Authlib's loggers masks the credential
fields of any mapping passed as a log argument; the rest of the record stays useful.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
# Keys whose values are credentials wherever they appear (token responses, request params).
CREDENTIAL_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "code_verifier",
        "client_secret",
        "password",
        "otp_code",
        "assertion",
        "device_code",
        "token",
        "key",
        "secret",
    }
)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if k in CREDENTIAL_KEYS else _redact(v) for k, v in value.items()}
    return value


class RedactCredentials(logging.Filter):
    """Masks credential fields in a record's arguments (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = _redact(record.args)
        elif record.args:
            record.args = tuple(_redact(arg) for arg in record.args)
        return True


def install(prefix: str = "authlib") -> None:
    """Attach the filter to ``prefix`` and every logger below it that exists now. A logger's
    filters do not apply to its children's records, hence each one; call it after the OAuth
    server is built, when Authlib's modules (and so their loggers) are all imported."""
    names = [
        prefix,
        *(name for name in logging.root.manager.loggerDict if name.startswith(prefix + ".")),
    ]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
