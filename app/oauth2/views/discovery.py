"""Discovery: authorization server metadata (RFC 8414), protected resource metadata
(RFC 9728), OpenID Provider metadata and the JWKS (OpenID Connect Discovery 1.0)."""

from __future__ import annotations

from flask import Response, jsonify

from app import scopes
from app.clock import utcnow
from app.errors import NotFound
from app.oauth2 import resource_indicators
from app.oauth2.client_auth import ANY_CLIENT_AUTH, CONFIDENTIAL_AUTH
from app.oauth2.oidc import claims, keys
from app.oauth2.server import authorization
from app.oauth2.services import clients
from app.oauth2.views.blueprint import bp

# What an ID token of this provider holds besides the user claims of its scope.
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr")

# --- discovery --------------------------------------------------------------------------------


def _authorization_server_metadata(base: str) -> dict[str, object]:
    """What RFC 8414 and OpenID Connect Discovery both say about this server."""
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "registration_endpoint": f"{base}/register",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(clients.GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ANY_CLIENT_AUTH,
        "revocation_endpoint_auth_methods_supported": ANY_CLIENT_AUTH,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes.supported(),
        "authorization_response_iss_parameter_supported": True,
    }


@bp.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata() -> Response:
    """RFC 8414 §2; everything listed here is what the server really does."""
    return jsonify(_authorization_server_metadata(authorization.issuer()))


@bp.get("/.well-known/oauth-protected-resource")
def protected_resource_metadata() -> Response:
    """RFC 9728 §2: this server as a whole (every protected route)."""
    return _resource_metadata(resource_indicators.protected_resources(authorization.issuer())[0])


@bp.get("/.well-known/oauth-protected-resource/<path:resource_path>")
def path_resource_metadata(resource_path: str) -> Response:
    """RFC 9728 §3.1: a path-specific resource (``OAUTH2_RESOURCE_PATHS``) at its
    path-suffixed URL."""
    resource = resource_indicators.resource_for_path(resource_path, authorization.issuer())
    if resource is None:
        raise NotFound("No protected resource at this path", error="not_found")
    return _resource_metadata(resource)


def _resource_metadata(resource: str) -> Response:
    base = authorization.issuer()
    return jsonify(
        resource=resource,
        authorization_servers=[base],
        # The OpenID Connect scopes open no protected resource.
        scopes_supported=scopes.resource_scopes(),
        bearer_methods_supported=["header"],
    )


# --- OpenID Provider --------------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """OpenID Connect Discovery 1.0 §3: only what this provider really does."""
    base = authorization.issuer()
    return jsonify(
        **_authorization_server_metadata(base),
        userinfo_endpoint=f"{base}/oauth/userinfo",
        jwks_uri=f"{base}/.well-known/jwks.json",
        end_session_endpoint=f"{base}/oauth/end_session",
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=list(keys.ALGORITHMS),
        claims_supported=[*ID_TOKEN_CLAIMS, *claims.PROFILE_CLAIMS, *claims.EMAIL_CLAIMS],
        prompt_values_supported=["none", "login", "consent"],
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
    )


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The public keys of the ID token signatures: the active ones and the retired ones
    whose ID tokens may still be alive (RFC 7517 §5)."""
    response = jsonify(keys.jwks(now=utcnow()))
    # Short, so a rotation reaches verifiers soon (they refetch on an unknown kid anyway).
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
