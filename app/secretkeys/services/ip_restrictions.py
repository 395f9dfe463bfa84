"""A user's stored IP restrictions (on the user, reference C27): read and replaced by Secret
Key Administrators while the user has a key, or by the operator at any time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.audit.services import record
from app.extensions import db
from app.identity.models import User
from app.requestctx import SYSTEM, Caller
from app.secretkeys import restrictions
from app.secretkeys.errors import NoSecretKey
from app.secretkeys.models import UserIpRestriction
from app.secretkeys.services.keys import live_key

# --- IP restrictions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Restrictions:
    raw: str
    entries: list[restrictions.Entry]
    updated_at: datetime | None


def get_restrictions(user: User, *, require_key: bool = True) -> Restrictions:
    if require_key and live_key(user.id) is None:
        raise NoSecretKey()
    row = db.session.get(UserIpRestriction, user.id)
    if row is None:
        return Restrictions("", [], None)
    return Restrictions(row.raw, restrictions.describe(row.entries), row.updated_at)


def set_restrictions(
    user: User,
    value: str | Sequence[str] | None,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
    caller: Caller = SYSTEM,
    require_key: bool = True,
) -> Restrictions:
    """Replace the user's IP restrictions; they apply to every token of the user from its
    next request. NoSecretKey (409) when ``require_key`` and the user has none;
    InvalidRestrictions (422) naming each bad entry."""
    if require_key and live_key(user.id, lock=True) is None:
        db.session.rollback()
        raise NoSecretKey()
    entries = restrictions.parse(value)
    raw = restrictions.as_text(entries)
    row = db.session.get(UserIpRestriction, user.id)
    if row is None:
        row = UserIpRestriction(user_id=user.id)
        db.session.add(row)
    row.raw, row.entries, row.updated_at = raw, entries, now
    record(
        "secret_key.restrictions_changed",
        now=now,
        caller=caller,
        actor_user_id=actor_id,
        family_id=user.family_id,
        user_id=str(user.id),
        entries=len(entries),
        restrictions=raw,
    )
    db.session.commit()
    return Restrictions(raw, restrictions.describe(entries), now)
