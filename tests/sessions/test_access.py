"""A session access JWT as a bearer credential (seed 003.14, 003.17, 003.36; T2, T10, T27,
T28): re-checked against the database on every request, so logout, deactivation, a bump of
the session epoch and a role change apply to the next request; anything that is not a live
session JWT of this server, this region and this user's tenant is a 401."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OctKey

from app.clock import epoch, utcnow
from tests.sessions.conftest import ME, bearer, me_status, sign_in
from tests.support.config import base_config
from tests.support.factories import grant_role, revoke_role
from tests.support.http import api_error


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    decode = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def signed(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
    return jwt.encode(header, claims, OctKey.import_key(key.encode()), algorithms=[header["alg"]])


def refused(api, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.get(ME, headers=bearer(token))
    assert response.status_code == 401, response.get_json()
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    return api_error(response)


# --- a live token --------------------------------------------------------------------------------


def test_the_token_works_on_protected_routes_as_the_account_holder(app, api, user, session) -> None:
    headers = bearer(session["access_token"])
    usage = api.get("/api/v1/usage", headers=headers)
    assert usage.status_code == 200
    assert usage.get_json()["authentication_method"] == "session_token"
    # read_write: no scope ceiling (a write route).
    assert api.patch("/api/v1/auth/enable_ai", headers=headers).status_code == 200
    # First-party: the account holder's own credential passes first_party_only routes.
    grant_role(app, user, "secret_key_administrator")
    listed = api.get("/api/v1/admin/secret_keys", headers=headers)
    assert listed.status_code == 200, listed.get_json()


def test_the_tenant_comes_from_the_token(api, user, session) -> None:
    response = api.get(ME, headers=bearer(session["access_token"]))

    assert response.headers["X-Tenant-ID"] == str(user.family_id)
    assert response.get_json()["tenant_id"] == str(user.family_id)


# --- T2: what happens after issuance applies to the next request -------------------------------


def test_deactivation_applies_to_the_next_request(api, user, session, set_user) -> None:
    assert me_status(api, session["access_token"]) == 200
    set_user(user.id, active=False)

    assert refused(api, session["access_token"])["message"] == "Account has been deactivated"


def test_deleting_the_account_with_the_session_token_ends_it(api, user, session) -> None:
    deleted = api.delete("/api/v1/users/me", headers=bearer(session["access_token"]))

    assert deleted.status_code == 200, deleted.get_json()
    assert me_status(api, session["access_token"]) == 401
    assert (
        api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code
        == 401
    )


def test_a_session_epoch_bump_kills_every_live_session_jwt(app, api, user, set_user) -> None:
    first, second = sign_in(api, user), sign_in(api, user)
    with app.app_context():
        from app.extensions import db
        from app.identity.models import User

        epoch_now = db.session.get(User, user.id).session_epoch

    set_user(user.id, session_epoch=epoch_now + 1)  # "sign out everywhere"

    assert me_status(api, first["access_token"]) == 401
    assert me_status(api, second["access_token"]) == 401
    assert me_status(api, sign_in(api, user)["access_token"]) == 200  # a new sign-in works


def test_turning_mfa_on_ends_the_existing_sessions(app, api, user, session) -> None:
    from tests.support.factories import enable_mfa

    enable_mfa(app, user)  # bumps the session epoch, as enrolment does

    assert me_status(api, session["access_token"]) == 401


def test_a_role_change_applies_to_the_next_request(app, api, user, session) -> None:
    before = api.get(ME, headers=bearer(session["access_token"])).get_json()
    assert "scans.view" not in before["permissions"]

    grant_role(app, user, "analyst")
    granted = api.get(ME, headers=bearer(session["access_token"])).get_json()
    revoke_role(app, user, "analyst")
    revoked = api.get(ME, headers=bearer(session["access_token"])).get_json()

    assert "scans.view" in granted["permissions"] and "analyst" in granted["user"]["roles"]
    assert "scans.view" not in revoked["permissions"]


def test_a_base_role_change_applies_to_the_next_request(api, user, session, set_user) -> None:
    assert (
        "admin.users"
        not in api.get(ME, headers=bearer(session["access_token"])).get_json()["permissions"]
    )
    set_user(user.id, role="admin")

    me = api.get(ME, headers=bearer(session["access_token"])).get_json()

    assert me["user"]["role"] == "admin"
    assert "admin.users" in me["permissions"]


def test_a_user_moved_to_another_tenant_is_refused(app, api, user, session, set_user) -> None:
    from app.identity.models import Family

    with app.app_context():
        from app.extensions import db

        other = Family(name="Elsewhere")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    set_user(user.id, family_id=other_id)

    refused(api, session["access_token"])


def test_a_disabled_built_in_client_stops_its_session_tokens(app, api, session) -> None:
    from app.oauth2.services.clients import SURE_MOBILE_CLIENT_ID, disable_client, enable_client

    with app.app_context():
        disable_client(SURE_MOBILE_CLIENT_ID, now=utcnow())
    assert me_status(api, session["access_token"]) == 401
    with app.app_context():
        enable_client(SURE_MOBILE_CLIENT_ID, now=utcnow())
    assert me_status(api, session["access_token"]) == 200


# --- T10 / T11: only a genuine, live session JWT ----------------------------------------------


def test_a_tampered_signature_is_refused(api, session) -> None:
    token = session["access_token"]
    last = token[-1]
    refused(api, token[:-1] + ("A" if last != "A" else "B"))


def test_tampered_claims_are_refused(api, user, session) -> None:
    header, claims = parts(session["access_token"])
    signature = session["access_token"].rsplit(".", 1)[1]
    for change in ({"ver": 0, "sub": str(uuid.uuid4())}, {"exp": claims["exp"] + 3600}):
        forged = f"{_b64(header)}.{_b64({**claims, **change})}.{signature}"
        refused(api, forged)


def test_alg_none_is_refused(api, session) -> None:
    header, claims = parts(session["access_token"])
    refused(api, f"{_b64({**header, 'alg': 'none'})}.{_b64(claims)}.")
    refused(api, f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(claims)}.")


def test_another_key_is_refused_even_under_the_right_kid(api, session) -> None:
    header, claims = parts(session["access_token"])
    refused(api, signed(header, claims, "k" * 48))
    refused(api, signed({"alg": "HS256", "typ": "at+jwt"}, claims, "k" * 48))


def test_the_session_algorithm_is_the_only_one(app, api, session) -> None:
    header, claims = parts(session["access_token"])
    key = app.config["SESSION_JWT_KEY"]
    refused(api, signed({**header, "alg": "HS512"}, claims, key))


def test_other_types_signed_with_the_session_key_are_refused(app, api, session) -> None:
    header, claims = parts(session["access_token"])
    key = app.config["SESSION_JWT_KEY"]
    for typ in ("JWT", "sk+jwt", "ak+jwt", "refresh+jwt"):
        response = api.get(ME, headers=bearer(signed({**header, "typ": typ}, claims, key)))
        assert response.status_code == 401, typ


def test_a_valid_signature_for_a_row_that_does_not_exist_is_refused(app, api, session) -> None:
    """Never trusted on its own (T2): a correctly signed JWT whose jti names no issued row,
    or whose bytes are not the ones issued for the row, is refused."""
    header, claims = parts(session["access_token"])
    key = app.config["SESSION_JWT_KEY"]
    refused(api, signed(header, {**claims, "jti": str(uuid.uuid4())}, key))
    refused(api, signed(header, {**claims, "iat": claims["iat"] - 1}, key))


def test_an_expired_token_is_refused(app, api, user) -> None:
    from app.extensions import db
    from app.identity.models import User
    from app.requestctx import SYSTEM
    from app.sessions import tokens

    with app.app_context():
        issued = tokens.start_session(
            db.session.get(User, user.id), now=utcnow() - timedelta(minutes=20), caller=SYSTEM
        )
        db.session.commit()

    refused(api, issued["access_token"])


def test_a_refresh_token_is_never_an_access_token(api, user, session) -> None:
    mobile = api.post(
        "/api/v1/auth/login",
        json={
            "email": user.email,
            "password": user.password,
            "device": {
                "device_id": "d-1",
                "device_name": "Phone",
                "device_type": "ios",
                "os_version": "17",
                "app_version": "1",
            },
        },
    ).get_json()
    for token in (session["refresh_token"], mobile["refresh_token"]):
        refused(api, token)
    # The refresh token still works where it belongs.
    assert (
        api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code
        == 200
    )


def test_a_partner_assertion_is_not_a_session_token(api, user) -> None:
    now = utcnow()
    assertion = signed(
        {"alg": "HS256", "typ": "JWT"},
        {"organizationId": str(user.family_id), "timestamp": epoch(now)},
        "partner-sso-secret-" + "x" * 32,
    )
    refused(api, assertion)


def test_a_session_token_in_the_query_string_is_refused(api, session) -> None:
    response = api.get(f"{ME}?access_token={session['access_token']}")
    assert response.status_code == 400


# --- T27: bound to the region that issued it ---------------------------------------------------


@pytest.fixture
def eu_app(database_url: str, instance_dir):  # type: ignore[no-untyped-def]
    """A second instance, REGION=eu, on the same database."""
    from app import create_app

    application = create_app({**base_config(database_url, instance_dir), "REGION": "eu"})
    yield application
    from app.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_another_regions_instance_refuses_the_token(app, api, eu_app: Flask, session) -> None:
    eu = eu_app.test_client()

    assert me_status(eu, session["access_token"]) == 401
    assert me_status(api, session["access_token"]) == 200


def test_the_rgn_claim_itself_is_checked(app, api, user, eu_app: Flask, session, set_user) -> None:
    """The user moved to eu: the principal's region matches there, only the token's rgn
    (where it was issued) does not."""
    set_user(user.id, region="eu")

    assert me_status(eu_app.test_client(), session["access_token"]) == 401
    assert me_status(api, session["access_token"]) == 401  # the user is eu's now


def test_a_session_from_the_other_region_logs_in_and_works_there(
    app, eu_app: Flask, user, set_user
) -> None:
    set_user(user.id, region="eu")
    eu = eu_app.test_client()

    session = sign_in(eu, user)

    assert parts(session["access_token"])[1]["rgn"] == "eu"
    assert me_status(eu, session["access_token"]) == 200
    assert me_status(app.test_client(), session["access_token"]) == 401
