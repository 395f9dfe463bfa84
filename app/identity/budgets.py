"""The attempt budgets of the account's secrets, shared by every place that checks them:
sign-in (web, the password grant, Sure's mobile login) and the step-up checks of account
security (MFA enrolment, backup codes, turning MFA off). One budget per secret and account,
so moving to another endpoint buys no extra guesses."""

from __future__ import annotations

from app.ratelimit import Throttle

LOGIN_PER_ACCOUNT = Throttle("login-account", "RATE_LIMIT_LOGIN_ACCOUNT")
LOGIN_PER_IP = Throttle("login-ip", "RATE_LIMIT_LOGIN_IP")
OTP_PER_ACCOUNT = Throttle("otp-account", "RATE_LIMIT_OTP_ACCOUNT")


def account_key(email: str) -> str:
    """The per-account budgets' key: the normalized email (as sign-in has always used)."""
    return (email or "").strip().lower()
