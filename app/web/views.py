"""Browser pages: sign in, sign out, home. Security headers for every HTML response."""

from __future__ import annotations

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

from app import openapi
from app.clock import utcnow
from app.errors import TooManyRequests
from app.identity import mfa
from app.identity import services as identity
from app.requestctx import current_caller

bp = Blueprint("web", __name__)
docs_bp = Blueprint("docs", __name__)


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


@bp.get("/login")
def login() -> str | Response:
    next_path = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path)
    return render_template("login.html", next=next_path, error=None, email="")


@bp.post("/login")
def login_submit() -> str | Response | tuple[str, int, dict[str, str]]:
    next_path = safe_next(request.form.get("next"))
    email = request.form.get("email", "")
    try:
        sign_in = identity.authenticate_password(
            email=email,
            password=request.form.get("password", ""),
            otp_code=request.form.get("otp_code") or None,
            now=utcnow(),
            caller=current_caller(),
            channel="web",
        )
    except TooManyRequests as exc:
        page = render_template("login.html", next=next_path, email=email,
                               error="Too many attempts. Try again later.")
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except identity.SecondFactorRequired:
        return render_template("login.html", next=next_path, email=email, otp=True,
                               error="Enter the 6-digit code from your authenticator app."), 401
    except identity.InvalidCredentials:
        return render_template("login.html", next=next_path, email=email,
                               error="Invalid email or password."), 401
    # A fresh session at sign-in: nothing from before (fixation) survives.
    identity.end_web_session(session.get("sid"), now=utcnow())
    session.clear()
    session.permanent = True
    session["sid"] = identity.start_web_session(sign_in.user, now=utcnow())
    login_user(sign_in.user)
    return redirect(next_path)


@bp.post("/logout")
def logout() -> Response:
    # Server-side: a copy of the cookie taken before signing out is dead too.
    identity.end_web_session(session.get("sid"), now=utcnow())
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


def load_user(login_id: str):  # type: ignore[no-untyped-def]
    """Flask-Login's loader: the cookie's session id must name a live server-side session."""
    return identity.load_web_session_user(login_id, session.get("sid"), now=utcnow())


# --- account security: TOTP enrolment, backup codes ---------------------------------------------


def _security_page(status: int = 200, **context: object) -> tuple[str, int]:
    user = current_user._get_current_object()
    page = render_template("security.html", user=user,
                           remaining=mfa.remaining_backup_codes(user), **context)
    return page, status


SecurityAnswer = tuple[str, int] | tuple[str, int, dict[str, str]] | Response


def _security_throttled(exc: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    """The step-up checks share the sign-in budgets: once spent, the page says so."""
    page, status = _security_page(429, error="Too many attempts. Try again later.")
    return page, status, {"Retry-After": str(exc.retry_after)}


def _signed_in() -> Response | None:
    if not current_user.is_authenticated:
        return redirect(url_for("web.login", next=request.path))
    return None


@bp.get("/account/security")
def security() -> tuple[str, int] | Response:
    return _signed_in() or _security_page()


@bp.post("/account/security/enrol")
def security_enrol() -> SecurityAnswer:
    if (gate := _signed_in()) is not None:
        return gate
    try:
        enrolment = mfa.start_enrolment(current_user._get_current_object(),
                                        request.form.get("password", ""), now=utcnow(),
                                        caller=current_caller())
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    return _security_page(enrolment=enrolment)


@bp.post("/account/security/confirm")
def security_confirm() -> SecurityAnswer:
    if (gate := _signed_in()) is not None:
        return gate
    user = current_user._get_current_object()
    try:
        codes = mfa.confirm_enrolment(user, request.form.get("code", ""), now=utcnow(),
                                      caller=current_caller())
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    login_user(user)  # other sessions end with the new epoch; this one continues
    return _security_page(backup_codes=codes)


@bp.post("/account/security/backup_codes")
def security_backup_codes() -> SecurityAnswer:
    if (gate := _signed_in()) is not None:
        return gate
    try:
        codes = mfa.regenerate_backup_codes(current_user._get_current_object(),
                                            request.form.get("code", ""), now=utcnow(),
                                            caller=current_caller())
    except mfa.MfaError as exc:
        return _security_page(422, error=exc.description)
    except TooManyRequests as exc:
        return _security_throttled(exc)
    return _security_page(backup_codes=codes)


@bp.post("/account/security/disable")
def security_disable() -> SecurityAnswer:
    if (gate := _signed_in()) is not None:
        return gate
    user = current_user._get_current_object()
    try:
        mfa.disable(user, request.form.get("password", ""), request.form.get("code", ""),
                    now=utcnow(), caller=current_caller())
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


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: nothing leaks to other sites either way, but under
    # no-referrer browsers send "Origin: null" on form POSTs and the CSRF same-origin check
    # (extensions.SameOriginCSRFProtect) could not tell our own forms from a forged one.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:  # honours X-Forwarded-Proto only from TRUSTED_PROXY_COUNT proxies
        response.headers.setdefault("Strict-Transport-Security",
                                    "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html" and request.path == "/api/docs":
        # Swagger UI sets inline styles; scripts still come only from this origin.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
    if response.mimetype == "text/html":
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("Cache-Control", "no-store")
    return response
