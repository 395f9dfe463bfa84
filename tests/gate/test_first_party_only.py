"""Routes that manage credentials or account security accept only first-party principals:
the browser session (with CSRF) and tokens of first-party clients (Sure's device tokens).
Every other credential is refused whatever its scope: a third-party client's token and an
API key with 403 and one clear message, the global key likewise, and a client-credentials
token (no resource owner) already at the gate with 401."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.factories import ClientInfo, UserInfo
from tests.support.http import error_body
from tests.support.sure import mobile_login

MESSAGE = "Only the account holder's own session or app can manage credentials and account security"
GLOBAL_KEY = "g" * 40
# (method, path, JSON body): every route the rule covers, plus the /api/v1 twins of the
# authorized-applications routes (their error bodies speak OAuth's shape).
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/api_keys", None),
    ("POST", "/api/v1/api_keys", {"name": "minted", "scope": "read_write"}),
    ("DELETE", f"/api/v1/api_keys/{uuid.UUID(int=1)}", None),
    ("GET", "/api/v1/mfa", None),
    ("POST", "/api/v1/mfa/enrolment", {"password": "whatever it is"}),
    ("POST", "/api/v1/mfa/enrolment/confirm", {"code": "123456"}),
    ("POST", "/api/v1/mfa/backup_codes", {"code": "123456"}),
    ("DELETE", "/api/v1/mfa", {"password": "whatever it is", "code": "123456"}),
    ("GET", "/oauth/authorized_applications", None),
    ("DELETE", "/oauth/authorized_applications/some-client", None),
    ("GET", "/api/v1/oauth/authorized_applications", None),
    ("DELETE", "/api/v1/oauth/authorized_applications/some-client", None),
]
IDS = [f"{method} {path}" for method, path, _ in ROUTES]


def _call(
    client: FlaskClient, route: tuple[str, str, dict[str, Any] | None], headers: dict[str, str]
):  # type: ignore[no-untyped-def]
    method, path, body = route
    return client.open(path, method=method, json=body, headers=headers)


def assert_refused(response, path: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, (path, response.get_json())
    key = "error_description" if "/oauth/" in path else "message"
    assert error_body(response) == {"error": "forbidden", key: MESSAGE}, path


@pytest.fixture
def api(app) -> FlaskClient:  # type: ignore[no-untyped-def]
    """No session cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def third_party_token(tokens: dict[str, Any]) -> str:
    """A read_write token of an ordinary (third-party) client, after the user's consent."""
    return tokens["access_token"]


@pytest.fixture
def user_api_key(app, user: UserInfo) -> str:  # type: ignore[no-untyped-def]
    from app.apikeys import services
    from app.clock import utcnow
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        return services.create_api_key(
            db.session.get(User, user.id), name="cli key", scope="read_write", now=utcnow()
        ).key


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_third_party_read_write_token_is_403(api, third_party_token, route) -> None:
    response = _call(api, route, {"Authorization": f"Bearer {third_party_token}"})
    assert_refused(response, route[1])


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_third_party_read_token_is_403_not_insufficient_scope(
    api, signed_in, oauth_client: ClientInfo, route
) -> None:
    from tests.support.oauth import authorize, exchange_code

    granted = authorize(signed_in, oauth_client, scope="read")
    token = exchange_code(signed_in, oauth_client, granted).get_json()["access_token"]
    assert_refused(_call(api, route, {"Authorization": f"Bearer {token}"}), route[1])


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_read_write_api_key_is_403(api, user_api_key, route) -> None:
    assert_refused(_call(api, route, {"X-Api-Key": user_api_key}), route[1])


@pytest.mark.config(GLOBAL_API_KEY=GLOBAL_KEY, GLOBAL_API_KEY_FAMILY_ID=str(uuid.uuid4()))
@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_global_key_is_403(api, route) -> None:
    assert_refused(_call(api, route, {"X-Api-Key": GLOBAL_KEY}), route[1])


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_client_credentials_token_is_refused(api, make_client, route) -> None:
    service = make_client(name="Service", grant_types=["client_credentials"])
    issued = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read_write"},
        headers=service.basic_auth,
    )
    assert issued.status_code == 200, issued.get_json()
    response = _call(api, route, {"Authorization": f"Bearer {issued.get_json()['access_token']}"})
    # No resource owner: the gate refuses the token before any route sees it.
    assert response.status_code == 401, response.get_json()


