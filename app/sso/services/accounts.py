"""Accounts an external provider creates: for a pending invitation (its family and role), or
just in time when the provider allows it (a new family). Only for an address the provider
verified and nobody has: an existing account is linked only by proving it
(app.sso.services.identities).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from app.audit.services import SYSTEM, Caller
from app.extensions import db
from app.identity import invitations, users
from app.identity.models import Invitation, User
from app.identity.users import EMAIL_RE, count_users, find_by_email, normalize_email
from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
from app.sso.services.identities import IdentityBlocked, UpstreamIdentity, add_link, find_link
from app.sso.services.providers import Provider


def has_pending_invitation(email: str | None, *, now: datetime) -> bool:
    return invitations.pending_invitation(email, now=now) is not None


def allow_account_creation(provider: Provider, email: str | None, *, now: datetime) -> bool:
    """A pending invitation for the address, or JIT creation on and the domain allowed."""
    if not email or not EMAIL_RE.match(normalize_email(email)):
        return False
    if has_pending_invitation(email, now=now):
        return True
    return provider.jit_mode != "link_only" and provider.domain_allowed(email)


def create_account(
    provider: Provider,
    identity: UpstreamIdentity,
    *,
    first_name: str | None,
    last_name: str | None,
    now: datetime,
    caller: Caller = SYSTEM,
) -> User:
    """A password-less user for the identity, and the link, in one transaction.

    Only for an address the provider verified, that no user has, and that
    ``allow_account_creation`` accepts. A pending invitation gives its family and role (and
    is accepted); otherwise a new family with the user as its admin (super_admin when the
    provider says so, or for the deployment's first user). Commits."""
    email = normalize_email(identity.email or "")
    if not identity.email_verified or not allow_account_creation(provider, email, now=now):
        raise AccountCreationNotAllowed()
    if find_by_email(email) is not None:
        # An existing account is linked only by proving it (sign in), never by address.
        raise AccountCreationNotAllowed("An account with this email exists; sign in to link it")
    existing = find_link(identity)
    if existing is not None:
        raise IdentityBlocked() if existing.blocked_at is not None else IdentityAlreadyLinked()
    first_name = (first_name or "").strip()[:100] or None
    last_name = (last_name or "").strip()[:100] or None
    invitation = invitations.pending_invitation(email, now=now)
    try:
        user = _add_account(
            provider, identity, email, first_name, last_name, invitation, now=now, caller=caller
        )
        db.session.commit()
    except IntegrityError as exc:  # the address or the identity was taken meanwhile
        db.session.rollback()
        raise AccountCreationNotAllowed("The account exists already") from exc
    return user


def _add_account(
    provider: Provider,
    identity: UpstreamIdentity,
    email: str,
    first_name: str | None,
    last_name: str | None,
    invitation: Invitation | None,
    *,
    now: datetime,
    caller: Caller,
) -> User:
    """create_account's writes, flushed (a unique column taken meanwhile raises
    IntegrityError here or at the commit); the caller commits."""
    family_id: uuid.UUID | None = None
    if invitation is not None:
        family_id, role = invitation.family_id, invitation.role
    else:
        first_user = not count_users()
        role = "super_admin" if provider.default_role == "super_admin" or first_user else "admin"
    try:
        user = users.add_user(
            email=email,
            password=None,
            without_password=True,
            now=now,
            first_name=first_name,
            last_name=last_name,
            role=role,
            family_id=family_id,  # None: a new family
            caller=caller,
            audit={
                "via": "sso",
                "provider": identity.provider,
                "invitation_id": str(invitation.id) if invitation else None,
            },
        )
    except users.InvalidUser as exc:  # the address taken meanwhile, the family gone
        db.session.rollback()
        raise AccountCreationNotAllowed("The account exists already") from exc
    if invitation is not None and not invitations.claim_invitation(invitation, user.id, now=now):
        db.session.rollback()
        raise AccountCreationNotAllowed("The invitation was used meanwhile")
    add_link(user, identity, now=now, caller=caller)
    return user
