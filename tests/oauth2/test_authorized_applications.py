"""The signed-in user's authorized applications: list and revoke (browser session + CSRF)."""

from __future__ import annotations

from tests.conftest import authorize, csrf_from, exchange_code, introspect, login, refresh


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get("/").get_data(as_text=True))


def _flow(client, oauth, scope: str = "read_write") -> dict:  # type: ignore[no-untyped-def]
    auth = authorize(client, oauth, scope=scope)
    response = exchange_code(client, oauth, auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _applications(client) -> list[dict]:  # type: ignore[no-untyped-def]
    response = client.get("/oauth/authorized_applications")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["applications"]


def _active(client, oauth, token: str) -> bool:  # type: ignore[no-untyped-def]
    response = introspect(client, oauth, token)
    assert response.status_code == 200
    return response.get_json()["active"]


def test_not_signed_in_is_401_json(client):
    response = client.get("/oauth/authorized_applications")
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["Cache-Control"] == "no-store"
    response = client.delete("/oauth/authorized_applications/anything")
    assert response.status_code in (400, 401)  # CSRF or sign-in: never a revocation


def test_not_signed_in_is_401_json_under_api_v1_twin(client):
    response = client.get("/api/v1/oauth/authorized_applications")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_bearer_token_does_not_open_the_session_endpoints(client, tokens):
    """A third-party client holding the user's token cannot list or revoke grants."""
    anonymous = client.application.test_client()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert anonymous.get("/oauth/authorized_applications", headers=headers).status_code == 401


def test_empty_list_when_nothing_authorized(signed_in):
    assert _applications(signed_in) == []


def test_lists_the_authorized_client(signed_in, oauth_client, tokens):
    (app_entry,) = _applications(signed_in)
    assert app_entry["client_id"] == oauth_client.client_id
    assert app_entry["name"] == "Test App"
    assert app_entry["scopes"] == ["read_write"]
    assert app_entry["authorized_at"].endswith("Z")
    assert app_entry["last_issued_at"] >= app_entry["authorized_at"]
    # Nothing secret in the listing.
    text = signed_in.get("/oauth/authorized_applications").get_data(as_text=True)
    assert tokens["access_token"] not in text and tokens["refresh_token"] not in text


def test_lists_each_client_once_with_union_of_scopes(signed_in, oauth_client, make_client):
    _flow(signed_in, oauth_client, scope="read")
    _flow(signed_in, oauth_client, scope="read_write")
    other = make_client(name="Another App")
    _flow(signed_in, other, scope="read")
    apps = {a["client_id"]: a for a in _applications(signed_in)}
    assert set(apps) == {oauth_client.client_id, other.client_id}
    assert apps[oauth_client.client_id]["scopes"] == ["read", "read_write"]
    assert apps[other.client_id]["scopes"] == ["read"]
    assert apps[other.client_id]["name"] == "Another App"


def test_revoke_with_csrf_header(signed_in, oauth_client, tokens):
    rotated = refresh(signed_in, oauth_client, tokens["refresh_token"]).get_json()
    response = signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}",
                                headers={"X-CSRFToken": _csrf(signed_in)})
    assert response.status_code == 204
    assert response.get_data() == b""
    for token in (tokens["access_token"], rotated["access_token"], rotated["refresh_token"]):
        assert _active(signed_in, oauth_client, token) is False
    again = refresh(signed_in, oauth_client, rotated["refresh_token"])
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
    assert _applications(signed_in) == []
    # Bearer use of the revoked token fails too.
    info = signed_in.get("/oauth/token/info",
                         headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert info.status_code == 401


def test_revoke_is_audited(app, signed_in, oauth_client, tokens, user):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEvent

    signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}",
                     headers={"X-CSRFToken": _csrf(signed_in)})
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "authorization.revoked"))
    assert event is not None
    assert event.actor_user_id == user.id
    assert event.client_id == oauth_client.client_id
    assert event.details["revoked_tokens"] >= 1


def test_revoke_without_csrf_is_refused(signed_in, oauth_client, tokens):
    response = signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}")
    assert response.status_code == 400
    forged = signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}",
                              headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    assert _active(signed_in, oauth_client, tokens["access_token"]) is True
    assert len(_applications(signed_in)) == 1


def test_revoke_unknown_client_is_404(signed_in, tokens):
    response = signed_in.delete("/oauth/authorized_applications/no-such-client",
                                headers={"X-CSRFToken": _csrf(signed_in)})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "not_found"


def test_revoke_twice_is_404_the_second_time(signed_in, oauth_client, tokens):
    path = f"/oauth/authorized_applications/{oauth_client.client_id}"
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 204
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 404


def test_other_users_authorizations_are_unaffected(app, signed_in, oauth_client, tokens,
                                                   make_user):
    bob = make_user(email="bob@example.com")
    bob_browser = app.test_client()
    assert login(bob_browser, bob.email, bob.password).status_code == 302
    bob_tokens = _flow(bob_browser, oauth_client)

    # Alice revokes her grant to the shared client.
    response = signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}",
                                headers={"X-CSRFToken": _csrf(signed_in)})
    assert response.status_code == 204
    assert _active(signed_in, oauth_client, tokens["access_token"]) is False

    assert _active(bob_browser, oauth_client, bob_tokens["access_token"]) is True
    assert _active(bob_browser, oauth_client, bob_tokens["refresh_token"]) is True
    (entry,) = _applications(bob_browser)
    assert entry["client_id"] == oauth_client.client_id


def test_cannot_revoke_another_users_grant(app, signed_in, oauth_client, make_user, make_client):
    """Alice has nothing with Bob's client: revoking it is 404 and Bob keeps his tokens."""
    bob = make_user(email="bob@example.com")
    bob_browser = app.test_client()
    login(bob_browser, bob.email, bob.password)
    bobs_client = make_client(name="Bob's App")
    bob_tokens = _flow(bob_browser, bobs_client)

    response = signed_in.delete(f"/oauth/authorized_applications/{bobs_client.client_id}",
                                headers={"X-CSRFToken": _csrf(signed_in)})
    assert response.status_code == 404
    assert _active(bob_browser, bobs_client, bob_tokens["access_token"]) is True
    assert _applications(signed_in) == []
