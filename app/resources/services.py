"""Family-scoped reads and writes. Every lookup carries the family id, so an id from another
family is indistinguishable from one that does not exist (404)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound, ValidationFailed
from app.extensions import db, execute_count
from app.resources.models import (
    ACCOUNT_STATUSES,
    ACCOUNT_TYPES,
    VISIBLE_STATUSES,
    Account,
    CloudAccount,
    Scan,
    Sync,
    Tag,
    Task,
    Transaction,
    Valuation,
    cash_part,
    transaction_tags,
)

# The family-owned records a lookup by id may return.
Record = TypeVar("Record", Account, Tag, Transaction, Valuation)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total_count: int

    @property
    def pagination(self) -> dict[str, int]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total_count": self.total_count,
            "total_pages": max(1, math.ceil(self.total_count / self.per_page)),
        }


def paginate(query: Select[Any], page: int, per_page: int) -> Page:
    """One round trip for the page and the total (a window count); a second, plain count
    only when the page is past the end."""
    per_page = min(per_page, 100)  # Sure clamps per_page to 100
    statement = (
        query.add_columns(func.count().over().label("total"))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return _page(statement, {}, query, page, per_page)


def _page(
    statement: Select[Any], params: dict[str, Any], query: Select[Any], page: int, per_page: int
) -> Page:
    """Run ``paginate``'s page statement (built there, or once for a hot list); ``query``
    counts the rows when the page is past the end."""
    rows = db.session.execute(statement, params).unique().all()
    if rows:
        return Page([row[0] for row in rows], page, per_page, rows[0].total)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return Page([], page, per_page, total or 0)


def _get(model: type[Record], family_id: uuid.UUID, object_id: uuid.UUID | str) -> Record:
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError as exc:
        raise NotFound() from exc
    found = db.session.scalar(select(model).where(model.id == key, model.family_id == family_id))
    if found is None:
        raise NotFound()
    return found


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, extra={"errors": [message]})


# --- accounts (read-only through the API; created by the CLI) -------------------------------


def create_account(
    *,
    family_id: uuid.UUID,
    name: str,
    currency: str,
    balance: Decimal,
    now: datetime,
    account_type: str = "depository",
    subtype: str | None = None,
    status: str = "active",
    institution_name: str | None = None,
    institution_domain: str | None = None,
) -> Account:
    if not name.strip() or len(name) > 255:
        raise _invalid("Name must be 1 to 255 characters")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise _invalid("Currency must be a 3-letter ISO code")
    if account_type not in ACCOUNT_TYPES:
        raise _invalid("Account type must be one of " + ", ".join(ACCOUNT_TYPES))
    if status not in ACCOUNT_STATUSES:
        raise _invalid("Status must be one of " + ", ".join(ACCOUNT_STATUSES))
    if subtype is not None and not 0 < len(subtype) <= 64:
        raise _invalid("Subtype must be 1 to 64 characters")
    for label, text in (("Institution name", institution_name), ("domain", institution_domain)):
        if text is not None and not 0 < len(text) <= 255:
            raise _invalid(f"{label} must be 1 to 255 characters")
    account = Account(
        family_id=family_id,
        name=name.strip(),
        currency=currency,
        balance=balance,
        account_type=account_type,
        subtype=subtype,
        status=status,
        cash_balance=cash_part(account_type, balance),
        institution_name=institution_name,
        institution_domain=institution_domain,
        created_at=now,
        updated_at=now,
    )
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        # The family foreign key is the account's only constraint a caller can break.
        db.session.rollback()
        raise _invalid("Family does not exist") from exc
    return account


def _accounts(family_id: uuid.UUID, include_disabled: bool) -> Select[Account]:
    """Sure's ``accounts_scope``: the family's visible accounts (draft, active) unless the
    caller asks for the disabled ones too."""
    query = select(Account).where(Account.family_id == family_id)
    return query if include_disabled else query.where(Account.status.in_(VISIBLE_STATUSES))


def list_accounts(
    family_id: uuid.UUID, page: int, per_page: int, *, include_disabled: bool = False
) -> Page:
    per_page = min(per_page, 100)  # Sure clamps per_page to 100
    return _page(
        _ACCOUNT_PAGES[include_disabled],
        {"family_id": family_id, "limit": per_page, "offset": (page - 1) * per_page},
        _accounts(family_id, include_disabled),
        page,
        per_page,
    )


def _account_page(include_disabled: bool) -> Select[Any]:
    """``paginate``'s statement for a family's accounts, built once: the family, limit and
    offset are bound per request (the list is the resource API's most-read route)."""
    return (
        _accounts(bindparam("family_id"), include_disabled)  # type: ignore[arg-type]
        .order_by(Account.name, Account.id)
        .add_columns(func.count().over().label("total"))
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


_ACCOUNT_PAGES = {flag: _account_page(flag) for flag in (False, True)}


def get_account(
    family_id: uuid.UUID, account_id: str, *, include_disabled: bool = False
) -> Account:
    try:
        key = uuid.UUID(account_id)
    except ValueError as exc:
        raise NotFound() from exc
    found = db.session.scalar(_accounts(family_id, include_disabled).where(Account.id == key))
    if found is None:
        raise NotFound()
    return found


# --- tags ----------------------------------------------------------------------------------


def list_tags(family_id: uuid.UUID, page: int, per_page: int) -> Page:
    query = select(Tag).where(Tag.family_id == family_id).order_by(Tag.name, Tag.id)
    return paginate(query, page, per_page)


def get_tag(family_id: uuid.UUID, tag_id: str) -> Tag:
    return _get(Tag, family_id, tag_id)


def save_tag(tag: Tag) -> Tag:
    db.session.add(tag)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise _invalid("Name has already been taken") from exc
    return tag


def create_tag(family_id: uuid.UUID, data: dict[str, Any], now: datetime) -> Tag:
    tag = Tag(family_id=family_id, created_at=now, updated_at=now, **data)
    return save_tag(tag)


def update_tag(family_id: uuid.UUID, tag_id: str, data: dict[str, Any], now: datetime) -> Tag:
    tag = get_tag(family_id, tag_id)
    for key, value in data.items():
        setattr(tag, key, value)
    tag.updated_at = now
    return save_tag(tag)


def delete_tag(family_id: uuid.UUID, tag_id: str) -> None:
    db.session.delete(get_tag(family_id, tag_id))
    db.session.commit()


# --- transactions --------------------------------------------------------------------------


def list_transactions(
    family_id: uuid.UUID,
    *,
    page: int,
    per_page: int,
    account_id: uuid.UUID | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> Page:
    if start_date and end_date and start_date > end_date:
        raise _invalid("start_date must not be after end_date")
    query = select(Transaction).where(Transaction.family_id == family_id)
    if account_id is not None:
        query = query.where(Transaction.account_id == account_id)
    if start_date is not None:
        query = query.where(Transaction.date >= start_date)
    if end_date is not None:
        query = query.where(Transaction.date <= end_date)
    return paginate(query.order_by(Transaction.date.desc(), Transaction.id), page, per_page)


def get_transaction(family_id: uuid.UUID, transaction_id: str) -> Transaction:
    return _get(Transaction, family_id, transaction_id)


def _tags(family_id: uuid.UUID, tag_ids: list[uuid.UUID]) -> list[Tag]:
    wanted = list(dict.fromkeys(tag_ids))
    tags = (
        db.session.scalars(select(Tag).where(Tag.family_id == family_id, Tag.id.in_(wanted))).all()
        if wanted
        else []
    )
    if len(tags) != len(wanted):
        raise NotFound()
    return list(tags)


def create_transaction(family_id: uuid.UUID, data: dict[str, Any], now: datetime) -> Transaction:
    account = _get(Account, family_id, data["account_id"])
    transaction = Transaction(
        family_id=family_id,
        account=account,
        date=data["date"],
        amount=data["amount"],
        currency=data.get("currency") or account.currency,
        name=data["name"],
        notes=data.get("notes"),
        created_at=now,
        updated_at=now,
        tags=_tags(family_id, data.get("tag_ids", [])),
    )
    db.session.add(transaction)
    db.session.commit()
    return transaction


def update_transaction(
    family_id: uuid.UUID, transaction_id: str, data: dict[str, Any], now: datetime
) -> Transaction:
    transaction = get_transaction(family_id, transaction_id)
    if "account_id" in data:
        transaction.account = _get(Account, family_id, data.pop("account_id"))
    if "tag_ids" in data:
        transaction.tags = _tags(family_id, data.pop("tag_ids"))
    for key, value in data.items():
        setattr(transaction, key, value)
    transaction.updated_at = now
    db.session.commit()
    return transaction


def delete_transaction(family_id: uuid.UUID, transaction_id: str) -> None:
    db.session.delete(get_transaction(family_id, transaction_id))
    db.session.commit()


# --- valuations ----------------------------------------------------------------------------


def list_valuations(family_id: uuid.UUID, page: int, per_page: int) -> Page:
    query = (
        select(Valuation)
        .where(Valuation.family_id == family_id)
        .order_by(Valuation.date.desc(), Valuation.id)
    )
    return paginate(query, page, per_page)


def get_valuation(family_id: uuid.UUID, valuation_id: str) -> Valuation:
    return _get(Valuation, family_id, valuation_id)


def _save_valuation(valuation: Valuation) -> Valuation:
    db.session.add(valuation)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise _invalid("A valuation for this account and date already exists") from exc
    return valuation


def create_valuation(family_id: uuid.UUID, data: dict[str, Any], now: datetime) -> Valuation:
    account = _get(Account, family_id, data["account_id"])
    return _save_valuation(
        Valuation(
            family_id=family_id,
            account=account,
            date=data["date"],
            amount=data["amount"],
            currency=account.currency,
            created_at=now,
            updated_at=now,
        )
    )


def update_valuation(
    family_id: uuid.UUID, valuation_id: str, data: dict[str, Any], now: datetime
) -> Valuation:
    valuation = get_valuation(family_id, valuation_id)
    for key, value in data.items():
        setattr(valuation, key, value)
    valuation.updated_at = now
    return _save_valuation(valuation)


# --- sync ----------------------------------------------------------------------------------


def sync_family(family_id: uuid.UUID, now: datetime) -> Sync:
    """Recompute every account's balance: its latest valuation plus the transactions dated
    after it (or, without a valuation, the sum of all its transactions)."""
    accounts = db.session.scalars(select(Account).where(Account.family_id == family_id)).all()
    for account in accounts:
        anchor = db.session.execute(
            select(Valuation.date, Valuation.amount)
            .where(Valuation.account_id == account.id)
            .order_by(Valuation.date.desc())
            .limit(1)
        ).first()
        since = select(Transaction.amount).where(Transaction.account_id == account.id)
        if anchor is not None:
            since = since.where(Transaction.date > anchor.date)
        # Summed here, exactly: SQLite's SUM would go through floating point.
        moved = sum(db.session.scalars(since).all(), Decimal(0))
        account.balance = (anchor.amount if anchor else Decimal(0)) + moved
        account.cash_balance = cash_part(account.account_type, account.balance)
        account.updated_at = now
    sync = Sync(
        family_id=family_id,
        status="completed",
        accounts_synced=len(accounts),
        created_at=now,
        completed_at=now,
    )
    db.session.add(sync)
    db.session.commit()
    return sync


# --- a family's data as a whole (reset, purge) ---------------------------------------------

# The family-owned tables delete_family_data empties (the purge's foreign-key check uses it).
FAMILY_DATA_COLUMNS = (
    Transaction.family_id,
    Valuation.family_id,
    Tag.family_id,
    Sync.family_id,
    Account.family_id,
    CloudAccount.family_id,
    Task.family_id,
    Scan.family_id,
)
# Columns of family data that name a user: the purge forgets the user there (sets None) and
# the row stays with the family.
USER_MENTION_COLUMNS = (Scan.created_by_user_id,)


def count_family_data(family_id: uuid.UUID) -> dict[str, int]:
    """What is left of a family's data, per kind (Sure leaves syncs out of these counts)."""
    family_transactions = select(Transaction.id).where(Transaction.family_id == family_id)
    counted = {
        "accounts": select(func.count()).select_from(Account).where(Account.family_id == family_id),
        "transactions": select(func.count())
        .select_from(Transaction)
        .where(Transaction.family_id == family_id),
        "tags": select(func.count()).select_from(Tag).where(Tag.family_id == family_id),
        "taggings": select(func.count())
        .select_from(transaction_tags)
        .where(transaction_tags.c.transaction_id.in_(family_transactions)),
        "valuations": select(func.count())
        .select_from(Valuation)
        .where(Valuation.family_id == family_id),
    }
    return {kind: db.session.scalar(query) or 0 for kind, query in counted.items()}


def delete_family_data(family_id: uuid.UUID) -> dict[str, int]:
    """Delete a family's financial data inside the caller's transaction (no commit); rows
    deleted per kind. Used by the reset and by the purge of a family's last member."""
    ids = select(Transaction.id).where(Transaction.family_id == family_id)
    return {
        "taggings": execute_count(
            delete(transaction_tags).where(transaction_tags.c.transaction_id.in_(ids))
        ),
        "transactions": execute_count(
            delete(Transaction).where(Transaction.family_id == family_id)
        ),
        "valuations": execute_count(delete(Valuation).where(Valuation.family_id == family_id)),
        "tags": execute_count(delete(Tag).where(Tag.family_id == family_id)),
        "syncs": execute_count(delete(Sync).where(Sync.family_id == family_id)),
        "accounts": execute_count(delete(Account).where(Account.family_id == family_id)),
        "cloud_accounts": execute_count(
            delete(CloudAccount).where(CloudAccount.family_id == family_id)
        ),
        "tasks": execute_count(delete(Task).where(Task.family_id == family_id)),
        "scans": execute_count(delete(Scan).where(Scan.family_id == family_id)),
    }


# --- cloud accounts (SecureCloud) ------------------------------------------------------------
# ``account_ids``: the caller's account selection (an access key's Cloud Account Viewer role),
# None for every account of the family. None is evaluated at each call, so "All accounts"
# covers accounts added after the key was made.


def create_cloud_account(
    family_id: uuid.UUID, *, name: str, provider: str, now: datetime
) -> CloudAccount:
    account = CloudAccount(
        family_id=family_id, name=name.strip(), provider=provider, created_at=now
    )
    if not account.name:
        raise _invalid("Name can't be blank")
    db.session.add(account)
    db.session.commit()
    return account


def _selected(query: Select[Any], account_ids: Collection[uuid.UUID] | None) -> Select[Any]:
    return query if account_ids is None else query.where(CloudAccount.id.in_(list(account_ids)))


def list_cloud_accounts(
    family_id: uuid.UUID,
    *,
    account_ids: Collection[uuid.UUID] | None,
    page: int,
    per_page: int,
) -> Page:
    query = select(CloudAccount).where(CloudAccount.family_id == family_id)
    query = _selected(query, account_ids).order_by(CloudAccount.name, CloudAccount.id)
    return paginate(query, page, per_page)


def get_cloud_account(
    family_id: uuid.UUID, account_id: str, *, account_ids: Collection[uuid.UUID] | None
) -> CloudAccount:
    """One account of the family; an account outside the caller's selection is a 404 too
    (its existence is not disclosed)."""
    try:
        key = uuid.UUID(account_id)
    except ValueError as exc:
        raise NotFound() from exc
    if account_ids is not None and key not in set(account_ids):
        raise NotFound()
    found = db.session.scalar(
        select(CloudAccount).where(CloudAccount.id == key, CloudAccount.family_id == family_id)
    )
    if found is None:
        raise NotFound()
    return found


def family_cloud_accounts(family_id: uuid.UUID) -> list[CloudAccount]:
    """Every account of the family, by name (to choose from)."""
    return list(
        db.session.scalars(
            select(CloudAccount)
            .where(CloudAccount.family_id == family_id)
            .order_by(CloudAccount.name, CloudAccount.id)
        )
    )


def existing_cloud_account_ids(family_id: uuid.UUID, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` that name an account of this family (another family's are absent)."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    return set(
        db.session.scalars(
            select(CloudAccount.id).where(
                CloudAccount.family_id == family_id, CloudAccount.id.in_(wanted)
            )
        )
    )


# --- tasks (SureCloud) -----------------------------------------------------------------------


def list_tasks(family_id: uuid.UUID, page: int = 1, per_page: int = 25) -> Page:
    """The family's tasks, newest first."""
    query = (
        select(Task).where(Task.family_id == family_id).order_by(Task.created_at.desc(), Task.id)
    )
    return paginate(query, page, per_page)


def create_task(family_id: uuid.UUID, *, title: str, now: datetime, status: str = "open") -> Task:
    task = Task(family_id=family_id, title=title.strip(), status=status, created_at=now)
    if not task.title:
        raise _invalid("Title can't be blank")
    db.session.add(task)
    db.session.commit()
    return task
