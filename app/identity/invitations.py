"""Pending e-mail invitations to a family (with a role). An invitation is pending until it is
accepted or expires; accepting claims it with a conditional UPDATE, so it is used once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.audit.services import SYSTEM, Caller, record
from app.errors import ValidationFailed
from app.extensions import db, execute_count
from app.identity.models import ROLES, Family, Invitation
from app.identity.users import EMAIL_RE, normalize_email
from app.purging import purge_in_batches

DEFAULT_LIFETIME = timedelta(days=7)


def create_invitation(
    *,
    email: str,
    family_id: uuid.UUID,
    role: str = "member",
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    caller: Caller = SYSTEM,
) -> Invitation:
    """Invite ``email`` to the family with ``role``. Commits."""
    email = normalize_email(email or "")
    errors = []
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors.append("Email is invalid")
    if role not in ROLES:
        errors.append(f"Role must be one of {', '.join(ROLES)}")
    family = db.session.get(Family, family_id)
    if family is None or not family.active:
        errors.append("Family does not exist")
    if lifetime <= timedelta(0):
        errors.append("Lifetime must be positive")
    if errors:
        raise ValidationFailed("; ".join(errors), extra={"errors": errors})
    invitation = Invitation(
        email=email, family_id=family_id, role=role, created_at=now, expires_at=now + lifetime
    )
    db.session.add(invitation)
    db.session.flush()
    record(
        "invitation.created",
        now=now,
        caller=caller,
        family_id=family_id,
        invitation_id=str(invitation.id),
        email=email,
        role=role,
    )
    db.session.commit()
    return invitation


def pending_invitation(email: str | None, *, now: datetime) -> Invitation | None:
    """The newest pending (unaccepted, unexpired) invitation for the address, if any."""
    if not email:
        return None
    return db.session.scalar(
        select(Invitation)
        .join(Family, Family.id == Invitation.family_id)
        .where(
            Invitation.email == normalize_email(email),
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
            Family.active.is_(True),
        )
        .order_by(Invitation.created_at.desc())
        .limit(1)
    )


def claim_invitation(invitation: Invitation, user_id: uuid.UUID, *, now: datetime) -> bool:
    """Accept inside the caller's transaction; False when it was accepted meanwhile."""
    claimed = execute_count(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now, accepted_by_user_id=user_id)
        .execution_options(synchronize_session=False)
    )
    return claimed == 1


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete invitations that expired unaccepted: they can no longer let anyone in. An
    accepted one stays (it names who it let in); its creation stays in the audit log."""
    return {
        "invitations": purge_in_batches(
            Invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at <= now,
            batch_size=batch_size,
        )
    }
