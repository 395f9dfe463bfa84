"""/api/v1/valuations (index/show: read; create/update: write; no destroy, as in Sure) and
POST /api/v1/sync (write): a family's balances recomputed from valuations and transactions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.support.resources import (
    BAD_IDS,
    RAW_GARBAGE,
    ROUTING_GARBAGE,
    assert_client_error,
    assert_malformed,
    assert_not_server_error,
    envelope_garbage,
    field_garbage,
)
from tests.support.sure import (
    BAD_REQUEST,
    NOT_FOUND,
    UNAUTHORIZED,
    assert_error,
    insufficient_scope,
)

FIELDS = ["account_id", "date", "amount"]


@pytest.fixture
def valuation(user, account, make_valuation) -> str:
    return make_valuation(user.family_id, account, amount="100.00", on=date(2026, 1, 1))


def valid(account: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "valuation": {"account_id": account, "date": "2026-03-01", "amount": "2500.75", **extra}
    }


def routes(valuation: str, account: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/api/v1/valuations", None),
        ("GET", f"/api/v1/valuations/{valuation}", None),
        ("POST", "/api/v1/valuations", valid(account)),
        ("PATCH", f"/api/v1/valuations/{valuation}", {"valuation": {"amount": "1"}}),
        ("PUT", f"/api/v1/valuations/{valuation}", {"valuation": {"amount": "1"}}),
        ("POST", "/api/v1/sync", None),
    ]


# --- authentication and scope ---------------------------------------------------------------


def test_no_credentials_is_401_everywhere(api, valuation, account) -> None:
    for method, path, body in routes(valuation, account):
        response = api.open(path, method=method, json=body)
        assert_error(response, 401, UNAUTHORIZED)
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="Tollgate", resource_metadata='
            '"https://auth.tollgate.test/.well-known/oauth-protected-resource"'
        )


@pytest.mark.parametrize("credential", ["ro", "read_bearer"])
def test_read_credentials_cannot_write_or_sync(
    request, api, valuation, account, credential
) -> None:
    headers = request.getfixturevalue(credential)
    for method, path, body in routes(valuation, account):
        response = api.open(path, method=method, json=body, headers=headers)
        if method == "GET":
            assert response.status_code == 200
            continue
        assert_error(response, 403, insufficient_scope("write"))
        assert (
            'error="insufficient_scope", scope="read_write"' in response.headers["WWW-Authenticate"]
        )
    shown = api.get(f"/api/v1/valuations/{valuation}", headers=headers).get_json()
    assert shown["amount"] == "100.0000"
    assert (
        api.get("/api/v1/valuations", headers=headers).get_json()["pagination"]["total_count"] == 1
    )


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_read_write_credentials_may_read(request, api, valuation, credential) -> None:
    headers = request.getfixturevalue(credential)
    assert api.get("/api/v1/valuations", headers=headers).status_code == 200
    assert api.get(f"/api/v1/valuations/{valuation}", headers=headers).status_code == 200


def test_valuations_cannot_be_destroyed(api, rw, valuation) -> None:
    response = api.delete(f"/api/v1/valuations/{valuation}", headers=rw)
    assert response.status_code == 405
    assert api.get(f"/api/v1/valuations/{valuation}", headers=rw).status_code == 200


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_another_familys_valuation_is_404(request, api, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    path = f"/api/v1/valuations/{stranger.valuation}"
    assert_error(api.get(path, headers=headers), 404, NOT_FOUND)
    assert_error(
        api.patch(path, headers=headers, json={"valuation": {"amount": "0"}}), 404, NOT_FOUND
    )
    assert_error(
        api.put(path, headers=headers, json={"valuation": {"date": "2020-01-01"}}), 404, NOT_FOUND
    )
    theirs = api.get(path, headers=stranger.headers).get_json()
    assert (theirs["amount"], theirs["date"]) == ("5000.0000", "2026-01-01")


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_list_shows_only_own_valuations(request, api, valuation, stranger, credential) -> None:
    body = api.get("/api/v1/valuations", headers=request.getfixturevalue(credential)).get_json()
    assert [v["id"] for v in body["valuations"]] == [valuation]
    assert body["pagination"]["total_count"] == 1


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_cannot_value_another_familys_account(request, api, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    assert_error(
        api.post("/api/v1/valuations", headers=headers, json=valid(stranger.account)),
        404,
        NOT_FOUND,
    )
    theirs = api.get("/api/v1/valuations", headers=stranger.headers).get_json()
    assert theirs["pagination"]["total_count"] == 1


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_or_unknown_ids_are_404(api, fuzz_headers, bad_id) -> None:
    path = f"/api/v1/valuations/{bad_id}"
    for method in ("GET", "PATCH", "PUT"):
        body = {"valuation": {"amount": "1"}} if method != "GET" else None
        assert_error(api.open(path, method=method, json=body, headers=fuzz_headers), 404, NOT_FOUND)


# --- CRUD -----------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_create(request, api, account, credential) -> None:
    headers = request.getfixturevalue(credential)
    response = api.post("/api/v1/valuations", headers=headers, json=valid(account))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "date", "amount", "currency", "account", "created_at", "updated_at"}
    assert body["date"] == "2026-03-01"
    assert body["amount"] == "2500.7500"
    assert body["currency"] == "USD"  # the account's
    assert body["account"] == {"id": account, "name": "Checking"}
    assert api.get(f"/api/v1/valuations/{body['id']}", headers=headers).get_json() == body


def test_one_valuation_per_account_and_date(api, rw, account, valuation) -> None:
    message = "A valuation for this account and date already exists"
    duplicate = api.post("/api/v1/valuations", headers=rw, json=valid(account, date="2026-01-01"))
    assert_error(
        duplicate, 422, {"error": "validation_failed", "message": message, "errors": [message]}
    )
    other = api.post("/api/v1/valuations", headers=rw, json=valid(account)).get_json()
    moved = api.patch(
        f"/api/v1/valuations/{other['id']}", headers=rw, json={"valuation": {"date": "2026-01-01"}}
    )
    assert moved.status_code == 422
    assert (
        api.get(f"/api/v1/valuations/{other['id']}", headers=rw).get_json()["date"] == "2026-03-01"
    )


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_update(api, rw, valuation, method) -> None:
    response = api.open(
        f"/api/v1/valuations/{valuation}",
        method=method,
        headers=rw,
        json={"valuation": {"amount": "0.1", "date": "2026-02-01"}},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["amount"], body["date"]) == ("0.1000", "2026-02-01")
    assert api.get(f"/api/v1/valuations/{valuation}", headers=rw).get_json() == body


def test_update_needs_something_to_change(api, rw, valuation) -> None:
    message = "nothing to update: send date and/or amount"
    assert_error(
        api.patch(f"/api/v1/valuations/{valuation}", headers=rw, json={"valuation": {}}),
        422,
        {"error": "validation_failed", "message": "Validation failed", "errors": [message]},
    )


def test_update_cannot_move_to_another_account(api, rw, valuation, stranger) -> None:
    response = api.patch(
        f"/api/v1/valuations/{valuation}",
        headers=rw,
        json={"valuation": {"account_id": stranger.account}},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == ["account_id: Unknown field."]


def test_pagination_newest_first(api, rw, user, account, make_valuation) -> None:
    for day in range(1, 28):
        make_valuation(user.family_id, account, amount=str(day), on=date(2026, 1, day))
    first = api.get("/api/v1/valuations", headers=rw).get_json()
    assert first["valuations"][0]["date"] == "2026-01-27"
    assert first["pagination"] == {"page": 1, "per_page": 25, "total_count": 27, "total_pages": 2}
    second = api.get("/api/v1/valuations?page=2", headers=rw).get_json()
    assert [v["date"] for v in second["valuations"]] == ["2026-01-02", "2026-01-01"]
    assert api.get("/api/v1/valuations?page=9", headers=rw).get_json()["valuations"] == []
    assert api.get("/api/v1/valuations?per_page=abc", headers=rw).status_code == 422


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_missing_top_level_key_is_400(api, rw, valuation, method) -> None:
    path = "/api/v1/valuations" if method == "POST" else f"/api/v1/valuations/{valuation}"
    for kwargs in (
        {"json": {}},
        {},
        {"json": {"valuation": "x"}},
        {"json": {"amount": "1"}},
        {"data": {"valuation[amount]": "1"}},
    ):
        assert_error(api.open(path, method=method, headers=rw, **kwargs), 400, BAD_REQUEST)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date", "2026-02-30", "date: Not a valid date."),
        ("date", "", "date: Not a valid date."),
        ("amount", "abc", "amount: Not a valid number."),
        ("amount", "NaN", "amount: Special numeric values (nan or infinity) are not permitted."),
        (
            "amount",
            "Infinity",
            "amount: Special numeric values (nan or infinity) are not permitted.",
        ),
        ("amount", 1e30, None),
        ("amount", "-1000000000000000", None),
        ("account_id", "x", "account_id: Not a valid UUID."),
        ("currency", "USD", "currency: Unknown field."),
        ("unknown_field", 1, "unknown_field: Unknown field."),
    ],
)
def test_invalid_fields_are_422(api, rw, account, field, value, message) -> None:
    response = api.post("/api/v1/valuations", headers=rw, json=valid(account, **{field: value}))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "validation_failed"
    if message is None:
        assert body["errors"] and all(e.startswith(f"{field}: ") for e in body["errors"])
    else:
        assert body["errors"] == [message]
    assert api.get("/api/v1/valuations", headers=rw).get_json()["valuations"] == []


# --- sync -----------------------------------------------------------------------------------


def balance(api, headers, account: str) -> str:  # type: ignore[no-untyped-def]
    """The balance as the API prints it: Sure's Money#format (currency precision)."""
    return api.get(f"/api/v1/accounts/{account}", headers=headers).get_json()["balance"]


