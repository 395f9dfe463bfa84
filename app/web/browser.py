"""The browser sign-in every way of signing in ends with (password, external identity
provider, desktop SSO exchange): a fresh server-side session, the moment and the methods of the
authentication (what an ID token's ``auth_time`` and ``amr`` report), and Flask-Login's cookie.

View-layer code (it writes the session), shared by the views of ``web`` and ``sso``."""

from __future__ import annotations

from collections.abc import Sequence

from flask import session
from flask_login import login_user

from app.clock import epoch, utcnow
from app.identity import sessions as web_sessions
from app.identity.models import User

# RFC 8176 method references; "ext" is ours: an external OpenID Connect provider signed the
# user in (the provider's own methods are its business).
AMR_PASSWORD = "pwd"
AMR_OTP = "otp"
AMR_MFA = "mfa"
AMR_EXTERNAL = "ext"


def begin_browser_session(user: User, *, amr: Sequence[str]) -> None:
    """Sign ``user`` in on this browser. Nothing from before survives (session fixation):
    the old server-side session ends, the cookie session starts empty, then holds the new
    session id, ``auth_time`` (epoch seconds) and ``amr``."""
    now = utcnow()
    web_sessions.end_web_session(session.get("sid"), now=now)
    session.clear()
    session.permanent = True
    session["sid"] = web_sessions.start_web_session(user, now=now)
    session["auth_time"] = epoch(now)
    session["amr"] = list(amr)
    login_user(user)


def authentication_methods(*, second_factor: bool, first: str = AMR_PASSWORD) -> list[str]:
    """The ``amr`` of a sign-in: the first factor, plus ``otp`` and ``mfa`` when a one-time
    code (TOTP or backup code) was checked too."""
    return [first, AMR_OTP, AMR_MFA] if second_factor else [first]
