"""The token endpoint (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662)
and token info; the bearer-token reading the JSON endpoints of a user share."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Response, jsonify, request

from app import scopes
from app.clock import epoch, utcnow
from app.errors import NO_STORE, TollgateError, Unauthorized
from app.extensions import csrf, reads_only
from app.gate.bearer import bearer_challenge, bearer_credential
from app.oauth2 import resource_indicators
from app.oauth2.server import authorization
from app.oauth2.services import tokens
from app.oauth2.views.blueprint import BAD_CHARACTERS, bp

# --- token, revocation, introspection ------------------------------------------------------


def _require_form_body() -> None:
    """RFC 6749 §3.2 / §4.1.3: form-encoded body, nothing in the query string, no parameter
    twice (§3.1)."""
    if request.args:
        raise InvalidRequestError("Parameters must be sent in the request body, not the URL.")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The request body must be application/x-www-form-urlencoded.")
    repeated = [
        key
        for key in request.form
        if len(request.form.getlist(key)) > 1
        and key not in resource_indicators.REPEATABLE_PARAMETERS
    ]
    if repeated:
        raise InvalidRequestError(f"Parameter '{repeated[0]}' was sent more than once.")


@bp.post("/oauth/token")
@csrf.exempt
def token() -> Response:
    _require_form_body()
    if not request.form.get("grant_type"):
        raise InvalidRequestError("Missing 'grant_type' in request.")
    try:
        response: Response = authorization.create_token_response()
    except ValueError as exc:
        if "forbidden characters" not in str(exc):
            raise
        raise InvalidRequestError(BAD_CHARACTERS) from exc
    return response


@bp.post("/oauth/revoke")
@csrf.exempt
def revoke() -> Response:
    _require_form_body()
    response: Response = authorization.create_endpoint_response("revocation")
    return response


@bp.post("/oauth/introspect")
@csrf.exempt
def introspect() -> Response:
    _require_form_body()
    reads_only()  # introspection writes nothing (its budget lives in the counter store)
    response: Response = authorization.create_endpoint_response("introspection")
    return response


def bearer_token() -> str:
    """RFC 6750 §2.1: the token comes from the Authorization header only."""
    if "access_token" in request.args or "access_token" in request.form:
        raise TollgateError(
            "Access tokens are accepted only in the Authorization header.",
            error="invalid_request",
            headers={"WWW-Authenticate": bearer_challenge('error="invalid_request"')},
        )
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthorized(
            "An access token is required.",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    token = bearer_credential(header)
    if token is None:
        raise invalid_token()
    return token


def invalid_token() -> TollgateError:
    return Unauthorized(
        "The access token is invalid, expired or revoked.",
        error="invalid_token",
        headers={"WWW-Authenticate": bearer_challenge('error="invalid_token"')},
    )


@bp.get("/oauth/token/info")
def token_info() -> Response:
    now = utcnow()
    row = tokens.find_active_access_token(bearer_token(), now=now)
    if row is None:  # expired, revoked, a deactivated owner's or a disabled client's
        raise invalid_token()
    response = jsonify(
        resource_owner_id=str(row.user_id) if row.user_id else None,
        scope=scopes.to_list(row.scope),
        expires_in=max(0, int((row.access_expires_at - now).total_seconds())),
        application={"uid": row.client_id},
        created_at=epoch(row.issued_at),
    )
    response.headers.update(NO_STORE)
    return response
