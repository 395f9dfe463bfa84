"""RedCloud's session endpoints at the root (a root JSON API: errors in the API envelope).

- ``POST /auth/login``: email, password and the one-time code -> access JWT + refresh token.
  Root only: ``/api/v1/auth/login`` is Sure's device login, which wins.
- ``POST /auth/refresh``: the same service as Sure's ``/api/v1/auth/refresh`` (Sure's bodies):
  either first-party lineage, each keeping its profile.
- ``GET /auth/me``, ``POST /auth/logout`` and Surfsight's ``POST /authenticate``, each also
  under ``/api/v1`` (declared here, so the OpenAPI document lists them).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.clock import utcnow
from app.errors import NO_STORE, BadRequest
from app.firstparty import schemas as firstparty_schemas
from app.firstparty import services as firstparty
from app.gate import current_principal, require
from app.openapi import doc
from app.requestctx import current_caller, request_params
from app.sessions import schemas, services

bp = Blueprint("sessions", __name__)
LOGIN_IN = schemas.SessionLoginIn()
REFRESH_IN = firstparty_schemas.RefreshIn()


def _no_store(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.headers.update(NO_STORE)
    return response


def _body() -> dict[str, Any]:
    """A JSON object (or form fields); any other JSON document is a 400."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object")
        return data
    return request_params()


def _login() -> dict[str, Any]:
    data = LOGIN_IN.load(_body())
    return services.login(
        email=data["email"],
        password=data["password"],
        otp_code=data["code"],
        now=utcnow(),
        caller=current_caller(),
    )


@bp.post("/auth/login")
@doc(
    "Sign in (email, password, and totp_code for MFA users): a 15-minute access JWT and a "
    "rotating refresh token",
    body=schemas.SessionLoginIn,
    response=schemas.SessionTokensOut,
    tag="sessions",
)
def login() -> Response:
    return _no_store(_login())


@bp.post("/auth/refresh")
@doc(
    "Rotate a first-party refresh token (a session's or a Sure device's); the lineage keeps "
    "its profile, a replay ends it",
    response=schemas.SessionTokensOut,
    tag="sessions",
)
def refresh() -> Response:
    data = REFRESH_IN.load(request_params())
    return _no_store(
        firstparty.refresh(
            data["refresh_token"],
            device_id=data["device_id"],
            now=utcnow(),
            caller=current_caller(),
        )
    )


@bp.get("/api/v1/auth/me")
@bp.get("/auth/me")
@require()
@doc(
    "Who is calling: user, tenant, region, credential type, live permissions",
    response=schemas.MeOut,
    tag="sessions",
)
def me() -> Response:
    return jsonify(services.describe_caller(current_principal()))


@bp.post("/api/v1/auth/logout")
@bp.post("/auth/logout")
@require()
@doc(
    "End the session of the presented session JWT (its access and refresh tokens)",
    status=204,
    tag="sessions",
)
def logout() -> tuple[str, int]:
    services.logout(current_principal(), now=utcnow(), caller=current_caller())
    return "", 204


@bp.post("/api/v1/authenticate")
@bp.post("/authenticate")
@doc(
    "Surfsight's basic authentication: email and password for a session access token",
    body=schemas.SessionLoginIn,
    response=schemas.AuthenticateOut,
    tag="sessions",
)
def authenticate() -> Response:
    token = _login()
    return _no_store(
        {
            "token": token["access_token"],
            "refresh_token": token["refresh_token"],
            "expires_in": token["expires_in"],
        }
    )
