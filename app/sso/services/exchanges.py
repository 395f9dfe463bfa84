"""Sure's exchanges after a mobile or desktop SSO callback (contract §3.4-3.6): a one-time
code (app.sso.services.codes) turned into tokens, a link, a new account, or a browser session.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import crypto
from app.audit.services import Caller, record
from app.errors import BadRequest, TooManyRequests
from app.extensions import db
from app.firstparty import errors as sure
from app.identity import signin
from app.identity.models import User
from app.sso import errors
from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
from app.sso.services import accounts, codes, identities, providers
from app.sso.services.devices import issue_token, lock_user, saveable_device
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity


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
    locked = lock_user(user.id)
    if locked is None or not locked.active:
        db.session.rollback()
        raise sure.DeviceRegistrationFailed()
    answer = issue_token(locked, device, now=now, caller=caller)
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
    device = saveable_device(found.payload.get("device_info"))
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
        accounts.has_pending_invitation(identity.email, now=now)
    )
    if (
        provider is None
        or not allowed
        or not identity.email_verified
        or not accounts.allow_account_creation(provider, identity.email, now=now)
    ):
        db.session.rollback()
        raise errors.AccountCreationDisabled()
    device = saveable_device(found.payload.get("device_info"))
    if device is None:
        raise sure.DeviceRegistrationFailed()
    if not codes.claim(found, now=now):
        raise errors.LinkingCodeInvalid()
    try:
        user = accounts.create_account(
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
