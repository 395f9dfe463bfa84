"""Browser sign-in through an external OpenID Connect provider.

POST /auth/<provider> (CSRF) sends the browser to the provider with PKCE (S256), a nonce and a
state (Authlib's Flask client keeps them in the session); GET|POST /auth/<provider>/callback
checks the state, redeems the code and validates the ID token (signature by the provider's
JWKS, iss, aud, exp, nonce). Then, by (issuer, subject) only:
- linked identity: signed in (after /mfa/verify for a user with TOTP);
- unlinked: an account is created and linked when the provider may create it (JIT
  ``create_and_link`` with an allowed domain, or a pending invitation) and nobody has the
  address; otherwise a page offers to link an existing account by signing in to it.
The mobile and desktop flows (``session["sso_flow"]``) are handed to app.sso.services.mobile.
Every failure ends at /auth/failure with a sanitised reason (OmniAuth's words).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError
from werkzeug.wrappers import Response as Redirect

from app.audit.services import record
from app.clock import epoch, utcnow
from app.errors import TooManyRequests
from app.extensions import csrf, db
from app.identity import mfa, signin, users
from app.identity.budgets import OTP_PER_ACCOUNT, account_key
from app.identity.models import User
from app.requestctx import current_caller, request_base_url
from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
from app.sso.services import identities, mobile, providers
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity
from app.sso.services.providers import Provider
from app.web.browser import (
    AMR_EXTERNAL,
    AMR_PASSWORD,
    authentication_methods,
    begin_browser_session,
)

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__, template_folder="../templates")

# How long a pending second factor or a pending link waits for the person (seconds).
PENDING_LIFETIME = 600
CAUSE_RE = re.compile(r"^[a-z_]{1,40}$")
FLOW_KEYS = ("sso_flow", "sso_device", "sso_code_challenge")
FAILURE_MESSAGES = {
    identities.PROVIDER_UNAVAILABLE: "The sign-in provider could not be reached. Try again later.",
    identities.INVALID_RESPONSE: "The sign-in provider's answer could not be verified.",
    identities.FAILED: "Signing in with the provider failed.",
}
Page = str | tuple[str, int] | tuple[str, int, dict[str, str]]


@bp.app_context_processor
def _login_buttons() -> dict[str, Any]:
    """``sso_providers()`` for the sign-in page's "Sign in with …" buttons (called only by
    templates that show them)."""

    def sso_providers() -> list[Provider]:
        return providers.list_providers()

    return {"sso_providers": sso_providers}


# --- start ------------------------------------------------------------------------------------


@bp.post("/auth/<provider>")
def start(provider: str) -> Redirect:
    """OmniAuth's request phase: to the provider's authorization endpoint."""
    if request.form.get("flow") == "web":  # the sign-in page's button: no leftover app flow
        for key in FLOW_KEYS:
            session.pop(key, None)
    found = providers.get_provider(provider)
    if found is None:
        return _failure(None, "sso_failed")
    client = providers.oauth_client(found)
    redirect_uri = (current_app.config["APP_URL"] or request_base_url()) + url_for(
        "sso.callback", provider=found.key
    )
    try:
        metadata = client.load_server_metadata()
        if metadata.get("issuer") != found.issuer:  # exactly (Discovery 1.0 §4.3)
            log.warning("sso %s: discovery names issuer %r", found.key, metadata.get("issuer"))
            return _failure(found, "invalid_response")
        return client.authorize_redirect(redirect_uri)  # type: ignore[no-any-return]
    except (requests.RequestException, ValueError) as exc:
        log.warning("sso %s: discovery failed: %s", found.key, exc)
        return _failure(found, "provider_unavailable")


# --- callback ---------------------------------------------------------------------------------


@bp.route("/auth/<provider>/callback", methods=["GET", "POST"])
@csrf.exempt  # the provider posts here (response_mode=form_post); the state is the CSRF check
def callback(provider: str) -> Redirect | Page:
    """OmniAuth's callback phase. The ID token is the only source of the identity."""
    found = providers.get_provider(provider)
    if found is None:
        return _failure(None, "sso_failed")
    identity_or_reason = _validated_identity(found)
    if isinstance(identity_or_reason, str):
        return _failure(found, identity_or_reason)
    identity = identity_or_reason
    now, caller = utcnow(), current_caller()

    flow = session.pop("sso_flow", None)
    if flow in ("mobile", "desktop"):
        if flow == "mobile":
            device = session.pop("sso_device", None)
            return redirect(
                mobile.mobile_callback_url(found, identity, device=device, now=now, caller=caller)
            )
        challenge = session.pop("sso_code_challenge", None)
        return redirect(
            mobile.desktop_callback_url(found, identity, code_challenge=challenge, now=now)
        )

    link_row = identities.find_link(identity)
    if link_row is not None:
        if link_row.blocked_at is not None:
            return _failure(found, "blocked")
        user = identities.linked_user(identity)
        if user is None:
            return _failure(found, "inactive_user")
        return _signed_in(user, identity)

    if _may_create(found, identity):
        try:
            user = identities.create_account(
                found,
                identity,
                first_name=identity.first_name,
                last_name=identity.last_name,
                now=now,
                caller=caller,
            )
        except (AccountCreationNotAllowed, IdentityAlreadyLinked, IdentityBlocked):
            pass  # lost a race or no longer allowed: offer the link page
        else:
            return _signed_in(user, identity)

    session["sso_link_pending"] = _pending(identity)
    return redirect(url_for("sso.link"))


