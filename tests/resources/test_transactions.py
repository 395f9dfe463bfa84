"""/api/v1/transactions: index/show need ``read``; create/update/destroy need ``write``
(Sure contract §8). Family-scoped: another family's transaction, account or tag is a 404."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.http import api_key as key_headers
from tests.support.resources import (
    BAD_IDS,
    MISSING_UUID,
    RAW_GARBAGE,
    ROUTING_GARBAGE,
    UNSTORABLE_TEXT,
    assert_client_error,
    assert_malformed,
    assert_not_server_error,
    assert_refused,
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

FIELDS = ["account_id", "date", "amount", "name", "currency", "notes", "tag_ids"]


@pytest.fixture
def txn(user, account, make_transaction) -> str:
    return make_transaction(user.family_id, account, amount="-12.5", name="Coffee")


def valid(account: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "transaction": {
            "account_id": account,
            "date": "2026-01-15",
            "amount": "-42.10",
            "name": "Groceries",
            **extra,
        }
    }


def routes(txn: str, account: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/api/v1/transactions", None),
        ("GET", f"/api/v1/transactions/{txn}", None),
        ("POST", "/api/v1/transactions", valid(account)),
        ("PATCH", f"/api/v1/transactions/{txn}", {"transaction": {"name": "Renamed"}}),
        ("PUT", f"/api/v1/transactions/{txn}", {"transaction": {"name": "Renamed"}}),
        ("DELETE", f"/api/v1/transactions/{txn}", None),
    ]


WRITES = ["POST", "PATCH", "PUT", "DELETE"]


# --- authentication and scope ---------------------------------------------------------------


def test_no_credentials_is_401_everywhere(api, txn, account) -> None:
    for method, path, body in routes(txn, account):
        response = api.open(path, method=method, json=body)
        assert_error(response, 401, UNAUTHORIZED)
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="Tollgate", resource_metadata='
            '"https://auth.tollgate.test/.well-known/oauth-protected-resource"'
        )


def test_invalid_api_key_is_401(api, txn, account) -> None:
    for method, path, body in routes(txn, account):
        response = api.open(path, method=method, json=body, headers=key_headers("tgk_" + "A" * 43))
        assert_error(response, 401, UNAUTHORIZED)


@pytest.mark.parametrize("credential", ["ro", "read_bearer"])
def test_read_credentials_cannot_write(request, api, txn, account, credential) -> None:
    headers = request.getfixturevalue(credential)
    for method, path, body in routes(txn, account):
        response = api.open(path, method=method, json=body, headers=headers)
        if method == "GET":
            assert response.status_code == 200
            continue
        assert_error(response, 403, insufficient_scope("write"))
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="Tollgate", error="insufficient_scope", scope="read_write", '
            'resource_metadata="https://auth.tollgate.test/.well-known/oauth-protected-resource"'
        )
    # Nothing was written.
    body = api.get(f"/api/v1/transactions/{txn}", headers=headers).get_json()
    assert body["name"] == "Coffee"
    assert (
        api.get("/api/v1/transactions", headers=headers).get_json()["pagination"]["total_count"]
        == 1
    )


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_read_write_credentials_may_read(request, api, txn, credential) -> None:
    headers = request.getfixturevalue(credential)
    assert api.get("/api/v1/transactions", headers=headers).status_code == 200
    assert api.get(f"/api/v1/transactions/{txn}", headers=headers).status_code == 200


def test_guest_with_read_write_key_is_forbidden_to_write(
    api, user, make_user, make_key, account, txn
) -> None:
    guest = make_user(email="guest@example.com", role="guest", family_id=user.family_id)
    headers = key_headers(make_key(guest))
    assert api.get(f"/api/v1/transactions/{txn}", headers=headers).status_code == 200
    for method, path, body in routes(txn, account):
        if method in WRITES:
            assert_error(
                api.open(path, method=method, json=body, headers=headers),
                403,
                {"error": "forbidden", "message": "You are not authorized to perform this action"},
            )


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_another_familys_transaction_is_404(request, api, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    path = f"/api/v1/transactions/{stranger.transaction}"
    assert_error(api.get(path, headers=headers), 404, NOT_FOUND)
    assert_error(
        api.patch(path, headers=headers, json={"transaction": {"name": "pwned"}}), 404, NOT_FOUND
    )
    assert_error(
        api.put(path, headers=headers, json={"transaction": {"amount": "0"}}), 404, NOT_FOUND
    )
    assert_error(api.delete(path, headers=headers), 404, NOT_FOUND)
    theirs = api.get(path, headers=stranger.headers)
    assert theirs.status_code == 200
    assert theirs.get_json()["name"] == "Mallory's salary"
    assert theirs.get_json()["amount"] == "999.0000"


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_list_shows_only_own_transactions(request, api, txn, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    body = api.get("/api/v1/transactions", headers=headers).get_json()
    assert [t["id"] for t in body["transactions"]] == [txn]
    assert body["pagination"]["total_count"] == 1
    # Filtering by the other family's account does not reveal anything either.
    body = api.get(
        f"/api/v1/transactions?account_id={stranger.account}", headers=headers
    ).get_json()
    assert body["transactions"] == []
    assert body["pagination"]["total_count"] == 0


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_cannot_create_on_another_familys_account(
    request, api, account, stranger, credential
) -> None:
    headers = request.getfixturevalue(credential)
    response = api.post("/api/v1/transactions", headers=headers, json=valid(stranger.account))
    assert_error(response, 404, NOT_FOUND)
    theirs = api.get("/api/v1/transactions", headers=stranger.headers).get_json()
    assert theirs["pagination"]["total_count"] == 1
    assert (
        api.get("/api/v1/transactions", headers=headers).get_json()["pagination"]["total_count"]
        == 0
    )


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_cannot_tag_with_another_familys_tag(
    request, api, user, account, make_tag, stranger, credential
) -> None:
    headers = request.getfixturevalue(credential)
    mine = make_tag(user.family_id, name="mine")
    response = api.post(
        "/api/v1/transactions", headers=headers, json=valid(account, tag_ids=[mine, stranger.tag])
    )
    assert_error(response, 404, NOT_FOUND)
    assert (
        api.get("/api/v1/transactions", headers=headers).get_json()["pagination"]["total_count"]
        == 0
    )


def test_cannot_move_or_retag_into_another_family(api, rw, txn, stranger) -> None:
    path = f"/api/v1/transactions/{txn}"
    assert_error(
        api.patch(path, headers=rw, json={"transaction": {"account_id": stranger.account}}),
        404,
        NOT_FOUND,
    )
    assert_error(
        api.patch(path, headers=rw, json={"transaction": {"tag_ids": [stranger.tag], "name": "x"}}),
        404,
        NOT_FOUND,
    )
    body = api.get(path, headers=rw).get_json()
    assert body["name"] == "Coffee"
    assert body["tags"] == []
    assert body["account"]["name"] == "Checking"


def test_tags_of_another_family_never_leak_through_transactions(api, rw, stranger) -> None:
    """The stranger's transaction carries the stranger's tag; nothing of it is visible."""
    body = api.get("/api/v1/transactions", headers=rw).get_data(as_text=True)
    assert stranger.tag not in body and "secret" not in body


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_or_unknown_ids_are_404(api, fuzz_headers, bad_id) -> None:
    path = f"/api/v1/transactions/{bad_id}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        body = {"transaction": {"name": "x"}} if method in ("PATCH", "PUT") else None
        response = api.open(path, method=method, json=body, headers=fuzz_headers)
        assert_error(response, 404, NOT_FOUND)


# --- CRUD -----------------------------------------------------------------------------------


def test_create_returns_201_and_the_transaction(api, rw, user, account, make_tag) -> None:
    tag = make_tag(user.family_id, name="food", color="#00ff00")
    response = api.post(
        "/api/v1/transactions",
        headers=rw,
        json=valid(account, notes="weekly shop", tag_ids=[tag, tag]),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "id",
        "date",
        "amount",
        "currency",
        "name",
        "notes",
        "account",
        "tags",
        "created_at",
        "updated_at",
    }
    assert body["date"] == "2026-01-15"
    assert body["amount"] == "-42.1000"
    assert body["currency"] == "USD"  # the account's currency by default
    assert body["name"] == "Groceries"
    assert body["notes"] == "weekly shop"
    assert body["account"] == {"id": account, "name": "Checking"}
    assert [t["id"] for t in body["tags"]] == [tag]  # duplicates collapse
    assert body["tags"][0]["name"] == "food"
    shown = api.get(f"/api/v1/transactions/{body['id']}", headers=rw).get_json()
    assert shown == body


def test_create_with_bearer(api, bearer, account) -> None:
    response = api.post("/api/v1/transactions", headers=bearer, json=valid(account, currency="EUR"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["currency"] == "EUR"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_update_changes_only_what_is_sent(
    api, rw, user, txn, make_account, make_tag, method
) -> None:
    savings = make_account(user.family_id, name="Savings")
    tag = make_tag(user.family_id, name="treat")
    response = api.open(
        f"/api/v1/transactions/{txn}",
        method=method,
        headers=rw,
        json={
            "transaction": {
                "amount": "-3.99",
                "account_id": savings,
                "tag_ids": [tag],
                "notes": None,
                "date": "2026-02-01",
            }
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["amount"] == "-3.9900"
    assert body["account"] == {"id": savings, "name": "Savings"}
    assert [t["id"] for t in body["tags"]] == [tag]
    assert body["date"] == "2026-02-01"
    assert body["notes"] is None
    assert body["name"] == "Coffee"  # untouched
    assert api.get(f"/api/v1/transactions/{txn}", headers=rw).get_json() == body
    # tag_ids [] clears the tags.
    cleared = api.patch(
        f"/api/v1/transactions/{txn}", headers=rw, json={"transaction": {"tag_ids": []}}
    ).get_json()
    assert cleared["tags"] == []


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_destroy(request, api, txn, credential) -> None:
    headers = request.getfixturevalue(credential)
    response = api.delete(f"/api/v1/transactions/{txn}", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Transaction deleted successfully"}
    assert_error(api.get(f"/api/v1/transactions/{txn}", headers=headers), 404, NOT_FOUND)
    assert_error(api.delete(f"/api/v1/transactions/{txn}", headers=headers), 404, NOT_FOUND)
    assert api.get("/api/v1/transactions", headers=headers).get_json()["transactions"] == []


# --- filters and pagination -----------------------------------------------------------------


def test_filters_by_account_and_dates(
    api, rw, user, account, make_account, make_transaction
) -> None:
    savings = make_account(user.family_id, name="Savings")
    a = make_transaction(user.family_id, account, on=date(2026, 1, 1), name="a")
    b = make_transaction(user.family_id, account, on=date(2026, 1, 10), name="b")
    c = make_transaction(user.family_id, savings, on=date(2026, 1, 20), name="c")

    def ids(query: str) -> list[str]:
        return [
            t["id"]
            for t in api.get(f"/api/v1/transactions?{query}", headers=rw).get_json()["transactions"]
        ]

    assert ids("") == [c, b, a]  # newest first
    assert ids(f"account_id={account}") == [b, a]
    assert ids("start_date=2026-01-10") == [c, b]
    assert ids("end_date=2026-01-10") == [b, a]
    assert ids("start_date=2026-01-05&end_date=2026-01-15") == [b]
    assert ids(f"account_id={MISSING_UUID}") == []


@pytest.mark.parametrize(
    "query",
    [
        "start_date=2026-13-01",
        "end_date=2026-02-30",
        "start_date=yesterday",
        "end_date=2026-1-1x",
        "account_id=not-a-uuid",
    ],
)
def test_invalid_filter_is_422(api, rw, query) -> None:
    response = api.get(f"/api/v1/transactions?{query}", headers=rw)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["errors"] == [
        f"{query.split('=')[0]}: "
        + ("Not a valid UUID." if query.startswith("account_id") else "Not a valid date.")
    ]


def test_start_after_end_is_422(api, rw) -> None:
    response = api.get("/api/v1/transactions?start_date=2026-02-01&end_date=2026-01-01", headers=rw)
    assert_error(
        response,
        422,
        {
            "error": "validation_failed",
            "message": "start_date must not be after end_date",
            "errors": ["start_date must not be after end_date"],
        },
    )


def test_pagination(api, rw, user, account, make_transaction) -> None:
    for day in range(1, 31):
        make_transaction(user.family_id, account, on=date(2026, 1, day), name=f"t{day}")
    first = api.get("/api/v1/transactions", headers=rw).get_json()
    assert len(first["transactions"]) == 25
    assert first["pagination"] == {"page": 1, "per_page": 25, "total_count": 30, "total_pages": 2}
    second = api.get("/api/v1/transactions?page=2", headers=rw).get_json()
    assert [t["name"] for t in second["transactions"]] == [f"t{d}" for d in range(5, 0, -1)]
    beyond = api.get("/api/v1/transactions?page=3", headers=rw).get_json()
    assert beyond["transactions"] == []
    clamped = api.get("/api/v1/transactions?per_page=1000", headers=rw).get_json()
    assert len(clamped["transactions"]) == 30
    assert clamped["pagination"]["per_page"] == 100


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_missing_top_level_key_is_400(api, rw, txn, method) -> None:
    path = "/api/v1/transactions" if method == "POST" else f"/api/v1/transactions/{txn}"
    for kwargs in (
        {"json": {}},
        {},
        {"json": {"transaction": "x"}},
        {"json": {"name": "Groceries"}},
        {"data": {"transaction[name]": "x"}},
        {"data": b'{"transaction": {"name": "x"}}', "content_type": "text/plain"},
    ):
        response = api.open(path, method=method, headers=rw, **kwargs)
        assert_error(response, 400, BAD_REQUEST)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date", "2026-02-30", "date: Not a valid date."),
        ("date", "15/01/2026", "date: Not a valid date."),
        ("date", None, "date: Field may not be null."),
        ("amount", "abc", "amount: Not a valid number."),
        ("amount", "NaN", "amount: Special numeric values (nan or infinity) are not permitted."),
        (
            "amount",
            "Infinity",
            "amount: Special numeric values (nan or infinity) are not permitted.",
        ),
        (
            "amount",
            "-Infinity",
            "amount: Special numeric values (nan or infinity) are not permitted.",
        ),
        ("amount", 1e30, None),
        ("amount", "1e30", None),
        ("amount", "1000000000000000", None),
        ("amount", True, "amount: Not a valid number."),
        ("name", "", "name: Length must be between 1 and 255."),
        ("name", "x" * 256, "name: Length must be between 1 and 255."),
        ("currency", "usd", "currency: must be a 3-letter ISO currency code"),
        ("currency", "US", "currency: must be a 3-letter ISO currency code"),
        ("account_id", "not-a-uuid", "account_id: Not a valid UUID."),
        ("tag_ids", "abc", "tag_ids: Not a valid list."),
        ("tag_ids", ["nope"], "tag_ids.0: Not a valid UUID."),
        ("unknown_field", 1, "unknown_field: Unknown field."),
    ],
)
def test_invalid_fields_are_422(api, rw, account, field, value, message) -> None:
    response = api.post("/api/v1/transactions", headers=rw, json=valid(account, **{field: value}))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["message"] == "Validation failed"
    assert isinstance(body["errors"], list) and body["errors"]
    if message is None:
        assert all(e.startswith(f"{field}: ") for e in body["errors"]), body["errors"]
    else:
        assert body["errors"] == [message]
    assert api.get("/api/v1/transactions", headers=rw).get_json()["transactions"] == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e30", b"1e999"])
def test_non_finite_json_number_literals_are_422(api, rw, account, literal) -> None:
    """Python's JSON parser accepts NaN/Infinity literals; they must not become amounts."""
    raw = (
        b'{"transaction": {"account_id": "%s", "date": "2026-01-15", "name": "x", '
        b'"amount": %s}}' % (account.encode(), literal)
    )
    response = api.post(
        "/api/v1/transactions", headers=rw, data=raw, content_type="application/json"
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0].startswith("amount: ")


