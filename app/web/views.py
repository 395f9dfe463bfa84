"""Browser pages: sign in, sign out, home, account security, the API explorer."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response as Redirect

from app import openapi
from app.clock import utcnow
from app.errors import TooManyRequests
from app.identity import mfa, signin
from app.identity import sessions as web_sessions
from app.identity.models import User
from app.requestctx import current_caller
from app.web.browser import authentication_methods, begin_browser_session

bp = Blueprint("web", __name__)
docs_bp = Blueprint("docs", __name__)

P = ParamSpec("P")
R = TypeVar("R")
# A rendered page, with its status (and headers) unless it is a plain 200.
Page = str | tuple[str, int] | tuple[str, int, dict[str, str]]


def safe_next(target: str | None) -> str:
    """Only same-origin absolute paths; anything else (other hosts, schemes, ``//host``,
    backslash tricks, control characters) falls back to the home page."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("web.home")
    if any(ord(ch) < 0x20 or ch == "\\" for ch in target):
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("web.home")
    return target


@bp.get("/")
def home() -> str:
    return render_template("home.html", user=current_user)


# Sure's sign-in page lives at /sessions/new; its mobile app's "test connection" button asks
# for it (and wants a 2xx or 3xx) before it trusts a server. The outer decorator registers
# its rule after /login's, so url_for("web.login") still builds /login.
@bp.get("/sessions/new")
@bp.get("/login")
def login() -> str | Redirect:
    next_path = safe_next(request.args.get("next"))
    # prompt=login (OpenID Connect): a signed-in browser signs in again, and the page says so.
    fresh = request.args.get("prompt") == "login"
    if current_user.is_authenticated and not fresh:
        return redirect(next_path)
    # login_hint (OpenID Connect): the email the relying party expects, prefilled.
    email = request.args.get("login_hint", "")[:254]
    return render_template("login.html", next=next_path, error=None, email=email, fresh=fresh)


@bp.post("/login")
def login_submit() -> Page | Redirect:
    next_path = safe_next(request.form.get("next"))
    email = request.form.get("email", "")
    try:
        sign_in = signin.authenticate_password(
            email=email,
            password=request.form.get("password", ""),
            otp_code=request.form.get("otp_code") or None,
            now=utcnow(),
            caller=current_caller(),
            channel="web",
        )
    except TooManyRequests as exc:
        page = render_template(
            "login.html", next=next_path, email=email, error="Too many attempts. Try again later."
        )
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except signin.SecondFactorRequired:
        return render_template(
            "login.html",
            next=next_path,
            email=email,
            otp=True,
            error="Enter the 6-digit code from your authenticator app.",
        ), 401
    except signin.InvalidCredentials:
        return render_template(
            "login.html", next=next_path, email=email, error="Invalid email or password."
        ), 401
    begin_browser_session(
        sign_in.user, amr=authentication_methods(second_factor=sign_in.second_factor)
    )
    return redirect(next_path)


@bp.post("/logout")
def logout() -> Redirect:
    # Server-side: a copy of the cookie taken before signing out is dead too.
    web_sessions.end_web_session(session.get("sid"), now=utcnow())
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


def load_user(login_id: str) -> User | None:
    """Flask-Login's loader: the cookie's session id must name a live server-side session."""
    return web_sessions.load_web_session_user(login_id, session.get("sid"), now=utcnow())


# --- account security: TOTP enrolment, backup codes ---------------------------------------------


def sign_in_required(view: Callable[P, R]) -> Callable[P, R | Redirect]:
    """A page of the signed-in user: anyone else is sent to sign in, and back here after."""

    @wraps(view)
    def signed_in_view(*args: P.args, **kwargs: P.kwargs) -> R | Redirect:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        return view(*args, **kwargs)

    return signed_in_view


def _account_holder() -> User:
    """The signed-in user of a ``sign_in_required`` page."""
    user: User = current_user._get_current_object()
    return user


def _security_page(status: int = 200, **context: object) -> tuple[str, int]:
    user = _account_holder()
    page = render_template(
        "security.html", user=user, remaining=mfa.remaining_backup_codes(user), **context
    )
    return page, status


def _security_throttled(exc: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    """The step-up checks share the sign-in budgets: once spent, the page says so."""
    page, status = _security_page(429, error="Too many attempts. Try again later.")
    return page, status, {"Retry-After": str(exc.retry_after)}


@bp.get("/account/security")
@sign_in_required
def security() -> Page:
    return _security_page()


@bp.post("/account/security/enrol")
@sign_in_required
def security_enrol() -> Page:
    try:
        enrolment = mfa.start_enrolment(
            _account_holder(),
            request.form.get("password", ""),
            now=utcnow(),
            caller=current_caller(),
        )
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    return _security_page(enrolment=enrolment)


@bp.post("/account/security/confirm")
@sign_in_required
def security_confirm() -> Page:
    user = _account_holder()
    try:
        codes = mfa.confirm_enrolment(
            user, request.form.get("code", ""), now=utcnow(), caller=current_caller()
        )
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    login_user(user)  # other sessions end with the new epoch; this one continues
    return _security_page(backup_codes=codes)


@bp.post("/account/security/backup_codes")
@sign_in_required
def security_backup_codes() -> Page:
    try:
        codes = mfa.regenerate_backup_codes(
            _account_holder(), request.form.get("code", ""), now=utcnow(), caller=current_caller()
        )
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    return _security_page(backup_codes=codes)


@bp.post("/account/security/disable")
@sign_in_required
def security_disable() -> Page:
    user = _account_holder()
    try:
        mfa.disable(
            user,
            request.form.get("password", ""),
            request.form.get("code", ""),
            now=utcnow(),
            caller=current_caller(),
        )
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    login_user(user)
    return _security_page()


@docs_bp.get("/api/v1/openapi.json")
def openapi_document() -> Response:
    document = current_app.extensions.get("tollgate.openapi")
    if document is None:
        document = current_app.extensions["tollgate.openapi"] = openapi.build(current_app)
    return jsonify(document)


@docs_bp.get("/api/docs")
def explorer() -> str:
    return render_template("explorer.html")
