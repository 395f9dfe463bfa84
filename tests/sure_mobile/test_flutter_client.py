"""Sure's Flutter client against Tollgate (issue 11 §4): its requests replayed exactly as its
Dart code builds them (``flutter_app``) and every answer parsed the way its models parse it
(``dart_models``: AuthTokens.fromJson, User.fromJson, Account.fromJson). A field the Dart code
requires that is missing or of the wrong type fails the test where the app would throw.

Journeys: the backend check (GET /sessions/new), signup, login, login with a second factor,
refresh, enable AI, the dashboard's accounts in token and API-key mode, reset and delete,
and (when app/sso is present) the mobile SSO start and exchange.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from app.clock import utcnow
from tests.support.factories import enable_mfa
from tests.support.totp import totp_now
from tests.support.web import csrf_from
from tests.sure_mobile.dart_models import (
    Account,
    AuthTokens,
    DartTypeError,
    FormatException,
    User,
    parse_accounts,
)
from tests.sure_mobile.flutter_app import FlutterApp, device_info

STRONG_PASSWORD = "Str0ng&Secure!"
# A reverse proxy's header the app lets its user add (custom_proxy_headers_editor.dart);
# it rides along on every request and must not disturb any of them.
PROXY_HEADERS = {"CF-Access-Client-Id": "edge.example"}


@pytest.fixture
def phone(client) -> FlutterApp:  # type: ignore[no-untyped-def]
    return FlutterApp(client, custom_proxy_headers=dict(PROXY_HEADERS))


@pytest.fixture
def make_account(app: Flask):  # type: ignore[no-untyped-def]
    """Accounts the way the CLI creates them (app.resources.services.create_account)."""
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str, balance: str, **fields: Any) -> str:
        with app.app_context():
            account = services.create_account(
                family_id=family_id,
                name=name,
                currency=fields.pop("currency", "USD"),
                balance=Decimal(balance),
                now=utcnow(),
                **fields,
            )
            return str(account.id)

    return factory


def assert_fresh_session(tokens: AuthTokens, user: User, email: str) -> None:
    """What the app does next with a session: Bearer auth, isExpired false, and the user's
    layout and AI flag for the dashboard."""
    assert tokens.token_type == "Bearer"
    assert not tokens.is_expired  # auth_tokens.dart:47-52: created_at is in seconds
    assert tokens.access_token != tokens.refresh_token
    uuid.UUID(user.id)  # toString() never throws: check it is a real id, not "null"
    assert user.email == email
    assert user.ui_layout in ("dashboard", "intro")


# --- the backend check: GET /sessions/new ---------------------------------------------------


def test_test_connection_finds_a_sure_backend(phone) -> None:
    """backend_config_screen.dart:93-103: the probe needs a 2xx/3xx; Tollgate serves its
    sign-in page there, a working form that posts to /login."""
    result = phone.test_connection()
    assert result["success"], result["status"]
    response = result["response"]
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<form method="post" action="/login">' in html
    assert csrf_from(html)


def test_sessions_new_is_the_sign_in_page_and_honours_next(client, user) -> None:
    page = client.get("/sessions/new", query_string={"next": "/account/security"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="next" value="/account/security"' in html
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": user.password,
            "next": "/account/security",
            "csrf_token": csrf_from(html),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/security"
    # Signed in, it sends the browser on (a 3xx the app's probe accepts too), never off-site.
    again = client.get("/sessions/new", query_string={"next": "//evil.example"})
    assert (again.status_code, again.headers["Location"]) == (302, "/")


def test_signed_out_pages_still_send_browsers_to_login(client) -> None:
    """/sessions/new is an extra door: url_for("web.login") still builds /login."""
    response = client.get("/account/security")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sessions_new_refuses_an_off_site_next(client) -> None:
    html = client.get("/sessions/new", query_string={"next": "https://evil.example/"}).get_data(
        as_text=True
    )
    assert "evil.example" not in html


# --- signup, login, refresh, enable AI ------------------------------------------------------


@pytest.mark.parametrize("platform", ["ios", "android", "web"])
def test_signup_then_dashboard(phone, platform) -> None:
    """auth_service.dart:184-273: a 201 with tokens and user; login_screen's next stop is
    the dashboard (accounts)."""
    result = phone.signup(
        "newcomer@example.com", STRONG_PASSWORD, "New", "Comer", device_info(platform)
    )
    assert result["success"], result
    tokens, user = result["tokens"], result["user"]
    assert_fresh_session(tokens, user, "newcomer@example.com")
    assert (user.first_name, user.last_name, user.ai_enabled) == ("New", "Comer", False)
    assert phone.stored() == (tokens, user)  # what the next start of the app reads back
    accounts = phone.get_accounts(tokens.access_token)
    assert accounts["success"], accounts
    assert accounts["accounts"] == []


def test_signup_refusal_reaches_the_user(phone) -> None:
    result = phone.signup("weak@example.com", "short", "A", "B", device_info())
    assert result == {"success": False, "error": result["error"]}
    assert "Password" in result["error"]


def test_login_refresh_and_enable_ai(phone, user) -> None:
    device = device_info("android")
    result = phone.login(user.email, user.password, device)
    assert result["success"], result
    tokens, me = result["tokens"], result["user"]
    assert_fresh_session(tokens, me, user.email)
    assert me.id == str(user.id)
    assert me.ai_enabled is False

    # auth_provider.dart:567-590: the stored refresh token and the same device.
    refreshed = phone.refresh_token(tokens.refresh_token, device)
    assert refreshed["success"], refreshed
    new = refreshed["tokens"]
    assert new.access_token != tokens.access_token
    assert new.refresh_token != tokens.refresh_token
    assert not new.is_expired
    # The app keeps the rotated pair (auth_provider.dart:577) and refreshes with it next time.
    assert phone.stored_tokens == new.to_json()
    again = phone.refresh_token(new.refresh_token, device)
    assert again["success"], again
    assert phone.refresh_token("tgr_not-a-token", device) == {
        "success": False,
        "error": "Invalid refresh token",
    }

    latest = again["tokens"]
    assert phone.stored_tokens == latest.to_json()
    # One live token per device: the app uses the latest; the one before it is dead.
    assert phone.get_accounts(new.access_token) == {"success": False, "error": "unauthorized"}

    enabled = phone.enable_ai(latest.access_token)
    assert enabled["success"], enabled
    assert enabled["user"].ai_enabled is True
    assert enabled["user"].id == me.id


def test_wrong_password_reaches_the_user(phone, user) -> None:
    assert phone.login(user.email, "wrong password", device_info()) == {
        "success": False,
        "error": "Invalid email or password",
    }


def test_login_with_a_second_factor(app, phone, user) -> None:
    """login_screen asks for the code after the first answer's mfa_required (auth_service.dart
    :132-138), then sends the same login with otp_code."""
    mfa = enable_mfa(app, user)
    device = device_info()
    first = phone.login(user.email, user.password, device)
    assert first == {
        "success": False,
        "mfa_required": True,
        "error": "Two-factor authentication required",
    }
    second = phone.login(user.email, user.password, device, otp_code=totp_now(mfa.secret))
    assert second["success"], second
    assert_fresh_session(second["tokens"], second["user"], user.email)
    sent = phone.sent[-1]
    assert b'"otp_code":"' in sent["body"]


# --- the dashboard: accounts ----------------------------------------------------------------


def test_dashboard_parses_every_account(phone, user, make_account) -> None:
    """accounts_service.dart:25-27 parses every account with Account.fromJson; the dashboard
    splits assets from liabilities (account.dart:67-68) and sums balanceAsDouble (:70-78)."""
    make_account(user.family_id, "Checking", "1234.5", institution_name="Example Bank")
    make_account(
        user.family_id, "Visa", "-250.75", account_type="credit_card", subtype="credit_card"
    )
    make_account(user.family_id, "House", "300000", account_type="property")
    make_account(user.family_id, "Livret", "99.99", currency="EUR", subtype="savings")
    tokens = phone.login(user.email, user.password, device_info())["tokens"]

    result = phone.get_accounts(tokens.access_token)
    assert result["success"], result
    accounts: list[Account] = result["accounts"]
    assert [a.name for a in accounts] == ["Checking", "House", "Livret", "Visa"]
    by_name = {a.name: a for a in accounts}
    assert result["pagination"] == {"page": 1, "per_page": 25, "total_count": 4, "total_pages": 1}

    checking = by_name["Checking"]
    assert checking.account_type == "depository"
    assert checking.is_asset and not checking.is_liability
    assert (checking.balance, checking.balance_cents) == ("$1,234.50", 123450)
    assert checking.balance_as_double == 1234.5
    assert (checking.cash_balance, checking.cash_balance_cents) == ("$1,234.50", 123450)
    assert checking.institution_name == "Example Bank"
    assert checking.status == "active"
    assert checking.created_at is not None and checking.updated_at is not None

    visa = by_name["Visa"]
    assert visa.is_liability and visa.account_type == "credit_card"
    assert (visa.balance, visa.balance_as_double) == ("-$250.75", -250.75)

    house = by_name["House"]
    assert (house.classification, house.cash_balance_cents) == ("asset", 0)

    livret = by_name["Livret"]
    assert (livret.currency, livret.balance, livret.subtype) == ("EUR", "€99.99", "savings")
    assert livret.balance_as_double == 99.99


def test_account_detail_screen(phone, user, make_account, make_user) -> None:
    """account_detail_service.dart:26-46: one account, parsed by Account.fromJson."""
    account_id = make_account(
        user.family_id, "Mortgage", "-150000", account_type="loan", subtype="mortgage"
    )
    tokens = phone.login(user.email, user.password, device_info())["tokens"]
    detail = phone.get_account_detail(tokens.access_token, account_id)
    assert detail["success"], detail
    mortgage = detail["account"]
    assert (mortgage.id, mortgage.account_type, mortgage.subtype) == (
        account_id,
        "loan",
        "mortgage",
    )
    assert mortgage.is_liability and mortgage.balance == "-$150,000.00"
    assert mortgage.balance_cents == -15000000 and mortgage.cash_balance_cents == 0
    # Another family's account is not found, as any unknown id.
    other = make_user(email="other@example.com")
    theirs = make_account(other.family_id, "Theirs", "1")
    assert phone.get_account_detail(tokens.access_token, theirs) == {
        "success": False,
        "status": 404,
    }


def test_dashboard_pages_through_accounts(phone, user, make_account) -> None:
    for n in range(3):
        make_account(user.family_id, f"Account {n}", str(n))
    tokens = phone.login(user.email, user.password, device_info())["tokens"]
    second = phone.get_accounts(tokens.access_token, page=2, per_page=2)
    assert [a.name for a in second["accounts"]] == ["Account 2"]
    assert second["pagination"]["total_pages"] == 2
    assert phone.sent[-1]["url"] == "/api/v1/accounts?page=2&per_page=2"


def test_api_key_mode(phone, user, make_key, make_account) -> None:
    """auth_service.dart:348-401: a key is accepted when GET /api/v1/accounts is 200; from
    then on every request carries X-Api-Key (api_config.dart:72-79)."""
    make_account(user.family_id, "Checking", "10")
    key = make_key(user, scope="read")
    assert phone.login_with_api_key("tgk_not-a-real-key") == {
        "success": False,
        "error": "Invalid API key",
    }
    assert phone.login_with_api_key(key) == {"success": True}
    result = phone.get_accounts("ignored-in-api-key-mode")
    assert result["success"], result
    assert [a.balance for a in result["accounts"]] == ["$10.00"]
    assert phone.sent[-1]["headers"]["X-Api-Key"] == key
    assert "Authorization" not in phone.sent[-1]["headers"]


def test_a_dead_session_sends_the_app_to_login(phone, user) -> None:
    assert phone.get_accounts("not-a-token") == {"success": False, "error": "unauthorized"}


def test_the_openapi_document_describes_sures_account(client) -> None:
    """What the app requires is what the document promises (and schemathesis checks)."""
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["AccountOut"]
    assert {"name", "balance", "currency", "account_type"} <= set(schema["required"])
    props = schema["properties"]
    assert props["balance"]["type"] == props["cash_balance"]["type"] == "string"
    assert props["balance_cents"]["type"] == "integer"
    assert props["classification"]["enum"] == ["asset", "liability"]
    assert props["subtype"]["type"] == ["string", "null"]
    assert "depository" in props["account_type"]["enum"]


# --- settings: reset and delete -------------------------------------------------------------


def test_reset_then_delete_account(phone, make_user, make_account) -> None:
    """settings_screen.dart:335 and :408: UserService with the session's Bearer token (a
    reset is a family admin's, as in Sure)."""
    admin = make_user(email="owner@example.com", role="admin")
    make_account(admin.family_id, "Checking", "10")
    tokens = phone.login(admin.email, admin.password, device_info())["tokens"]
    assert phone.reset_account(tokens.access_token) == {"success": True}
    assert phone.delete_account(tokens.access_token) == {"success": True}
    phone.logout()
    assert phone.login(admin.email, admin.password, device_info())["success"] is False