def _validated_identity(provider: Provider) -> UpstreamIdentity | str:
    """The identity of a fully validated ID token, or the raw reason of the failure."""
    error = request.values.get("error")
    if error:
        # The provider's own words go to the log only.
        log.info("sso %s: provider answered error=%r", provider.key, error[:100])
        return "provider_unavailable" if error == "temporarily_unavailable" else error
    client = providers.oauth_client(provider)
    try:
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [provider.issuer]},
                "sub": {"essential": True},
            },
            leeway=current_app.config["SSO_ID_TOKEN_LEEWAY"],
        )
    except MismatchingStateError:
        return "csrf_detected"
    except OAuthError as exc:  # the token endpoint refused the code
        log.info("sso %s: token request failed: %s", provider.key, exc.error)
        return "invalid_credentials"
    except requests.RequestException as exc:
        log.warning("sso %s: provider unreachable: %s", provider.key, exc)
        return "provider_unavailable"
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        log.info("sso %s: ID token refused: %s", provider.key, exc)
        return "invalid_id_token"
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        return "missing_id_token"  # no ID token, so nothing was validated
    if not isinstance(claims["sub"], str) or len(claims["sub"]) > 255:
        return "invalid_response"  # OIDC Core 2: at most 255 ASCII characters
    claims = dict(claims)
    if "email" not in claims and client.load_server_metadata().get("userinfo_endpoint"):
        # Some providers put the profile in userinfo only (OIDC Core 5.4). Its answer counts
        # only for the ID token's subject (5.3.2); the ID token's own claims win.
        try:
            extra = client.userinfo(token=token)
        except (requests.RequestException, OAuthError, ValueError) as exc:
            log.warning("sso %s: userinfo failed: %s", provider.key, exc)
            return "provider_unavailable"
        if extra.get("sub") != claims["sub"]:
            return "invalid_response"
        claims = {**extra, **claims}
    return UpstreamIdentity(
        provider=provider.key,
        issuer=provider.issuer,
        subject=str(claims["sub"]),
        email=_email(claims.get("email")),
        email_verified=claims.get("email_verified") is True,
        first_name=_claim(claims, "given_name"),
        last_name=_claim(claims, "family_name"),
    )


def _email(value: object) -> str | None:
    """The address as stored (normalised), or None when it is not one we could store."""
    if not isinstance(value, str):
        return None
    email = users.normalize_email(value)
    return email if users.EMAIL_RE.match(email) and len(email) <= 254 else None


def _claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value.strip()[:100] or None if isinstance(value, str) else None


