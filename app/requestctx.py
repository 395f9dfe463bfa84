"""What the rest of the code may know about the current HTTP request, as plain values.

Services never read ``flask.request``; views pass values in. Authlib's grants run inside
Authlib's request handling, so they read the caller from here (``g``), set once per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask, g, has_request_context, request


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of the wire, as far as the audit log is concerned."""

    ip: str | None = None
    correlation_id: str | None = None
    user_agent: str | None = None


# Work started outside a request (CLI, jobs, tests) has no remote caller.
SYSTEM = Caller()


def _bind_caller() -> None:
    g.caller = Caller(
        ip=request.remote_addr,
        correlation_id=g.get("correlation_id"),
        user_agent=request.headers.get("User-Agent") or None,
    )


def current_caller() -> Caller:
    caller = g.get("caller") if has_request_context() else None
    return caller if isinstance(caller, Caller) else SYSTEM


def request_base_url() -> str:
    """Scheme and host of the current request, without a trailing slash."""
    return request.host_url.rstrip("/")


def init_app(app: Flask) -> None:
    app.before_request(_bind_caller)


_BRACKETED = re.compile(r"^([A-Za-z0-9_]+)\[([A-Za-z0-9_]+)\]$")


def request_params() -> dict[str, Any]:
    """The request body as a dict, from JSON or from form fields in Rails' bracket notation
    (``user[email]=…&device[device_id]=…``), as Sure's endpoints accept both."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    params: dict[str, Any] = {}
    for key in request.form:
        value = request.form[key]
        match = _BRACKETED.match(key)
        if match:
            nested = params.setdefault(match.group(1), {})
            if isinstance(nested, dict):
                nested[match.group(2)] = value
        else:
            params[key] = value
    return params