def test_a_member_cannot_reset_and_hears_why(phone, user) -> None:
    tokens = phone.login(user.email, user.password, device_info())["tokens"]
    result = phone.reset_account(tokens.access_token)
    assert result["success"] is False and result["error"]


# --- the requests really are the app's ------------------------------------------------------


def test_requests_carry_what_package_http_sends(phone, user) -> None:
    tokens = phone.login(user.email, user.password, device_info())["tokens"]
    phone.enable_ai(tokens.access_token)
    phone.test_connection()
    login, patch, probe = phone.sent
    assert login["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert login["headers"]["User-Agent"].startswith("Dart/")
    assert login["headers"]["CF-Access-Client-Id"] == "edge.example"
    assert login["body"].startswith(b'{"email":"alice@example.com","password":')
    assert b'"device":{"device_id":"sure_mobile_' in login["body"]
    assert (patch["method"], patch["body"]) == ("PATCH", b"")
    assert patch["headers"]["Content-Type"] == "application/json"
    assert patch["headers"]["Authorization"] == f"Bearer {tokens.access_token}"
    assert probe["headers"]["Accept"] == "text/html"


# --- the ports are as strict as the Dart code ----------------------------------------------


SURE_ACCOUNT = {
    "id": "9b2f7c1e-0000-4000-8000-000000000001",
    "name": "Checking",
    "balance": "$1.00",
    "currency": "USD",
    "account_type": "depository",
}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"account_type": None}, "Missing account type"),  # account.dart:54-57
        ({"name": None}, "Missing account name"),
        ({"balance": None}, "Missing account balance"),
        ({"currency": None}, "Missing account currency"),
    ],
)
def test_account_from_json_throws_where_dart_throws(change, error) -> None:
    """The answer Tollgate gave before issue 11 (no account_type) fails the dashboard."""
    body = {key: value for key, value in {**SURE_ACCOUNT, **change}.items() if value is not None}
    with pytest.raises(FormatException, match=error):
        Account.from_json(body)
    with pytest.raises(FormatException):
        parse_accounts({"accounts": [SURE_ACCOUNT, body]})


