"""What a mobile SSO callback produces (contract §2.6 step 2, §7.10), then the app's
``POST /api/v1/auth/sso_exchange`` over HTTP (§3.4): a linked identity gets a single-use code
for a device token minted like Sure's mobile login; MFA users, blocked identities, a lost
session and an unsaveable device get Sure's errors; an unlinked identity (even one whose email
matches an account) gets a linking code, never a sign-in. Query strings as Rails' to_query."""

from __future__ import annotations

import pytest

from app.identity.models import Device, WebSession
from app.oauth2.models import OAuthClient, OAuthToken
from tests.sso.sure_sso import (
    SSO_EXCHANGE,
    block,
    code_of,
    count_fixture,  # noqa: F401 - fixture
    invite,
    link,
    linking_payload,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    query,
    raw_query,
    set_user,
    stored_codes,
    upstream,
)
from tests.support.factories import enable_mfa
from tests.support.http import bearer
from tests.support.sure import (
    DEVICE,
    assert_token_block,
    assert_user_object,
    device,
    mobile_login,
    status_of,
)

pytestmark = pytest.mark.usefixtures("provider")


@pytest.fixture
def person(make_user):  # type: ignore[no-untyped-def]
    return make_user(email="linked@example.com", first_name="Linked", last_name="Person")


@pytest.fixture
def linked(app, person):  # type: ignore[no-untyped-def]
    identity = upstream(email="linked@example.com")
    link(app, person, identity)
    return identity


def exchange(client, code: str):  # type: ignore[no-untyped-def]
    return client.post(SSO_EXCHANGE, json={"code": code})


def test_linked_identity_gets_a_code_exchanged_once_for_a_device_token(
    app, client, person, linked, count
):
    url = mobile_callback(app, linked)
    code = code_of(url)

    response = exchange(client, code)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_token_block(body)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 2592000
    assert_user_object(body["user"])
    assert body["user"]["id"] == str(person.id)
    assert body["user"]["email"] == "linked@example.com"
    assert (body["user"]["first_name"], body["user"]["last_name"]) == ("Linked", "Person")
    assert "no-store" in response.headers["Cache-Control"]
    assert status_of(client, bearer(body["access_token"])) == 200
    assert count(OAuthToken) == 1
    assert count(WebSession) == 0  # no web session is created


def test_the_callback_saves_the_device_with_every_field(app, person, linked, count):
    code_of(mobile_callback(app, linked))

    from app.extensions import db

    with app.app_context():
        saved = db.session.query(Device).filter_by(user_id=person.id).one()
        assert {key: getattr(saved, key) for key in DEVICE} == DEVICE


def test_the_token_belongs_to_the_shared_first_party_app(app, client, person, linked, count):
    """Same client as the mobile password login; no application is created for SSO."""
    mobile_login(client, person.email, device_info=device(device_id="password-device"))
    clients_before = count(OAuthClient)

    exchange(client, code_of(mobile_callback(app, linked)))

    assert count(OAuthClient) == clients_before
    from app.extensions import db

    with app.app_context():
        assert len({t.client_id for t in db.session.query(OAuthToken).all()}) == 1


def test_a_second_sso_on_the_same_device_revokes_the_first_token(
    app, client, person, linked, count
):
    first = exchange(client, code_of(mobile_callback(app, linked))).get_json()
    other_device = exchange(
        client, code_of(mobile_callback(app, linked, device=device(device_id="other-phone")))
    ).get_json()

    second = exchange(client, code_of(mobile_callback(app, linked))).get_json()

    assert status_of(client, bearer(first["access_token"])) == 401
    assert status_of(client, bearer(second["access_token"])) == 200
    assert (
        status_of(client, bearer(other_device["access_token"])) == 200
    )  # other devices keep theirs
    assert count(Device) == 2


def test_mfa_user_is_sent_back_to_password_sign_in(app, person, linked, count):
    enable_mfa(app, person)

    url = mobile_callback(app, linked)

    assert url == (
        "sureapp://oauth/callback?error=mfa_not_supported"
        "&message=MFA+users+should+sign+in+with+email+and+password"
    )
    assert count(OAuthToken) == 0
    assert count(Device) == 0
    assert stored_codes(app) == []


def test_a_blocked_identity_signs_nobody_in(app, linked, count):
    block(app, linked)

    url = mobile_callback(app, linked)

    assert url == (
        "sureapp://oauth/callback?error=sso_failed"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )
    assert count(OAuthToken) == 0
    assert stored_codes(app) == []


def test_a_deactivated_user_is_refused(app, person, linked, count):
    set_user(app, person.id, active=False)

    assert query(mobile_callback(app, linked))["error"] == "account_deactivated"
    assert count(OAuthToken) == 0


def test_a_lost_session_is_missing_session(app, linked, count):
    url = mobile_callback(app, linked, device=None)

    assert query(url) == {"error": "missing_session", "message": "Mobile SSO session expired"}
    assert count(OAuthToken) == 0


