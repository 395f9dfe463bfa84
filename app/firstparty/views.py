"""Sure's first-party endpoints, to the letter of the contract (paths, fields, statuses and
messages), plus MFA management for the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask_login import login_user

from app.clock import utcnow
from app.errors import NO_STORE, BadRequest
from app.firstparty import reset
from app.firstparty import services as firstparty
from app.gate import current_principal, require
from app.identity import mfa
from app.openapi import doc
from app.requestctx import current_caller, request_params

bp = Blueprint("firstparty", __name__, url_prefix="/api/v1")
TOKEN_RESPONSE = {"type": "object", "properties": {
    "access_token": {"type": "string"}, "refresh_token": {"type": "string"},
    "token_type": {"type": "string"}, "expires_in": {"type": "integer"},
    "created_at": {"type": "integer"}, "user": {"type": "object"}}}
OBJECT = {"type": "object"}


def _no_store(payload: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    response = jsonify(payload)
    response.headers.update(NO_STORE)
    return response, status


@bp.post("/auth/signup")
def signup() -> tuple[Response, int]:
    return _no_store(firstparty.signup(request_params(), now=utcnow(), caller=current_caller()),
                     201)


@bp.post("/auth/login")
def login() -> tuple[Response, int]:
    return _no_store(firstparty.login(request_params(), now=utcnow(), caller=current_caller()))


@bp.post("/auth/refresh")
def refresh() -> tuple[Response, int]:
    return _no_store(firstparty.refresh(request_params(), now=utcnow(),
                                        caller=current_caller()))


@bp.patch("/auth/enable_ai")
@require(scope="write", user_required=True, limit_after_scope=True)
@doc("Turn AI features on for the caller (Sure)", response=OBJECT, tag="auth")
def enable_ai() -> Response:
    return jsonify(firstparty.enable_ai(current_principal().user, now=utcnow(),
                                        caller=current_caller()))


@bp.delete("/users/reset")
@require(scope="write", permission="family.reset", user_required=True)
@doc("Queue the reset of the family's financial data (admins)", response=OBJECT, tag="users")
def users_reset() -> Response:
    principal = current_principal()
    job = reset.enqueue(principal.family_id, principal.user_id, now=utcnow(),
                        caller=current_caller())
    return jsonify(message="Account reset has been initiated", status="queued",
                   job_id=str(job.id), family_id=str(principal.family_id),
                   status_url="/api/v1/users/reset/status")


@bp.get("/users/reset/status")
@require(scope="read", permission="family.reset", user_required=True)
@doc("What is left of the family's data, and the latest reset job", response=OBJECT,
     tag="users")
def users_reset_status() -> Response:
    family_id = current_principal().family_id
    counts = reset.counts(family_id)
    complete = not any(counts.values())
    job = reset.latest_job(family_id)
    return jsonify(
        status="complete" if complete else "data_remaining",
        family_id=str(family_id),
        reset_complete=complete,
        counts=counts,
        job=None if job is None else {
            "id": str(job.id), "status": job.status, "deleted": job.deleted,
            "created_at": job.created_at.isoformat() + "Z",
            "finished_at": job.finished_at.isoformat() + "Z" if job.finished_at else None,
        },
    )


@bp.delete("/users/me")
@require(scope="write", user_required=True)
@doc("Deactivate your account; every credential of it is revoked at once", response=OBJECT,
     tag="users")
def users_destroy() -> Response:
    firstparty.deactivate(current_principal().user, now=utcnow(), caller=current_caller())
    return jsonify(message="Account has been deleted")


# --- MFA management (JSON; the page is in web/) ----------------------------------------------

# The account holder only (a session or a first-party app's token): a third-party app that
# could enrol its own second factor would lock the owner out of their account.
MFA_MANAGERS = ("session", "oauth")


def _code() -> str:
    code = request_params().get("code")
    if not isinstance(code, str) or not code.strip():
        raise BadRequest()
    return code


def _password() -> str:
    """A missing password is checked (and refused) like a wrong one."""
    password = request_params().get("password")
    return password if isinstance(password, str) else ""


def _keep_this_session() -> None:
    """Turning MFA on or off ends the user's other sessions; this one signs in again."""
    principal = current_principal()
    if principal.credential_kind == "session":
        login_user(principal.user)


@bp.get("/mfa")
@require(scope="read", credentials=MFA_MANAGERS, user_required=True,
         first_party_only=True)
@doc("Two-factor authentication status", response=OBJECT, tag="mfa")
def mfa_status() -> Response:
    user = current_principal().user
    return jsonify(enabled=user.otp_required,
                   backup_codes_remaining=mfa.remaining_backup_codes(user))


@bp.post("/mfa/enrolment")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True,
         first_party_only=True)
@doc("Start TOTP enrolment (needs the current password): a secret, its otpauth URI and a "
     "QR code (SVG)", response=OBJECT, tag="mfa")
def mfa_start() -> tuple[Response, int]:
    return _no_store(mfa.start_enrolment(current_principal().user, _password(), now=utcnow(),
                                         caller=current_caller()))


@bp.post("/mfa/enrolment/confirm")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True,
         first_party_only=True)
@doc("Confirm enrolment with a code; returns the backup codes once", response=OBJECT,
     tag="mfa")
def mfa_confirm() -> tuple[Response, int]:
    codes = mfa.confirm_enrolment(current_principal().user, _code(), now=utcnow(),
                                  caller=current_caller())
    _keep_this_session()
    return _no_store({"backup_codes": codes})


@bp.post("/mfa/backup_codes")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True,
         first_party_only=True)
@doc("Replace the backup codes (needs a current code)", response=OBJECT, tag="mfa")
def mfa_backup_codes() -> tuple[Response, int]:
    codes = mfa.regenerate_backup_codes(current_principal().user, _code(), now=utcnow(),
                                        caller=current_caller())
    return _no_store({"backup_codes": codes})


@bp.delete("/mfa")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True,
         first_party_only=True)
@doc("Turn two-factor authentication off (needs the password and a code)", response=OBJECT,
     tag="mfa")
def mfa_disable() -> Response:
    mfa.disable(current_principal().user, _password(), _code(), now=utcnow(),
                caller=current_caller())
    _keep_this_session()
    return jsonify(message="Two-factor authentication disabled")
