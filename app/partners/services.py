"""Organisations (Surfsight): partners create them and receive the ssoSecret once, list and
show them, rotate the ssoSecret and revoke an organisation's admin tokens; and partner users
themselves (created by the operator CLI, in a partner tenant of their own).

A partner owns the organisations it creates (``partner_family_id``) but is not a member of
them (reference C10): the partner's own credentials reach the partner routes only; an
organisation's data is reached with its admin token. Another partner's organisation is 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from app.audit.services import SYSTEM, Caller, record
from app.clock import rfc3339
from app.errors import BadRequest, Forbidden, NotFound
from app.extensions import db
from app.identity import users
from app.identity.models import Family, User
from app.partners import ssosecret, tokens
from app.partners.models import NAME_MAX_LENGTH

ORGANIZATION = "organization"
PARTNER = "partner"


class NotAPartner(Forbidden):
    error = "not_a_partner"
    description = "Only partner users can manage organizations"


@dataclass(frozen=True)
class OrganizationWithSecret:
    """An organisation and its ssoSecret: the answer of a creation or a rotation only."""

    organization: Family
    sso_secret: str


def describe(organization: Family) -> dict[str, Any]:
    """An organisation as the API shows it: never its ssoSecret (002.17)."""
    return {
        "organizationId": str(organization.id),
        "name": organization.name,
        "created_at": rfc3339(organization.created_at),
    }


def require_partner(user: User) -> None:
    """Partners are users flagged ``is_partner`` (a DB flag, not a permission: 002.3)."""
    if not user.is_partner:
        raise NotAPartner()


def valid_name(name: Any) -> str:
    """The organisation name, trimmed; 400 when missing, blank or too long."""
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required", error="name_required")
    if len(name.strip()) > NAME_MAX_LENGTH:
        raise BadRequest(
            f"name must be at most {NAME_MAX_LENGTH} characters", error="name_too_long"
        )
    return name.strip()


# --- organisations -----------------------------------------------------------------------------


def create_organization(
    partner: User, *, name: Any, now: datetime, caller: Caller = SYSTEM
) -> OrganizationWithSecret:
    """A new organisation owned by the partner's tenant, in the partner's region, its ssoSecret
    at version 1 (returned here, and never again unless rotated). Commits."""
    require_partner(partner)
    clean = valid_name(name)
    organization = Family(
        id=uuid.uuid4(),
        name=clean,
        kind=ORGANIZATION,
        partner_family_id=partner.family_id,
        region=partner.region,
        sso_secret_version=1,
        created_at=now,
    )
    db.session.add(organization)
    record(
        "organization.created",
        now=now,
        caller=caller,
        actor_user_id=partner.id,
        family_id=partner.family_id,
        organization_id=str(organization.id),
        name=clean,
    )
    db.session.commit()
    return OrganizationWithSecret(organization, ssosecret.derive(organization.id, 1))


def partner_organizations(partner_family_id: uuid.UUID, region: str) -> list[Family]:
    """The organisations a partner tenant owns in this region, oldest first."""
    return list(
        db.session.scalars(
            select(Family)
            .where(
                Family.partner_family_id == partner_family_id,
                Family.kind == ORGANIZATION,
                Family.region == region,
            )
            .order_by(Family.created_at, Family.id)
        )
    )


def tenant(family_id: uuid.UUID) -> Family:
    """A caller's own tenant (an admin token's organisation, a user's family)."""
    family = db.session.get(Family, family_id)
    if family is None:
        raise NotFound("Organization not found")
    return family


def _organization_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Organization not found") from None


def owned_organization(partner_family_id: uuid.UUID, organization_id: str, region: str) -> Family:
    """One of the partner tenant's organisations in this region; 404 for anything else
    (another partner's organisation included: its existence is not disclosed)."""
    organization = db.session.scalar(
        select(Family).where(
            Family.id == _organization_id(organization_id),
            Family.partner_family_id == partner_family_id,
            Family.kind == ORGANIZATION,
            Family.region == region,
        )
    )
    if organization is None:
        raise NotFound("Organization not found")
    return organization


