"""Sure's mobile and desktop SSO (contract §2.6): what an upstream sign-in started by the app
produces.

The callback (app.sso.views.web) has validated the ID token; these functions decide for the
mobile and desktop flows and answer with the URL the browser goes to next
(``sureapp://oauth/callback?…`` or ``sure://sso/callback?…``), query strings built like Rails'
``to_query`` (pairs sorted, values form-encoded, spaces as ``+``). Tokens never travel in a
URL: the app gets a single-use code (app.sso.services.codes) and redeems it over HTTPS
(app.sso.services.exchanges).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from app.audit.services import SYSTEM, Caller, record
from app.extensions import db
from app.identity.models import User
from app.sso.services import accounts, codes, identities
from app.sso.services.devices import DEVICE_FIELDS, issue_token, lock_user, saveable_device
from app.sso.services.identities import UpstreamIdentity
from app.sso.services.providers import Provider

MOBILE_CALLBACK = "sureapp://oauth/callback"
DESKTOP_CALLBACK = "sure://sso/callback"

FAILURE_REASONS = ("sso_provider_unavailable", "sso_invalid_response", "sso_failed")
# Sure's texts (sessions_controller.rb, config/locales/views/sessions/en.yml).
SSO_FAILED_MESSAGE = "Single sign-on authentication failed. Please try again."
MFA_NOT_SUPPORTED_MESSAGE = "MFA users should sign in with email and password"
DEACTIVATED_MESSAGE = "Your account has been deactivated."
MISSING_SESSION_MESSAGE = "Mobile SSO session expired"
DEVICE_ERROR_MESSAGE = "Unable to register device"

CODE_CHALLENGE = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")  # base64url(SHA-256), no padding


# --- URLs ---------------------------------------------------------------------------------


def _param(value: object) -> str:
    if value is None:
        return ""  # nil.to_param.to_s
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_query(params: dict[str, object]) -> str:
    """Rails' ``Hash#to_query``: ``key=value`` pairs, each CGI-escaped (spaces as ``+``),
    sorted, joined with ``&``; a nil value gives ``key=``."""
    return "&".join(
        sorted(
            f"{quote_plus(key, safe='~')}={quote_plus(_param(v), safe='~')}"
            for key, v in params.items()
        )
    )


def mobile_redirect(**params: object) -> str:
    return f"{MOBILE_CALLBACK}?{to_query(params)}"


def desktop_redirect(**params: object) -> str:
    return f"{DESKTOP_CALLBACK}?{to_query(params)}"


def sanitize_reason(reason: str | None) -> str:
    """Sure's failure reasons: one of three, anything else is ``sso_failed``."""
    return reason if reason in FAILURE_REASONS else "sso_failed"


def invalid_provider_url() -> str:
    return mobile_redirect(error="invalid_provider", message="SSO provider not configured")


def missing_device_info_url() -> str:
    return mobile_redirect(error="missing_device_info", message="Device information is required")


def valid_code_challenge(value: object) -> bool:
    return isinstance(value, str) and CODE_CHALLENGE.match(value) is not None


# --- the callback's answers (sso-core's view calls these) ------------------------------------


def mobile_failure_url(reason: str | None) -> str:
    return mobile_redirect(error=sanitize_reason(reason), message=SSO_FAILED_MESSAGE)


def desktop_failure_url(reason: str | None) -> str:
    return desktop_redirect(error=sanitize_reason(reason))


