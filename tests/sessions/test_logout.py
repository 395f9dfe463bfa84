"""POST /auth/logout and /api/v1/auth/logout (§4.2): a session JWT ends its whole session at
once -- every access and refresh token of the lineage -- audited; the next request with it is
a 401. Any other credential is told, with a 403, that logout is for sessions."""

from __future__ import annotations

import pytest

from tests.sessions.conftest import LOGOUT, bearer, me_status, sign_in
from tests.support.http import api_error
from tests.support.web import login, session_csrf

NOT_A_SESSION = {
    "error": "not_a_session",
    "message": "Logout ends a session: send the access token that POST /auth/login returned "
    "(other credentials are revoked where they are managed)",
}


@pytest.mark.parametrize("path", [LOGOUT, "/api/v1" + LOGOUT])
def test_logout_ends_the_whole_session(api, user, session, token_rows, audit, path: str) -> None:
    rotated = api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    current = rotated.get_json()

    response = api.post(path, headers=bearer(current["access_token"]))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert me_status(api, current["access_token"]) == 401
    assert (
        api.post("/auth/refresh", json={"refresh_token": current["refresh_token"]}).status_code
        == 401
    )
    rows = token_rows()
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    [ended] = audit("session.ended")
    assert ended["reason"] == "logout"
    assert ended["actor_user_id"] == user.id
    assert ended["revoked_tokens"] == 2


def test_logout_leaves_the_users_other_sessions_alone(api, user, session) -> None:
    other = sign_in(api, user)

    assert api.post(LOGOUT, headers=bearer(session["access_token"])).status_code == 204

    assert me_status(api, other["access_token"]) == 200


def test_a_second_logout_with_the_same_token_is_401(api, session) -> None:
    assert api.post(LOGOUT, headers=bearer(session["access_token"])).status_code == 204
    assert api.post(LOGOUT, headers=bearer(session["access_token"])).status_code == 401


def test_logout_with_an_oauth_token_is_403(api, tokens) -> None:
    response = api.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert response.status_code == 403
    assert api_error(response) == NOT_A_SESSION
    assert api.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_logout_with_an_api_key_is_403(api, user, make_key) -> None:
    response = api.post(LOGOUT, headers={"X-Api-Key": make_key(user)})

    assert response.status_code == 403
    assert api_error(response) == NOT_A_SESSION


def test_logout_with_the_browser_session_is_403(client, user) -> None:
    assert login(client, user.email, user.password).status_code == 302

    response = client.post(LOGOUT, headers={"X-CSRFToken": session_csrf(client)})

    assert response.status_code == 403
    assert api_error(response) == NOT_A_SESSION


def test_logout_without_a_credential_is_401(api) -> None:
    assert api.post(LOGOUT).status_code == 401
