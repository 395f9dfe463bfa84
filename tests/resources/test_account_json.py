"""The accounts routes serialise with ``account_json`` (marshmallow's per-field dump was most
of a list's cost); ``AccountOut``, which the OpenAPI document describes, must say the same."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.resources.models import Account
from app.resources.schemas import AccountOut, account_json


@pytest.mark.parametrize(
    ("currency", "balance", "extra"),
    [
        ("USD", "1234.5", {}),
        ("EUR", "-0.01", {"subtype": "checking", "institution_name": "Bank"}),
        ("JPY", "1000000", {"institution_domain": "bank.example", "status": "disabled"}),
        ("USD", "0", {"account_type": "credit_card"}),
    ],
)
def test_account_json_is_the_schema_dump(app, user, make_account, currency, balance, extra) -> None:
    account_id = make_account(user.family_id, currency=currency, balance=balance, **extra)
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.id == uuid.UUID(account_id)))
        assert account is not None
        assert account_json(account) == AccountOut().dump(account)


def test_the_list_and_the_show_route_answer_in_the_schema_shape(
    app, api, user, make_account, bearer
) -> None:
    account_id = make_account(user.family_id, balance="1234.50", subtype="savings")
    listed = api.get("/api/v1/accounts", headers=bearer).get_json()["accounts"]
    shown = api.get(f"/api/v1/accounts/{account_id}", headers=bearer).get_json()
    with app.app_context():
        account = db.session.get(Account, uuid.UUID(account_id))
        expected = AccountOut().dump(account)
    assert listed == [expected]
    assert shown == expected
    assert shown["balance"] == "$1,234.50"