def stored_balance(app, account: str) -> Decimal:  # type: ignore[no-untyped-def]
    """The exact stored balance (four decimals), which the formatted one rounds."""
    import uuid

    from app.extensions import db
    from app.resources.models import Account

    with app.app_context():
        found = db.session.get(Account, uuid.UUID(account))
        assert found is not None
        return found.balance


def post(api, headers, path: str, key: str, **fields) -> None:  # type: ignore[no-untyped-def]
    response = api.post(path, headers=headers, json={key: fields})
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_sync_builds_on_the_latest_valuation(request, api, account, credential) -> None:
    headers = request.getfixturevalue(credential)
    post(
        api,
        headers,
        "/api/v1/valuations",
        "valuation",
        account_id=account,
        date="2026-01-01",
        amount="100.00",
    )
    post(
        api,
        headers,
        "/api/v1/transactions",
        "transaction",
        account_id=account,
        date="2026-01-02",
        amount="10",
        name="refund",
    )
    post(
        api,
        headers,
        "/api/v1/transactions",
        "transaction",
        account_id=account,
        date="2025-12-31",
        amount="-2.5",
        name="before the valuation",
    )
    response = api.post("/api/v1/sync", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "id",
        "status",
        "family_id",
        "accounts_synced",
        "created_at",
        "completed_at",
    }
    assert body["status"] == "completed"
    assert body["accounts_synced"] == 1
    assert body["completed_at"] is not None
    assert balance(api, headers, account) == "$110.00"


