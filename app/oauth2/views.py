"""HTTP for the authorization server: authorize, token, revoke, introspect, token info,
discovery (RFC 8414, RFC 9728), dynamic registration (RFC 7591) and the user's authorized
applications. Views translate; Authlib (``oauth2.server``) and ``oauth2.services`` decide."""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from app import scopes
from app.clock import epoch, utcnow
from app.errors import NO_STORE, NotFound, TollgateError, Unauthorized
from app.extensions import csrf
from app.gate import current_principal_user, require
from app.gate.bearer import bearer_challenge, bearer_credential
from app.oauth2.client_auth import ANY_CLIENT_AUTH, CONFIDENTIAL_AUTH
from app.oauth2.grants import AuthorizationCodeGrant
from app.oauth2.server import authorization
from app.oauth2.services import applications, clients, tokens
from app.ratelimit import Throttle
from app.requestctx import current_caller

bp = Blueprint("oauth2", __name__)

# JSON endpoints outside the Sure contract: also served under /api/v1 (gate.twins).
JSON_ENDPOINTS = {
    "oauth2.token",
    "oauth2.revoke",
    "oauth2.introspect",
    "oauth2.token_info",
    "oauth2.authorization_server_metadata",
    "oauth2.protected_resource_metadata",
    "oauth2.register",
    "oauth2.authorized_applications",
    "oauth2.revoke_authorized_application",
}

REGISTER_PER_IP = Throttle("register-ip", "RATE_LIMIT_REGISTER_IP")
SCOPE_DESCRIPTIONS = {
    "read": "Read your data",
    "read_write": "Read and change your data",
}


# --- authorization endpoint (RFC 6749 §4.1.1) ------------------------------------------------


def _with_issuer(response: Response) -> Response:
    """RFC 9207: every authorization response carries ``iss``."""
    if response.location:
        response.location = add_params_to_uri(response.location, [("iss", authorization.issuer())])
    return response


def _authorization_error(error: OAuth2Error) -> Response:
    """Errors that can go back to a verified redirect URI are redirected (with ``state`` and
    ``iss``); an unknown client or an unregistered redirect URI gets a page, never a
    redirect (RFC 6749 §4.1.2.1). So does any error for a dynamically registered client:
    anyone can register one with any https URI, and a malformed request must not make this
    server an open redirector (RFC 9700 §4.11.2)."""
    params = request.form if request.method == "POST" else request.args  # as the grant reads
    client = clients.get_client(params.get("client_id"))
    trusted = client is not None and not client.dynamically_registered
    if error.redirect_uri and trusted:
        response: Response = authorization.handle_error_response(None, error)
        return _with_issuer(response)
    body = render_template(
        "error.html",
        status=400,
        error=error.error,
        description=error.description or "The authorization request is invalid.",
    )
    return Response(body, status=400, mimetype="text/html")


_BAD_CHARACTERS = "The request contains characters that are not allowed."


def _consent_grant() -> AuthorizationCodeGrant:
    """Authlib echoes some parameters (response_type, grant_type) into error descriptions and
    raises ValueError when they hold characters RFC 6749 forbids there; that is the caller's
    malformed request, not a server error."""
    try:
        # response_type=code is the only one registered: the grant is always ours.
        grant: AuthorizationCodeGrant = authorization.get_consent_grant(end_user=current_user)
    except ValueError as exc:
        if "forbidden characters" not in str(exc):
            raise
        raise InvalidRequestError(_BAD_CHARACTERS) from exc
    return grant


def _login_redirect() -> WerkzeugResponse:
    next_path = request.full_path.rstrip("?") if request.method == "GET" else "/"
    return redirect(url_for("web.login", next=next_path))


@bp.get("/oauth/authorize")
def authorize() -> WerkzeugResponse | str:
    if not current_user.is_authenticated:
        return _login_redirect()
    try:
        grant = _consent_grant()
    except OAuth2Error as error:
        return _authorization_error(error)
    client = grant.client
    hidden = {
        key: request.args[key]
        for key in (
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "display",
        )
        if key in request.args
    }
    requested = scopes.to_list(grant.request.scope)
    return render_template(
        "consent.html",
        client=client,
        hidden=hidden,
        scopes=[(name, SCOPE_DESCRIPTIONS.get(name, name)) for name in requested],
        user=current_user,
        redirect_host=(grant.redirect_uri or "").split("?")[0],
    )


@bp.post("/oauth/authorize")
def authorize_decision() -> WerkzeugResponse:
    if not current_user.is_authenticated:
        return _login_redirect()
    try:
        grant = _consent_grant()
    except OAuth2Error as error:
        return _authorization_error(error)
    approved = request.form.get("confirm") == "yes"
    applications.record_consent(
        current_user,
        grant.client.client_id,
        grant.request.scope,
        approved=approved,
        now=utcnow(),
        caller=current_caller(),
    )
    response: Response = authorization.create_authorization_response(
        grant=grant, grant_user=current_user._get_current_object() if approved else None
    )
    return _with_issuer(response)


# --- token, revocation, introspection ------------------------------------------------------


