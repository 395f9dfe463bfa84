"""Reveal-link tokens never reach a log (T30).

The token is in the reveal page's path (``/secret_key/reveal/tgv_…``), and so in the request
line of an access log (gunicorn's, Werkzeug's development server's) and in the Referer of
the sign-in that precedes a reveal (``/login?next=/secret_key/reveal/tgv_…``). A filter on
those loggers masks every token of the ``tgv_`` kind in a record's message and arguments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

TOKEN = re.compile(r"tgv_[A-Za-z0-9_-]+")
MASK = "tgv_[redacted]"
ACCESS_LOGGERS = ("gunicorn.access", "gunicorn.error", "werkzeug")


def scrub(value: Any) -> Any:
    return TOKEN.sub(MASK, value) if isinstance(value, str) else value


class RedactRevealTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: scrub(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(scrub(arg) for arg in record.args)
        return True


def install(names: tuple[str, ...] = ACCESS_LOGGERS) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRevealTokens) for f in logger.filters):
            logger.addFilter(RedactRevealTokens())