def test_sync_uses_only_the_latest_valuation(
    api, rw, user, account, make_valuation, make_transaction
) -> None:
    make_valuation(user.family_id, account, amount="100", on=date(2026, 1, 1))
    make_valuation(user.family_id, account, amount="200", on=date(2026, 1, 10))
    make_transaction(user.family_id, account, amount="10", on=date(2026, 1, 2))
    make_transaction(user.family_id, account, amount="5", on=date(2026, 1, 11))
    # Dated on the valuation's day: already part of that balance (transactions *after* it).
    make_transaction(user.family_id, account, amount="1000", on=date(2026, 1, 10))
    assert api.post("/api/v1/sync", headers=rw).status_code == 200
    assert balance(api, rw, account) == "$205.00"


def test_sync_keeps_cash_balance_as_sure_derives_it(
    api, rw, user, make_account, make_valuation
) -> None:
    """Account#balance_type: a depository account is all cash, a property none."""
    checking = make_account(user.family_id, name="Checking", balance="1")
    house = make_account(user.family_id, name="House", balance="1", account_type="property")
    for account in (checking, house):
        make_valuation(user.family_id, account, amount="300000", on=date(2026, 1, 1))
    assert api.post("/api/v1/sync", headers=rw).status_code == 200
    bodies = {a: api.get(f"/api/v1/accounts/{a}", headers=rw).get_json() for a in (checking, house)}
    assert bodies[checking]["cash_balance"] == "$300,000.00"
    assert bodies[checking]["cash_balance_cents"] == 30000000
    assert bodies[house]["balance"] == "$300,000.00"
    assert (bodies[house]["cash_balance"], bodies[house]["cash_balance_cents"]) == ("$0.00", 0)


def test_sync_without_valuations_sums_transactions(app, api, rw, user, make_account) -> None:
    account = make_account(user.family_id, name="Wallet", balance="1000")
    empty = make_account(user.family_id, name="Unused", balance="42")
    for amount in ("0.1", "0.2", "-0.05", "1e-4"):
        post(
            api,
            rw,
            "/api/v1/transactions",
            "transaction",
            account_id=account,
            date="2026-01-05",
            amount=amount,
            name="x",
        )
    body = api.post("/api/v1/sync", headers=rw).get_json()
    assert body["accounts_synced"] == 2
    assert stored_balance(app, account) == Decimal("0.2501")  # exactly 0.1 + 0.2 - 0.05 + 0.0001
    assert balance(api, rw, account) == "$0.25"
    assert balance(api, rw, empty) == "$0.00"


def test_sync_decimal_sum_is_exact(app, api, rw, account) -> None:
    for amount in ["0.1"] * 10 + ["0.2", "-0.3"]:
        post(
            api,
            rw,
            "/api/v1/transactions",
            "transaction",
            account_id=account,
            date="2026-01-05",
            amount=amount,
            name="x",
        )
    api.post("/api/v1/sync", headers=rw)
    assert stored_balance(app, account) == Decimal("0.9000")
    assert balance(api, rw, account) == "$0.90"


