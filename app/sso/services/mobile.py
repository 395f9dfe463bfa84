"""Sure's mobile and desktop SSO (contract §2.6, §3.4-3.6): what an upstream sign-in started
by the app produces, and the exchanges that turn a one-time code into tokens or a browser
session.

The callback (sso-core's view) has validated the ID token; these functions decide for the
mobile and desktop flows and answer with the URL the browser goes to next
(``sureapp://oauth/callback?…`` or ``sure://sso/callback?…``), query strings built like Rails'
``to_query`` (pairs sorted, values form-encoded, spaces as ``+``). Tokens never travel in a
URL: the app gets a single-use code (app.sso.services.codes) and redeems it over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import select

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.errors import BadRequest, TooManyRequests
from app.extensions import db
from app.firstparty import errors as sure
from app.firstparty import tokens
from app.firstparty.services import mobile_user
from app.identity import devices, signin
from app.identity.models import DEVICE_TYPES, User
from app.sso import errors
from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
from app.sso.services import codes, identities, providers
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity
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

# The device fields the app sends to /auth/mobile/<provider>; the first three are required.
DEVICE_FIELDS = ("device_id", "device_name", "device_type", "os_version", "app_version")
REQUIRED_DEVICE_FIELDS = DEVICE_FIELDS[:3]
DEVICE_FIELD_MAX = {"os_version": 50, "app_version": 50}  # the table's widths
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


# --- starting -----------------------------------------------------------------------------


def start_device(params: Mapping[str, object]) -> dict[str, str | None] | None:
    """The device the app announced at ``/auth/mobile/<provider>``: the five fields (the
    last two optional), or None when device_id, device_name or device_type is missing or
    blank (Sure's presence check; the type is judged when the device is saved) or a field is
    longer than any device field can be."""
    device: dict[str, str | None] = {}
    for key in DEVICE_FIELDS:
        value = params.get(key)
        device[key] = value.strip() if isinstance(value, str) and value.strip() else None
    if any(device[key] is None for key in REQUIRED_DEVICE_FIELDS):
        return None
    # The session cookie carries the device until the callback: nothing longer than the
    # devices table takes goes into it.
    if any(value is not None and len(value) > 255 for value in device.values()):
        return None
    return device


def valid_code_challenge(value: object) -> bool:
    return isinstance(value, str) and CODE_CHALLENGE.match(value) is not None


def _saveable_device(device: object) -> dict[str, str] | None:
    """The device as the devices table takes it, or None when it cannot be saved (Sure's
    ``MobileDevice`` validations: the three required fields, device_type ios|android|web)."""
    if not isinstance(device, dict):
        return None
    info: dict[str, Any] = {key: device.get(key) for key in DEVICE_FIELDS}
    for key in REQUIRED_DEVICE_FIELDS:
        value = info[key]
        if not isinstance(value, str) or not value.strip() or len(value) > 255:
            return None
    if info["device_type"] not in DEVICE_TYPES:
        return None
    for key, limit in DEVICE_FIELD_MAX.items():
        value = info[key]
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return None
    return info


def _lock(user_id: uuid.UUID | None) -> User | None:
    """The user, row-locked on PostgreSQL: token issuance per user is serialised."""
    if user_id is None:
        return None
    return db.session.scalar(select(User).where(User.id == user_id).with_for_update())


def _issue(user: User, device: dict[str, str], *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure's mobile login after the first factor: the device upserted, one live token per
    device (its earlier tokens revoked), the shared first-party client. No commit."""
    saved = devices.upsert_device(user, device, now=now)
    token = tokens.issue_device_token(user, saved.id, now=now, caller=caller)
    return {**token, "user": mobile_user(user)}


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
        return _onboarding_url(provider, identity, device=device, now=now, caller=caller)
    user = db.session.get(User, linked.user_id)
    if user is None or not user.active:
        _audit_failure(identity, "deactivated", now=now, caller=caller)
        return mobile_redirect(error="account_deactivated", message=DEACTIVATED_MESSAGE)
    identities.record_sign_in(user, identity, now=now, caller=caller, channel="mobile")
    user = _lock(user.id)
    if user is None or not user.active:  # deactivated meanwhile
        db.session.rollback()
        return mobile_redirect(error="account_deactivated", message=DEACTIVATED_MESSAGE)
    if user.otp_required:
        db.session.rollback()
        return mobile_redirect(error="mfa_not_supported", message=MFA_NOT_SUPPORTED_MESSAGE)
    if device is None:
        db.session.rollback()
        return mobile_redirect(error="missing_session", message=MISSING_SESSION_MESSAGE)
    info = _saveable_device(device)
    if info is None:
        db.session.rollback()
        return mobile_redirect(error="device_error", message=DEVICE_ERROR_MESSAGE)
    answer = _issue(user, info, now=now, caller=caller)
    code = codes.mint(
        codes.EXCHANGE, answer, now=now, user_id=user.id, session_epoch=user.session_epoch
    )
    db.session.commit()
    return mobile_redirect(code=code)


def _onboarding_url(
    provider: Provider,
    identity: UpstreamIdentity,
    *,
    device: dict[str, Any] | None,
    now: datetime,
    caller: Caller,
) -> str:
    """An identity nobody linked: a 10-minute linking code carrying what sso_link and
    sso_create_account need, and what the app shows."""
    if device is None:
        return mobile_redirect(error="missing_session", message=MISSING_SESSION_MESSAGE)
    pending = identities.has_pending_invitation(identity.email, now=now)
    allow = identities.allow_account_creation(provider, identity.email, now=now)
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


# --- the exchanges ----------------------------------------------------------------------------


def _current(user_id: uuid.UUID | None, session_epoch: int | None) -> User | None:
    """The code's user if nothing revoked them since the code was minted: still there,
    still active, same session epoch (no sign-out everywhere, MFA change, deactivation)."""
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active or user.session_epoch != session_epoch:
        return None
    return user


def sso_exchange(code: str, *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure §3.4: the token block minted at the callback and the user, once."""
    if not code:
        raise BadRequest()
    found = codes.redeem(codes.EXCHANGE, code, now=now)
    if found is None or _current(found.user_id, found.session_epoch) is None:
        raise errors.InvalidOrExpiredCode()
    return found.payload


def _upstream(payload: dict[str, Any]) -> UpstreamIdentity:
    return UpstreamIdentity(
        provider=payload["provider"],
        issuer=payload["issuer"],
        subject=payload["uid"],
        email=payload.get("email"),
        email_verified=bool(payload.get("email_verified")),
        first_name=payload.get("first_name"),
        last_name=payload.get("last_name"),
    )


def _linking(linking_code: str, *, now: datetime) -> tuple[codes.Code, UpstreamIdentity]:
    """The live linking code and its identity; a blocked identity burns the code (403)."""
    if not linking_code:
        raise errors.LinkingCodeRequired()
    found = codes.peek(codes.LINKING, linking_code, now=now)
    if found is None:
        db.session.rollback()
        raise errors.LinkingCodeInvalid()
    identity = _upstream(found.payload)
    if identities.is_blocked(identity):
        codes.claim(found, now=now)
        raise errors.IdentityRemoved()
    return found, identity


def _finish(
    user: User,
    device: dict[str, str],
    identity: UpstreamIdentity,
    event: str,
    *,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    locked = _lock(user.id)
    if locked is None or not locked.active:
        db.session.rollback()
        raise sure.DeviceRegistrationFailed()
    answer = _issue(locked, device, now=now, caller=caller)
    record(
        event,
        now=now,
        caller=caller,
        actor_user_id=locked.id,
        family_id=locked.family_id,
        provider=identity.provider,
        device_id=device["device_id"],
    )
    db.session.commit()
    return answer


def sso_link(
    linking_code: str, *, email: str, password: str, now: datetime, caller: Caller
) -> dict[str, Any]:
    """Sure §3.5: the password proves the account; the identity is linked to it and the
    device captured at the start gets a token. Wrong credentials and MFA users keep the
    code; the code is consumed before anything is linked, so only one caller links."""
    found, identity = _linking(linking_code, now=now)
    try:
        sign_in = signin.authenticate_password(
            email=email, password=password, now=now, caller=caller, channel="mobile"
        )
    except signin.SecondFactorRequired as exc:
        raise errors.SsoMfaRequired() from exc
    except signin.InvalidCredentials as exc:
        raise sure.InvalidCredentials() from exc
    except TooManyRequests as exc:
        raise sure.RateLimited(exc.retry_after) from exc
    device = _saveable_device(found.payload.get("device_info"))
    if device is None:
        raise sure.DeviceRegistrationFailed()
    if not codes.claim(found, now=now):
        raise errors.LinkingCodeInvalid()
    user = sign_in.user
    try:
        identities.link(user, identity, now=now, caller=caller)
    except IdentityBlocked as exc:  # blocked since the code was read
        raise errors.IdentityRemoved() from exc
    except IdentityAlreadyLinked as exc:
        raise sure.InvalidSignup([exc.description]) from exc
    return _finish(user, device, identity, "sso.mobile_link", now=now, caller=caller)


def sso_create_account(
    linking_code: str,
    *,
    first_name: str | None,
    last_name: str | None,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    """Sure §3.6: a password-less account for the identity (an invitation's family and
    role, or a new family), when an invitation is pending or creation was allowed."""
    found, identity = _linking(linking_code, now=now)
    provider = providers.get_provider(identity.provider)
    # Sure's rule (the flag cached at the callback, or an invitation pending now), and what
    # account creation itself insists on: an address the provider verified, allowed by the
    # provider's configuration as it is now.
    allowed = bool(found.payload.get("allow_account_creation")) or (
        identities.has_pending_invitation(identity.email, now=now)
    )
    if (
        provider is None
        or not allowed
        or not identity.email_verified
        or not identities.allow_account_creation(provider, identity.email, now=now)
    ):
        db.session.rollback()
        raise errors.AccountCreationDisabled()
    device = _saveable_device(found.payload.get("device_info"))
    if device is None:
        raise sure.DeviceRegistrationFailed()
    if not codes.claim(found, now=now):
        raise errors.LinkingCodeInvalid()
    try:
        user = identities.create_account(
            provider,
            identity,
            first_name=first_name or identity.first_name,
            last_name=last_name or identity.last_name,
            now=now,
            caller=caller,
        )
    except IdentityBlocked as exc:
        raise errors.IdentityRemoved() from exc
    except (AccountCreationNotAllowed, IdentityAlreadyLinked) as exc:
        # An address someone has, an identity linked meanwhile, an invitation used
        # meanwhile: Sure's 422, all rolled back (the code is spent, as Sure's is).
        raise sure.InvalidSignup([exc.description]) from exc
    return _finish(user, device, identity, "sso.mobile_account_created", now=now, caller=caller)


@dataclass(frozen=True)
class DesktopSignIn:
    user: User
    second_factor_required: bool


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def desktop_exchange(
    code: str, code_verifier: str, *, now: datetime, caller: Caller
) -> DesktopSignIn:
    """Sure's ``desktop_exchange``: the code is claimed first (a wrong verifier burns it, as
    Sure's atomic delete does), then the verifier must hash to the challenge (constant
    time), then the user must be as they were when the code was minted."""
    if not code or not code_verifier or len(code_verifier) > 256:
        raise errors.DesktopExchangeRefused()
    found = codes.redeem(codes.DESKTOP, code, now=now)
    if found is None:
        raise errors.DesktopExchangeRefused()
    challenge = str(found.payload.get("code_challenge") or "")
    if not crypto.constant_time_equals(pkce_challenge(code_verifier), challenge):
        raise errors.DesktopExchangeRefused()
    user = _current(found.user_id, found.session_epoch)
    if user is None:
        raise errors.DesktopExchangeRefused()
    record(
        "sso.desktop_exchange",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        provider=found.payload.get("provider"),
    )
    db.session.commit()
    return DesktopSignIn(user=user, second_factor_required=user.otp_required)