def test_account_from_json_is_lenient_where_dart_is() -> None:
    account = Account.from_json({**SURE_ACCOUNT, "balance_cents": "x", "created_at": "never"})
    assert (account.balance_cents, account.created_at, account.classification) == (None, None, None)
    with pytest.raises(DartTypeError):  # `responseData['accounts'] as List`
        parse_accounts({"accounts": None})


TOKENS = {
    "access_token": "a",
    "refresh_token": "r",
    "token_type": "Bearer",
    "expires_in": 2592000,
    "created_at": 1764770000,
}


@pytest.mark.parametrize(
    ("change", "raised"),
    [
        ({"access_token": None}, DartTypeError),  # auth_tokens.dart:18 `as String`
        ({"refresh_token": 5}, DartTypeError),
        ({"token_type": None}, DartTypeError),
        ({"expires_in": None}, FormatException),  # :27-35 _parseToInt
        ({"expires_in": 2592000.0}, FormatException),  # a JSON double is not an int
        ({"created_at": "soon"}, FormatException),  # int.parse
        ({"created_at": True}, FormatException),
    ],
)
def test_auth_tokens_from_json_throws_where_dart_throws(change, raised) -> None:
    with pytest.raises(raised):
        AuthTokens.from_json({**TOKENS, **change})
    assert AuthTokens.from_json({**TOKENS, "created_at": "1764770000"}).created_at == 1764770000