def test_sync_keeps_full_precision(app, api, rw, account) -> None:
    """NUMERIC(19, 4) end to end: 15 integer digits and 4 decimals survive storage and the
    sync's sum (no detour through binary floats)."""
    post(
        api,
        rw,
        "/api/v1/valuations",
        "valuation",
        account_id=account,
        date="2026-01-01",
        amount="123456789012345.6789",
    )
    post(
        api,
        rw,
        "/api/v1/transactions",
        "transaction",
        account_id=account,
        date="2026-01-02",
        amount="0.0001",
        name="a tiny credit",
    )
    assert api.post("/api/v1/sync", headers=rw).status_code == 200
    assert stored_balance(app, account) == Decimal("123456789012345.6790")
    body = api.get(f"/api/v1/accounts/{account}", headers=rw).get_json()
    assert body["balance"] == "$123,456,789,012,345.68"
    assert body["balance_cents"] == 12345678901234568


def test_sync_touches_only_the_callers_family(api, rw, account, stranger) -> None:
    body = api.post("/api/v1/sync", headers=rw).get_json()
    assert body["accounts_synced"] == 1
    # The stranger's account still shows its stored balance (a sync of their family would
    # make it 5000 + 999).
    assert balance(api, stranger.headers, stranger.account) == "$5,000.00"
    theirs = api.post("/api/v1/sync", headers=stranger.headers).get_json()
    assert theirs["family_id"] != body["family_id"]
    assert balance(api, stranger.headers, stranger.account) == "$5,999.00"
    assert balance(api, rw, account) == "$0.00"


def test_sync_for_a_family_without_accounts(api, make_user, make_key) -> None:
    from tests.support.http import api_key as key_headers

    loner = make_user(email="loner@example.com")
    body = api.post("/api/v1/sync", headers=key_headers(make_key(loner))).get_json()
    assert body["accounts_synced"] == 0
    assert body["family_id"] == str(loner.family_id)


# --- no 5xx on malformed input --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_garbage_bodies_never_500(api, fuzz_headers, account, valuation, method) -> None:
    path = "/api/v1/valuations" if method == "POST" else f"/api/v1/valuations/{valuation}"
    for raw in RAW_GARBAGE:
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        assert_error(response, 400, BAD_REQUEST)
    for body in envelope_garbage("valuation"):
        assert_error(
            api.open(path, method=method, headers=fuzz_headers, json=body), 400, BAD_REQUEST
        )
    for body in field_garbage("valuation", FIELDS, valid(account)["valuation"]):
        response = api.open(path, method=method, headers=fuzz_headers, json=body)
        assert_not_server_error(response, f"{method} {str(body)[:120]}")
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        response = api.open(
            path,
            method=method,
            headers=fuzz_headers,
            data=b'{"valuation": {"amount": "1"}}',
            content_type=content_type,
        )
        assert_client_error(response, content_type)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_garbage_ids_with_garbage_bodies_never_500(api, fuzz_headers, method) -> None:
    for bad_id in BAD_IDS + ROUTING_GARBAGE:
        for raw in (b"", b"{", b"null", b'{"valuation": {"amount": "NaN"}}'):
            response = api.open(
                f"/api/v1/valuations/{bad_id}",
                method=method,
                headers=fuzz_headers,
                data=raw,
                content_type="application/json",
            )
            assert_client_error(response, f"{method} {bad_id}")


def test_sync_ignores_any_body(api, fuzz_headers, account) -> None:
    """Sync takes no parameters: whatever is sent, it is never a 5xx."""
    for raw in RAW_GARBAGE:
        response = api.post(
            "/api/v1/sync", headers=fuzz_headers, data=raw, content_type="application/json"
        )
        assert_not_server_error(response, repr(raw[:60]))
    for body in envelope_garbage("sync") + field_garbage("sync", ["family_id"], {}):
        assert_not_server_error(
            api.post("/api/v1/sync", headers=fuzz_headers, json=body), str(body)[:120]
        )
    response = api.post(
        "/api/v1/sync?family_id=00000000-0000-4000-8000-000000000000",
        headers=fuzz_headers,
        data=b"[" * 100_000,
        content_type="application/json",
    )
    assert_not_server_error(response, "deeply nested body")


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_deeply_nested_json_is_400_not_500(api, fuzz_headers, valuation, method) -> None:
    path = "/api/v1/valuations" if method == "POST" else f"/api/v1/valuations/{valuation}"
    for raw in (b"[" * 100_000, b'{"valuation": ' * 50_000):
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        assert_malformed(response)
