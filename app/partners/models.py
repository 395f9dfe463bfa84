"""What the partner flow stores: organisation admin tokens (as digests) and the assertions
already exchanged (as digests, until their 15 minutes are over).

An organisation is a ``Family`` of kind ``organization`` owned by a partner tenant
(``partner_family_id``); its ssoSecret is derived from ``sso_secret_version`` and a server key
and is never stored (reference C4). Neither a token nor an assertion is kept in a form that can
be replayed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model

# An organisation's name: the tenant's name column holds at most this many characters.
NAME_MAX_LENGTH = 200


class OrgAdminToken(Model):
    """A 24-hour organisation admin token (Surfsight): a shared credential with the built-in
    org_admin permission set, confined to one organisation in one region."""

    __tablename__ = "org_admin_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The organisation the token acts in (its tenant).
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # The partner tenant owning the organisation when the token was issued.
    partner_family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # The partner user who asked for it, when one did. The SSO exchange is signed with the
    # organisation's ssoSecret, not by a user, so tokens it issues have none.
    issued_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The region that issued it: the token works only on instances of that region.
    region: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()


class PartnerAssertion(Model):
    """A partner SSO assertion that was exchanged: its digest is claimed by a unique insert in
    the exchange's transaction, so each assertion buys at most one admin token (decision D3),
    however many requests present it at once. Purged once it could no longer be valid."""

    __tablename__ = "partner_assertions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    assertion_digest: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
