"""Managing one's own API keys (JSON), and Sure's ``GET /api/v1/usage``."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from app.apikeys import services
from app.apikeys.schemas import ApiKeyIn, ApiKeyList, ApiKeyOut, NewApiKeyOut
from app.clock import utcnow
from app.errors import NO_STORE, BadRequest
from app.gate import current_principal, current_principal_user, limits, require
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("apikeys", __name__, url_prefix="/api/v1")

# Keys are minted and managed by the account holder only: a browser session or a first-party
# app's token. Never with an API key itself (a leaked key cannot mint its own successors), and
# never by a third-party app, whatever scope it was granted: a key it minted would outlive
# the user's revocation of that app.
MANAGERS = ("session", "session_token", "oauth")
API_KEY_IN = ApiKeyIn()


@bp.get("/api_keys")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc("List your active API keys", response=ApiKeyList, tag="api_keys")
def index() -> Response:
    keys = services.list_api_keys(current_principal_user(), now=utcnow())
    return jsonify(api_keys=[services.describe(k) for k in keys])


@bp.post("/api_keys")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc(
    "Create an API key (the key is in this response only)",
    response=NewApiKeyOut,
    status=201,
    body=ApiKeyIn,
    tag="api_keys",
)
def create() -> tuple[Response, int]:
    payload = request.get_json(silent=True)
    if isinstance(payload, dict) and isinstance(payload.get("api_key"), dict):
        payload = payload["api_key"]
    if not isinstance(payload, dict):
        raise BadRequest()
    data = API_KEY_IN.load(payload)
    now = utcnow()
    days = data.get("expires_in_days")
    principal = current_principal()
    created = services.create_api_key(
        current_principal_user(),
        name=data["name"],
        scope=data["scope"],
        source=data["source"],
        expires_at=now + timedelta(days=days) if days else None,
        now=now,
        caller=current_caller(),
        created_by_client_id=principal.details.get("client_id"),
        created_by_lineage_id=principal.details.get("lineage_id"),
    )
    response = jsonify({**services.describe(created.api_key), "key": created.key})
    response.headers.update(NO_STORE)
    return response, 201


@bp.delete("/api_keys/<key_id>")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc("Revoke one of your API keys", response=ApiKeyOut, tag="api_keys")
def revoke(key_id: str) -> Response:
    revoked = services.revoke_api_key(
        current_principal_user(), key_id, now=utcnow(), caller=current_caller()
    )
    return jsonify(services.describe(revoked))


@bp.get("/usage")
@require(scope="read", reads_only=True)
@doc("Usage of the calling credential (Sure)", response={"type": "object"}, tag="usage")
def usage() -> Response:
    principal = current_principal()
    if principal.credential_kind != "api_key" or principal.rate_limit is None:
        return jsonify(
            authentication_method=principal.credential_kind,
            message="Detailed usage tracking is available for API key authentication",
        )
    details = principal.details
    return jsonify(
        api_key={
            "name": details["name"],
            "scopes": details["scopes"],
            "last_used_at": details["last_used_at"],
            "created_at": details["created_at"],
        },
        rate_limit=limits.usage(principal.rate_limit),
    )