def mobile_callback_url(
    provider: Provider,
    identity: UpstreamIdentity,
    *,
    device: dict[str, Any] | None,
    now: datetime,
    caller: Caller,
) -> str:
    """Sure §2.6 step 2. Only a link by (issuer, subject) signs anyone in; an email that
    matches an account never does (it gets a linking code, and the password proves it)."""
    if identities.is_blocked(identity):
        _audit_failure(identity, "blocked", now=now, caller=caller)
        return mobile_redirect(error="sso_failed", message=SSO_FAILED_MESSAGE)
    linked = identities.find_link(identity)
    if linked is None:
        return _onboarding_url(provider, identity, device, now=now)
    user = db.session.get(User, linked.user_id)
    if user is None or not user.active:
        _audit_failure(identity, "deactivated", now=now, caller=caller)
        return mobile_redirect(error="account_deactivated", message=DEACTIVATED_MESSAGE)
    identities.record_sign_in(user, identity, now=now, caller=caller, channel="mobile")
    user = lock_user(user.id)
    if user is None or not user.active:  # deactivated meanwhile
        db.session.rollback()
        return mobile_redirect(error="account_deactivated", message=DEACTIVATED_MESSAGE)
    if user.otp_required:
        db.session.rollback()
        return mobile_redirect(error="mfa_not_supported", message=MFA_NOT_SUPPORTED_MESSAGE)
    if device is None:
        db.session.rollback()
        return mobile_redirect(error="missing_session", message=MISSING_SESSION_MESSAGE)
    info = saveable_device(device)
    if info is None:
        db.session.rollback()
        return mobile_redirect(error="device_error", message=DEVICE_ERROR_MESSAGE)
    answer = issue_token(user, info, now=now, caller=caller)
    code = codes.mint(
        codes.EXCHANGE, answer, now=now, user_id=user.id, session_epoch=user.session_epoch
    )
    db.session.commit()
    return mobile_redirect(code=code)


def _onboarding_url(
    provider: Provider, identity: UpstreamIdentity, device: dict[str, Any] | None, *, now: datetime
) -> str:
    """An identity nobody linked: a 10-minute linking code carrying what sso_link and
    sso_create_account need, and what the app shows."""
    if device is None:
        return mobile_redirect(error="missing_session", message=MISSING_SESSION_MESSAGE)
    pending = accounts.has_pending_invitation(identity.email, now=now)
    allow = accounts.allow_account_creation(provider, identity.email, now=now)
    linking_code = codes.mint(
        codes.LINKING,
        {
            "provider": identity.provider,
            "uid": identity.subject,
            "issuer": identity.issuer,
            "email": identity.email,
            "email_verified": identity.email_verified,
            "first_name": identity.first_name,
            "last_name": identity.last_name,
            "device_info": {key: device.get(key) for key in DEVICE_FIELDS},
            "allow_account_creation": allow,
        },
        now=now,
    )
    db.session.commit()
    return mobile_redirect(
        status="account_not_linked",
        linking_code=linking_code,
        email=identity.email,
        first_name=identity.first_name,
        last_name=identity.last_name,
        allow_account_creation=allow,
        has_pending_invitation=pending,
    )


def desktop_callback_url(
    provider: Provider,
    identity: UpstreamIdentity,
    *,
    code_challenge: str | None,
    now: datetime,
    caller: Caller = SYSTEM,
) -> str:
    """Sure §2.6, desktop: a linked, active user gets a 2-minute code bound to the app's
    PKCE challenge; MFA is enforced at the exchange (the app's webview can complete it)."""
    if identities.is_blocked(identity):
        return desktop_redirect(error="sso_failed")
    linked = identities.find_link(identity)
    if linked is None:
        return desktop_redirect(error="account_not_linked")
    user = db.session.get(User, linked.user_id)
    if user is None or not user.active:
        return desktop_redirect(error="account_deactivated")
    if not valid_code_challenge(code_challenge):
        return desktop_redirect(error="missing_session")
    identities.record_sign_in(user, identity, now=now, caller=caller, channel="desktop")
    code = codes.mint(
        codes.DESKTOP,
        {"code_challenge": code_challenge, "provider": provider.key},
        now=now,
        user_id=user.id,
        session_epoch=user.session_epoch,
    )
    db.session.commit()
    return desktop_redirect(code=code)


def _audit_failure(
    identity: UpstreamIdentity, reason: str, *, now: datetime, caller: Caller
) -> None:
    record(
        "sso.mobile_login",
        outcome="failure",
        now=now,
        caller=caller,
        provider=identity.provider,
        reason=reason,
    )
    db.session.commit()