def _require_form_body() -> None:
    """RFC 6749 §3.2 / §4.1.3: form-encoded body, nothing in the query string, no parameter
    twice (§3.1)."""
    if request.args:
        raise InvalidRequestError("Parameters must be sent in the request body, not the URL.")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The request body must be application/x-www-form-urlencoded.")
    repeated = [key for key in request.form if len(request.form.getlist(key)) > 1]
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
        raise InvalidRequestError(_BAD_CHARACTERS) from exc
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
    response: Response = authorization.create_endpoint_response("introspection")
    return response


def _bearer_token() -> str:
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
        raise _invalid_token()
    return token


def _invalid_token() -> TollgateError:
    return Unauthorized(
        "The access token is invalid, expired or revoked.",
        error="invalid_token",
        headers={"WWW-Authenticate": bearer_challenge('error="invalid_token"')},
    )


@bp.get("/oauth/token/info")
def token_info() -> Response:
    now = utcnow()
    row = tokens.find_active_access_token(_bearer_token(), now=now)
    if row is None:  # expired, revoked, a deactivated owner's or a disabled client's
        raise _invalid_token()
    response = jsonify(
        resource_owner_id=str(row.user_id) if row.user_id else None,
        scope=scopes.to_list(row.scope),
        expires_in=max(0, int((row.access_expires_at - now).total_seconds())),
        application={"uid": row.client_id},
        created_at=epoch(row.issued_at),
    )
    response.headers.update(NO_STORE)
    return response


# --- discovery --------------------------------------------------------------------------------


@bp.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata() -> Response:
    """RFC 8414 §2; everything listed here is what the server really does."""
    base = authorization.issuer()
    return jsonify(
        issuer=base,
        authorization_endpoint=f"{base}/oauth/authorize",
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
        introspection_endpoint=f"{base}/oauth/introspect",
        registration_endpoint=f"{base}/register",
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=list(clients.GRANT_TYPES),
        token_endpoint_auth_methods_supported=ANY_CLIENT_AUTH,
        revocation_endpoint_auth_methods_supported=ANY_CLIENT_AUTH,
        introspection_endpoint_auth_methods_supported=CONFIDENTIAL_AUTH,
        code_challenge_methods_supported=["S256"],
        scopes_supported=scopes.supported(),
        authorization_response_iss_parameter_supported=True,
    )


@bp.get("/.well-known/oauth-protected-resource")
def protected_resource_metadata() -> Response:
    """RFC 9728 §2."""
    base = authorization.issuer()
    return jsonify(
        resource=base,
        authorization_servers=[base],
        scopes_supported=scopes.supported(),
        bearer_methods_supported=["header"],
    )


# --- dynamic client registration (RFC 7591, Sure's rules) ----------------------------------


def _registration_error(description: str) -> TollgateError:
    return clients.InvalidClientMetadata(description)


@bp.post("/register")
@csrf.exempt
def register() -> tuple[Response, int]:
    ip = request.remote_addr or "unknown"
    REGISTER_PER_IP.spend(ip)
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _registration_error("Invalid JSON")
    raw_uris = body.get("redirect_uris")
    if isinstance(raw_uris, str):
        raw_uris = [raw_uris]
    if not isinstance(raw_uris, list) or not all(isinstance(u, str) for u in raw_uris):
        raise _registration_error("redirect_uris is required")
    uris = [u.strip() for u in raw_uris if u.strip()]
    if not uris:
        raise _registration_error("redirect_uris is required")
    name = body.get("client_name") or "MCP Client"
    if not isinstance(name, str):
        raise _registration_error("client_name must be a string")
    created = clients.create_client(
        name=name,
        redirect_uris=uris,
        grant_types=["authorization_code", "refresh_token"],
        scope="read_write",
        public=True,
        dynamic=True,
        now=utcnow(),
        caller=current_caller(),
    )
    client = created.client
    response = jsonify(
        client_id=client.client_id,
        client_name=client.name,
        redirect_uris=client.redirect_uris,
        grant_types=client.grant_types,
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=client.scope,
        client_id_issued_at=epoch(client.created_at),
    )
    response.headers.update(NO_STORE)
    return response, 201


# --- the signed-in user's authorized applications --------------------------------------------

# The account holder only: the browser session (CSRF on writes) or a first-party app's token.
# A third-party app must not read which other apps hold the account, nor revoke them.
APPLICATION_MANAGERS = ("session", "session_token", "oauth")


@bp.get("/oauth/authorized_applications")
@require(scope="read", credentials=APPLICATION_MANAGERS, user_required=True, first_party_only=True)
def authorized_applications() -> Response:
    user = current_principal_user()
    return jsonify(applications=applications.authorized_applications(user.id, now=utcnow()))


@bp.delete("/oauth/authorized_applications/<client_id>")
@csrf.exempt  # the gate checks CSRF itself, for cookie-authenticated writes only
@require(scope="write", credentials=APPLICATION_MANAGERS, user_required=True, first_party_only=True)
def revoke_authorized_application(client_id: str) -> tuple[str, int]:
    user = current_principal_user()
    if not applications.revoke_authorization(
        user, client_id, now=utcnow(), caller=current_caller()
    ):
        raise NotFound("No authorization for that application", error="not_found")
    return "", 204
