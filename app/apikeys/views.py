"""Managing one's own API keys (JSON), and Sure's ``GET /api/v1/usage``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import RAISE, Schema, fields, pre_load, validate

from app.apikeys import services
from app.apikeys.models import SCOPES, SOURCES
from app.clock import utcnow
from app.errors import NO_STORE, BadRequest
from app.gate import current_principal, limits, require
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("apikeys", __name__, url_prefix="/api/v1")

# Keys are minted and managed by the account holder only: a browser session or a first-party
# app's token. Never with an API key itself (a leaked key cannot mint its own successors), and
# never by a third-party app, whatever scope it was granted: a key it minted would outlive
# the user's revocation of that app.
MANAGERS = ("session", "oauth")


class ApiKeyIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    source = fields.String(load_default="web", validate=validate.OneOf(SOURCES))
    expires_in_days = fields.Integer(validate=validate.Range(min=1, max=3650))

    @pre_load
    def _sure_scopes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Sure's form sends api_key[scopes]; accept "scopes" (a string or a one-item list).
        if isinstance(data, dict) and "scopes" in data and "scope" not in data:
            data = dict(data)
            scopes = data.pop("scopes")
            data["scope"] = scopes[0] if isinstance(scopes, list) and len(scopes) == 1 else scopes
        return data


class ApiKeyOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    source = fields.String(required=True)
    tier = fields.String(required=True)
    display_prefix = fields.String(required=True)
    created_at = fields.String(required=True)
    expires_at = fields.String(allow_none=True)
    last_used_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class NewApiKeyOut(ApiKeyOut):
    key = fields.String(required=True, metadata={"description": "Shown this once."})


ApiKeyList = Schema.from_dict({"api_keys": fields.List(fields.Nested(ApiKeyOut))},
                              name="ApiKeyList")


@bp.get("/api_keys")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc("List your active API keys", response=ApiKeyList, tag="api_keys")
def index() -> Response:
    keys = services.list_api_keys(current_principal().user, now=utcnow())
    return jsonify(api_keys=[services.describe(k) for k in keys])


@bp.post("/api_keys")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc("Create an API key (the key is in this response only)", response=NewApiKeyOut,
     status=201, body=ApiKeyIn, tag="api_keys")
def create() -> tuple[Response, int]:
    payload = request.get_json(silent=True)
    if isinstance(payload, dict) and isinstance(payload.get("api_key"), dict):
        payload = payload["api_key"]
    if not isinstance(payload, dict):
        raise BadRequest()
    data = ApiKeyIn().load(payload)
    now = utcnow()
    days = data.get("expires_in_days")
    principal = current_principal()
    created = services.create_api_key(
        principal.user, name=data["name"], scope=data["scope"],
        source=data["source"], expires_at=now + timedelta(days=days) if days else None,
        now=now, caller=current_caller(),
        created_by_client_id=principal.details.get("client_id"),
        created_by_lineage_id=principal.details.get("lineage_id"))
    response = jsonify({**services.describe(created.api_key), "key": created.key})
    response.headers.update(NO_STORE)
    return response, 201


@bp.delete("/api_keys/<key_id>")
@require(scope="write", credentials=MANAGERS, user_required=True, first_party_only=True)
@doc("Revoke one of your API keys", response=ApiKeyOut, tag="api_keys")
def revoke(key_id: str) -> Response:
    revoked = services.revoke_api_key(current_principal().user, key_id, now=utcnow(),
                                      caller=current_caller())
    return jsonify(services.describe(revoked))


@bp.get("/usage")
@require(scope="read")
@doc("Usage of the calling credential (Sure)", response={"type": "object"}, tag="usage")
def usage() -> Response:
    principal = current_principal()
    if principal.credential_kind != "api_key" or principal.rate_limit is None:
        return jsonify(authentication_method=principal.credential_kind,
                       message="Detailed usage tracking is available for API key "
                               "authentication")
    details = principal.details
    return jsonify(
        api_key={"name": details["name"], "scopes": details["scopes"],
                 "last_used_at": details["last_used_at"], "created_at": details["created_at"]},
        rate_limit=limits.usage(principal.rate_limit),
    )
