"""Purging deactivated users: Sure's ``DELETE /api/v1/users/me`` deactivates at once and a
later job deletes the user, or the whole family if it was the last member (contract §2.4).
``flask --app wsgi jobs work`` runs it; DEACTIVATED_USER_PURGE_AFTER is the grace period.

One transaction per user: everything that points at the user (and, for the last member,
at the family) goes, or nothing does. Audit events are kept (append-only; they name users
and families by id, without a foreign key).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.accesskeys.models import AccessKey
from app.apikeys.models import ApiKey
from app.audit.services import record
from app.extensions import db, execute_count
from app.firstparty.models import FamilyResetJob
from app.identity.models import (
    BackupCode,
    Device,
    Family,
    Invitation,
    InviteCode,
    User,
    UserRole,
    WebSession,
)
from app.oauth2.models import AuthorizationCode, OAuthToken
from app.partners.models import OrgAdminToken, PartnerAssertion
from app.resources import services as resources
from app.secretkeys.models import RevealLink, SecretKey, SecretKeyToken, UserIpRestriction
from app.sso.models import SsoIdentity

log = logging.getLogger(__name__)

# Rows of the user, deleted in this order (tokens name their device, so devices go after).
USER_ROWS = (
    ApiKey.user_id,
    OAuthToken.user_id,
    AuthorizationCode.user_id,
    Device.user_id,
    BackupCode.user_id,
    WebSession.user_id,
    UserRole.user_id,
    # A key's tokens and links before the key (they also cascade with it).
    SecretKeyToken.user_id,
    RevealLink.user_id,
    SecretKey.user_id,
    UserIpRestriction.user_id,
    SsoIdentity.user_id,  # the user's links to external identities go with it
)
# Rows that outlive the user and only forget who it was.
USER_MENTIONS = (
    InviteCode.used_by_user_id,
    FamilyResetJob.requested_by,
    UserRole.granted_by_user_id,
    SecretKey.created_by_user_id,
    AccessKey.created_by_user_id,
    OrgAdminToken.issued_by_user_id,
    SsoIdentity.blocked_by_user_id,
    Invitation.accepted_by_user_id,
    *resources.USER_MENTION_COLUMNS,
)
# Rows of the family, deleted with its last member (its financial data: reset).
FAMILY_ROWS = (
    ApiKey.family_id,
    OAuthToken.family_id,
    AuthorizationCode.family_id,
    FamilyResetJob.family_id,
    SecretKeyToken.family_id,
    SecretKey.family_id,
    AccessKey.family_id,
    # Organisation admin tokens and seen assertions: an organisation's own, and every token a
    # partner tenant's organisations were issued (the partner is gone, so are its tokens).
    OrgAdminToken.family_id,
    OrgAdminToken.partner_family_id,
    PartnerAssertion.family_id,
    Invitation.family_id,
)
# Rows that outlive the family and only forget it: a partner's organisations stay (their own
# users and data) when the partner tenant goes, without an owner.
FAMILY_MENTIONS = (Family.partner_family_id,)
# Every foreign key to users or families, and so every one a purge must deal with; a test
# compares this with the schema, so a new table cannot be forgotten here.
HANDLED_REFERENCES = (
    *USER_ROWS,
    *USER_MENTIONS,
    *FAMILY_ROWS,
    *FAMILY_MENTIONS,
    *resources.FAMILY_DATA_COLUMNS,
    User.family_id,
)


def purge_deactivated_users(*, now: datetime) -> int:
    """Delete every user deactivated at least DEACTIVATED_USER_PURGE_AFTER seconds before
    ``now``, oldest first (so a family's last member goes last). Returns how many were
    deleted; a failure is logged and audited, and leaves that user for the next run."""
    cutoff = now - timedelta(seconds=int(current_app.config["DEACTIVATED_USER_PURGE_AFTER"]))
    due = db.session.scalars(
        select(User.id)
        .where(User.active.is_(False), User.deactivated_at <= cutoff)
        .order_by(User.deactivated_at, User.id)
    ).all()
    db.session.rollback()  # end the read; each user is its own transaction
    return sum(1 for user_id in due if purge_user(user_id, cutoff=cutoff, now=now))


def purge_user(user_id: uuid.UUID, *, cutoff: datetime, now: datetime) -> bool:
    """Delete one deactivated user (and the family if it was the last member) in one
    transaction. False when it is no longer due (someone else purged or reactivated it) or
    when the deletion failed (rolled back)."""
    try:
        outcome = _purge(user_id, cutoff=cutoff, now=now)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("purge of deactivated user %s failed", user_id)
        record("user.purged", outcome="failure", now=now, actor_user_id=user_id)
        db.session.commit()
        return False
    if outcome is None:
        db.session.rollback()
        return False
    record("user.purged", now=now, actor_user_id=user_id, **outcome)
    db.session.commit()
    return True


def _purge(user_id: uuid.UUID, *, cutoff: datetime, now: datetime) -> dict[str, Any] | None:
    family_id = db.session.scalar(select(User.family_id).where(User.id == user_id))
    if family_id is None:
        return None
    # Lock the family, then the user (PostgreSQL row locks): two workers purging the last
    # two members of one family one after the other, never both thinking the other stays.
    db.session.execute(select(Family.id).where(Family.id == family_id).with_for_update())
    user = db.session.execute(
        select(User.active, User.deactivated_at, User.family_id)
        .where(User.id == user_id)
        .with_for_update()
    ).first()
    if (
        user is None
        or user.active
        or user.deactivated_at is None
        or user.deactivated_at > cutoff
        or user.family_id != family_id
    ):
        return None
    last_member = not db.session.scalar(
        select(func.count(User.id)).where(User.family_id == family_id, User.id != user_id)
    )

    deleted: dict[str, int] = {}
    if last_member:
        # Before the user row: the family's reset jobs name it as requester.
        for column in FAMILY_ROWS:
            _count(deleted, column, execute_count(delete(column.class_).where(column == family_id)))
    for column in USER_ROWS:
        _count(deleted, column, execute_count(delete(column.class_).where(column == user_id)))
    for column in USER_MENTIONS:
        db.session.execute(
            update(column.class_)
            .where(column == user_id)
            .values({column.key: None})
            .execution_options(synchronize_session=False)
        )
    db.session.execute(delete(User).where(User.id == user_id))
    if last_member:
        for kind, count in resources.delete_family_data(family_id).items():
            deleted[kind] = deleted.get(kind, 0) + count
        for column in FAMILY_MENTIONS:
            db.session.execute(
                update(column.class_)
                .where(column == family_id)
                .values({column.key: None})
                .execution_options(synchronize_session=False)
            )
        db.session.execute(delete(Family).where(Family.id == family_id))
    return {
        "family_id": family_id,
        "family_deleted": last_member,
        "deleted": {kind: count for kind, count in deleted.items() if count},
    }


def _count(deleted: dict[str, int], column: Any, count: int) -> None:
    name = column.class_.__tablename__
    deleted[name] = deleted.get(name, 0) + count
