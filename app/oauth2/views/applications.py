"""The signed-in user's authorized applications."""

from __future__ import annotations

from flask import Response, jsonify

from app.clock import utcnow
from app.errors import NotFound
from app.extensions import csrf
from app.gate import current_principal_user, require
from app.oauth2.services import applications
from app.oauth2.views.blueprint import bp
from app.requestctx import current_caller

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
