"""GET /api/v1/accounts and /api/v1/accounts/<id>: read scope, family-scoped, paginated.
Accounts are read-only through the API (created by the CLI), as in Sure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.clock import utcnow
from tests.support.http import api_key as key_headers
from tests.support.resources import MISSING_UUID
from tests.support.sure import NOT_FOUND, UNAUTHORIZED, assert_error, insufficient_scope

INDEXES = ["/api/v1/accounts", "/api/v1/transactions", "/api/v1/tags", "/api/v1/valuations"]


# --- authentication and scope (Sure contract §7.5) ------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/accounts/{id}"])
def test_no_credentials_is_401(api, account, path) -> None:
    response = api.get(path.format(id=account))
    assert_error(response, 401, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="Tollgate", resource_metadata='
        '"https://auth.tollgate.test/.well-known/oauth-protected-resource"'
    )


def test_invalid_api_key_is_401(api, account) -> None:
    response = api.get("/api/v1/accounts", headers=key_headers("tgk_not-a-real-key"))
    assert_error(response, 401, UNAUTHORIZED)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/accounts/{id}"])
@pytest.mark.parametrize("credential", ["ro", "rw", "bearer", "read_bearer"])
def test_read_and_read_write_credentials_may_read(request, api, account, path, credential) -> None:
    headers = request.getfixturevalue(credential)
    response = api.get(path.format(id=account), headers=headers)
    assert response.status_code == 200, response.get_json()
    if credential in ("ro", "rw"):  # API keys are rate limited and say so
        assert response.headers["X-RateLimit-Limit"] == "100"


@pytest.mark.parametrize("stored_scope", ["", "write"])
def test_key_without_read_scope_is_403_on_reads(
    app, api, user, make_key, account, stored_scope
) -> None:
    """A key whose scope was saved bypassing validation (Sure's ``[]`` / ``["write"]``)."""
    from sqlalchemy import update

    from app.apikeys.models import ApiKey
    from app.extensions import db

    key = make_key(user)
    with app.app_context():
        db.session.execute(
            update(ApiKey).where(ApiKey.user_id == user.id).values(scope=stored_scope)
        )
        db.session.commit()
    for path in ("/api/v1/accounts", f"/api/v1/accounts/{account}"):
        response = api.get(path, headers=key_headers(key))
        assert_error(response, 403, insufficient_scope("read"))
        assert 'error="insufficient_scope", scope="read"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_accounts_are_read_only_through_the_api(api, rw, account, method) -> None:
    path = "/api/v1/accounts" if method == "POST" else f"/api/v1/accounts/{account}"
    response = api.open(path, method=method, headers=rw, json={"account": {"name": "x"}})
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "ro", "bearer"])
def test_another_familys_account_is_404(request, api, account, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    assert_error(api.get(f"/api/v1/accounts/{stranger.account}", headers=headers), 404, NOT_FOUND)
    # ... and the stranger can read it with their own key: it does exist.
    assert (
        api.get(f"/api/v1/accounts/{stranger.account}", headers=stranger.headers).status_code == 200
    )


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_list_shows_only_the_familys_accounts(request, api, account, stranger, credential) -> None:
    body = api.get("/api/v1/accounts", headers=request.getfixturevalue(credential)).get_json()
    assert [a["id"] for a in body["accounts"]] == [account]
    assert body["pagination"]["total_count"] == 1
    theirs = api.get("/api/v1/accounts", headers=stranger.headers).get_json()
    assert [a["id"] for a in theirs["accounts"]] == [stranger.account]


def test_family_member_sees_the_shared_accounts(api, user, make_user, make_key, account) -> None:
    partner = make_user(email="bob@example.com", family_id=user.family_id)
    body = api.get("/api/v1/accounts", headers=key_headers(make_key(partner))).get_json()
    assert [a["id"] for a in body["accounts"]] == [account]


@pytest.mark.parametrize("bad_id", ["not-a-uuid", MISSING_UUID, "1", "a" * 300])
def test_unknown_or_malformed_id_is_404(api, rw, account, bad_id) -> None:
    assert_error(api.get(f"/api/v1/accounts/{bad_id}", headers=rw), 404, NOT_FOUND)


@pytest.mark.parametrize("bad_id", ["%00", "a%00b", "%ed%a0%80", "..%2f..%2fetc"])
def test_hostile_ids_are_client_errors(api, rw, account, bad_id) -> None:
    response = api.get(f"/api/v1/accounts/{bad_id}", headers=rw)
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]


# --- shape ----------------------------------------------------------------------------------


SURE_ACCOUNT_FIELDS = {
    "id",
    "name",
    "balance",
    "balance_cents",
    "cash_balance",
    "cash_balance_cents",
    "currency",
    "classification",
    "account_type",
    "subtype",
    "status",
    "institution_name",
    "institution_domain",
    "created_at",
    "updated_at",
}


