"""Organisation admin tokens: the SSO exchange that issues them, the lookup the gate's verifier
makes on every request, revocation, and purging.

The exchange (``GET /organizations/sso``, seed 002): a partner-signed HS256 assertion for one
organisation buys one opaque UUID token valid 24 hours in that organisation and this region.
Each assertion works once: its digest is claimed by a unique insert in the same transaction
that writes the token, so of N requests presenting it at once exactly one gets a token
(decision D3), on SQLite and PostgreSQL alike. Only the token's SHA-256 digest is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, Row, bindparam, exists, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.clock import rfc3339
from app.config import current_region
from app.errors import Forbidden, NotFound, TollgateError
from app.extensions import db, execute_count
from app.identity.models import Family, User
from app.partners import assertions, ssosecret
from app.partners.models import OrgAdminToken, PartnerAssertion
from app.purging import purge_in_batches
from app.ratelimit import Throttle

SSO_FAILURES_PER_IP = Throttle("partner-sso-ip", "RATE_LIMIT_PARTNER_SSO_IP")


class OrganizationInactive(Forbidden):
    error = "organization_inactive"
    description = "The organization is deactivated"


class PartnerInactive(Forbidden):
    error = "partner_inactive"
    description = "The organization's partner is deactivated"


@dataclass(frozen=True)
class IssuedAdminToken:
    token: str  # the opaque UUID: in this answer only
    token_id: uuid.UUID
    organization_id: uuid.UUID
    expires_at: datetime
    expires_in: int


def lifetime() -> int:
    return int(current_app.config["ORG_ADMIN_TOKEN_LIFETIME"])


# --- the exchange ----------------------------------------------------------------------------

_Partner = aliased(Family, name="partner")
# Built once: the organisation an assertion names, with what the exchange decides on.
_ORGANIZATION = (
    select(
        Family.id,
        Family.region,
        Family.active,
        Family.sso_secret_version,
        Family.partner_family_id,
        _Partner.active.label("partner_active"),
        exists()
        .where(
            User.family_id == Family.partner_family_id,
            User.is_partner.is_(true()),
            User.active.is_(true()),
        )
        .label("partner_user_active"),
    )
    .join(_Partner, _Partner.id == Family.partner_family_id)
    .where(Family.id == bindparam("organization_id"), Family.kind == "organization")
)


def _organization(organization_id: uuid.UUID | None) -> Row[*tuple[Any, ...]]:
    row = (
        db.session.execute(_ORGANIZATION, {"organization_id": organization_id}).first()
        if organization_id is not None
        else None
    )
    if row is None or row.sso_secret_version is None:
        raise NotFound("Organization not found")
    return row


def exchange(value: str | None, *, now: datetime, caller: Caller = SYSTEM) -> IssuedAdminToken:
    """A partner's SSO assertion -> an organisation admin token. Refusals: 400 claims missing
    or malformed, 401 not HS256 / bad signature / too old / in the future / expired /
    replayed / another region's organisation, 403 organisation or partner deactivated, 404
    unknown organisation. Every refusal is audited and counted against the caller's IP (429
    once over RATE_LIMIT_PARTNER_SSO_IP). Commits."""
    ip = caller.ip or "unknown"
    SSO_FAILURES_PER_IP.check(ip)
    organization: Row[*tuple[Any, ...]] | None = None
    try:
        assertion = assertions.parse(value)
        organization = _organization(assertions.claimed_organization(assertion))
        return _issue(assertion, organization, now=now, caller=caller)
    except TollgateError as refused:
        db.session.rollback()
        record(
            "organization.admin_token_issued",
            outcome="failure",
            now=now,
            caller=caller,
            family_id=organization.id if organization is not None else None,
            reason=refused.error,
            status=refused.status,
        )
        db.session.commit()
        SSO_FAILURES_PER_IP.fail(ip)
        raise


def _issue(
    assertion: assertions.Assertion,
    organization: Row[*tuple[Any, ...]],
    *,
    now: datetime,
    caller: Caller,
) -> IssuedAdminToken:
    config = current_app.config
    if organization.region != current_region():
        # Another region's organisation does not exist here (C18): a generic 401.
        raise assertions.InvalidAssertion()
    key = ssosecret.signing_key(organization.id, organization.sso_secret_version)
    claims = assertions.verified_claims(assertion, key)
    stamped = assertions.check_validity(
        claims,
        now=now,
        lifetime=int(config["PARTNER_ASSERTION_LIFETIME"]),
        leeway=int(config["PARTNER_ASSERTION_LEEWAY"]),
    )
    if not organization.active:
        raise OrganizationInactive()
    if not organization.partner_active or not organization.partner_user_active:
        raise PartnerInactive()
    _claim(
        assertion,
        organization.id,
        expires_at=stamped + timedelta(seconds=int(config["PARTNER_ASSERTION_LIFETIME"])),
    )
    token = str(uuid.uuid4())
    seconds = lifetime()
    row = OrgAdminToken(
        id=uuid.uuid4(),
        token_digest=crypto.digest(token),
        family_id=organization.id,
        partner_family_id=organization.partner_family_id,
        region=organization.region,
        issued_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
    db.session.add(row)
    record(
        "organization.admin_token_issued",
        now=now,
        caller=caller,
        family_id=organization.id,
        org_admin_token_id=str(row.id),
        partner_family_id=str(organization.partner_family_id),
        expires_at=rfc3339(row.expires_at),
    )
    db.session.commit()
    return IssuedAdminToken(token, row.id, organization.id, row.expires_at, seconds)


def _claim(
    assertion: assertions.Assertion, organization_id: uuid.UUID, expires_at: datetime
) -> None:
    """Claim the assertion for this exchange: the unique digest makes a second claim fail,
    also when it races this one (PostgreSQL makes the loser wait for our commit)."""
    db.session.add(
        PartnerAssertion(
            assertion_digest=assertion.digest(), family_id=organization_id, expires_at=expires_at
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        raise assertions.InvalidAssertion(
            "The SSO assertion was already used; sign a new one"
        ) from None


# --- the gate's lookup (every request with an admin token) ------------------------------------

_Organization = aliased(Family, name="organization")
# Built once: a live token of an active organisation whose partner tenant is active.
_LOOKUP = (
    select(OrgAdminToken.id, OrgAdminToken.family_id, OrgAdminToken.region)
    .join(_Organization, _Organization.id == OrgAdminToken.family_id)
    .join(_Partner, _Partner.id == OrgAdminToken.partner_family_id)
    .where(
        OrgAdminToken.token_digest == bindparam("digest"),
        OrgAdminToken.revoked_at.is_(None),
        OrgAdminToken.expires_at > bindparam("now", type_=DateTime()),
        _Organization.active.is_(true()),
        _Partner.active.is_(true()),
    )
)


def find_live_token(token: str, *, now: datetime) -> Row[*tuple[Any, ...]] | None:
    """The token's id, organisation and region if it is neither revoked nor expired and its
    organisation and partner tenant are active: one query on the session's connection (plain
    columns, no ORM work), no write."""
    params = {"digest": crypto.digest(token), "now": now}
    return db.session.connection().execute(_LOOKUP, params).first()


# --- revocation and purging --------------------------------------------------------------------


def revoke_token(
    token_id: uuid.UUID, organization_id: uuid.UUID, *, now: datetime, caller: Caller = SYSTEM
) -> None:
    """An admin token revokes itself (``POST /organizations/sso/revoke``). Commits."""
    execute_count(
        update(OrgAdminToken)
        .where(
            OrgAdminToken.id == token_id,
            OrgAdminToken.family_id == organization_id,
            OrgAdminToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    record(
        "org_admin_token.revoked",
        now=now,
        caller=caller,
        family_id=organization_id,
        org_admin_token_id=str(token_id),
        revoked_by="the token itself",
    )
    db.session.commit()


def revoke_organization_tokens(organization_id: uuid.UUID, *, now: datetime) -> int:
    """Revoke every live admin token of an organisation, in the caller's unit of work (no
    commit): how many were live."""
    return execute_count(
        update(OrgAdminToken)
        .where(
            OrgAdminToken.family_id == organization_id,
            OrgAdminToken.revoked_at.is_(None),
            OrgAdminToken.expires_at > now,
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete expired admin tokens and the digests of assertions that can no longer be valid
    (their timestamp is past the 15 minutes, so a replay is refused by age alone)."""
    return {
        "org_admin_tokens": purge_in_batches(
            OrgAdminToken.id, OrgAdminToken.expires_at < now, batch_size=batch_size
        ),
        "partner_assertions": purge_in_batches(
            PartnerAssertion.id, PartnerAssertion.expires_at < now, batch_size=batch_size
        ),
    }
