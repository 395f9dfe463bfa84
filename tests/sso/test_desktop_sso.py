"""Sure's desktop SSO (contract §2.6 desktop variant, §7.10): ``GET /auth/desktop/<provider>``
takes only a well-formed S256 challenge; the callback hands the app a 2-minute code bound to
it (``sure://sso/callback?code=…``); ``POST /sessions/desktop_exchange`` with the code and the
verifier signs the app's webview in once (or hands a TOTP user to /mfa/verify). Reuse, a wrong
verifier, and a user removed or signed out everywhere since the code was minted are refused."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from app.identity.models import WebSession
from tests.sso.sure_sso import (
    DESKTOP_CALLBACK,
    DESKTOP_EXCHANGE,
    block,
    code_of,
    count_fixture,  # noqa: F401 - fixture
    desktop_callback,
    link,
    minutes_ago,
    provider_fixture,  # noqa: F401 - fixture
    query,
    set_user,
    stored_codes,
    upstream,
)
from tests.support.factories import enable_mfa
from tests.support.web import csrf_from, signed_in_as

pytestmark = pytest.mark.usefixtures("provider")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def person(make_user):  # type: ignore[no-untyped-def]
    return make_user(email="desk@example.com")


@pytest.fixture
def linked(app, person):  # type: ignore[no-untyped-def]
    identity = upstream(subject="desk-sub", email=person.email)
    link(app, person, identity)
    return identity


def exchange(client, code: str, verifier: str):  # type: ignore[no-untyped-def]
    return client.post(DESKTOP_EXCHANGE, data={"code": code, "code_verifier": verifier})


# --- start ---------------------------------------------------------------------------------


def test_start_with_a_challenge_renders_the_auto_submitting_form(client):
    _, challenge = pkce()

    response = client.get("/auth/desktop/idp", query_string={"code_challenge": challenge})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<form method="post" action="/auth/idp" id="sso-start">' in html
    assert csrf_from(html)
    with client.session_transaction() as session:
        assert session["sso_flow"] == "desktop"
        assert session["sso_code_challenge"] == challenge
        assert "sso_device" not in session


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"code_challenge": ""},
        {"code_challenge": "A" * 42},
        {"code_challenge": "A" * 44},
        {"code_challenge": "A" * 42 + "="},
        {"code_challenge": "A" * 42 + "+"},
        {"code_challenge": "plain-verifier-not-a-challenge"},
    ],
)
def test_anything_but_a_43_character_base64url_challenge_is_refused(client, params):
    response = client.get("/auth/desktop/idp", query_string=params)

    assert response.status_code == 302
    assert response.headers["Location"] == f"{DESKTOP_CALLBACK}?error=invalid_code_challenge"
    with client.session_transaction() as session:
        assert "sso_flow" not in session


def test_unknown_provider_is_refused(client):
    _, challenge = pkce()
    response = client.get("/auth/desktop/nope", query_string={"code_challenge": challenge})
    assert response.headers["Location"] == f"{DESKTOP_CALLBACK}?error=invalid_provider"


# --- callback -----------------------------------------------------------------------------


def test_a_linked_identity_gets_a_two_minute_code(app, linked):
    _, challenge = pkce()

    url = desktop_callback(app, linked, challenge)

    code_of(url, DESKTOP_CALLBACK)
    [row] = stored_codes(app)
    assert row["kind"] == "desktop"
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 120
    assert challenge not in row["payload_encrypted"]


def test_an_unlinked_identity_is_account_not_linked(app):
    _, challenge = pkce()
    url = desktop_callback(app, upstream(subject="stranger"), challenge)
    assert url == f"{DESKTOP_CALLBACK}?error=account_not_linked"
    assert stored_codes(app) == []


def test_a_blocked_identity_is_sso_failed(app, linked):
    block(app, linked)
    _, challenge = pkce()
    assert desktop_callback(app, linked, challenge) == f"{DESKTOP_CALLBACK}?error=sso_failed"


def test_a_deactivated_user_is_account_deactivated(app, person, linked):
    set_user(app, person.id, active=False)
    _, challenge = pkce()
    assert query(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK) == {
        "error": "account_deactivated"
    }


@pytest.mark.parametrize("challenge", [None, "", "short"])
def test_a_lost_challenge_is_missing_session(app, linked, challenge):
    assert desktop_callback(app, linked, challenge) == f"{DESKTOP_CALLBACK}?error=missing_session"


# --- exchange -----------------------------------------------------------------------------


def test_the_exchange_creates_one_web_session_and_the_code_works_once(app, client, linked, count):
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)

    response = exchange(client, code, verifier)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert count(WebSession) == 1
    assert signed_in_as(client)
    with client.session_transaction() as session:
        assert session["amr"] == ["ext"]

    other_browser = app.test_client()
    reuse = exchange(other_browser, code, verifier)
    assert reuse.status_code == 302
    assert reuse.headers["Location"] == "/login"
    assert not signed_in_as(other_browser)
    assert count(WebSession) == 1


def test_a_json_body_works_too(app, client, linked):
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)

    response = client.post(DESKTOP_EXCHANGE, json={"code": code, "code_verifier": verifier})

    assert response.headers["Location"] == "/"
    assert signed_in_as(client)


def test_a_wrong_verifier_is_refused_and_burns_the_code(app, client, linked, count):
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)
    other_verifier, _ = pkce()

    wrong = exchange(client, code, other_verifier)
    # The challenge itself is not the verifier either.
    assert wrong.headers["Location"] == "/login"
    assert exchange(client, code, verifier).headers["Location"] == "/login"
    assert count(WebSession) == 0
    assert not signed_in_as(client)


def test_the_challenge_is_not_a_verifier(app, client, linked, count):
    _, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)

    assert exchange(client, code, challenge).headers["Location"] == "/login"
    assert count(WebSession) == 0


@pytest.mark.parametrize(
    "change", [{"active": False}, {"session_epoch": 3}], ids=["deactivated", "signed_out"]
)
def test_a_code_minted_before_the_user_was_revoked_is_refused(
    app, client, person, linked, count, change
):
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)
    set_user(app, person.id, **change)

    assert exchange(client, code, verifier).headers["Location"] == "/login"
    assert count(WebSession) == 0


def test_a_code_of_a_user_deleted_since_is_refused(app, client, person, linked, count):
    from app.extensions import db
    from app.identity.models import User
    from app.sso.models import SsoIdentity

    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)
    with app.app_context():
        db.session.query(SsoIdentity).filter_by(user_id=person.id).delete()
        db.session.query(User).filter_by(id=person.id).delete()
        db.session.commit()

    assert exchange(client, code, verifier).headers["Location"] == "/login"
    assert count(WebSession) == 0


def test_an_expired_code_is_refused(app, client, linked, count):
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge, now=minutes_ago(2)), DESKTOP_CALLBACK)

    assert exchange(client, code, verifier).headers["Location"] == "/login"
    assert count(WebSession) == 0


@pytest.mark.parametrize(
    "data", [{}, {"code": "x"}, {"code_verifier": "y"}, {"code": "x", "code_verifier": "y"}]
)
def test_missing_or_unknown_values_are_refused(client, data, count):
    response = client.post(DESKTOP_EXCHANGE, data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert count(WebSession) == 0


def test_a_totp_user_is_handed_to_the_mfa_step(app, client, person, linked, count):
    enable_mfa(app, person)
    verifier, challenge = pkce()
    code = code_of(desktop_callback(app, linked, challenge), DESKTOP_CALLBACK)

    response = exchange(client, code, verifier)

    assert response.status_code == 302
    assert response.headers["Location"] == "/mfa/verify"
    with client.session_transaction() as session:
        assert session["mfa_pending"] == {"user_id": str(person.id), "first": "ext", "next": "/"}
    assert count(WebSession) == 0
    assert not signed_in_as(client)
