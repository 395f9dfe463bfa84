"""Tenants (families): their plan features and the lookups the gate needs per request."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select

from app.audit.services import SYSTEM, Caller, record
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.identity.models import Family
from app.identity.roles import FEATURES

# Built once: the feature gate runs it on every request to a licensed route.
_FEATURES = select(Family.features, Family.active).where(Family.id == bindparam("family_id"))
_REGION = select(Family.region, Family.active).where(Family.id == bindparam("family_id"))


def tenant_features(family_id: uuid.UUID) -> frozenset[str]:
    """The licensed features of an active tenant's plan (none for an unknown or inactive one)."""
    row = db.session.connection().execute(_FEATURES, {"family_id": family_id}).first()
    if row is None or not row.active:
        return frozenset()
    return frozenset(row.features or ())


def tenant_in_region(family_id: uuid.UUID, region: str) -> bool:
    """Whether the tenant exists, is active and lives in ``region``."""
    row = db.session.connection().execute(_REGION, {"family_id": family_id}).first()
    return row is not None and row.active and row.region == region


def set_features(
    family_id: uuid.UUID, features: list[str], *, now: datetime, caller: Caller = SYSTEM
) -> Family:
    """Replace the tenant's plan features (platform data: the CLI sets them). Commits."""
    unknown = sorted(set(features) - FEATURES)
    if unknown:
        raise ValidationFailed(
            f"Unknown feature(s) {', '.join(unknown)}; known: {', '.join(sorted(FEATURES))}"
        )
    family = db.session.get(Family, family_id)
    if family is None:
        raise NotFound("Tenant not found")
    family.features = sorted(set(features))
    record(
        "tenant.features_changed",
        now=now,
        caller=caller,
        family_id=family.id,
        features=family.features,
    )
    db.session.commit()
    return family