def visible_organization(
    family_id: uuid.UUID, organization_id: str, *, region: str, partner: bool
) -> Family:
    """``GET /organizations/<id>``: a partner sees the organisations its tenant owns; anyone
    else (an admin token, a user) only their own tenant. 404 otherwise."""
    if partner:
        return owned_organization(family_id, organization_id, region)
    if _organization_id(organization_id) != family_id:
        raise NotFound("Organization not found")
    return tenant(family_id)


def rotate_sso_secret(
    partner: User,
    organization_id: str,
    *,
    revoke_tokens: bool = True,
    now: datetime,
    region: str,
    caller: Caller = SYSTEM,
) -> OrganizationWithSecret:
    """A new ssoSecret (version + 1, in one atomic UPDATE so concurrent rotations each get a
    version of their own); assertions signed with the old one fail their signature from now
    on. Unless ``revoke_tokens`` is false the organisation's live admin tokens are revoked in
    the same transaction (002.23: the recovery path when a secret leaks). Commits."""
    require_partner(partner)
    organization = owned_organization(partner.family_id, organization_id, region)
    db.session.execute(
        update(Family)
        .where(Family.id == organization.id)
        .values(sso_secret_version=Family.sso_secret_version + 1)
        .execution_options(synchronize_session=False)
    )
    version = db.session.scalar(
        select(Family.sso_secret_version).where(Family.id == organization.id)
    )
    assert version is not None  # an organisation always has one
    organization.sso_secret_version = version
    revoked = tokens.revoke_organization_tokens(organization.id, now=now) if revoke_tokens else 0
    record(
        "organization.sso_secret_rotated",
        now=now,
        caller=caller,
        actor_user_id=partner.id,
        family_id=partner.family_id,
        organization_id=str(organization.id),
        version=version,
        admin_tokens_revoked=revoked,
    )
    db.session.commit()
    return OrganizationWithSecret(organization, ssosecret.derive(organization.id, version))


def revoke_admin_tokens(
    partner: User, organization_id: str, *, now: datetime, region: str, caller: Caller = SYSTEM
) -> int:
    """Revoke every live admin token of one of the partner's organisations. Commits."""
    require_partner(partner)
    organization = owned_organization(partner.family_id, organization_id, region)
    revoked = tokens.revoke_organization_tokens(organization.id, now=now)
    record(
        "org_admin_token.revoked",
        now=now,
        caller=caller,
        actor_user_id=partner.id,
        family_id=partner.family_id,
        organization_id=str(organization.id),
        revoked_by="the owning partner",
        count=revoked,
    )
    db.session.commit()
    return revoked


# --- partner users (operator CLI) ------------------------------------------------------------


def create_partner_user(
    *,
    email: str,
    password: str,
    now: datetime,
    first_name: str | None = None,
    last_name: str | None = None,
    caller: Caller = SYSTEM,
) -> User:
    """A partner: a new partner tenant with its first user, an admin flagged ``is_partner``.
    Validated like every user (identity.users.add_user); nothing is written on a refusal.
    Commits."""
    label = first_name or email.strip().split("@")[0] or "Partner"
    partner_tenant = Family(
        id=uuid.uuid4(), name=f"{label}'s partner tenant", kind=PARTNER, created_at=now
    )
    db.session.add(partner_tenant)
    try:
        db.session.flush()
        user = users.add_user(
            email=email,
            password=password,
            now=now,
            first_name=first_name,
            last_name=last_name,
            role="admin",
            family_id=partner_tenant.id,
            caller=caller,
        )
    except Exception:
        db.session.rollback()
        raise
    user.is_partner = True
    record(
        "partner.created",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=partner_tenant.id,
    )
    db.session.commit()
    return user
