"""TOTP codes computed the way an authenticator app computes them, clear of step boundaries."""

from __future__ import annotations

import time

import pyotp


def _steady() -> None:
    """Stay clear of a 30-second boundary, so a code computed now is judged in the same step."""
    while time.time() % 30 > 26:
        time.sleep(0.2)


def totp_now(secret: str) -> str:
    _steady()
    return pyotp.TOTP(secret).now()


def totp_pair(secret: str) -> tuple[str, str]:
    """(previous step's code, current step's code): two codes usable one after the other
    (each step is accepted once, and never after a later one)."""
    _steady()
    totp = pyotp.TOTP(secret)
    now = time.time()
    return totp.at(now - 30), totp.at(now)


def wrong_totp(secret: str) -> str:
    """A six-digit code that no step around now accepts."""
    _steady()
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now - 30), totp.at(now), totp.at(now + 30)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in valid)
