"""The signed-in user's authorized applications: list and revoke (browser session + CSRF)."""

from __future__ import annotations

from tests.support.oauth import authorize, exchange_code, introspect, refresh
from tests.support.web import csrf_from, login


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


def test_a_third_party_token_cannot_list_or_revoke_grants(client, oauth_client, tokens):
    """A third-party client holding the user's token is refused with a clear 403 (it used
    to be a 401 "sign in"): only the account holder's session or first-party app manages
    authorizations."""
    anonymous = client.application.test_client()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    listed = anonymous.get("/oauth/authorized_applications", headers=headers)
    assert listed.status_code == 403
    assert listed.get_json()["error"] == "forbidden"
    revoked = anonymous.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}", headers=headers
    )
    assert revoked.status_code == 403
    assert _active(client, oauth_client, tokens["access_token"]) is True


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
    response = signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
    assert response.status_code == 204
    assert response.get_data() == b""
    for token in (tokens["access_token"], rotated["access_token"], rotated["refresh_token"]):
        assert _active(signed_in, oauth_client, token) is False
    again = refresh(signed_in, oauth_client, rotated["refresh_token"])
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
    assert _applications(signed_in) == []
    # Bearer use of the revoked token fails too.
    info = signed_in.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert info.status_code == 401


def test_revoke_is_audited(app, signed_in, oauth_client, tokens, user):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEvent

    signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "authorization.revoked")
        )
    assert event is not None
    assert event.actor_user_id == user.id
    assert event.client_id == oauth_client.client_id
    assert event.details["revoked_tokens"] >= 1


def test_revoke_without_csrf_is_refused(signed_in, oauth_client, tokens):
    response = signed_in.delete(f"/oauth/authorized_applications/{oauth_client.client_id}")
    assert response.status_code == 400
    forged = signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": "forged"},
    )
    assert forged.status_code == 400
    assert _active(signed_in, oauth_client, tokens["access_token"]) is True
    assert len(_applications(signed_in)) == 1


def test_revoke_unknown_client_is_404(signed_in, tokens):
    response = signed_in.delete(
        "/oauth/authorized_applications/no-such-client", headers={"X-CSRFToken": _csrf(signed_in)}
    )
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "not_found"


def test_revoke_twice_is_404_the_second_time(signed_in, oauth_client, tokens):
    path = f"/oauth/authorized_applications/{oauth_client.client_id}"
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 204
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 404


def test_other_users_authorizations_are_unaffected(app, signed_in, oauth_client, tokens, make_user):
    bob = make_user(email="bob@example.com")
    bob_browser = app.test_client()
    assert login(bob_browser, bob.email, bob.password).status_code == 302
    bob_tokens = _flow(bob_browser, oauth_client)

    # Alice revokes her grant to the shared client.
    response = signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
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

    response = signed_in.delete(
        f"/oauth/authorized_applications/{bobs_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
    assert response.status_code == 404
    assert _active(bob_browser, bobs_client, bob_tokens["access_token"]) is True
    assert _applications(signed_in) == []


# --- API keys die with the authorization of the client that created them --------------------


def _key_for(app, user, client_id: str | None, name: str, source: str = "web") -> str:  # type: ignore[no-untyped-def]
    """A key as the client's token would have created it (third-party clients could, before
    first-party-only key management; first-party clients still can)."""
    from app.apikeys import services as apikeys
    from app.clock import utcnow
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        return apikeys.create_api_key(
            db.session.get(User, user.id),
            name=name,
            scope="read_write",
            source=source,
            now=utcnow(),
            created_by_client_id=client_id,
        ).key


def _key_works(client, key: str) -> bool:  # type: ignore[no-untyped-def]
    status = (
        client.application.test_client()
        .get("/api/v1/usage", headers={"X-Api-Key": key})
        .status_code
    )
    assert status in (200, 401)
    return status == 200


def test_revoking_the_authorization_revokes_the_keys_the_client_created(
    app, signed_in, user, oauth_client, tokens, make_client
):
    minted = _key_for(app, user, oauth_client.client_id, "minted by the app", "web")
    other_app = make_client(name="Another App")
    by_other = _key_for(app, user, other_app.client_id, "minted by another app", "mobile")
    by_user = _key_for(app, user, None, "made in the browser", "monitoring")
    assert all(_key_works(signed_in, k) for k in (minted, by_other, by_user))

    response = signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )

    assert response.status_code == 204
    assert not _key_works(signed_in, minted)
    assert _key_works(signed_in, by_other) and _key_works(signed_in, by_user)
    assert _active(signed_in, oauth_client, tokens["access_token"]) is False


def test_a_key_created_with_a_first_party_token_dies_with_that_authorization(app, client, user):
    from tests.support.sure import mobile_login

    token = mobile_login(client, user.email)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/api_keys", json={"name": "from the phone", "scope": "read"}, headers=auth
    )
    assert created.status_code == 201, created.get_json()
    key = created.get_json()["key"]
    assert _key_works(client, key)

    from sqlalchemy import select

    from app.apikeys.models import ApiKey
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    with app.app_context():
        row = db.session.scalar(select(ApiKey))
        lineage = db.session.scalar(select(OAuthToken.lineage_id))
        assert row is not None
        assert (row.created_by_client_id, row.created_by_lineage_id) == ("sure-mobile", lineage)

    # The app revokes its own authorization (a first-party token may manage applications).
    revoked = client.delete("/oauth/authorized_applications/sure-mobile", headers=auth)
    assert revoked.status_code == 204
    assert not _key_works(client, key)
    assert client.get("/api/v1/accounts", headers=auth).status_code == 401


def test_keys_a_client_left_behind_are_revoked_even_without_live_tokens(
    app, signed_in, user, oauth_client, tokens
):
    """A key minted before the fix outlives the app's tokens (revoked, expired or purged):
    revoking the authorization still finds and revokes it."""
    minted = _key_for(app, user, oauth_client.client_id, "left behind")
    # The app's lineage is revoked (RFC 7009): no live token of it is left.
    assert (
        signed_in.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"]},
            headers=oauth_client.basic_auth,
        ).status_code
        == 200
    )
    assert _applications(signed_in) == []
    assert _key_works(signed_in, minted)

    path = f"/oauth/authorized_applications/{oauth_client.client_id}"
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 204
    assert not _key_works(signed_in, minted)
    assert signed_in.delete(path, headers={"X-CSRFToken": _csrf(signed_in)}).status_code == 404


def test_other_users_keys_from_the_same_client_survive(
    app, signed_in, user, oauth_client, tokens, make_user
):
    bob = make_user(email="bob@example.com")
    bobs = _key_for(app, bob, oauth_client.client_id, "bob's")
    alices = _key_for(app, user, oauth_client.client_id, "alice's")
    signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
    assert not _key_works(signed_in, alices)
    assert _key_works(signed_in, bobs)


def test_the_revoked_keys_are_in_the_audit_event(app, signed_in, user, oauth_client, tokens):
    from sqlalchemy import select

    from app.apikeys.models import ApiKey
    from app.extensions import db
    from app.models import AuditEvent

    _key_for(app, user, oauth_client.client_id, "minted")
    signed_in.delete(
        f"/oauth/authorized_applications/{oauth_client.client_id}",
        headers={"X-CSRFToken": _csrf(signed_in)},
    )
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "authorization.revoked")
        )
        key_id = db.session.scalar(select(ApiKey.id))
    assert event is not None
    assert event.details["revoked_api_keys"] == [str(key_id)]
    assert event.details["revoked_tokens"] >= 1