def test_missing_required_fields_are_listed(api, rw) -> None:
    response = api.post("/api/v1/transactions", headers=rw, json={"transaction": {}})
    assert response.status_code == 422
    assert sorted(response.get_json()["errors"]) == [
        "account_id: Missing data for required field.",
        "amount: Missing data for required field.",
        "date: Missing data for required field.",
        "name: Missing data for required field.",
    ]


@pytest.mark.parametrize("field", ["name", "date", "amount", "account_id", "currency"])
def test_update_cannot_null_a_required_field(api, rw, txn, field) -> None:
    response = api.patch(
        f"/api/v1/transactions/{txn}", headers=rw, json={"transaction": {field: None}}
    )
    assert_error(
        response,
        422,
        {
            "error": "validation_failed",
            "message": "Validation failed",
            "errors": [f"{field}: Field may not be null."],
        },
    )


# --- amounts are exact decimals -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("0.1", "0.1000"),
        ("0.2", "0.2000"),
        ("0.3", "0.3000"),
        (0.1, "0.1000"),
        (0.30000000000000004, "0.3000"),
        ("-2.5", "-2.5000"),
        ("1234567.89", "1234567.8900"),
        ("1.23456", "1.2346"),
        (42, "42.0000"),
        ("999999999999999", "999999999999999.0000"),
        ("-999999999999999", "-999999999999999.0000"),
    ],
)
def test_amounts_are_decimal_strings(api, rw, account, sent, returned) -> None:
    created = api.post("/api/v1/transactions", headers=rw, json=valid(account, amount=sent))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["amount"] == returned
    shown = api.get(f"/api/v1/transactions/{created.get_json()['id']}", headers=rw)
    assert shown.get_json()["amount"] == returned