def test_user_from_json_throws_where_dart_throws() -> None:
    user = {"id": "u", "email": "a@example.com", "first_name": None, "last_name": "L"}
    with pytest.raises(DartTypeError):  # user.dart:23 `as String`
        User.from_json({**user, "email": None})
    with pytest.raises(DartTypeError):  # :24 `as String?`
        User.from_json({**user, "first_name": 1})
    parsed = User.from_json({**user, "ai_enabled": "yes", "uiLayout": "intro"})
    assert (parsed.ai_enabled, parsed.ui_layout) == (True, "intro")
    assert User.from_json({**user, "id": None}).id == "null"  # toString(), as in Dart


# --- mobile SSO (app/sso) -------------------------------------------------------------------


def _sso_ready(app: Flask) -> bool:
    return any(rule.rule == "/auth/mobile/<provider>" for rule in app.url_map.iter_rules())


def test_sso_start_and_exchange(app, phone, make_user) -> None:
    """auth_provider.dart:332 opens buildSsoUrl in the browser; the callback comes back to
    sureapp://oauth/callback?code=...; handleSsoCallback exchanges it (auth_service.dart
    :419-511) and parses AuthTokens and User."""
    if not _sso_ready(app):
        pytest.skip("app/sso's mobile routes are not on this tree")
    from tests.sso.sure_sso import add_provider, link, mobile_callback, upstream

    add_provider(app)
    person = make_user(email="sso.person@example.com")
    identity = upstream(email=person.email)
    link(app, person, identity)
    device = device_info("ios")

    url = phone.build_sso_url("idp", device)
    assert urlsplit(url).query.count("+") >= 2  # spaces as Dart's Uri encodes them
    start = phone.client.get(url, headers={"Accept": "text/html"})
    assert start.status_code == 200, start.get_data(as_text=True)[:300]
    with phone.client.session_transaction() as session:
        assert session["sso_device"] == device  # the five fields, decoded intact

    # The upstream provider's answer, decided by the same service the callback calls.
    callback = mobile_callback(app, identity, device=device)
    assert urlsplit(callback).scheme == "sureapp"
    assert set(parse_qs(urlsplit(callback).query)) == {"code"}

    result = phone.handle_sso_callback(callback)
    assert result["success"], result
    assert_fresh_session(result["tokens"], result["user"], person.email)
    assert result["tokens"].expires_in > 0 and result["tokens"].created_at > 0  # not defaults
    assert phone.get_accounts(result["tokens"].access_token)["success"]
    # The code is single use: a replayed callback reaches the user as Sure's message.
    again = phone.handle_sso_callback(callback)
    assert again == {"success": False, "error": "Authorization code is invalid or expired"}


