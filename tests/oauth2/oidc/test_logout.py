"""RP-initiated logout (/oauth/end_session): the id_token_hint, the registered
post_logout_redirect_uri with state echoed, the browser session ended."""

from __future__ import annotations

import pytest

from tests.support.oauth import query_of
from tests.support.oidc import make_oidc_client, sign_in_with_openid
from tests.support.web import csrf_from, signed_in_as

LOGOUT_URI = "https://rp.example/signed-out"


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app, post_logout_redirect_uris=[LOGOUT_URI])


@pytest.fixture
def id_token(signed_in, oidc_client) -> str:
    return sign_in_with_openid(signed_in, oidc_client)[2]["id_token"]


def test_logout_with_hint_and_registered_uri(signed_in, id_token):
    response = signed_in.get(
        "/oauth/end_session",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye-1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGOUT_URI}?state=bye-1"
    assert not signed_in_as(signed_in)


def test_logout_by_form_post(signed_in, id_token):
    response = signed_in.post(
        "/oauth/end_session",
        data={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI
    assert not signed_in_as(signed_in)


def test_logout_without_a_redirect_shows_the_signed_out_page(signed_in, id_token):
    response = signed_in.get("/oauth/end_session", query_string={"id_token_hint": id_token})
    assert response.status_code == 200
    assert "You are signed out" in response.get_data(as_text=True)
    assert not signed_in_as(signed_in)


def test_an_unregistered_post_logout_uri_is_refused(signed_in, id_token):
    response = signed_in.get(
        "/oauth/end_session",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert response.status_code == 400
    assert "not registered" in response.get_data(as_text=True)
    assert signed_in_as(signed_in)  # nothing happened


def test_a_redirect_uri_is_not_a_post_logout_uri(signed_in, id_token, oidc_client):
    response = signed_in.get(
        "/oauth/end_session",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": oidc_client.redirect_uri,
        },
    )
    assert response.status_code == 400
    assert signed_in_as(signed_in)


@pytest.mark.parametrize(
    "hint",
    [
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # alg none
    ],
)
def test_a_bad_id_token_hint_is_refused(signed_in, hint):
    response = signed_in.get(
        "/oauth/end_session",
        query_string={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 400
    assert "id_token_hint" in response.get_data(as_text=True)
    assert signed_in_as(signed_in)


def test_a_tampered_id_token_hint_is_refused(signed_in, id_token):
    header, payload, signature = id_token.split(".")
    forged = ".".join(
        [header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature]
    )
    response = signed_in.get("/oauth/end_session", query_string={"id_token_hint": forged})
    assert response.status_code == 400
    assert signed_in_as(signed_in)


def test_a_hint_for_another_client_id_is_refused(app, signed_in, id_token):
    other = make_oidc_client(app, post_logout_redirect_uris=[LOGOUT_URI])
    response = signed_in.get(
        "/oauth/end_session",
        query_string={"id_token_hint": id_token, "client_id": other.client_id},
    )
    assert response.status_code == 400
    assert signed_in_as(signed_in)


def test_without_a_hint_the_user_confirms(signed_in, oidc_client):
    page = signed_in.get(
        "/oauth/end_session",
        query_string={
            "client_id": oidc_client.client_id,
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "s2",
        },
    )
    assert page.status_code == 200
    assert signed_in_as(signed_in)  # a link alone ends nobody's session
    html = page.get_data(as_text=True)
    assert "Relying Party" in html
    response = signed_in.post(
        "/oauth/end_session/confirm",
        data={
            "csrf_token": csrf_from(html),
            "client_id": oidc_client.client_id,
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "s2",
        },
    )
    assert response.status_code == 302
    assert query_of(response.headers["Location"]) == {"state": "s2"}
    assert not signed_in_as(signed_in)


def test_the_confirmation_needs_its_csrf_token(signed_in, oidc_client):
    response = signed_in.post(
        "/oauth/end_session/confirm", data={"client_id": oidc_client.client_id}
    )
    assert response.status_code == 400
    assert signed_in_as(signed_in)


def test_a_redirect_without_hint_or_client_is_refused(signed_in):
    response = signed_in.get(
        "/oauth/end_session", query_string={"post_logout_redirect_uri": LOGOUT_URI}
    )
    assert response.status_code == 400


def test_an_expired_hint_still_names_the_user(app, signed_in, oidc_client):
    """RP-Initiated Logout §2: the hint may have expired."""
    app.config["OIDC_ID_TOKEN_LIFETIME"] = 1
    id_token = sign_in_with_openid(signed_in, oidc_client)[2]["id_token"]
    import time

    time.sleep(1.5)
    response = signed_in.get(
        "/oauth/end_session",
        query_string={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 302
    assert not signed_in_as(signed_in)


def test_a_hint_for_another_user_asks_this_one_first(app, signed_in, make_user, id_token):
    from tests.support.web import login

    other_browser = app.test_client()
    bob = make_user(email="bob@example.com")
    assert login(other_browser, bob.email, bob.password).status_code == 302
    response = other_browser.get(
        "/oauth/end_session",
        query_string={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 200  # the confirmation page, not a silent sign-out
    assert signed_in_as(other_browser)


def test_nobody_signed_in_goes_straight_back(app, id_token):
    response = app.test_client().get(
        "/oauth/end_session",
        query_string={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI
