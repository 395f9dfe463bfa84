"""Correlation ids: one per request, offered by the caller or made up, echoed in the
``X-Correlation-ID`` response header and carried by every log record and audit row."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Response, g, has_request_context, request

# Used with fullmatch: "$" alone would accept a trailing newline into headers and logs.
CORRELATION_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def correlation_id() -> str | None:
    """The current request's id; None outside a request."""
    return g.get("correlation_id") if has_request_context() else None


def bind_correlation_id() -> None:
    offered = request.headers.get("X-Correlation-ID", "")
    g.correlation_id = offered if CORRELATION_ID_RE.fullmatch(offered) else str(uuid.uuid4())


def add_correlation_header(response: Response) -> Response:
    # A request refused by a hook that runs before binding has no id yet; it still gets one.
    response.headers.add("X-Correlation-ID", g.get("correlation_id") or str(uuid.uuid4()))
    return response


_base_factory = logging.getLogRecordFactory()


def _record_with_correlation_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.correlation_id = correlation_id() or "-"
    return record


def install_log_record_factory() -> None:
    """Every log record made while serving a request carries its correlation id."""
    logging.setLogRecordFactory(_record_with_correlation_id)