def _may_create(provider: Provider, identity: UpstreamIdentity) -> bool:
    """Create an account only for a verified address nobody has (an existing account is
    linked by proving it, never by its address)."""
    return (
        identity.email_verified
        and identity.email is not None
        and users.find_by_email(identity.email) is None
        and identities.allow_account_creation(provider, identity.email, now=utcnow())
    )


def _signed_in(user: User, identity: UpstreamIdentity) -> Redirect:
    """A browser session for ``user`` now, or the second factor first (the sign-in is
    audited once it is complete)."""
    if user.otp_required:
        session["mfa_pending"] = {
            "user_id": str(user.id),
            "first": AMR_EXTERNAL,
            "next": "/",
            "at": epoch(utcnow()),
        }
        return redirect(url_for("sso.mfa_verify"))
    identities.record_sign_in(user, identity, now=utcnow(), caller=current_caller(), channel="web")
    begin_browser_session(user, amr=[AMR_EXTERNAL])
    return redirect(url_for("web.home"))


# --- failure ----------------------------------------------------------------------------------


def _failure(provider: Provider | None, raw_reason: str | None) -> Redirect:
    """OmniAuth's failure: the app flows get their redirect, the browser /auth/failure."""
    reason = identities.sanitize_failure(raw_reason)
    flow = session.pop("sso_flow", None)
    record(
        "login",
        outcome="failure",
        now=utcnow(),
        caller=current_caller(),
        channel=flow if flow in ("mobile", "desktop") else "web",
        method="sso",
        provider=provider.key if provider else None,
        reason=reason,
        # Our own word for it, or the provider's error code when it is a plain code.
        cause=raw_reason if raw_reason and CAUSE_RE.match(raw_reason) else "other",
    )
    db.session.commit()
    if flow == "mobile":
        session.pop("sso_device", None)
        return redirect(mobile.mobile_failure_url(reason))
    if flow == "desktop":
        session.pop("sso_code_challenge", None)
        return redirect(mobile.desktop_failure_url(reason))
    if provider is None:
        return redirect(url_for("sso.failure", message=reason))
    return redirect(url_for("sso.failure", message=reason, strategy=provider.key))


@bp.route("/auth/failure", methods=["GET", "POST"])
@csrf.exempt  # changes nothing: it only shows the sanitised reason
def failure() -> Page:
    """The sign-in page with what went wrong, in the three words the world may see."""
    reason = identities.sanitize_failure(request.values.get("message"))
    return render_template(
        "login.html", next=url_for("web.home"), email="", error=FAILURE_MESSAGES[reason]
    ), 401


# --- second factor ----------------------------------------------------------------------------


def _pending_mfa_user() -> tuple[User, dict[str, Any]] | None:
    pending = session.get("mfa_pending")
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    if isinstance(at, int) and epoch(utcnow()) - at > PENDING_LIFETIME:
        session.pop("mfa_pending", None)
        return None
    user = users.get_user(pending.get("user_id"))
    if user is None or not user.active or not user.otp_required:
        session.pop("mfa_pending", None)
        return None
    return user, pending


@bp.route("/mfa/verify", methods=["GET", "POST"])
def mfa_verify() -> Page | Redirect:
    """The second factor of a user an external provider (or the desktop exchange) signed in:
    a TOTP code or a backup code, within the account's one-time-code budget."""
    found = _pending_mfa_user()
    if found is None:
        return redirect(url_for("web.login"))
    user, pending = found
    if request.method == "GET":
        return render_template("sso/mfa_verify.html", error=None)
    now = utcnow()
    key = account_key(user.email)
    try:
        OTP_PER_ACCOUNT.spend(key)
    except TooManyRequests as exc:
        page = render_template("sso/mfa_verify.html", error="Too many attempts. Try again later.")
        return page, 429, {"Retry-After": str(exc.retry_after)}
    if not mfa.verify_second_factor(user, request.form.get("code"), now):
        db.session.rollback()
        record(
            "login",
            outcome="failure",
            now=now,
            caller=current_caller(),
            actor_user_id=user.id,
            family_id=user.family_id,
            channel="web",
            method="sso",
            reason="bad_otp",
        )
        db.session.commit()
        return render_template("sso/mfa_verify.html", error="The code is not valid."), 401
    OTP_PER_ACCOUNT.reset(key)
    first = AMR_PASSWORD if pending.get("first") == AMR_PASSWORD else AMR_EXTERNAL
    record(
        "login",
        now=now,
        caller=current_caller(),
        actor_user_id=user.id,
        family_id=user.family_id,
        channel="web",
        method="sso" if first == AMR_EXTERNAL else "password",
        second_factor=True,
    )
    db.session.commit()
    next_path = _safe_path(pending.get("next"))
    begin_browser_session(user, amr=authentication_methods(second_factor=True, first=first))
    return redirect(next_path)