def test_show_has_sures_shape(api, rw, user, make_account) -> None:
    """Sure's app/views/api/v1/accounts/_account.json.jbuilder, field for field."""
    account_id = make_account(
        user.family_id,
        name="Brokerage",
        currency="EUR",
        balance="1234.5",
        account_type="investment",
        subtype="brokerage",
        institution_name="Example Bank",
        institution_domain="bank.example",
    )
    body = api.get(f"/api/v1/accounts/{account_id}", headers=rw).get_json()
    assert set(body) == SURE_ACCOUNT_FIELDS
    assert body["id"] == account_id
    assert body["name"] == "Brokerage"
    assert body["currency"] == "EUR"
    # Money#format under :en ("," thousands, "." decimals for EUR) and minor units.
    assert body["balance"] == "€1,234.50"
    assert body["balance_cents"] == 123450
    assert body["cash_balance"] == "€1,234.50"  # no holdings: all cash
    assert body["cash_balance_cents"] == 123450
    assert body["account_type"] == "investment"
    assert body["classification"] == "asset"
    assert body["subtype"] == "brokerage"
    assert body["status"] == "active"
    assert body["institution_name"] == "Example Bank"
    assert body["institution_domain"] == "bank.example"


def test_optional_fields_are_null_not_missing(api, rw, user, make_account) -> None:
    account_id = make_account(user.family_id)
    body = api.get(f"/api/v1/accounts/{account_id}", headers=rw).get_json()
    assert set(body) == SURE_ACCOUNT_FIELDS
    assert body["account_type"] == "depository"
    assert (body["subtype"], body["institution_name"], body["institution_domain"]) == (
        None,
        None,
        None,
    )
    assert (body["balance"], body["balance_cents"]) == ("$0.00", 0)


@pytest.mark.parametrize(
    ("account_type", "classification", "cash"),
    [
        ("depository", "asset", "$-"),
        ("investment", "asset", "$-"),
        ("crypto", "asset", "$-"),
        ("property", "asset", "$0.00"),
        ("vehicle", "asset", "$0.00"),
        ("other_asset", "asset", "$0.00"),
        ("credit_card", "liability", "$-"),
        ("loan", "liability", "$0.00"),
        ("other_liability", "liability", "$0.00"),
    ],
)
def test_classification_and_cash_follow_the_type(
    api, rw, user, make_account, account_type, classification, cash
) -> None:
    """Sure's generated classification column and Account#balance_type (cash, non-cash)."""
    account_id = make_account(user.family_id, balance="250", account_type=account_type)
    body = api.get(f"/api/v1/accounts/{account_id}", headers=rw).get_json()
    assert body["classification"] == classification
    assert body["balance"] == "$250.00"
    assert body["cash_balance"] == ("$250.00" if cash == "$-" else cash)
    assert body["cash_balance_cents"] == (25000 if cash == "$-" else 0)


@pytest.mark.parametrize(
    ("currency", "balance", "formatted", "cents"),
    [
        ("USD", "-1234567.891", "-$1,234,567.89", -123456789),
        ("USD", "0.005", "$0.01", 1),  # half up, as BigDecimal
        ("USD", "-0.004", "$0.00", 0),  # rounds to zero: no minus sign
        ("CAD", "10", "CA$10.00", 1000),  # other dollars are prefixed
        ("JPY", "1234.5", "¥1,235", 1235),  # no decimals, minor unit 1
        ("CHF", "99.9", "CHF 99.90", 9990),  # "%u %n"
        ("SEK", "1000", "1 000,00 kr", 100000),  # "%n %u", space thousands
        ("KWD", "1.2345", "د.ك1.235", 1235),  # three decimals, minor unit 1000
        ("XYZ", "5", "5.00 XYZ", 500),  # unknown to Sure: its code after the number
    ],
)
def test_money_is_formatted_as_sure_formats_it(
    api, rw, user, make_account, currency, balance, formatted, cents
) -> None:
    account_id = make_account(user.family_id, currency=currency, balance=balance)
    body = api.get(f"/api/v1/accounts/{account_id}", headers=rw).get_json()
    assert (body["balance"], body["balance_cents"]) == (formatted, cents)


def test_disabled_and_deleted_accounts_are_hidden_unless_asked(api, rw, user, make_account) -> None:
    """Sure's ``accounts_scope``: visible (draft, active) unless include_disabled is true."""
    ids = {
        status: make_account(user.family_id, name=status, status=status)
        for status in ("active", "draft", "disabled", "pending_deletion")
    }
    body = api.get("/api/v1/accounts", headers=rw).get_json()
    assert sorted(a["status"] for a in body["accounts"]) == ["active", "draft"]
    assert body["pagination"]["total_count"] == 2
    every = api.get("/api/v1/accounts?include_disabled=true", headers=rw).get_json()
    assert len(every["accounts"]) == 4
    assert_error(api.get(f"/api/v1/accounts/{ids['disabled']}", headers=rw), 404, NOT_FOUND)
    shown = api.get(f"/api/v1/accounts/{ids['disabled']}?include_disabled=1", headers=rw)
    assert shown.get_json()["status"] == "disabled"


