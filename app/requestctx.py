"""What the rest of the code may know about the current HTTP request, as plain values.

Services never read ``flask.request``; views pass values in. Authlib's grants run inside
Authlib's request handling, so they read the caller from here (``g``), set once per request.
"""

from __future__ import annotations

from flask import Flask, g, has_request_context, request

from app.audit.services import SYSTEM, Caller


def _bind_caller() -> None:
    g.caller = Caller(
        ip=request.remote_addr,
        correlation_id=g.get("correlation_id"),
        user_agent=(request.user_agent.string or None),
    )


def current_caller() -> Caller:
    if has_request_context():
        return g.get("caller", SYSTEM)
    return SYSTEM


def request_base_url() -> str:
    """Scheme and host of the current request, without a trailing slash."""
    return request.host_url.rstrip("/")


def init_app(app: Flask) -> None:
    app.before_request(_bind_caller)