def test_sso_unlinked_account_goes_to_onboarding(app, phone) -> None:
    if not _sso_ready(app):
        pytest.skip("app/sso's mobile routes are not on this tree")
    from tests.sso.sure_sso import add_provider, mobile_callback, upstream

    add_provider(app)
    callback = mobile_callback(app, upstream(email="stranger@example.com"), device=device_info())
    result = phone.handle_sso_callback(callback)
    assert result["success"] is False and result["account_not_linked"] is True
    assert result["linking_code"] and result["email"] == "stranger@example.com"
    assert result["allow_account_creation"] is True

    # sso_onboarding_screen: "Create account" (auth_provider.dart:494).
    created = phone.sso_create_account(result["linking_code"], first_name="Strange")
    assert created["success"], created
    assert_fresh_session(created["tokens"], created["user"], "stranger@example.com")
    assert created["user"].first_name == "Strange"
    assert phone.get_accounts(created["tokens"].access_token)["success"]


def test_sso_link_to_an_existing_account(app, phone, make_user) -> None:
    """sso_onboarding_screen: "Link existing account" (auth_provider.dart:440)."""
    if not _sso_ready(app):
        pytest.skip("app/sso's mobile routes are not on this tree")
    from tests.sso.sure_sso import add_provider, mobile_callback, upstream

    add_provider(app)
    bob = make_user(email="bob@example.com")
    identity = upstream(subject="bob-at-idp", email="bob.elsewhere@example.com")
    pending = phone.handle_sso_callback(mobile_callback(app, identity, device=device_info()))
    assert pending["account_not_linked"] is True
    wrong = phone.sso_link(pending["linking_code"], bob.email, "wrong password")
    assert wrong == {"success": False, "error": "Invalid email or password"}
    linked = phone.sso_link(pending["linking_code"], bob.email, bob.password)
    assert linked["success"], linked
    assert_fresh_session(linked["tokens"], linked["user"], bob.email)
    # Linked now: the next SSO sign-in goes straight through the exchange.
    again = phone.handle_sso_callback(mobile_callback(app, identity, device=device_info()))
    assert again["success"], again
    assert again["user"].id == str(bob.id)


# --- accounts as an operator creates them ---------------------------------------------------


def test_cli_creates_accounts_of_sures_types(app, phone, user) -> None:
    """``flask accounts create --type credit_card``: the dashboard shows a liability."""
    import json

    runner = app.test_cli_runner()
    created = runner.invoke(
        args=[
            "accounts",
            "create",
            "--family-id",
            str(user.family_id),
            "--name",
            "Visa",
            "--balance",
            "-42.5",
            "--type",
            "credit_card",
            "--institution-name",
            "Example Bank",
        ]
    )
    assert created.exit_code == 0, created.output
    printed = json.loads(created.output)
    assert (printed["account_type"], printed["classification"]) == ("credit_card", "liability")
    tokens = phone.login(user.email, user.password, device_info())["tokens"]
    (visa,) = phone.get_accounts(tokens.access_token)["accounts"]
    assert visa.is_liability and visa.balance == "-$42.50"
    assert visa.institution_name == "Example Bank"

    refused = runner.invoke(
        args=[
            "accounts",
            "create",
            "--family-id",
            str(user.family_id),
            "--name",
            "X",
            "--type",
            "boat",
        ]
    )
    assert refused.exit_code != 0
    assert "Account type must be one of" in refused.output
