"""Users and families: creation (validated, audited) and lookup."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.errors import TollgateError
from app.extensions import db
from app.identity.budgets import account_key
from app.identity.models import ROLES, Family, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidUser(TollgateError):
    status, error = 422, "validation_failed"


def normalize_email(email: str) -> str:
    return account_key(email)


def create_user(
    *,
    email: str,
    password: str,
    now: datetime,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "member",
    family_id: uuid.UUID | None = None,
    caller: Caller = SYSTEM,
) -> User:
    """``add_user``, committed: the user (and a new family unless ``family_id`` is given)."""
    user = add_user(
        email=email,
        password=password,
        now=now,
        first_name=first_name,
        last_name=last_name,
        role=role,
        family_id=family_id,
        caller=caller,
    )
    db.session.commit()
    return user


def add_user(
    *,
    email: str,
    password: str | None,
    now: datetime,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "member",
    family_id: uuid.UUID | None = None,
    caller: Caller = SYSTEM,
    without_password: bool = False,
    audit: Mapping[str, Any] | None = None,
) -> User:
    """Add a user (and a new family unless ``family_id`` is given) to the current unit of
    work, without committing. Raises InvalidUser with every problem found.

    ``without_password=True`` makes a password-less user (one an external provider signs
    in; ``password`` is then None); ``audit`` adds details to the ``user.created``
    event."""
    email = normalize_email(email)
    errors = []
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors.append("Email is invalid")
    if not without_password and len(password or "") < current_app.config["PASSWORD_MIN_LENGTH"]:
        errors.append(
            f"Password must be at least {current_app.config['PASSWORD_MIN_LENGTH']} characters"
        )
    if role not in ROLES:
        errors.append(f"Role must be one of {', '.join(ROLES)}")
    if email and db.session.scalar(select(User.id).where(User.email == email)):
        errors.append("Email has already been taken")
    if family_id is not None and db.session.get(Family, family_id) is None:
        errors.append("Family does not exist")
    if errors:
        raise InvalidUser("; ".join(errors), extra={"errors": errors})

    if family_id is None:
        family = Family(name=f"{first_name or email.split('@')[0]}'s family", created_at=now)
        db.session.add(family)
        db.session.flush()
        family_id = family.id
    user = User(
        email=email,
        password_hash=None if without_password else crypto.hash_password(password or ""),
        first_name=first_name,
        last_name=last_name,
        role=role,
        family_id=family_id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(user)
    db.session.flush()
    record(
        "user.created",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=family_id,
        role=role,
        **(audit or {}),
    )
    return user


def get_user(user_id: uuid.UUID | str | None) -> User | None:
    if not user_id:
        return None
    try:
        key = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.get(User, key)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
