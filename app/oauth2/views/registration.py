"""Dynamic client registration (RFC 7591, Sure's rules)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from app import scopes
from app.clock import epoch, utcnow
from app.errors import NO_STORE, TollgateError
from app.extensions import csrf
from app.oauth2.services import clients
from app.oauth2.views.blueprint import bp
from app.ratelimit import Throttle
from app.requestctx import current_caller

REGISTER_PER_IP = Throttle("register-ip", "RATE_LIMIT_REGISTER_IP")


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
    # Sure's rule: a registered client gets read_write whatever it asks; the OpenID Connect
    # scopes it asks for come on top (they open no resource).
    requested = body.get("scope")
    asked = scopes.to_list(requested) if isinstance(requested, str) else []
    scope = scopes.to_string(["read_write", *(n for n in asked if n in scopes.OIDC_SCOPES)])
    logout_uris = body.get("post_logout_redirect_uris") or []
    if not isinstance(logout_uris, list) or not all(isinstance(u, str) for u in logout_uris):
        raise _registration_error("post_logout_redirect_uris must be a list of strings")
    alg = body.get("id_token_signed_response_alg")
    if alg is not None and not isinstance(alg, str):
        raise _registration_error("id_token_signed_response_alg must be a string")
    created = clients.create_client(
        name=name,
        redirect_uris=uris,
        grant_types=["authorization_code", "refresh_token"],
        scope=scope,
        public=True,
        dynamic=True,
        post_logout_redirect_uris=logout_uris,
        id_token_signed_response_alg=alg,
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
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        id_token_signed_response_alg=client.id_token_signed_response_alg
        or current_app.config["OIDC_DEFAULT_SIGNING_ALG"],
    )
    response.headers.update(NO_STORE)
    return response, 201