def _safe_path(target: object) -> str:
    """The pending step's own path (server-set); anything but a plain local path is home."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and all(ord(ch) >= 0x20 and ch != "\\" for ch in target)
    ):
        return target
    return url_for("web.home")


# --- linking an existing account --------------------------------------------------------------


def _pending(identity: UpstreamIdentity) -> dict[str, Any]:
    return {
        "provider": identity.provider,
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "email_verified": identity.email_verified,
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "at": epoch(utcnow()),
    }


def _pending_link() -> tuple[Provider, UpstreamIdentity] | None:
    pending = session.get("sso_link_pending")
    if (
        not isinstance(pending, dict)
        or epoch(utcnow()) - int(pending.get("at", 0)) > PENDING_LIFETIME
    ):
        session.pop("sso_link_pending", None)
        return None
    provider = providers.get_provider(str(pending.get("provider")))
    if provider is None or provider.issuer != pending.get("issuer"):
        session.pop("sso_link_pending", None)
        return None
    identity = UpstreamIdentity(
        provider=provider.key,
        issuer=provider.issuer,
        subject=str(pending["subject"]),
        email=pending.get("email"),
        email_verified=bool(pending.get("email_verified")),
        first_name=pending.get("first_name"),
        last_name=pending.get("last_name"),
    )
    return provider, identity


def _link_page(
    provider: Provider,
    identity: UpstreamIdentity,
    *,
    email: str | None = None,
    error: str | None = None,
    otp: bool = False,
) -> str:
    return render_template(
        "sso/link.html",
        provider=provider,
        identity=identity,
        email=identity.email if email is None else email,
        error=error,
        otp=otp,
    )


@bp.get("/auth/link")
def link() -> Page | Redirect:
    """An identity nobody linked: sign in to an existing account to link it."""
    found = _pending_link()
    if found is None:
        return redirect(url_for("web.login"))
    return _link_page(*found)


@bp.post("/auth/link")
def link_submit() -> Page | Redirect:
    found = _pending_link()
    if found is None:
        return redirect(url_for("web.login"))
    provider, identity = found
    email = request.form.get("email", "")
    now, caller = utcnow(), current_caller()
    try:
        sign_in = signin.authenticate_password(
            email=email,
            password=request.form.get("password", ""),
            otp_code=request.form.get("otp_code") or None,
            now=now,
            caller=caller,
            channel="web",
        )
    except TooManyRequests as exc:
        page = _link_page(
            provider, identity, email=email, error="Too many attempts. Try again later."
        )
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except signin.SecondFactorRequired:
        page = _link_page(
            provider,
            identity,
            email=email,
            otp=True,
            error="Enter the 6-digit code from your authenticator app.",
        )
        return page, 401
    except signin.InvalidCredentials:
        return _link_page(provider, identity, email=email, error="Invalid email or password."), 401
    try:
        identities.link(sign_in.user, identity, now=now, caller=caller)
    except (IdentityAlreadyLinked, IdentityBlocked) as exc:
        session.pop("sso_link_pending", None)
        return _link_page(provider, identity, email=email, error=exc.description), 409
    session.pop("sso_link_pending", None)
    begin_browser_session(
        sign_in.user,
        amr=[*authentication_methods(second_factor=sign_in.second_factor), AMR_EXTERNAL],
    )
    return redirect(url_for("web.home"))
