"""Single-use invite codes for signup (REQUIRE_INVITE_CODE); only digests are stored."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import select, update

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.extensions import db, execute_count
from app.identity.models import InviteCode


def create_invite_codes(count: int, *, now: datetime, caller: Caller = SYSTEM) -> list[str]:
    """New single-use codes of 8 lowercase hex characters. Commits."""
    codes: list[str] = []
    while len(codes) < count:
        code = secrets.token_hex(4)
        if code in codes or db.session.scalar(
            select(InviteCode.id).where(InviteCode.code_digest == crypto.digest(code))
        ):
            continue
        codes.append(code)
        db.session.add(InviteCode(code_digest=crypto.digest(code), created_at=now))
    record("invite_codes.created", now=now, caller=caller, count=count)
    db.session.commit()
    return codes


def invite_code_usable(code: str) -> bool:
    return (
        db.session.scalar(
            select(InviteCode.id).where(
                InviteCode.code_digest == crypto.digest(code.strip().lower()),
                InviteCode.used_at.is_(None),
            )
        )
        is not None
    )


def claim_invite_code(code: str, user_id: uuid.UUID, *, now: datetime) -> bool:
    """Consume the code inside the caller's transaction; False when someone else did."""
    return (
        execute_count(
            update(InviteCode)
            .where(
                InviteCode.code_digest == crypto.digest(code.strip().lower()),
                InviteCode.used_at.is_(None),
            )
            .values(used_at=now, used_by_user_id=user_id)
            .execution_options(synchronize_session=False)
        )
        == 1
    )
