"""The token endpoint, black box over HTTP (security checklist items 3-15, 17, 33, 35-37,
41-44, 54-58).

Every request goes through the Flask test client. The database is only read: to find the
audit trail of a reused code, a stored client-secret digest, or to switch TOTP on for a user.
Every error is checked for the RFC 6749 §5.2 shape: a JSON ``error`` and ASCII
``error_description``, plus ``Cache-Control: no-store`` and ``Pragma: no-cache``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from tests.support.factories import PASSWORD, ClientInfo, UserInfo
from tests.support.oauth import Authorized, authorize, exchange_code, introspect, refresh

ACCESS_RE = re.compile(r"^tga_[A-Za-z0-9_-]{43,}$")
REFRESH_RE = re.compile(r"^tgr_[A-Za-z0-9_-]{43,}$")
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
ONE_YEAR = 31536000
OTHER_URI = "https://client.example/other"


# --- helpers -----------------------------------------------------------------------------


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"


def assert_oauth_error(
    response: Any, status: int, error: str, description: str | None = None
) -> dict[str, Any]:
    """RFC 6749 §5.2: JSON ``error`` (+ ASCII ``error_description``), never cached."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body
    # error_description is OPTIONAL (§5.2); when present it is an ASCII string.
    assert set(body) <= {"error", "error_description", "mfa_required"}, body
    if "error_description" in body:
        text = body["error_description"]
        assert isinstance(text, str) and text.isascii()
    if description is not None:
        assert body.get("error_description") == description
    assert_no_store(response)
    return body


def assert_token_response(
    response: Any, *, scope: str | None = "read", with_refresh: bool = True
) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ACCESS_RE.match(body["access_token"]), body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ONE_YEAR
    assert isinstance(body["created_at"], int)
    assert abs(body["created_at"] - time.time()) < 120
    if with_refresh:
        assert REFRESH_RE.match(body["refresh_token"]), body
    else:
        assert "refresh_token" not in body
    if scope is not None:
        assert body["scope"] == scope
    assert_no_store(response)
    return body


def post_token(client: FlaskClient, data: Any, **kwargs: Any) -> Any:
    return client.post("/oauth/token", data=data, **kwargs)


def code_form(oauth: ClientInfo, auth: Authorized, **extra: str | None) -> dict[str, str]:
    """The form of a code exchange (no client authentication); ``None`` drops a field."""
    data = {"grant_type": "authorization_code", "code": auth.code, "code_verifier": auth.verifier}
    if oauth.redirect_uri:
        data["redirect_uri"] = oauth.redirect_uri
    for key, value in extra.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def is_active(client: FlaskClient, oauth: ClientInfo, token: str) -> bool:
    response = introspect(client, oauth, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["active"]


def password_grant(
    client: FlaskClient,
    oauth: ClientInfo,
    username: str,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Any:
    data = {"grant_type": "password", "username": username, "password": password, **extra}
    return post_token(client, data, headers={**oauth.basic_auth, **(headers or {})})


def client_credentials(client: FlaskClient, oauth: ClientInfo, **extra: str) -> Any:
    return post_token(
        client, {"grant_type": "client_credentials", **extra}, headers=oauth.basic_auth
    )


@pytest.fixture
def ropc_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="First Party", grant_types=["password"], first_party=True)


@pytest.fixture
def service_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])


@pytest.fixture
def code(signed_in: FlaskClient, oauth_client: ClientInfo) -> Authorized:
    """A fresh code (scope read) for ``oauth_client``, issued to ``user``."""
    return authorize(signed_in, oauth_client)


# --- successful code exchange ------------------------------------------------------------


def test_code_exchange_returns_a_bearer_token_with_refresh_token(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    auth = authorize(signed_in, oauth_client, scope="read_write")
    body = assert_token_response(exchange_code(signed_in, oauth_client, auth), scope="read_write")
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "created_at",
    }
    assert is_active(signed_in, oauth_client, body["access_token"])
    assert is_active(signed_in, oauth_client, body["refresh_token"])