@pytest.mark.parametrize(
    "bad", [device(device_type="windows"), device(os_version="x" * 51), {"device_id": "only"}]
)
def test_a_device_that_cannot_be_saved_is_device_error_and_nothing_is_written(
    app, linked, count, bad
):
    url = mobile_callback(app, linked, device=bad)

    assert url == ("sureapp://oauth/callback?error=device_error&message=Unable+to+register+device")
    assert count(Device) == 0
    assert count(OAuthToken) == 0
    assert stored_codes(app) == []


def test_optional_device_versions_may_be_missing(app, client, linked):
    code = code_of(mobile_callback(app, linked, device=device(os_version=None, app_version=None)))

    assert exchange(client, code).status_code == 200


def test_an_unlinked_identity_gets_a_linking_code_with_everything_the_app_needs(app, client, count):
    identity = upstream(
        subject="new-sub", email="new.person+sso@example.com", first_name="Ann Marie"
    )

    url = mobile_callback(app, identity)

    params = query(url)
    assert params["status"] == "account_not_linked"
    assert params["email"] == "new.person+sso@example.com"
    assert (params["first_name"], params["last_name"]) == ("Ann Marie", "Person")
    assert params["allow_account_creation"] == "true"
    assert params["has_pending_invitation"] == "false"
    assert len(params["linking_code"]) == 43
    # Rails' to_query: keys in alphabetical order, spaces as "+", "@" escaped.
    assert [pair.split("=")[0] for pair in raw_query(url).split("&")] == [
        "allow_account_creation",
        "email",
        "first_name",
        "has_pending_invitation",
        "last_name",
        "linking_code",
        "status",
    ]
    assert "email=new.person%2Bsso%40example.com" in raw_query(url)
    assert "first_name=Ann+Marie" in raw_query(url)
    assert linking_payload(app, params["linking_code"]) == {
        "provider": "idp",
        "uid": "new-sub",
        "issuer": "https://idp.example.test",
        "email": "new.person+sso@example.com",
        "email_verified": True,
        "first_name": "Ann Marie",
        "last_name": "Person",
        "device_info": DEVICE,
        "allow_account_creation": True,
    }
    assert count(OAuthToken) == 0
    assert count(WebSession) == 0
    # A linking code is not an exchange code.
    assert exchange(client, params["linking_code"]).status_code == 401


def test_an_email_match_alone_never_signs_in(app, make_user, count):
    """The account-takeover guard: a provider asserting an existing user's address gets a
    linking code (the password must prove the account), not that user's tokens."""
    make_user(email="victim@example.com")

    params = query(mobile_callback(app, upstream(subject="attacker", email="victim@example.com")))

    assert params["status"] == "account_not_linked"
    assert count(OAuthToken) == 0


def test_link_only_and_foreign_domains_may_not_create_accounts_unless_invited(app, make_user):
    from tests.sso.sure_sso import add_provider

    add_provider(app, key="strict", jit_mode="link_only")
    strict = upstream(subject="s1", email="guest@example.com", provider_key="strict")
    params = query(mobile_callback(app, strict))
    assert (params["allow_account_creation"], params["has_pending_invitation"]) == (
        "false",
        "false",
    )

    owner = make_user(email="owner@example.com", role="admin")
    invite(app, "guest@example.com", owner.family_id)
    params = query(mobile_callback(app, strict))
    assert (params["allow_account_creation"], params["has_pending_invitation"]) == (
        "true",
        "true",
    )


def test_an_identity_without_names_gives_empty_parameters(app):
    url = mobile_callback(app, upstream(subject="bare", first_name=None, last_name=None))

    assert "first_name=&" in raw_query(url)
    assert "last_name=&" in raw_query(url)


def test_codes_are_stored_as_digests_and_their_tokens_encrypted(app, client, linked):
    code = code_of(mobile_callback(app, linked))
    [row] = stored_codes(app)
    assert row["kind"] == "exchange"
    assert row["code_digest"] != code and code not in row["code_digest"]
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 300

    body = exchange(client, code).get_json()

    [row] = stored_codes(app)
    assert row["consumed_at"] is not None
    assert body["access_token"] not in row["payload_encrypted"]
    assert row["payload_encrypted"] == ""  # wiped once consumed


def test_the_live_payload_is_encrypted(app, linked):
    mobile_callback(app, linked)
    [row] = stored_codes(app)
    assert "tga_" not in row["payload_encrypted"]
    assert "linked@example.com" not in row["payload_encrypted"]


@pytest.mark.parametrize(
    ("reason", "sent"),
    [
        ("sso_provider_unavailable", "sso_provider_unavailable"),
        ("sso_invalid_response", "sso_invalid_response"),
        ("sso_failed", "sso_failed"),
        ("something_else", "sso_failed"),
        (None, "sso_failed"),
    ],
)
def test_failures_are_sanitised(app, reason, sent):
    from app.sso.services import callbacks

    assert callbacks.mobile_failure_url(reason) == (
        f"sureapp://oauth/callback?error={sent}"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )
    assert callbacks.desktop_failure_url(reason) == f"sure://sso/callback?error={sent}"
