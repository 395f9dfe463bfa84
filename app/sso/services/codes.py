"""Single-use codes of Sure's mobile and desktop SSO hand-off (contract §2.6, §3.4-3.6).

Sure keeps them in its cache (``mobile_sso:<code>``, ``mobile_sso_link:<code>``,
``desktop_sso:<code>``) and claims them with an atomic delete. Here they are rows: the code's
SHA-256 digest (what verifies, never what can be replayed), the payload encrypted at rest (an
exchange code's payload is a live token block), an expiry, and ``consumed_at``. Redemption is a
conditional ``UPDATE … WHERE consumed_at IS NULL`` whose row count decides: of two concurrent
redemptions exactly one wins, the other gets Sure's 401. The payload is wiped when the code is
consumed, so a consumed row holds nothing worth stealing until the purge deletes it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app import crypto
from app.extensions import db, execute_count
from app.purging import purge_in_batches
from app.sso.models import SsoCode

EXCHANGE = "exchange"  # mobile: the token block minted at the callback (§3.4)
LINKING = "linking"  # mobile: an unlinked upstream identity and the device (§3.5, §3.6)
DESKTOP = "desktop"  # desktop: a user and a PKCE challenge (§2.6)

LIFETIMES = {
    EXCHANGE: timedelta(minutes=5),
    LINKING: timedelta(minutes=10),
    DESKTOP: timedelta(minutes=2),
}
CODE_BYTES = 32  # SecureRandom.urlsafe_base64(32): 43 characters
CODE_MAX_LENGTH = 200  # anything longer is not one of ours; no digest is worth computing


@dataclass(frozen=True)
class Code:
    """A live (or just consumed) code as the flows read it."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    session_epoch: int | None
    payload: dict[str, Any]


def new_code() -> str:
    """32 random bytes, urlsafe base64 without padding: 43 characters, as Sure's."""
    return secrets.token_urlsafe(CODE_BYTES)


def mint(
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    user_id: uuid.UUID | None = None,
    session_epoch: int | None = None,
) -> str:
    """Store a new code of ``kind`` and return its plaintext (the only copy). Part of the
    caller's unit of work: no commit."""
    code = new_code()
    db.session.add(
        SsoCode(
            kind=kind,
            code_digest=crypto.digest(code),
            user_id=user_id,
            session_epoch=session_epoch,
            payload_encrypted=crypto.encrypt(json.dumps(payload)),
            created_at=now,
            expires_at=now + LIFETIMES[kind],
        )
    )
    return code


def _live(kind: str, code: str, now: datetime) -> Any:
    return (
        SsoCode.kind == kind,
        SsoCode.code_digest == crypto.digest(code),
        SsoCode.consumed_at.is_(None),
        SsoCode.expires_at > now,
    )


def peek(kind: str, code: str, *, now: datetime) -> Code | None:
    """The live code of ``kind`` with this value, without consuming it (sso_link and
    sso_create_account keep the code when the caller's credentials are wrong)."""
    if not code or len(code) > CODE_MAX_LENGTH:
        return None
    row = db.session.scalar(select(SsoCode).where(*_live(kind, code, now)))
    if row is None:
        return None
    return Code(
        id=row.id,
        user_id=row.user_id,
        session_epoch=row.session_epoch,
        payload=json.loads(crypto.decrypt(row.payload_encrypted)),
    )


def claim(code: Code, *, now: datetime) -> bool:
    """Consume a code read with ``peek``: True for exactly one caller, however many race.
    Commits (the claim must be visible to the others before anything else happens)."""
    won = (
        execute_count(
            update(SsoCode)
            .where(
                SsoCode.id == code.id,
                SsoCode.consumed_at.is_(None),
                SsoCode.expires_at > now,
            )
            .values(consumed_at=now, payload_encrypted="")
            .execution_options(synchronize_session=False)
        )
        == 1
    )
    db.session.commit()
    return won


def redeem(kind: str, code: str, *, now: datetime) -> Code | None:
    """Read and consume in one go: the code, or None when it is unknown, expired, already
    used or just taken by a concurrent redemption. Commits."""
    found = peek(kind, code, now=now)
    if found is None:
        db.session.rollback()
        return None
    return found if claim(found, now=now) else None


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete codes past their expiry (consumed ones are wiped already; they go once expired
    too, which is at most ten minutes later)."""
    return {
        "sso_codes": purge_in_batches(SsoCode.id, SsoCode.expires_at <= now, batch_size=batch_size)
    }
