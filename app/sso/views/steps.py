"""The steps between a provider's callback and a browser session: the second factor of a user
with TOTP (GET|POST /mfa/verify, also where the desktop exchange sends such a user) and linking
an identity nobody linked to an existing account by signing in to it (GET|POST /auth/link).
Both wait PENDING_LIFETIME seconds; their routes are on the "sso" blueprint of
app.sso.views.web.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as Redirect

from app.audit.services import record
from app.clock import epoch, utcnow
from app.errors import TooManyRequests
from app.extensions import db
from app.identity import mfa, signin, users
from app.identity.budgets import OTP_PER_ACCOUNT, account_key
from app.identity.models import User
from app.requestctx import current_caller
from app.sso.errors import IdentityAlreadyLinked
from app.sso.services import identities, providers
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity
from app.sso.services.providers import Provider
from app.sso.views.web import PENDING_LIFETIME, Page, bp
from app.web.browser import (
    AMR_EXTERNAL,
    AMR_PASSWORD,
    authentication_methods,
    begin_browser_session,
)

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