@pytest.mark.parametrize(
    "amount", ["123456789012345.6789", "-98765432109876.5432", "999999999999998.9999"]
)
def test_full_precision_amount_round_trips(api, rw, account, amount) -> None:
    """NUMERIC(19, 4) is what the schema accepts (15 integer digits, 4 decimals); what is
    accepted must come back unchanged, not as the nearest binary float."""
    created = api.post("/api/v1/transactions", headers=rw, json=valid(account, amount=amount))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["amount"] == amount
    shown = api.get(f"/api/v1/transactions/{created.get_json()['id']}", headers=rw)
    assert shown.get_json()["amount"] == amount


# --- no 5xx on malformed input --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_garbage_bodies_never_500(api, fuzz_headers, account, txn, method) -> None:
    path = "/api/v1/transactions" if method == "POST" else f"/api/v1/transactions/{txn}"
    for raw in RAW_GARBAGE:
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        if method == "DELETE":
            assert_not_server_error(response, repr(raw[:60]))
            continue
        assert_error(response, 400, BAD_REQUEST)
    if method == "DELETE":
        return
    for body in envelope_garbage("transaction"):
        assert_error(
            api.open(path, method=method, headers=fuzz_headers, json=body), 400, BAD_REQUEST
        )
    for body in field_garbage("transaction", FIELDS, valid(account)["transaction"]):
        response = api.open(path, method=method, headers=fuzz_headers, json=body)
        assert_not_server_error(response, f"{method} {str(body)[:120]}")
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ):
        response = api.open(
            path,
            method=method,
            headers=fuzz_headers,
            data=b'{"transaction": {"name": "x"}}',
            content_type=content_type,
        )
        assert_client_error(response, content_type)


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
def test_garbage_ids_with_garbage_bodies_never_500(api, fuzz_headers, method) -> None:
    for bad_id in BAD_IDS + ROUTING_GARBAGE:
        for raw in (b"", b"{", b"null", b'{"transaction": {"amount": "NaN"}}'):
            response = api.open(
                f"/api/v1/transactions/{bad_id}",
                method=method,
                headers=fuzz_headers,
                data=raw,
                content_type="application/json",
            )
            assert_client_error(response, f"{method} {bad_id}")


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_deeply_nested_json_is_400_not_500(api, fuzz_headers, txn, method) -> None:
    """The JSON parser's RecursionError must read as a malformed body, not a crash."""
    path = "/api/v1/transactions" if method == "POST" else f"/api/v1/transactions/{txn}"
    for raw in (b"[" * 100_000, b'{"transaction": ' * 50_000):
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        assert_malformed(response)


@pytest.mark.parametrize("field", ["name", "notes"])
@pytest.mark.parametrize("kind", list(UNSTORABLE_TEXT))
def test_unstorable_text_is_refused_not_500(api, rw, account, field, kind) -> None:
    """A NUL byte (PostgreSQL cannot store it) or a lone surrogate (not encodable as UTF-8)
    in a text field is invalid input: a 4xx (400 or 422), never a database error surfacing
    as a 500, and never stored (SQLite would keep a NUL that PostgreSQL refuses)."""
    raw = (
        b'{"transaction": {"account_id": "%s", "date": "2026-01-15", "amount": "1", '
        b'"name": "ok", "%s": "%s"}}' % (account.encode(), field.encode(), UNSTORABLE_TEXT[kind])
    )
    response = api.post(
        "/api/v1/transactions", headers=rw, data=raw, content_type="application/json"
    )
    assert_refused(response)
    assert api.get("/api/v1/transactions", headers=rw).get_json()["transactions"] == []
