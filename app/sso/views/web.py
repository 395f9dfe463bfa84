"""Browser sign-in through an external OpenID Connect provider.

POST /auth/<provider> (CSRF) sends the browser to the provider with PKCE (S256), a nonce and a
state (Authlib's Flask client keeps them in the session); GET|POST /auth/<provider>/callback
checks the state, redeems the code and validates the ID token (signature by the provider's
JWKS, iss, aud, exp, nonce). Then, by (issuer, subject) only:
- linked identity: signed in (after /mfa/verify for a user with TOTP);
- unlinked: an account is created and linked when the provider may create it (JIT
  ``create_and_link`` with an allowed domain, or a pending invitation) and nobody has the
  address; otherwise a page offers to link an existing account by signing in to it.
The mobile and desktop flows (``session["sso_flow"]``) are handed to
app.sso.services.callbacks. Every failure ends at /auth/failure with a sanitised reason
(OmniAuth's words). The ID token's checks are in app.sso.views.upstream; /mfa/verify and the
link page (app.sso.views.steps) are routes of this blueprint too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as Redirect

from app.audit.services import record
from app.clock import epoch, utcnow
from app.extensions import csrf, db
from app.identity import users
from app.identity.models import User
from app.requestctx import current_caller, request_base_url
from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
from app.sso.services import accounts, callbacks, identities, providers
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity
from app.sso.services.providers import Provider
from app.sso.views import upstream
from app.web.browser import AMR_EXTERNAL, begin_browser_session

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
    identity_or_reason = upstream.validated_identity(found)
    if isinstance(identity_or_reason, str):
        return _failure(found, identity_or_reason)
    identity = identity_or_reason
    now, caller = utcnow(), current_caller()

    flow = session.pop("sso_flow", None)
    if flow in ("mobile", "desktop"):
        if flow == "mobile":
            device = session.pop("sso_device", None)
            return redirect(
                callbacks.mobile_callback_url(
                    found, identity, device=device, now=now, caller=caller
                )
            )
        challenge = session.pop("sso_code_challenge", None)
        return redirect(
            callbacks.desktop_callback_url(found, identity, code_challenge=challenge, now=now)
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
            user = accounts.create_account(
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


def _may_create(provider: Provider, identity: UpstreamIdentity) -> bool:
    """Create an account only for a verified address nobody has (an existing account is
    linked by proving it, never by its address)."""
    return (
        identity.email_verified
        and identity.email is not None
        and users.find_by_email(identity.email) is None
        and accounts.allow_account_creation(provider, identity.email, now=utcnow())
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
        return redirect(callbacks.mobile_failure_url(reason))
    if flow == "desktop":
        session.pop("sso_code_challenge", None)
        return redirect(callbacks.desktop_failure_url(reason))
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


# --- linking an existing account --------------------------------------------------------------


def _pending(identity: UpstreamIdentity) -> dict[str, Any]:
    """``session["sso_link_pending"]``: the identity the link page (app.sso.views.steps)
    offers to link."""
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
