"""POST /api/v1/auth/signup: contract §3.1, §6.1, §6.2, §6.4 and §7.1 cases 1-9, every body
case both as JSON and as bracket-notation form data (§2.2)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.identity.models import Device, Family, InviteCode, User
from app.identity.policy import SPECIAL_CHARACTERS
from app.oauth2.models import OAuthClient, OAuthToken
from tests.support.http import FORMATS, assert_no_store, bearer, send
from tests.support.sure import (
    ACCOUNTS,
    DEVICE,
    DEVICE_REQUIRED,
    SIGNUP,
    STRONG_PASSWORD,
    THROTTLED,
    assert_token_block,
    assert_user_object,
    device,
    signup_body,
)

LENGTH = "Password must be at least 8 characters"
CASES = "Password must include both uppercase and lowercase letters"
NUMBER = "Password must include at least one number"
SPECIAL = "Password must include at least one special character"
BLANK = "Password can't be blank"


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


def totals(count) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        "users": count(User),
        "families": count(Family),
        "devices": count(Device),
        "tokens": count(OAuthToken),
        "apps": count(OAuthClient),
        "unused_invites": count(InviteCode, InviteCode.used_at.is_(None)),
    }


# --- §7.1 signup cases ---------------------------------------------------------------------


def test_1_signup_creates_user_device_and_token(app, client, count, fmt):
    # Sure's Sure Mobile app is seeded; here an earlier signup creates it.
    assert (
        send(
            client,
            SIGNUP,
            signup_body("first@example.com", device_info=device(device_id="other")),
            fmt,
        ).status_code
        == 201
    )
    before = totals(count)

    response = send(
        client, SIGNUP, signup_body("new@example.com", first_name="New", last_name="User"), fmt
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    after = totals(count)
    assert after["users"] == before["users"] + 1
    assert after["devices"] == before["devices"] + 1
    assert after["tokens"] == before["tokens"] + 1
    assert after["apps"] == before["apps"]  # no new OAuth application
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "created_at",
        "user",
    }
    assert_token_block(body)
    assert_no_store(response)
    assert_user_object(body["user"])
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["first_name"] == "New"
    assert body["user"]["last_name"] == "User"
    assert body["user"]["ui_layout"] == "dashboard"
    assert body["user"]["ai_enabled"] is False

    from app.extensions import db

    with app.app_context():
        saved = db.session.scalar(
            select(Device).where(Device.user_id == uuid.UUID(body["user"]["id"]))
        )
        assert saved is not None
        assert (
            saved.device_id,
            saved.device_name,
            saved.device_type,
            saved.os_version,
            saved.app_version,
        ) == tuple(DEVICE.values())
        token = db.session.scalar(select(OAuthToken).where(OAuthToken.device_id == saved.id))
        assert token is not None and token.client_id == "sure-mobile"
        assert token.scope == "read_write"

    # The plaintext token the server returned works at once.
    assert client.get(ACCOUNTS, headers=bearer(body["access_token"])).status_code == 200


def test_2_signup_without_device_is_400(client, count, fmt):
    response = send(client, SIGNUP, signup_body(device_info=None), fmt)

    assert response.status_code == 400
    assert response.get_json() == DEVICE_REQUIRED
    assert count(User) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"device_type": "windows"},
        {"device_id": ""},
        {"device_name": "   "},
        {"os_version": None},
        {"app_version": None},
    ],
)
def test_3_signup_with_invalid_device_is_400_and_writes_nothing(client, count, fmt, bad):
    response = send(client, SIGNUP, signup_body(device_info=device(**bad)), fmt)

    assert response.status_code == 400
    assert response.get_json() == DEVICE_REQUIRED
    assert totals(count) == {
        "users": 0,
        "families": 0,
        "devices": 0,
        "tokens": 0,
        "apps": 0,
        "unused_invites": 0,
    }


def test_4_weak_password_is_422_with_every_failing_rule(client, count, fmt):
    response = send(client, SIGNUP, signup_body(password="weak"), fmt)

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert LENGTH in errors
    assert errors == [LENGTH, CASES, NUMBER, SPECIAL]
    assert count(User) == 0


def test_5_existing_email_is_422_and_creates_nothing(client, make_user, count, fmt):
    make_user(email="taken@example.com")
    before = totals(count)

    response = send(client, SIGNUP, signup_body(" TAKEN@Example.com "), fmt)

    assert response.status_code == 422
    assert response.get_json() == {"errors": ["Email has already been taken"]}
    assert totals(count) == before


def test_6_later_signups_are_family_admins(app, client, make_user, read_user, fmt):
    existing = make_user(email="someone@example.com", role="member")

    response = send(client, SIGNUP, signup_body(), fmt)

    assert response.status_code == 201
    created = read_user(uuid.UUID(response.get_json()["user"]["id"]))
    assert created["role"] == "admin"
    assert created["family_id"] is not None
    assert created["family_id"] != existing.family_id  # always a new family


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
@pytest.mark.parametrize("invite", [None, "", "   "])
def test_7_invite_required_and_missing_is_403(client, count, fmt, invite):
    response = send(client, SIGNUP, signup_body(invite_code=invite), fmt)

    assert response.status_code == 403
    assert response.get_json() == {"error": "Invite code is required"}
    assert count(User) == 0


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_8_invite_required_and_valid_code_consumes_it(client, make_invites, count, fmt):
    [code] = make_invites(1)
    assert count(InviteCode, InviteCode.used_at.is_(None)) == 1

    response = send(client, SIGNUP, signup_body(invite_code=code), fmt)

    assert response.status_code == 201, response.get_json()
    assert count(User) == 1
    assert count(InviteCode, InviteCode.used_at.is_(None)) == 0


def test_9_invalid_invite_is_403_even_when_not_required(client, count, fmt):
    response = send(client, SIGNUP, signup_body(invite_code="invalid_code"), fmt)

    assert response.status_code == 403
    assert response.get_json() == {"error": "Invalid invite code"}
    assert count(User) == 0


# --- invite codes (§6.2) -------------------------------------------------------------------


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_invite_codes_are_case_insensitive(client, make_invites, fmt):
    [code] = make_invites(1)
    assert code == code.lower() and len(code) == 8

    response = send(client, SIGNUP, signup_body(invite_code=f" {code.upper()} "), fmt)

    assert response.status_code == 201, response.get_json()


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_invite_codes_are_single_use(client, make_invites, count, fmt):
    [code] = make_invites(1)
    assert (
        send(client, SIGNUP, signup_body("one@example.com", invite_code=code), fmt).status_code
        == 201
    )

    again = send(client, SIGNUP, signup_body("two@example.com", invite_code=code), fmt)

    assert again.status_code == 403
    assert again.get_json() == {"error": "Invalid invite code"}
    assert count(User) == 1


def test_a_valid_invite_is_consumed_even_when_not_required(client, make_invites, count, fmt):
    [code] = make_invites(1)

    assert send(client, SIGNUP, signup_body(invite_code=code), fmt).status_code == 201

    assert count(InviteCode, InviteCode.used_at.is_(None)) == 0
    reuse = send(client, SIGNUP, signup_body("other@example.com", invite_code=code), fmt)
    assert reuse.get_json() == {"error": "Invalid invite code"}


# --- order of checks (§3.1 steps 1-5, checklist 9) ------------------------------------------


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_checks_run_in_sures_order(client, make_invites, make_user, count, fmt):
    make_user(email="taken@example.com")
    [code] = make_invites(1)
    no_device = {"device_info": None}

    # 1. invite required and blank beats a weak password and a missing device
    first = send(client, SIGNUP, signup_body(password="weak", **no_device), fmt)
    assert (first.status_code, first.get_json()) == (403, {"error": "Invite code is required"})
    # 2. an unknown invite beats them too
    second = send(
        client, SIGNUP, signup_body(password="weak", invite_code="deadbeef", **no_device), fmt
    )
    assert (second.status_code, second.get_json()) == (403, {"error": "Invalid invite code"})
    # 3. the password policy beats the device
    third = send(client, SIGNUP, signup_body(password="weak", invite_code=code, **no_device), fmt)
    assert third.status_code == 422
    assert third.get_json() == {"errors": [LENGTH, CASES, NUMBER, SPECIAL]}
    # 4. the device beats the user's own validation (taken email)
    fourth = send(
        client, SIGNUP, signup_body("taken@example.com", invite_code=code, **no_device), fmt
    )
    assert (fourth.status_code, fourth.get_json()) == (400, DEVICE_REQUIRED)
    # 5. user validation last
    fifth = send(client, SIGNUP, signup_body("taken@example.com", invite_code=code), fmt)
    assert fifth.status_code == 422
    assert fifth.get_json() == {"errors": ["Email has already been taken"]}

    # Nothing was written or consumed along the way: the code still works.
    assert count(User) == 1
    assert count(InviteCode, InviteCode.used_at.is_(None)) == 1
    assert (
        send(client, SIGNUP, signup_body("fresh@example.com", invite_code=code), fmt).status_code
        == 201
    )


@pytest.mark.parametrize("email", ["not-an-email", "", "two@@example.com", "a b@example.com"])
def test_invalid_email_is_422(client, count, fmt, email):
    response = send(client, SIGNUP, signup_body(email), fmt)

    assert response.status_code == 422
    assert response.get_json() == {"errors": ["Email is invalid"]}
    assert count(User) == 0


def test_email_is_normalised(client, fmt):
    response = send(client, SIGNUP, signup_body("  Mixed.Case@Example.COM "), fmt)

    assert response.status_code == 201
    assert response.get_json()["user"]["email"] == "mixed.case@example.com"


# --- one transaction (§3.1 step 5, checklist 11) --------------------------------------------


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_failing_at_the_device_step_leaves_nothing_behind(client, make_invites, count, fmt):
    [code] = make_invites(1)
    before = totals(count)

    response = send(
        client,
        SIGNUP,
        signup_body(invite_code=code, device_info=device(device_type="windows")),
        fmt,
    )

    assert response.status_code == 400
    assert totals(count) == before  # no family, no user, no device, invite still unused


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_failing_at_the_email_step_leaves_nothing_behind(
    client, make_invites, make_user, count, fmt
):
    make_user(email="taken@example.com")
    [code] = make_invites(1)
    before = totals(count)

    response = send(client, SIGNUP, signup_body("taken@example.com", invite_code=code), fmt)

    assert response.status_code == 422
    assert totals(count) == before
    # The code was not consumed: someone else can still use it.
    assert (
        send(client, SIGNUP, signup_body("free@example.com", invite_code=code), fmt).status_code
        == 201
    )


# --- roles (§6.4, checklist 12) -------------------------------------------------------------


def test_first_user_of_the_instance_is_super_admin_later_ones_admin(client, read_user, fmt):
    first = send(client, SIGNUP, signup_body("first@example.com"), fmt)
    second = send(client, SIGNUP, signup_body("second@example.com"), fmt)

    assert first.status_code == second.status_code == 201
    one = read_user(uuid.UUID(first.get_json()["user"]["id"]))
    two = read_user(uuid.UUID(second.get_json()["user"]["id"]))
    assert one["role"] == "super_admin"
    assert two["role"] == "admin"
    assert one["family_id"] != two["family_id"]


# --- the password policy (§6.1, checklist 10) ------------------------------------------------


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1!", [LENGTH]),
        ("abcdefg1!", [CASES]),
        ("ABCDEFG1!", [CASES]),
        ("Abcdefgh!", [NUMBER]),
        ("Abcdefg12", [SPECIAL]),
        ("Abcdefg1-", [SPECIAL]),
        ("abc", [LENGTH, CASES, NUMBER, SPECIAL]),
        ("12345678", [CASES, SPECIAL]),
        ("        ", [CASES, NUMBER, SPECIAL]),
    ],
)
def test_password_policy_reports_every_failure(client, count, fmt, password, expected):
    response = send(client, SIGNUP, signup_body(password=password), fmt)

    assert response.status_code == 422
    assert response.get_json() == {"errors": expected}
    assert count(User) == 0


@pytest.mark.parametrize("password", [None, ""])
def test_blank_password_gives_only_the_blank_message(client, fmt, password):
    response = send(client, SIGNUP, signup_body(password=password), fmt)

    assert response.status_code == 422
    assert response.get_json() == {"errors": [BLANK]}


def test_sures_example_passwords(client, fmt):
    dash = send(client, SIGNUP, signup_body("dash@example.com", password="Abcdefg1-"), fmt)
    bang = send(client, SIGNUP, signup_body("bang@example.com", password="Abcdefg1!"), fmt)

    assert (dash.status_code, dash.get_json()) == (422, {"errors": [SPECIAL]})
    assert bang.status_code == 201, bang.get_json()


@pytest.mark.parametrize("special", list(SPECIAL_CHARACTERS))
def test_every_special_character_counts(client, special):
    assert special in '!@#$%^&*(),.?":{}|<>'
    response = send(client, SIGNUP, signup_body(password=f"Abcdefg1{special}"))
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("other", [*list("-_+=~`[]/\\;' "), "é", "€"])
def test_other_characters_are_not_special(client, other):
    response = send(client, SIGNUP, signup_body(password=f"Abcdefg1{other}"))
    assert (response.status_code, response.get_json()) == (422, {"errors": [SPECIAL]})


def test_the_special_set_is_exactly_sures():
    assert SPECIAL_CHARACTERS == '!@#$%^&*(),.?":{}|<>'


# --- throttling, strays ---------------------------------------------------------------------


@pytest.mark.config(RATE_LIMIT_SIGNUP_IP="2 per 1 hour")
def test_signups_are_throttled_per_ip(client):
    for n in range(2):
        assert send(client, SIGNUP, signup_body(f"n{n}@example.com")).status_code == 201

    throttled = send(client, SIGNUP, signup_body("n3@example.com"))

    assert throttled.status_code == 429
    assert throttled.get_json() == THROTTLED
    assert int(throttled.headers["Retry-After"]) > 0
    # A spoofed X-Forwarded-For (no trusted proxy configured) does not reset the budget.
    spoofed = send(
        client, SIGNUP, signup_body("n4@example.com"), headers={"X-Forwarded-For": "198.51.100.23"}
    )
    assert spoofed.status_code == 429
    # Another client address has its own budget.
    other = send(
        client, SIGNUP, signup_body("n5@example.com"), environ_base={"REMOTE_ADDR": "198.51.100.24"}
    )
    assert other.status_code == 201


def test_only_the_four_user_fields_are_taken(client, read_user):
    body = signup_body()
    body["user"].update(role="super_admin", ai_enabled=True, ui_layout="intro")
    # Someone exists already, so a permitted role would be "admin".
    assert send(client, SIGNUP, signup_body("first@example.com")).status_code == 201

    response = send(client, SIGNUP, body)

    assert response.status_code == 201
    created = read_user(uuid.UUID(response.get_json()["user"]["id"]))
    assert created["role"] == "admin"
    assert created["ai_enabled"] is False
    assert response.get_json()["user"]["ui_layout"] == "dashboard"


def test_signup_with_an_empty_or_odd_body(client):
    for response in (
        client.post(SIGNUP),
        client.post(SIGNUP, json=[]),
        client.post(SIGNUP, json={"user": "x", "device": "y"}),
    ):
        assert response.status_code == 422
        assert response.get_json() == {"errors": [BLANK]}


def test_strong_password_constant_passes_the_policy(client):
    assert send(client, SIGNUP, signup_body(password=STRONG_PASSWORD)).status_code == 201
