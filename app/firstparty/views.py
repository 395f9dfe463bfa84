"""Sure's first-party endpoints, to the letter of the contract (paths, fields, statuses and
messages), plus MFA management for the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask_login import login_user

from app.clock import rfc3339, utcnow
from app.errors import NO_STORE, BadRequest
from app.firstparty import reset, schemas
from app.firstparty import services as firstparty
from app.gate import current_principal, current_principal_user, require
from app.identity import mfa
from app.openapi import doc
from app.requestctx import current_caller, request_params
from app.resources import services as resources

bp = Blueprint("firstparty", __name__, url_prefix="/api/v1")
OBJECT = {"type": "object"}
SIGNUP_IN = schemas.SignupIn()
LOGIN_IN = schemas.LoginIn()
REFRESH_IN = schemas.RefreshIn()
MFA_STEP_UP_IN = schemas.MfaStepUpIn()


def _no_store(payload: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    response = jsonify(payload)
    response.headers.update(NO_STORE)
    return response, status


@bp.post("/auth/signup")
def signup() -> tuple[Response, int]:
    data = SIGNUP_IN.load(request_params())
    user = data["user"]
    return _no_store(
        firstparty.signup(
            email=user["email"],
            password=user["password"],
            first_name=user["first_name"],
            last_name=user["last_name"],
            invite_code=data["invite_code"],
            device=data["device"],
            now=utcnow(),
            caller=current_caller(),
        ),
        201,
    )


@bp.post("/auth/login")
def login() -> tuple[Response, int]:
    data = LOGIN_IN.load(request_params())
    return _no_store(
        firstparty.login(
            email=data["email"],
            password=data["password"],
            otp_code=data["otp_code"],
            device=data["device"],
            now=utcnow(),
            caller=current_caller(),
        )
    )


@bp.post("/auth/refresh")
def refresh() -> tuple[Response, int]:
    data = REFRESH_IN.load(request_params())
    return _no_store(
        firstparty.refresh(
            data["refresh_token"],
            device_id=data["device_id"],
            now=utcnow(),
            caller=current_caller(),
        )
    )


@bp.patch("/auth/enable_ai")
@require(scope="write", user_required=True, limit_after_scope=True)
@doc("Turn AI features on for the caller (Sure)", response=OBJECT, tag="auth")
def enable_ai() -> Response:
    return jsonify(
        firstparty.enable_ai(current_principal_user(), now=utcnow(), caller=current_caller())
    )


@bp.delete("/users/reset")
@require(scope="write", permission="family.reset", user_required=True)
@doc("Queue the reset of the family's financial data (admins)", response=OBJECT, tag="users")
def users_reset() -> Response:
    family_id = current_principal().family_id
    job = reset.enqueue(
        family_id, current_principal_user().id, now=utcnow(), caller=current_caller()
    )
    return jsonify(
        message="Account reset has been initiated",
        status="queued",
        job_id=str(job.id),
        family_id=str(family_id),
        status_url="/api/v1/users/reset/status",
    )


@bp.get("/users/reset/status")
@require(scope="read", permission="family.reset", user_required=True)
@doc("What is left of the family's data, and the latest reset job", response=OBJECT, tag="users")
def users_reset_status() -> Response:
    family_id = current_principal().family_id
    counts = resources.count_family_data(family_id)
    complete = not any(counts.values())
    job = reset.latest_job(family_id)
    return jsonify(
        status="complete" if complete else "data_remaining",
        family_id=str(family_id),
        reset_complete=complete,
        counts=counts,
        job=None
        if job is None
        else {
            "id": str(job.id),
            "status": job.status,
            "deleted": job.deleted,
            "created_at": rfc3339(job.created_at),
            "finished_at": rfc3339(job.finished_at) if job.finished_at else None,
        },
    )


@bp.delete("/users/me")
@require(scope="write", user_required=True)
@doc(
    "Deactivate your account; every credential of it is revoked at once",
    response=OBJECT,
    tag="users",
)
def users_destroy() -> Response:
    firstparty.deactivate(current_principal_user(), now=utcnow(), caller=current_caller())
    return jsonify(message="Account has been deleted")


# --- MFA management (JSON; the page is in web/) ----------------------------------------------

# The account holder only (a session or a first-party app's token): a third-party app that
# could enrol its own second factor would lock the owner out of their account.
MFA_MANAGERS = ("session", "session_token", "oauth")


def _step_up() -> tuple[str, str]:
    """The password and the code the caller proves itself with. A missing password is
    checked (and refused) like a wrong one."""
    data = MFA_STEP_UP_IN.load(request_params())
    return data["password"], data["code"]


def _required(code: str) -> str:
    if not code.strip():
        raise BadRequest()
    return code


def _keep_this_session() -> None:
    """Turning MFA on or off ends the user's other sessions; this one signs in again."""
    if current_principal().credential_kind == "session":
        login_user(current_principal_user())


@bp.get("/mfa")
@require(scope="read", credentials=MFA_MANAGERS, user_required=True, first_party_only=True)
@doc("Two-factor authentication status", response=OBJECT, tag="mfa")
def mfa_status() -> Response:
    user = current_principal_user()
    return jsonify(
        enabled=user.otp_required, backup_codes_remaining=mfa.remaining_backup_codes(user)
    )


@bp.post("/mfa/enrolment")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True, first_party_only=True)
@doc(
    "Start TOTP enrolment (needs the current password): a secret, its otpauth URI and a "
    "QR code (SVG)",
    response=OBJECT,
    tag="mfa",
)
def mfa_start() -> tuple[Response, int]:
    password, _ = _step_up()
    return _no_store(
        mfa.start_enrolment(
            current_principal_user(), password, now=utcnow(), caller=current_caller()
        )
    )


@bp.post("/mfa/enrolment/confirm")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True, first_party_only=True)
@doc("Confirm enrolment with a code; returns the backup codes once", response=OBJECT, tag="mfa")
def mfa_confirm() -> tuple[Response, int]:
    _, code = _step_up()
    codes = mfa.confirm_enrolment(
        current_principal_user(), _required(code), now=utcnow(), caller=current_caller()
    )
    _keep_this_session()
    return _no_store({"backup_codes": codes})


@bp.post("/mfa/backup_codes")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True, first_party_only=True)
@doc("Replace the backup codes (needs a current code)", response=OBJECT, tag="mfa")
def mfa_backup_codes() -> tuple[Response, int]:
    _, code = _step_up()
    codes = mfa.regenerate_backup_codes(
        current_principal_user(), _required(code), now=utcnow(), caller=current_caller()
    )
    return _no_store({"backup_codes": codes})


@bp.delete("/mfa")
@require(scope="write", credentials=MFA_MANAGERS, user_required=True, first_party_only=True)
@doc(
    "Turn two-factor authentication off (needs the password and a code)", response=OBJECT, tag="mfa"
)
def mfa_disable() -> Response:
    password, code = _step_up()
    mfa.disable(
        current_principal_user(), password, _required(code), now=utcnow(), caller=current_caller()
    )
    _keep_this_session()
    return jsonify(message="Two-factor authentication disabled")
