"""The signup password policy (Sure's five rules, every failure reported at once)."""

from __future__ import annotations

import re

SPECIAL_CHARACTERS = '!@#$%^&*(),.?":{}|<>'


def password_policy_errors(password: str | None, min_length: int = 8) -> list[str]:
    if not password:
        return ["Password can't be blank"]
    errors = []
    if len(password) < min_length:
        errors.append(f"Password must be at least {min_length} characters")
    if not (re.search(r"[A-Z]", password) and re.search(r"[a-z]", password)):
        errors.append("Password must include both uppercase and lowercase letters")
    if not re.search(r"\d", password):
        errors.append("Password must include at least one number")
    if not any(ch in SPECIAL_CHARACTERS for ch in password):
        errors.append("Password must include at least one special character")
    return errors