def test_a_session_bearing_a_third_party_token_is_judged_by_the_token(
    signed_in, third_party_token
) -> None:
    """The first credential present decides: a browser session does not lend its standing to
    a third-party token sent alongside it."""
    response = signed_in.get(
        "/api/v1/api_keys", headers={"Authorization": f"Bearer {third_party_token}"}
    )
    assert_refused(response, "/api/v1/api_keys")


# --- who is let in -----------------------------------------------------------------------------


def test_a_first_party_device_token_manages_keys_mfa_and_applications(api, user) -> None:
    token = mobile_login(api, user.email)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    created = api.post(
        "/api/v1/api_keys", json={"name": "from the app", "scope": "read"}, headers=auth
    )
    assert created.status_code == 201, created.get_json()
    assert [k["id"] for k in api.get("/api/v1/api_keys", headers=auth).get_json()["api_keys"]] == [
        created.get_json()["id"]
    ]
    assert (
        api.delete(f"/api/v1/api_keys/{created.get_json()['id']}", headers=auth).status_code == 200
    )

    assert api.get("/api/v1/mfa", headers=auth).status_code == 200
    enrolment = api.post("/api/v1/mfa/enrolment", json={"password": user.password}, headers=auth)
    assert enrolment.status_code == 200, enrolment.get_json()

    listed = api.get("/oauth/authorized_applications", headers=auth)
    assert listed.status_code == 200, listed.get_json()
    assert [a["client_id"] for a in listed.get_json()["applications"]] == ["sure-mobile"]


def test_a_session_with_csrf_manages_keys_mfa_and_applications(
    signed_in, user, third_party_token, oauth_client
) -> None:
    page = signed_in.get("/api/docs").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match
    csrf = {"X-CSRFToken": match.group(1)}

    created = signed_in.post(
        "/api/v1/api_keys", json={"name": "laptop", "scope": "read"}, headers=csrf
    )
    assert created.status_code == 201, created.get_json()
    assert signed_in.get("/api/v1/mfa").status_code == 200
    enrolment = signed_in.post(
        "/api/v1/mfa/enrolment", json={"password": user.password}, headers=csrf
    )
    assert enrolment.status_code == 200, enrolment.get_json()
    assert signed_in.get("/oauth/authorized_applications").status_code == 200
    revoked = signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}", headers=csrf
    )
    assert revoked.status_code == 204

    # Without the CSRF token a session write is refused before anything happens.
    refused = signed_in.post("/api/v1/api_keys", json={"name": "no csrf", "scope": "read"})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_csrf_token"


def test_the_refusal_comes_before_the_body_is_read(api, third_party_token) -> None:
    """A refused caller learns nothing from validation: an empty body is still a 403."""
    response = api.post(
        "/api/v1/mfa/enrolment",
        data=b"not json",
        headers={
            "Authorization": f"Bearer {third_party_token}",
            "Content-Type": "application/json",
        },
    )
    assert_refused(response, "/api/v1/mfa/enrolment")


def test_the_refusal_changes_nothing(app, api, third_party_token, user) -> None:
    """The attack of the report: a third-party app mints a key and enrols its own TOTP."""
    auth = {"Authorization": f"Bearer {third_party_token}"}
    api.post("/api/v1/api_keys", json={"name": "backdoor", "scope": "read_write"}, headers=auth)
    api.post("/api/v1/mfa/enrolment", json={"password": user.password}, headers=auth)

    from sqlalchemy import func, select

    from app.apikeys.models import ApiKey
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        assert db.session.scalar(select(func.count(ApiKey.id))) == 0
        row = db.session.get(User, user.id)
        assert row is not None
        assert row.otp_secret_encrypted is None and row.otp_required is False
    # The owner still signs in with the password alone.
    assert mobile_login(api, user.email)["access_token"]


def test_the_openapi_document_says_who_may_call(api) -> None:
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (("/api/v1/api_keys", "post"), ("/api/v1/mfa", "delete")):
        assert "Only the account holder" in paths[path][method]["description"], path
    assert "Only the account holder" not in paths["/api/v1/accounts"]["get"].get("description", "")
