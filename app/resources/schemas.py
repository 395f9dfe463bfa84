"""Marshmallow schemas: what the resource API accepts (load) and returns (dump). The OpenAPI
document is generated from these."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_dump,
    validate,
    validates_schema,
)

from app.resources.models import (
    ACCOUNT_STATUSES,
    ACCOUNT_TYPES,
    CLOUD_PROVIDERS,
    SCAN_STATUSES,
    Account,
)
from app.resources.money import format_money, minor_units

CLASSIFICATIONS = ("asset", "liability")

CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be a 3-letter ISO currency code")
AMOUNT_LIMIT = Decimal(10) ** 15  # NUMERIC(19, 4): up to 15 integer digits and 4 decimals


def _amount_in_range(value: Decimal) -> None:
    if abs(value) >= AMOUNT_LIMIT:
        raise ValidationError("must be less than 10^15 in absolute value")


def _money(**kwargs) -> fields.Decimal:  # type: ignore[no-untyped-def]
    """Exact decimals: sent as a JSON number or string, returned as a string ("12.5000")."""
    return fields.Decimal(
        places=4,
        as_string=True,
        allow_nan=False,
        validate=_amount_in_range,
        metadata={"type": ["string", "number"], "format": "decimal", "example": "12.50"},
        **kwargs,
    )


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class Pagination(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_count = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class PageQuery(Schema):
    class Meta:
        unknown = RAISE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100_000))


class TransactionQuery(PageQuery):
    account_id = fields.UUID()
    start_date = fields.Date()
    end_date = fields.Date()


class AccountRef(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)


class AccountVisibility(Schema):
    class Meta:
        unknown = RAISE

    # Sure shows only visible (draft, active) accounts unless include_disabled is true.
    include_disabled = fields.Boolean(load_default=False)


class AccountQuery(PageQuery):
    include_disabled = fields.Boolean(load_default=False)


def _formatted(**kwargs) -> fields.String:  # type: ignore[no-untyped-def]
    return fields.String(
        metadata={"description": 'Money#format, e.g. "$1,234.50"', "example": "$1,234.50"},
        **kwargs,
    )


class AccountOut(Schema):
    """Sure's account (app/views/api/v1/accounts/_account.json.jbuilder): money as Sure
    formats it plus the amount in minor units; classification from the type."""

    id = fields.UUID(required=True)
    name = fields.String(required=True)
    balance = _formatted(required=True)
    balance_cents = fields.Integer(required=True)
    cash_balance = _formatted(required=True)
    cash_balance_cents = fields.Integer(required=True)
    currency = fields.String(required=True)
    classification = fields.String(required=True, validate=validate.OneOf(CLASSIFICATIONS))
    account_type = fields.String(required=True, validate=validate.OneOf(ACCOUNT_TYPES))
    subtype = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    institution_name = fields.String(required=True, allow_none=True)
    institution_domain = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)

    @pre_dump
    def _sure_shape(self, account: Account, **kwargs: object) -> dict[str, object]:
        return _account_fields(account)


def account_json(account: Account) -> dict[str, object]:
    """``AccountOut().dump(account)``, written out: a list serialises every account of its
    page on each request, and marshmallow's per-field machinery was most of that cost.
    tests/resources/test_account_json.py holds the two equal."""
    shaped = _account_fields(account)
    shaped["id"] = str(account.id)
    shaped["created_at"] = account.created_at.isoformat()
    shaped["updated_at"] = account.updated_at.isoformat()
    return shaped


def _account_fields(account: Account) -> dict[str, object]:
    """Sure's account fields, from the row (money formatted as Sure formats it)."""
    return {
        "id": account.id,
        "name": account.name,
        "balance": format_money(account.balance, account.currency),
        "balance_cents": minor_units(account.balance, account.currency),
        "cash_balance": format_money(account.cash_balance, account.currency),
        "cash_balance_cents": minor_units(account.cash_balance, account.currency),
        "currency": account.currency,
        "classification": account.classification,
        "account_type": account.account_type,
        "subtype": account.subtype,
        "status": account.status,
        "institution_name": account.institution_name,
        "institution_domain": account.institution_domain,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


class TagOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    color = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class TransactionOut(Schema):
    id = fields.UUID(required=True)
    date = fields.Date(required=True)
    amount = _money(required=True)
    currency = fields.String(required=True)
    name = fields.String(required=True)
    notes = fields.String(allow_none=True)
    account = fields.Nested(AccountRef, required=True)
    tags = fields.List(fields.Nested(TagOut), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ValuationOut(Schema):
    id = fields.UUID(required=True)
    date = fields.Date(required=True)
    amount = _money(required=True)
    currency = fields.String(required=True)
    account = fields.Nested(AccountRef, required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class SyncOut(Schema):
    id = fields.UUID(required=True)
    status = fields.String(required=True)
    family_id = fields.UUID(required=True)
    accounts_synced = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True)


class TransactionIn(StrictSchema):
    account_id = fields.UUID(required=True)
    date = fields.Date(required=True)
    amount = _money(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    currency = fields.String(validate=CURRENCY)
    notes = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    tag_ids = fields.List(fields.UUID(), validate=validate.Length(max=50))


class TransactionPatch(TransactionIn):
    """An update: every field optional, none may be null unless it is nullable."""

    account_id = fields.UUID()
    date = fields.Date()
    amount = _money()
    name = fields.String(validate=validate.Length(min=1, max=255))


class TagIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    color = fields.String(
        validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$", error="must be a hex color like #1a2b3c")
    )


class TagPatch(TagIn):
    name = fields.String(validate=validate.Length(min=1, max=100))


class ValuationIn(StrictSchema):
    account_id = fields.UUID(required=True)
    date = fields.Date(required=True)
    amount = _money(required=True)


class ValuationPatch(StrictSchema):
    date = fields.Date()
    amount = _money()

    @validates_schema
    def _something(self, data: dict, **kwargs: object) -> None:
        if not data:
            raise ValidationError("nothing to update: send date and/or amount")


def page_of(name: str, item: type[Schema]) -> type[Schema]:
    """A list response: ``{<name>: [...], "pagination": {...}}``."""
    return Schema.from_dict(
        {
            name: fields.List(fields.Nested(item), required=True),
            "pagination": fields.Nested(Pagination, required=True),
        },
        name=f"{item.__name__.removesuffix('Out')}Page",
    )


AccountPage = page_of("accounts", AccountOut)
TransactionPage = page_of("transactions", TransactionOut)
TagPage = page_of("tags", TagOut)
ValuationPage = page_of("valuations", ValuationOut)


# --- SecureCloud ---------------------------------------------------------------------------


class CloudAccountOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    provider = fields.String(required=True, validate=validate.OneOf(CLOUD_PROVIDERS))
    created_at = fields.DateTime(required=True)


class CloudAccountIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    provider = fields.String(required=True, validate=validate.OneOf(CLOUD_PROVIDERS))


CloudAccountPage = page_of("cloud_accounts", CloudAccountOut)


# --- RedCloud ------------------------------------------------------------------------------


class ScanOut(Schema):
    id = fields.UUID(required=True)
    target = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SCAN_STATUSES))
    created_at = fields.DateTime(required=True)
    created_by_user_id = fields.UUID(
        allow_none=True, metadata={"description": "None when a service credential ran it"}
    )


class ScanIn(StrictSchema):
    target = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"example": "https://app.example.com"},
    )


ScanPage = page_of("scans", ScanOut)


class ScanCounts(Schema):
    total = fields.Integer(required=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class DashboardOut(Schema):
    scans = fields.Nested(ScanCounts, required=True)
