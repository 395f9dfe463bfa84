"""Family-owned financial records. Amounts are exact decimals, never floats."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.clock import utcnow
from app.extensions import Model, db


class Money(TypeDecorator):
    """Exact decimals on every database: NUMERIC(19, 4) on PostgreSQL; text on SQLite, whose
    NUMERIC affinity would keep only 15 significant digits (a float)."""

    impl = Numeric(19, 4).with_variant(String(32), "sqlite")
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(value).quantize(QUANTUM)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(QUANTUM)


QUANTUM = Decimal("0.0001")
MONEY = Money()

transaction_tags = Table(
    "transaction_tags",
    db.metadata,
    Column("transaction_id", ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


# Sure's accountable types (Accountable::TYPES, underscored as its API prints them) and its
# classification: the generated column's CASE puts Loan, CreditCard, OtherLiability on the
# liability side and everything else on the asset side.
ACCOUNT_TYPES = (
    "depository",
    "investment",
    "crypto",
    "property",
    "vehicle",
    "other_asset",
    "credit_card",
    "loan",
    "other_liability",
)
LIABILITY_TYPES = frozenset({"credit_card", "loan", "other_liability"})
# Sure's account state machine; the API lists only the visible ones unless asked.
ACCOUNT_STATUSES = ("active", "draft", "disabled", "pending_deletion")
VISIBLE_STATUSES = ("draft", "active")
# Account#balance_type: property, vehicle, loans and other assets/liabilities are illiquid
# (no cash); depository and credit cards are all cash; investment and crypto accounts hold no
# holdings here, so all of their balance is cash too.
NON_CASH_TYPES = frozenset({"property", "vehicle", "other_asset", "loan", "other_liability"})


def cash_part(account_type: str, balance: Decimal) -> Decimal:
    """The cash share of a balance, as Sure's balance calculators derive it."""
    return Decimal(0) if account_type in NON_CASH_TYPES else balance


class Account(Model):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    # Sure's columns (db/schema.rb, accounts); subtype lives on Sure's accountable.
    account_type: Mapped[str] = mapped_column(
        String(32), default="depository", server_default="depository"
    )
    subtype: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(
        String(32), default="active", server_default="active", index=True
    )
    cash_balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), server_default="0")
    institution_name: Mapped[str | None] = mapped_column(String(255))
    institution_domain: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def classification(self) -> str:
        return "liability" if self.account_type in LIABILITY_TYPES else "asset"


class Tag(Model):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("family_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7), default="#6471eb")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Transaction(Model):
    __tablename__ = "transactions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[date] = mapped_column(Date, index=True)
    # Signed: positive money in, negative money out.
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(
        secondary=transaction_tags, lazy="selectin", order_by=Tag.name
    )


class Valuation(Model):
    """The balance of an account as of a date (an anchor that sync builds on)."""

    __tablename__ = "valuations"
    __table_args__ = (UniqueConstraint("account_id", "date"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(lazy="joined")


class Sync(Model):
    """One run of the family sync: recomputes every account's balance."""

    __tablename__ = "syncs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    accounts_synced: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


# --- SecureCloud ---------------------------------------------------------------------------

CLOUD_PROVIDERS = ("aws", "azure", "gcp")


class CloudAccount(Model):
    """A public cloud account of the tenant (SecureCloud's example resource): what access
    keys' roles and account selections are about."""

    __tablename__ = "cloud_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- SureCloud -----------------------------------------------------------------------------

TASK_STATUSES = ("open", "done")


class Task(Model):
    """A task of the tenant (SureCloud's example resource: "retrieve a list of tasks")."""

    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- RedCloud --------------------------------------------------------------------------------

# A scan starts queued; the scanner (outside this demonstration) moves it on.
SCAN_STATUSES = ("queued", "running", "completed", "failed")


class Scan(Model):
    """A security scan of a target (RedCloud's example resource, ``GET /scans``)."""

    __tablename__ = "scans"
    # The tenant's scans newest first (the list and the dashboard): one index answers both
    # the filter and the order; its leading column serves lookups by tenant alone.
    __table_args__ = (Index("ix_scans_family_id_created_at", "family_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"))
    target: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who ran it; None when a service credential (an access key) did, or once the user is
    # purged (firstparty.purge forgets the user, the scan stays with the tenant).
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