def test_public_client_exchanges_a_code_with_pkce_and_client_id_in_the_body(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    auth = authorize(signed_in, public_client)
    data = code_form(public_client, auth, client_id=public_client.client_id)
    response = post_token(signed_in, data)
    assert "Authorization" not in response.request.headers
    assert_token_response(response)


def test_public_client_without_client_id_is_invalid_client(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    auth = authorize(signed_in, public_client)
    response = post_token(signed_in, code_form(public_client, auth))
    assert_oauth_error(response, 401, "invalid_client")


# --- PKCE at the token endpoint ------------------------------------------------------------


def test_missing_code_verifier_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = post_token(
        signed_in,
        code_form(oauth_client, code, code_verifier=None),
        headers=oauth_client.basic_auth,
    )
    assert_oauth_error(
        response, 400, "invalid_request", "Missing required parameter: code_verifier."
    )


def test_public_client_missing_code_verifier_is_invalid_request(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    auth = authorize(signed_in, public_client)
    data = code_form(public_client, auth, code_verifier=None, client_id=public_client.client_id)
    assert_oauth_error(
        post_token(signed_in, data),
        400,
        "invalid_request",
        "Missing required parameter: code_verifier.",
    )


def test_wrong_code_verifier_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    wrong = "W" * 43 + code.verifier[43:]
    assert wrong != code.verifier
    response = exchange_code(signed_in, oauth_client, code, code_verifier=wrong)
    assert_oauth_error(response, 400, "invalid_grant")


def test_verifier_equal_to_the_challenge_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(code.verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    assert CHALLENGE_RE.match(challenge)  # a well-formed verifier in its own right
    response = exchange_code(signed_in, oauth_client, code, code_verifier=challenge)
    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    "verifier",
    [
        pytest.param("a" * 42, id="42-chars"),
        pytest.param("a" * 129, id="129-chars"),
        pytest.param("a" * 42 + "+", id="plus"),
        pytest.param("a" * 42 + "/", id="slash"),
        pytest.param("a" * 42 + "=", id="equals"),
        pytest.param("a" * 21 + " " + "a" * 21, id="space"),
        pytest.param("a" * 42 + "\u00e9", id="non-ascii"),
    ],
)
def test_malformed_code_verifier_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized, verifier: str
) -> None:
    response = exchange_code(signed_in, oauth_client, code, code_verifier=verifier)
    assert_oauth_error(response, 400, "invalid_request")


def test_verifier_of_43_and_128_characters_are_accepted(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    for length in (43, 128):
        verifier = ("Az0-._~" * 20)[:length]
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        auth = authorize(signed_in, oauth_client, code_challenge=challenge)
        auth.verifier = verifier
        assert_token_response(exchange_code(signed_in, oauth_client, auth))


# --- authorization codes: single use, binding, expiry ------------------------------------


def test_second_redemption_is_invalid_grant_and_revokes_the_first_tokens(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    first = assert_token_response(exchange_code(signed_in, oauth_client, code))
    assert is_active(signed_in, oauth_client, first["access_token"])

    second = exchange_code(signed_in, oauth_client, code)
    assert_oauth_error(second, 400, "invalid_grant")

    assert not is_active(signed_in, oauth_client, first["access_token"])
    assert not is_active(signed_in, oauth_client, first["refresh_token"])
    info = signed_in.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert info.status_code == 401
    assert_oauth_error(
        refresh(signed_in, oauth_client, first["refresh_token"]), 400, "invalid_grant"
    )

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "authorization_code.reused")
        ).all()
        assert len(events) == 1
        assert events[0].outcome == "failure"
        assert events[0].client_id == oauth_client.client_id
        assert events[0].details.get("revoked_tokens") == 1


def test_third_redemption_is_still_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    assert_token_response(exchange_code(signed_in, oauth_client, code))
    for _ in range(2):
        assert_oauth_error(exchange_code(signed_in, oauth_client, code), 400, "invalid_grant")


def test_code_reuse_also_revokes_tokens_refreshed_from_the_first_redemption(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    first = assert_token_response(exchange_code(signed_in, oauth_client, code))
    second = refresh(signed_in, oauth_client, first["refresh_token"])
    rotated = assert_token_response(second)
    assert is_active(signed_in, oauth_client, rotated["access_token"])

    assert_oauth_error(exchange_code(signed_in, oauth_client, code), 400, "invalid_grant")

    assert not is_active(signed_in, oauth_client, rotated["access_token"])
    assert not is_active(signed_in, oauth_client, rotated["refresh_token"])
    assert_oauth_error(
        refresh(signed_in, oauth_client, rotated["refresh_token"]), 400, "invalid_grant"
    )


def test_code_reuse_leaves_other_authorizations_alone(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    other = assert_token_response(
        exchange_code(signed_in, oauth_client, authorize(signed_in, oauth_client))
    )
    assert_token_response(exchange_code(signed_in, oauth_client, code))
    assert_oauth_error(exchange_code(signed_in, oauth_client, code), 400, "invalid_grant")
    assert is_active(signed_in, oauth_client, other["access_token"])
    assert is_active(signed_in, oauth_client, other["refresh_token"])


def test_code_redeemed_by_another_client_is_invalid_grant(
    app: Flask,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    code: Authorized,
    make_client: Callable[..., ClientInfo],
) -> None:
    thief = make_client(name="Other App")  # same redirect URI, so only the client differs
    response = exchange_code(signed_in, thief, code)
    assert_oauth_error(response, 400, "invalid_grant")

    # The attempt neither burnt the code nor counted as reuse.
    assert_token_response(exchange_code(signed_in, oauth_client, code))
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        assert (
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.event == "authorization_code.reused")
            ).all()
            == []
        )


def test_code_of_a_confidential_client_redeemed_by_a_public_client_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized, public_client: ClientInfo
) -> None:
    data = code_form(oauth_client, code, client_id=public_client.client_id)
    assert_oauth_error(post_token(signed_in, data), 400, "invalid_grant")


def test_different_redirect_uri_is_invalid_grant(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo]
) -> None:
    oauth = make_client(redirect_uris=["https://client.example/cb", OTHER_URI])
    auth = authorize(signed_in, oauth)  # sent redirect_uri=https://client.example/cb
    response = exchange_code(signed_in, oauth, auth, redirect_uri=OTHER_URI)
    assert_oauth_error(response, 400, "invalid_grant")


