"""Per-request plumbing every response goes through: correlation ids, CORS, rate-limit
headers, and the ``/api/v1`` twin of every JSON route."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

from app.errors import TollgateError, surface
from app.gate import limits

# Used with fullmatch: "$" alone would accept a trailing newline into headers and logs.
CORRELATION_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
CORS_PREFIXES = ("/api/", "/oauth/")
EXPOSED_HEADERS = ("X-Correlation-ID, X-RateLimit-Limit, X-RateLimit-Remaining, "
                   "X-RateLimit-Reset, Retry-After, WWW-Authenticate")
API_PREFIX = "/api/v1"


def correlation_id() -> str | None:
    return g.get("correlation_id") if has_request_context() else None


def _bind_correlation_id() -> Response | None:
    offered = request.headers.get("X-Correlation-ID", "")
    g.correlation_id = offered if CORRELATION_ID_RE.fullmatch(offered) else str(uuid.uuid4())
    if request.method == "OPTIONS" and request.path.startswith(CORS_PREFIXES):
        # A CORS preflight is answered here, before routing and authentication.
        return Response(status=200)
    return None


def _storable(value: object, depth: int = 0) -> bool:
    """No NUL characters and no lone surrogates (neither can be stored in PostgreSQL text or
    encoded as UTF-8), and no absurd nesting."""
    if depth > 32:
        return False
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return all(_storable(k, depth + 1) and _storable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v, depth + 1) for v in value)
    return True


def _refuse_unstorable_input() -> None:
    """Input the database cannot hold is the caller's error (400), checked once at the edge
    instead of surfacing as a 500 from deep inside a query."""
    values: list[object] = list(request.args.values())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values.extend(request.form.values())
    acceptable = True
    if request.is_json and request.content_length:
        try:
            values.append(request.get_json(silent=True))
        except RecursionError:  # nesting deeper than the JSON parser can follow
            acceptable = False
    if not acceptable or not all(_storable(v) for v in values):
        kind = surface(request.path)
        code = "invalid_request" if kind == "oauth" else "bad_request"
        raise TollgateError("The request contains characters or nesting that are not allowed.",
                            error=code)


def _finish(response: Response) -> Response:
    response.headers["X-Correlation-ID"] = g.get("correlation_id") or str(uuid.uuid4())
    if request.path.startswith(CORS_PREFIXES):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = (
                "GET, POST, PUT, PATCH, DELETE, OPTIONS")
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers",
                "Authorization, Content-Type, X-Api-Key, X-Correlation-ID")
            response.headers["Access-Control-Max-Age"] = "600"
    return limits.add_headers(response)


_base_factory = logging.getLogRecordFactory()


def _record_with_correlation_id(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
    record = _base_factory(*args, **kwargs)
    record.correlation_id = correlation_id() or "-"
    return record


def add_api_v1_twins(app: Flask, json_endpoints: set[str]) -> None:
    """Serve every JSON route outside the Sure contract under ``/api/v1`` too: same view, same
    methods, same protection. A Sure path that already exists there wins."""
    existing = {rule.rule for rule in app.url_map.iter_rules()}
    for rule in list(app.url_map.iter_rules()):
        if rule.endpoint not in json_endpoints or rule.rule.startswith(API_PREFIX):
            continue
        twin = API_PREFIX + rule.rule
        if twin in existing:
            continue
        app.add_url_rule(twin, endpoint=f"{rule.endpoint}__api_v1",
                         view_func=app.view_functions[rule.endpoint],
                         methods=sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))


def init_app(app: Flask) -> None:
    app.before_request(_bind_correlation_id)
    app.before_request(_refuse_unstorable_input)
    app.after_request(_finish)
    # Every log record made while serving a request carries its correlation id.
    logging.setLogRecordFactory(_record_with_correlation_id)
