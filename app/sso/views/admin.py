"""Tenant administrators and the external identities of their users: list them, block one
(it signs nobody in, on the web, mobile and desktop alike) or unblock it. Audited."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.clock import utcnow
from app.errors import BadRequest, NotFound
from app.extensions import csrf
from app.gate import current_principal, current_principal_user, require
from app.identity.users import get_user
from app.openapi import doc
from app.requestctx import current_caller
from app.sso.schemas import SsoIdentityList, SsoIdentityOut, SsoIdentityPatch
from app.sso.services import identities

bp = Blueprint("sso_admin", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the gate checks CSRF itself, for cookie-authenticated writes only
PATCH_IN = SsoIdentityPatch()


@bp.get("/admin/users/<user_id>/sso_identities")
@require(scope="read", permission="admin.users", user_required=True)
@doc(
    "A user's identities at external providers (tenant admins)",
    response=SsoIdentityList,
    tag="admin",
)
def user_identities(user_id: str) -> Response:
    user = get_user(user_id)
    if user is None or user.family_id != current_principal().family_id:
        raise NotFound("User not found")
    rows = identities.identities_of(user.id)
    return jsonify(sso_identities=[identities.identity_json(row) for row in rows])


@bp.patch("/admin/sso_identities/<identity_id>")
@require(scope="write", permission="admin.users", user_required=True, first_party_only=True)
@doc(
    "Block or unblock an external identity of a user of the tenant (tenant admins)",
    response=SsoIdentityOut,
    body=SsoIdentityPatch,
    tag="admin",
)
def update_identity(identity_id: str) -> Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object, e.g. {"blocked": true}')
    data: dict[str, Any] = PATCH_IN.load(payload)
    row = identities.get_identity(identity_id, family_id=current_principal().family_id)
    changed = identities.set_blocked(
        row,
        data["blocked"],
        now=utcnow(),
        caller=current_caller(),
        by_user_id=current_principal_user().id,
    )
    return jsonify(identities.identity_json(changed))
