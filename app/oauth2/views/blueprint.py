"""The one blueprint of the authorization server ("oauth2") and its JSON endpoints."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oauth2", __name__)

# JSON endpoints outside the Sure contract: also served under /api/v1 (gate.twins).
JSON_ENDPOINTS = {
    "oauth2.token",
    "oauth2.revoke",
    "oauth2.introspect",
    "oauth2.token_info",
    "oauth2.authorization_server_metadata",
    "oauth2.protected_resource_metadata",
    "oauth2.path_resource_metadata",
    "oauth2.register",
    "oauth2.openid_configuration",
    "oauth2.jwks",
    "oauth2.userinfo",
    "oauth2.authorized_applications",
    "oauth2.revoke_authorized_application",
}

# Authlib refuses (ValueError) to echo some malformed parameters; we answer this instead.
BAD_CHARACTERS = "The request contains characters that are not allowed."