def test_bad_include_disabled_is_422(api, rw, account) -> None:
    for path in ("/api/v1/accounts", f"/api/v1/accounts/{account}"):
        response = api.get(f"{path}?include_disabled=perhaps", headers=rw)
        assert response.status_code == 422
        assert response.get_json()["errors"][0].startswith("include_disabled: ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account_type", "boat", "Account type must be one of "),
        ("status", "archived", "Status must be one of "),
        ("subtype", "x" * 65, "Subtype must be 1 to 64 characters"),
        ("institution_name", "", "Institution name must be 1 to 255 characters"),
        ("institution_domain", "d" * 256, "domain must be 1 to 255 characters"),
    ],
)
def test_create_account_refuses_what_sure_would(app, user, field, value, message) -> None:
    from sqlalchemy import func, select

    from app.errors import ValidationFailed
    from app.extensions import db
    from app.resources import services
    from app.resources.models import Account

    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            services.create_account(
                family_id=user.family_id,
                name="Checking",
                currency="USD",
                balance=Decimal(0),
                now=utcnow(),
                **{field: value},
            )
        assert caught.value.extra["errors"][0].startswith(message)
        assert db.session.scalar(select(func.count()).select_from(Account)) == 0


def test_index_orders_by_name(api, rw, user, make_account) -> None:
    for name in ("Savings", "Checking", "Brokerage"):
        make_account(user.family_id, name=name)
    body = api.get("/api/v1/accounts", headers=rw).get_json()
    assert [a["name"] for a in body["accounts"]] == ["Brokerage", "Checking", "Savings"]


# --- pagination (Sure: page default 1, per_page default 25, clamped to 100) ------------------


@pytest.fixture
def many_accounts(app, user) -> list[str]:
    from app.extensions import db
    from app.resources.models import Account

    now = utcnow()
    with app.app_context():
        rows = [
            Account(
                family_id=user.family_id,
                name=f"Account {i:03d}",
                currency="USD",
                balance=Decimal(i),
                created_at=now,
                updated_at=now,
            )
            for i in range(105)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [str(r.id) for r in sorted(rows, key=lambda r: r.name)]


def test_default_page_is_25(api, rw, many_accounts) -> None:
    body = api.get("/api/v1/accounts", headers=rw).get_json()
    assert body["pagination"] == {"page": 1, "per_page": 25, "total_count": 105, "total_pages": 5}
    assert [a["id"] for a in body["accounts"]] == many_accounts[:25]


def test_pages_walk_every_row_once(api, rw, many_accounts) -> None:
    seen: list[str] = []
    for page in range(1, 5):
        body = api.get(f"/api/v1/accounts?page={page}&per_page=30", headers=rw).get_json()
        assert body["pagination"] == {
            "page": page,
            "per_page": 30,
            "total_count": 105,
            "total_pages": 4,
        }
        seen += [a["id"] for a in body["accounts"]]
    assert seen == many_accounts
    assert len(body["accounts"]) == 15  # the last page holds the remainder


def test_per_page_is_clamped_to_100(api, rw, many_accounts) -> None:
    body = api.get("/api/v1/accounts?per_page=1000", headers=rw).get_json()
    assert len(body["accounts"]) == 100
    assert body["pagination"] == {"page": 1, "per_page": 100, "total_count": 105, "total_pages": 2}
    second = api.get("/api/v1/accounts?per_page=1000&page=2", headers=rw).get_json()
    assert [a["id"] for a in second["accounts"]] == many_accounts[100:]


def test_page_beyond_the_end_is_empty(api, rw, many_accounts) -> None:
    body = api.get("/api/v1/accounts?page=99", headers=rw).get_json()
    assert body["accounts"] == []
    assert body["pagination"] == {"page": 99, "per_page": 25, "total_count": 105, "total_pages": 5}


@pytest.mark.parametrize("path", INDEXES)
def test_empty_lists_paginate(api, user, rw, path) -> None:
    body = api.get(path, headers=rw).get_json()
    name = path.rsplit("/", 1)[1]
    assert body == {
        name: [],
        "pagination": {"page": 1, "per_page": 25, "total_count": 0, "total_pages": 1},
    }


@pytest.mark.parametrize("path", INDEXES)
@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "per_page=abc",
        "per_page=0",
        "per_page=-5",
        "per_page=1.5",
        "page=99999999999999999999",
    ],
)
def test_bad_pagination_is_422(api, rw, path, query) -> None:
    response = api.get(f"{path}?{query}", headers=rw)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["message"] == "Validation failed"
    field = query.split("=")[0]
    assert body["errors"] and all(e.startswith(f"{field}: ") for e in body["errors"])


@pytest.mark.parametrize("path", INDEXES)
def test_every_index_clamps_per_page(api, rw, path) -> None:
    body = api.get(f"{path}?per_page=1000&page=3", headers=rw).get_json()
    assert body["pagination"]["per_page"] == 100
    assert body["pagination"]["page"] == 3
