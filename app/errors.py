"""The error family and the one handler that renders every error.

Views and services raise; this module chooses the shape by the surface the request hit:
- OAuth endpoints (``/oauth/*`` JSON endpoints, ``/register``, ``/.well-known/*``): RFC 6749
  §5.2 ``{"error", "error_description"}`` with ``Cache-Control: no-store``;
- the JSON API (``/api/*`` and the root JSON blueprints, e.g. ``/auth/*``, ``/scans``): one
  envelope that speaks both Sure's and RedCloud's words, ``{"error": "<lower_snake>",
  "message", "code": "<UPPER_SNAKE>", "correlation_id", ...details}`` (C8);
- Sure's first-party account API (``SureError``, raised by app.firstparty): Sure's own bodies,
  ``{"error": "<the message>", ...}`` or ``{"errors": [...]}``, whatever the path;
- browser pages: an HTML error page.
Nothing internal (exception text, SQL, stack) ever reaches a response; it goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from app.extensions import db

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_HTML_PATHS = frozenset({"/oauth/authorize"})
_OAUTH_PREFIXES = ("/oauth/", "/register", "/.well-known/")
JSON_BLUEPRINTS_KEY = "tollgate.json_blueprints"


def mark_json_api(app: Flask, *blueprint_names: str) -> None:
    """Errors of these blueprints' routes are JSON (the API envelope) whatever their path:
    RedCloud's and Surfsight's routes live at the root (``/auth/login``, ``/scans``)."""
    app.extensions.setdefault(JSON_BLUEPRINTS_KEY, set()).update(blueprint_names)


class TollgateError(Exception):
    """A client-facing error: a stable ``error`` code, an HTTP status, a short description."""

    status = 400
    error = "bad_request"
    description = "The request is invalid."

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description or self.description)
        if description is not None:
            self.description = description
        if error is not None:
            self.error = error
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(TollgateError):
    status, error = 400, "bad_request"
    description = "Required parameters are missing or invalid"


class Unauthorized(TollgateError):
    status, error = 401, "unauthorized"
    description = "Authentication is required."


class Forbidden(TollgateError):
    status, error = 403, "forbidden"
    description = "You are not authorized to perform this action"


class NotFound(TollgateError):
    status, error = 404, "record_not_found"
    description = "The requested resource was not found"


class Conflict(TollgateError):
    status, error = 409, "conflict"
    description = "The request conflicts with the current state."


class ValidationFailed(TollgateError):
    status, error = 422, "validation_failed"
    description = "Validation failed"


class TooManyRequests(TollgateError):
    status, error = 429, "rate_limit_exceeded"
    description = "Too many attempts. Try again later."

    def __init__(self, retry_after: int, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        self.retry_after = max(1, int(retry_after))
        self.headers.setdefault("Retry-After", str(self.retry_after))


class ServiceUnavailable(TollgateError):
    status, error = 503, "service_unavailable"
    description = "The service is temporarily unavailable. Try again later."


class SureError(TollgateError):
    """An error of Sure's first-party account API (contract §3), which does not answer in the
    envelope: the body is ``{"error": <description>}`` plus ``extra``, or, when ``errors`` is
    given (a record that failed validation), ``{"errors": [...]}`` alone. The concrete errors
    are app.firstparty.errors."""

    def __init__(
        self, description: str | None = None, *, errors: list[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(description, **kwargs)
        self.errors = errors


def _sure_body(exc: SureError) -> dict[str, Any]:
    if exc.errors is not None:
        return {"errors": exc.errors}
    return {"error": exc.description, **exc.extra}


def surface(path: str) -> str:
    """Which error shape a path speaks: ``oauth``, ``api`` or ``html``."""
    if path.startswith("/api/v1/"):
        # OAuth JSON endpoints keep their RFC shape under their /api/v1 twin too.
        return "oauth" if path.removeprefix("/api/v1").startswith(_OAUTH_PREFIXES) else "api"
    if path in _HTML_PATHS:
        return "html"
    if request.blueprint and request.blueprint in current_app.extensions.get(
        JSON_BLUEPRINTS_KEY, ()
    ):
        return "api"
    if path.startswith(_OAUTH_PREFIXES):
        return "oauth"
    if path.startswith("/api/"):
        return "api"
    return "html"


def render_error(
    status: int,
    error: str,
    description: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    kind = surface(request.path)
    if kind == "html":
        body = render_template("error.html", status=status, error=error, description=description)
        response = Response(body, status=status, mimetype="text/html")
    elif kind == "oauth":
        response = jsonify({"error": error, "error_description": description, **(extra or {})})
        response.status_code = status
        response.headers.update(NO_STORE)
    else:
        response = jsonify(
            {
                "error": error,
                "message": description,
                "code": error.upper(),
                "correlation_id": g.get("correlation_id"),
                **(extra or {}),
            }
        )
        response.status_code = status
    response.headers.update(headers or {})
    return response


def oauth2_error_response(error: OAuth2Error) -> Response:
    """Render an Authlib error raised outside Authlib's own endpoints."""
    status, body, headers = error()
    response = Response(body if isinstance(body, str) else "", status=status)
    if isinstance(body, dict | list):
        response = jsonify(dict(body))
        response.status_code = status
    response.headers.update(dict(headers))
    response.headers.update(NO_STORE)
    return response


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested {field: [messages]} as flat, readable strings."""
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            label = prefix if key == "_schema" else f"{prefix}{key}"
            out.extend(_flatten(value, f"{label}." if isinstance(value, dict) else label))
        return out
    if isinstance(messages, list):
        return [
            f"{prefix}: {m}" if prefix else str(m)
            for m in messages
            if not isinstance(m, dict | list)
        ] + [item for m in messages if isinstance(m, dict | list) for item in _flatten(m, prefix)]
    return [f"{prefix}: {messages}" if prefix else str(messages)]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TollgateError)
    def _tollgate(exc: TollgateError) -> Response:
        if isinstance(exc, SureError):
            response = jsonify(_sure_body(exc))
            response.status_code = exc.status
            response.headers.update(exc.headers)
            return response
        return render_error(exc.status, exc.error, exc.description, exc.headers, exc.extra)

    @app.errorhandler(OAuth2Error)
    def _oauth2(exc: OAuth2Error) -> Response:
        return oauth2_error_response(exc)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        return render_error(
            400,
            "invalid_csrf_token",
            "The form expired or did not come from this site. Go back, reload and try again.",
        )

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        messages = _flatten(exc.messages)
        return render_error(
            422, "validation_failed", "Validation failed", extra={"errors": messages}
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _store_unreachable(exc: Exception) -> Response:
        # Fail closed: an unreachable database is never an authentication failure (401) and
        # never a reason to try a weaker credential.
        log.error(
            "database unavailable on %s %s: %s",
            request.method,
            request.path,
            exc.__class__.__name__,
        )
        db.session.rollback()
        return render_error(
            503,
            ServiceUnavailable.error,
            ServiceUnavailable.description,
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        response = render_error(code, name, exc.description or exc.name or "Error")
        if code == 405 and exc.response is None:
            allowed = exc.get_headers()
            response.headers.extend(h for h in allowed if h[0] == "Allow")
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return render_error(500, "server_error", "An unexpected error occurred.")