def test_unregistered_redirect_uri_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = exchange_code(signed_in, oauth_client, code, redirect_uri=OTHER_URI)
    assert_oauth_error(response, 400, "invalid_grant")


def test_missing_redirect_uri_when_it_was_sent_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    data = code_form(oauth_client, code, redirect_uri=None)
    assert "redirect_uri" not in data
    response = post_token(signed_in, data, headers=oauth_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_grant")


def test_redirect_uri_omitted_at_both_steps_is_accepted(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    bare = dataclasses.replace(oauth_client, redirect_uri=None)  # a single registered URI
    auth = authorize(signed_in, bare)
    assert auth.code and "redirect_uri" not in auth.location
    assert_token_response(exchange_code(signed_in, bare, auth, client_id=bare.client_id))


def test_code_of_a_deactivated_user_is_invalid_grant(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized, user: UserInfo
) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        row.active = False
        db.session.commit()
    assert_oauth_error(exchange_code(signed_in, oauth_client, code), 400, "invalid_grant")


def test_unknown_code_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    for fake in ("tgc_" + "A" * 43, "not-a-code", code.code + "x"):
        response = exchange_code(signed_in, oauth_client, code, code=fake)
        assert_oauth_error(response, 400, "invalid_grant")


def test_missing_code_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = post_token(
        signed_in, code_form(oauth_client, code, code=None), headers=oauth_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.config(OAUTH2_AUTHORIZATION_CODE_LIFETIME=0)
def test_expired_code_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    assert code.code.startswith("tgc_")
    response = exchange_code(signed_in, oauth_client, code)
    assert_oauth_error(response, 400, "invalid_grant")


# --- client authentication ---------------------------------------------------------------


def test_wrong_secret_is_401_invalid_client_with_basic_challenge(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    data = code_form(oauth_client, code)
    response = post_token(signed_in, data, headers=basic(oauth_client.client_id, "tgs_wrong"))
    assert_oauth_error(response, 401, "invalid_client")
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Basic ")
    assert 'error="invalid_client"' in challenge
    # The failed attempt did not spend the code.
    assert_token_response(exchange_code(signed_in, oauth_client, code))


BASIC_REALM = 'Basic realm="Tollgate"'
REPR_MARKS = ("[", "]", "{", "}", "b'", "'client_secret", "None")


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize(
    "failure",
    ["wrong-secret", "unknown-in-body", "no-credentials", "malformed-basic", "client-id-mismatch"],
)
def test_every_invalid_client_401_carries_a_basic_realm_and_a_plain_description(
    client: FlaskClient, oauth_client: ClientInfo, path: str, failure: str
) -> None:
    """RFC 7617 §2: a Basic challenge names its realm; RFC 9110 §15.5.2: every 401 carries a
    challenge. The description is a sentence, not a Python repr of the method list."""
    data: dict[str, str] = {"grant_type": "client_credentials", "token": "tga_x"}
    headers: dict[str, str] = {}
    if failure == "wrong-secret":
        headers = basic(oauth_client.client_id, "tgs_wrong")
    elif failure == "unknown-in-body":
        data.update(client_id="no-such-client", client_secret="tgs_whatever")
    elif failure == "malformed-basic":
        headers = {"Authorization": "Basic !!!not-base64"}
    elif failure == "client-id-mismatch":
        headers = oauth_client.basic_auth
        data["client_id"] = "someone-else"
    response = client.post(path, data=data, headers=headers)
    body = assert_oauth_error(response, 401, "invalid_client")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(BASIC_REALM), challenge
    assert 'error="invalid_client"' in challenge
    description = body.get("error_description", "")
    assert description and not any(mark in description for mark in REPR_MARKS), description
    assert not any(mark in challenge for mark in REPR_MARKS), challenge


def test_wrong_secret_in_the_body_is_401_invalid_client(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    data = code_form(
        oauth_client, code, client_id=oauth_client.client_id, client_secret="tgs_wrong"
    )
    assert_oauth_error(post_token(signed_in, data), 401, "invalid_client")


def test_unknown_client_is_401_invalid_client(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    data = code_form(oauth_client, code)
    via_basic = post_token(signed_in, data, headers=basic("no-such-client", "tgs_whatever"))
    assert_oauth_error(via_basic, 401, "invalid_client")
    via_post = post_token(
        signed_in, {**data, "client_id": "no-such-client", "client_secret": "tgs_whatever"}
    )
    assert_oauth_error(via_post, 401, "invalid_client")
    via_none = post_token(signed_in, {**data, "client_id": "no-such-client"})
    assert_oauth_error(via_none, 401, "invalid_client")
    # Same answer as a wrong secret for a real client: nothing tells which part was wrong.
    wrong = post_token(signed_in, data, headers=basic(oauth_client.client_id, "tgs_whatever"))
    assert wrong.get_json() == via_basic.get_json()


def test_the_stored_digest_of_the_secret_is_not_a_secret(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    assert oauth_client.client_secret
    hashed = hashlib.sha256(oauth_client.client_secret.encode()).hexdigest()
    from app.extensions import db
    from app.oauth2.models import OAuthClient

    with app.app_context():
        stored = db.session.scalar(
            select(OAuthClient.client_secret_digest).where(
                OAuthClient.client_id == oauth_client.client_id
            )
        )
    assert stored == hashed  # the test presents exactly what the database holds

    data = code_form(oauth_client, code)
    response = post_token(signed_in, data, headers=basic(oauth_client.client_id, hashed))
    assert_oauth_error(response, 401, "invalid_client")
    response = post_token(
        signed_in, {**data, "client_id": oauth_client.client_id, "client_secret": hashed}
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_basic_and_client_secret_in_the_body_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    assert oauth_client.client_secret
    data = code_form(
        oauth_client,
        code,
        client_id=oauth_client.client_id,
        client_secret=oauth_client.client_secret,
    )
    response = post_token(signed_in, data, headers=oauth_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")


def test_basic_for_one_client_with_another_client_id_in_the_body_is_rejected(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    code: Authorized,
    make_client: Callable[..., ClientInfo],
) -> None:
    other = make_client(name="Other App")
    data = code_form(oauth_client, code, client_id=other.client_id)
    response = post_token(signed_in, data, headers=oauth_client.basic_auth)
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers.get("WWW-Authenticate", "").startswith("Basic ")
    # And the other way round: B's credentials, A's client_id.
    data = code_form(oauth_client, code, client_id=oauth_client.client_id)
    response = post_token(signed_in, data, headers=other.basic_auth)
    assert_oauth_error(response, 401, "invalid_client")


def test_basic_with_the_same_client_id_in_the_body_is_accepted(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = exchange_code(signed_in, oauth_client, code, client_id=oauth_client.client_id)
    assert_token_response(response)


def test_confidential_client_sending_only_its_client_id_is_invalid_client(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    data = code_form(oauth_client, code, client_id=oauth_client.client_id)
    response = post_token(signed_in, data)
    assert_oauth_error(response, 401, "invalid_client")
    # The code is still good for an authenticated request.
    assert_token_response(exchange_code(signed_in, oauth_client, code))


def test_client_secret_post_works(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    assert oauth_client.client_secret
    data = code_form(
        oauth_client,
        code,
        client_id=oauth_client.client_id,
        client_secret=oauth_client.client_secret,
    )
    response = post_token(signed_in, data)
    assert "Authorization" not in response.request.headers
    assert_token_response(response)


def test_public_client_presenting_a_secret_is_invalid_client(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    auth = authorize(signed_in, public_client)
    data = code_form(
        public_client, auth, client_id=public_client.client_id, client_secret="tgs_anything"
    )
    assert_oauth_error(post_token(signed_in, data), 401, "invalid_client")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic", id="scheme-only"),
        pytest.param("Basic !!!", id="not-base64"),
        pytest.param("Basic " + _b64(b"no-colon"), id="no-colon"),
        pytest.param("Basic " + _b64(b":"), id="empty-id-and-secret"),
        pytest.param("Basic " + _b64(b"a" * 300 + b":b"), id="long-id"),
        pytest.param("Basic " + _b64(b"%zz:%zz"), id="bad-percent-escapes"),
        pytest.param("Bearer tga_x", id="bearer"),
        pytest.param("Basic " + _b64(b"\xff\xfe:secret"), id="non-utf8-credentials"),
        pytest.param("Basic " + _b64(b"\xff\xfe"), id="non-utf8-no-colon"),
        pytest.param("Basic ", id="scheme-and-space"),
        pytest.param("Basic \t ", id="scheme-and-whitespace"),
        pytest.param("Basic " + _b64(b"client\x00id:secret"), id="nul-in-client-id"),
        pytest.param("Basic " + _b64(b"client%00id:secret"), id="escaped-nul-in-client-id"),
    ],
)
def test_malformed_basic_authorization_is_401_invalid_client_never_500(
    client: FlaskClient, header: str
) -> None:
    response = post_token(
        client, {"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert_oauth_error(response, 401, "invalid_client")


# --- request shape -----------------------------------------------------------------------


def test_get_is_405(client: FlaskClient) -> None:
    response = client.get("/oauth/token", query_string={"grant_type": "client_credentials"})
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")
    assert response.get_json()["error"] == "method_not_allowed"
    assert_no_store(response)


def test_parameters_in_the_query_string_are_invalid_request(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    response = client.post(
        "/oauth/token?grant_type=client_credentials", headers=service_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")
    # Even alongside a complete body.
    response = client.post(
        "/oauth/token?scope=read",
        data={"grant_type": "client_credentials"},
        headers=service_client.basic_auth,
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_client_credentials_in_the_query_string_are_refused(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    assert service_client.client_secret
    response = client.post(
        "/oauth/token",
        query_string={
            "client_id": service_client.client_id,
            "client_secret": service_client.client_secret,
        },
        data={"grant_type": "client_credentials"},
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_json_body_is_invalid_request(client: FlaskClient, service_client: ClientInfo) -> None:
    response = client.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, headers=service_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_code_exchange_as_json_is_invalid_request_and_spends_nothing(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = signed_in.post(
        "/oauth/token", json=code_form(oauth_client, code), headers=oauth_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")
    assert_token_response(exchange_code(signed_in, oauth_client, code))


def test_multipart_body_is_invalid_request(client: FlaskClient, service_client: ClientInfo) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        content_type="multipart/form-data",
        headers=service_client.basic_auth,
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_form_content_type_with_a_charset_is_accepted(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = signed_in.post(
        "/oauth/token",
        data=code_form(oauth_client, code),
        headers=oauth_client.basic_auth,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    assert_token_response(response)


def test_the_api_v1_twin_behaves_the_same(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    url = "/api/v1/oauth/token"
    response = signed_in.post(
        url + "?grant_type=authorization_code",
        data=code_form(oauth_client, code),
        headers=oauth_client.basic_auth,
    )
    assert_oauth_error(response, 400, "invalid_request")
    response = signed_in.post(
        url, json=code_form(oauth_client, code), headers=oauth_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")
    response = signed_in.post(
        url, data=code_form(oauth_client, code), headers=basic(oauth_client.client_id, "tgs_wrong")
    )
    assert_oauth_error(response, 401, "invalid_client")
    response = signed_in.post(
        url, data=code_form(oauth_client, code), headers=oauth_client.basic_auth
    )
    assert_token_response(response)
    response = signed_in.post(
        url, data=code_form(oauth_client, code), headers=oauth_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_grant")


def test_missing_grant_type_is_invalid_request(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    response = post_token(client, {"scope": "read"}, headers=service_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")
    response = post_token(client, {"grant_type": ""}, headers=service_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "grant_type",
    [
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
        "token",
    ],
)
def test_unknown_grant_type_is_unsupported_grant_type(
    client: FlaskClient, service_client: ClientInfo, grant_type: str
) -> None:
    response = post_token(client, {"grant_type": grant_type}, headers=service_client.basic_auth)
    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "field", ["grant_type", "code", "redirect_uri", "code_verifier", "client_id"]
)
@pytest.mark.parametrize("same_value", [True, False], ids=["same", "different"])
def test_a_parameter_sent_twice_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized, field: str, same_value: bool
) -> None:
    form = code_form(oauth_client, code, client_id=oauth_client.client_id)
    data = MultiDict(list(form.items()))
    data.add(field, form[field] if same_value else form[field] + "x")
    response = post_token(signed_in, data, headers=oauth_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")
    # Refused before anything was looked at: the code is still good.
    assert_token_response(exchange_code(signed_in, oauth_client, code))


def test_unknown_extra_parameters_are_ignored(
    signed_in: FlaskClient, oauth_client: ClientInfo, code: Authorized
) -> None:
    response = exchange_code(
        signed_in, oauth_client, code, foo="bar", resource_hint="x", nonce="n-0S6_WzA2Mj"
    )
    assert_token_response(response)


def test_client_credentials_ignore_unknown_parameters(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    assert_token_response(
        client_credentials(client, service_client, unknown="1"), with_refresh=False
    )


# --- password grant ------------------------------------------------------------------------


def test_password_grant_issues_tokens_with_a_refresh_token(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    body = assert_token_response(password_grant(client, ropc_client, user.email))
    info = client.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200
    assert info.get_json()["resource_owner_id"] == str(user.id)


def test_password_grant_email_is_case_insensitive(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    assert_token_response(password_grant(client, ropc_client, user.email.upper()))


def test_password_grant_for_a_client_without_it_is_unauthorized_client(
    client: FlaskClient, oauth_client: ClientInfo, user: UserInfo
) -> None:
    response = password_grant(client, oauth_client, user.email)
    assert_oauth_error(response, 400, "unauthorized_client")


def test_password_grant_needs_client_authentication(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    data = {"grant_type": "password", "username": user.email, "password": PASSWORD}
    assert_oauth_error(post_token(client, data), 401, "invalid_client")
    data["client_id"] = ropc_client.client_id
    assert_oauth_error(post_token(client, data), 401, "invalid_client")
    response = post_token(client, data, headers=basic(ropc_client.client_id, "tgs_wrong"))
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("drop", ["username", "password"])
def test_password_grant_missing_credentials_is_invalid_request(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo, drop: str
) -> None:
    data = {"grant_type": "password", "username": user.email, "password": PASSWORD}
    del data[drop]
    response = post_token(client, data, headers=ropc_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("scope", ["read_write", "admin", "read admin"])
def test_password_grant_scope_beyond_the_registration_is_invalid_scope(
    client: FlaskClient, make_client: Callable[..., ClientInfo], user: UserInfo, scope: str
) -> None:
    reader = make_client(grant_types=["password"], first_party=True, scope="read")
    response = password_grant(client, reader, user.email, scope=scope)
    assert_oauth_error(response, 400, "invalid_scope")


def test_password_grant_grants_the_requested_scope(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    response = password_grant(client, ropc_client, user.email, scope="read_write")
    assert_token_response(response, scope="read_write")


def test_wrong_password_and_unknown_user_get_identical_answers(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    wrong = password_grant(client, ropc_client, user.email, "not the password")
    unknown = password_grant(client, ropc_client, "nobody@example.com", "not the password")
    body = assert_oauth_error(wrong, 400, "invalid_grant")
    assert_oauth_error(unknown, 400, "invalid_grant")
    assert wrong.get_data() == unknown.get_data()
    assert "mfa_required" not in body
    skip = {"X-Correlation-ID"}
    assert {k: v for k, v in wrong.headers.items() if k not in skip} == {
        k: v for k, v in unknown.headers.items() if k not in skip
    }


def test_deactivated_user_gets_the_same_answer_as_a_wrong_password(
    app: Flask, client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        row.active = False
        db.session.commit()
    deactivated = password_grant(client, ropc_client, user.email)
    unknown = password_grant(client, ropc_client, "nobody@example.com")
    assert_oauth_error(deactivated, 400, "invalid_grant")
    assert deactivated.get_data() == unknown.get_data()


def _enable_totp(app: Flask, user: UserInfo) -> pyotp.TOTP:
    from app.clock import utcnow
    from app.extensions import db
    from app.identity import mfa
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        secret = mfa.enable_totp(row, now=utcnow())
    return pyotp.TOTP(secret)


def _wrong_code(totp: pyotp.TOTP) -> str:
    now = time.time()
    valid = {totp.at(now + delta) for delta in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def assert_mfa_required(response: Any) -> None:
    body = assert_oauth_error(response, 400, "invalid_grant")
    assert body["mfa_required"] is True


def test_password_grant_with_totp_needs_the_one_time_code(
    app: Flask, client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    totp = _enable_totp(app, user)
    assert_mfa_required(password_grant(client, ropc_client, user.email))
    assert_mfa_required(password_grant(client, ropc_client, user.email, otp_code=""))
    assert_mfa_required(password_grant(client, ropc_client, user.email, otp_code=_wrong_code(totp)))
    assert_mfa_required(password_grant(client, ropc_client, user.email, otp_code="abcdef"))

    code = totp.now()
    assert_token_response(password_grant(client, ropc_client, user.email, otp_code=code))
    # The same code a second time is a replay.
    assert_mfa_required(password_grant(client, ropc_client, user.email, otp_code=code))


def test_password_grant_with_totp_and_a_wrong_password_does_not_reveal_mfa(
    app: Flask, client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    totp = _enable_totp(app, user)
    response = password_grant(
        client, ropc_client, user.email, "not the password", otp_code=totp.now()
    )
    body = assert_oauth_error(response, 400, "invalid_grant")
    assert "mfa_required" not in body


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="2 per 5 minutes")
def test_password_grant_one_time_code_has_its_own_budget(
    app: Flask, client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    totp = _enable_totp(app, user)
    for _ in range(2):
        assert_mfa_required(
            password_grant(client, ropc_client, user.email, otp_code=_wrong_code(totp))
        )
    response = password_grant(client, ropc_client, user.email, otp_code=totp.now())
    assert_oauth_error(response, 429, "temporarily_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_password_grant_is_throttled_per_account(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    for _ in range(3):
        assert_oauth_error(
            password_grant(client, ropc_client, user.email, "wrong password!"), 400, "invalid_grant"
        )
    response = password_grant(client, ropc_client, user.email)  # the right password
    assert_oauth_error(response, 429, "temporarily_unavailable")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 15 * 60 + 1


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_per_account_throttle_does_not_lock_out_other_accounts(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo, make_user: Callable[..., UserInfo]
) -> None:
    bob = make_user(email="bob@example.com")
    for _ in range(3):
        password_grant(client, ropc_client, user.email, "wrong password!")
    assert_oauth_error(
        password_grant(client, ropc_client, user.email), 429, "temporarily_unavailable"
    )
    assert_token_response(password_grant(client, ropc_client, bob.email))


@pytest.mark.config(RATE_LIMIT_LOGIN_IP="3 per 15 minutes")
def test_password_grant_is_throttled_per_ip(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    for n in range(3):
        assert_oauth_error(
            password_grant(client, ropc_client, f"nobody{n}@example.com", "wrong password!"),
            400,
            "invalid_grant",
        )
    response = password_grant(client, ropc_client, user.email)  # another account, right password
    assert_oauth_error(response, 429, "temporarily_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.config(RATE_LIMIT_LOGIN_IP="3 per 15 minutes")
def test_spoofed_x_forwarded_for_does_not_reset_the_ip_budget(
    client: FlaskClient, ropc_client: ClientInfo, user: UserInfo
) -> None:
    for n in range(3):
        response = password_grant(
            client,
            ropc_client,
            f"nobody{n}@example.com",
            "wrong password!",
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
        assert_oauth_error(response, 400, "invalid_grant")
    response = password_grant(
        client, ropc_client, user.email, headers={"X-Forwarded-For": "198.51.100.77"}
    )
    assert_oauth_error(response, 429, "temporarily_unavailable")
    assert "Retry-After" in response.headers


# --- client credentials --------------------------------------------------------------------


def test_client_credentials_issue_an_access_token_without_refresh_token(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    body = assert_token_response(client_credentials(client, service_client), with_refresh=False)
    info = client.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200
    payload = info.get_json()
    assert payload["resource_owner_id"] is None
    assert payload["application"] == {"uid": service_client.client_id}
    assert payload["scope"] == ["read"]
    assert_no_store(info)


def test_client_credentials_with_client_secret_post(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    assert service_client.client_secret
    response = post_token(
        client,
        {
            "grant_type": "client_credentials",
            "client_id": service_client.client_id,
            "client_secret": service_client.client_secret,
        },
    )
    assert_token_response(response, with_refresh=False)


def test_client_credentials_token_cannot_be_refreshed_or_exchanged(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    body = assert_token_response(client_credentials(client, service_client), with_refresh=False)
    response = post_token(
        client,
        {"grant_type": "refresh_token", "refresh_token": body["access_token"]},
        headers=service_client.basic_auth,
    )
    assert response.status_code == 400
    assert response.get_json()["error"] in {"unauthorized_client", "invalid_grant"}
    assert_no_store(response)


def test_public_client_cannot_use_client_credentials(
    client: FlaskClient, public_client: ClientInfo
) -> None:
    response = post_token(
        client, {"grant_type": "client_credentials", "client_id": public_client.client_id}
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_client_not_registered_for_client_credentials_is_unauthorized_client(
    client: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = client_credentials(client, oauth_client)
    assert_oauth_error(response, 400, "unauthorized_client")


def test_client_credentials_with_a_wrong_secret_is_invalid_client(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    response = post_token(
        client,
        {"grant_type": "client_credentials"},
        headers=basic(service_client.client_id, "tgs_wrong"),
    )
    assert_oauth_error(response, 401, "invalid_client")


# --- entropy ---------------------------------------------------------------------------------


def test_access_tokens_are_long_random_and_distinct(
    client: FlaskClient, service_client: ClientInfo
) -> None:
    tokens = []
    for _ in range(50):
        body = assert_token_response(client_credentials(client, service_client), with_refresh=False)
        tokens.append(body["access_token"])
    assert len(set(tokens)) == 50
    for token in tokens:
        rest = token.removeprefix("tga_")
        assert len(rest) >= 43
        assert re.fullmatch(r"[A-Za-z0-9_-]+", rest)
        assert len(base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4))) >= 32
    # No shared prefix beyond the kind marker (a counter or a timestamp would show here).
    assert len({token[:12] for token in tokens}) == 50
