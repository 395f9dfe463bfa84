"""Using an access key: ``Authorization: Bearer <JWT>`` on the cloud-account resource (and the
others), what its roles allow, its account selection, edits and removal applied at once,
expiry, and forged or foreign tokens (reference §3.5, T2, T10, T11, T17, T22)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import event, update

from app.clock import epoch, utcnow
from tests.support.accesskeys import CLOUD_ACCOUNTS, bearer, listed_ids
from tests.support.factories import grant_role as grant
from tests.support.factories import revoke_role as revoke
from tests.support.http import error_body

INVALID = {
    "error": "unauthorized",
    "message": "Access token is invalid, expired, or missing required scope",
}


def _assert_401(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.get_json()
    assert error_body(response) == INVALID
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict, dict, str]:
    head, body, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(body))),
        signature,
    )


# --- roles decide what the key may do --------------------------------------------------------


def test_a_global_viewer_key_reads_everything_and_writes_nothing(
    manager, api, make_cloud_account
) -> None:
    family = manager.user.family_id
    accounts = sorted([make_cloud_account(family, "A"), make_cloud_account(family, "B")])
    auth = bearer(manager.issue([{"role": "global_viewer"}])["token"])

    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == accounts
    assert api.get(f"{CLOUD_ACCOUNTS}/{accounts[0]}", headers=auth).status_code == 200
    assert api.get("/api/v1/accounts", headers=auth).status_code == 200
    assert api.get("/api/v1/transactions", headers=auth).status_code == 200

    refused = api.post(
        CLOUD_ACCOUNTS, json={"cloud_account": {"name": "New", "provider": "gcp"}}, headers=auth
    )
    assert refused.status_code == 403, refused.get_json()
    assert api.post("/api/v1/tags", json={"tag": {"name": "x"}}, headers=auth).status_code == 403
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == accounts


def test_a_global_admin_key_reads_and_writes(manager, api) -> None:
    auth = bearer(manager.issue([{"role": "global_admin"}])["token"])
    created = api.post(
        CLOUD_ACCOUNTS,
        json={"cloud_account": {"name": "Staging", "provider": "azure"}},
        headers=auth,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["name"] == "Staging" and body["provider"] == "azure"
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [body["id"]]
    assert api.post("/api/v1/tags", json={"tag": {"name": "x"}}, headers=auth).status_code == 201


def test_a_global_admin_key_is_still_no_user(manager, api) -> None:
    """A key is a service credential of the tenant: user-only routes refuse it."""
    auth = bearer(manager.issue([{"role": "global_admin"}])["token"])
    for method, path in (
        ("GET", "/api/v1/api_keys"),
        ("POST", f"/api/v1/admin/users/{manager.user.id}/roles"),
        ("DELETE", "/api/v1/users/reset"),  # family.reset is a Global Admin permission
        ("DELETE", "/api/v1/users/me"),
    ):
        response = api.open(path, method=method, json={"role": "global_admin"}, headers=auth)
        assert response.status_code == 403, (path, response.get_json())


def test_a_cloud_account_viewer_sees_only_its_selection(
    manager, api, make_cloud_account, make_user
) -> None:
    family = manager.user.family_id
    chosen, other = make_cloud_account(family, "Chosen"), make_cloud_account(family, "Other")
    foreign = make_cloud_account(make_user(email="bob@other.example").family_id, "Foreign")
    auth = bearer(manager.issue([{"role": "cloud_account_viewer", "accounts": [chosen]}])["token"])

    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [chosen]
    assert api.get(f"{CLOUD_ACCOUNTS}/{chosen}", headers=auth).status_code == 200
    for hidden in (other, foreign, str(uuid.uuid4()), "nope"):
        response = api.get(f"{CLOUD_ACCOUNTS}/{hidden}", headers=auth)
        assert response.status_code == 404, hidden
    # View-only: never writes; and it reads nothing but cloud accounts.
    refused = api.post(
        CLOUD_ACCOUNTS, json={"cloud_account": {"name": "X", "provider": "aws"}}, headers=auth
    )
    assert refused.status_code == 403
    for path in ("/api/v1/accounts", "/api/v1/transactions", "/api/v1/tags", "/api/v1/valuations"):
        assert api.get(path, headers=auth).status_code == 403, path


def test_all_accounts_covers_accounts_added_later(manager, api, make_cloud_account) -> None:
    family = manager.user.family_id
    first = make_cloud_account(family, "First")
    auth = bearer(manager.issue([{"role": "cloud_account_viewer", "accounts": "all"}])["token"])
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [first]

    later = make_cloud_account(family, "Later")
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == sorted([first, later])
    assert api.get(f"{CLOUD_ACCOUNTS}/{later}", headers=auth).status_code == 200


def test_a_selection_does_not_grow_with_new_accounts(manager, api, make_cloud_account) -> None:
    family = manager.user.family_id
    chosen = make_cloud_account(family, "Chosen")
    auth = bearer(manager.issue([{"role": "cloud_account_viewer", "accounts": [chosen]}])["token"])
    make_cloud_account(family, "Later")
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [chosen]


def test_a_global_role_beside_a_selection_sees_everything(manager, api, make_cloud_account) -> None:
    family = manager.user.family_id
    chosen, other = make_cloud_account(family, "Chosen"), make_cloud_account(family, "Other")
    token = manager.issue(
        [{"role": "cloud_account_viewer", "accounts": [chosen]}, {"role": "global_viewer"}]
    )["token"]
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=bearer(token))) == sorted([chosen, other])


def test_a_key_acts_only_in_its_own_tenant(manager, api, make_cloud_account, make_user) -> None:
    foreign = make_cloud_account(make_user(email="bob@other.example").family_id, "Foreign")
    auth = bearer(manager.issue([{"role": "global_admin"}])["token"])
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == []
    assert api.get(f"{CLOUD_ACCOUNTS}/{foreign}", headers=auth).status_code == 404


def test_users_see_cloud_accounts_by_their_roles(
    app, manager, make_user, make_key, api, make_cloud_account
) -> None:
    """Not only keys: a user's granted role works through an API key too; members have no
    cloud-account permission at all."""
    family = manager.user.family_id
    account = make_cloud_account(family)
    viewer = make_user(family_id=family)
    grant(app, viewer, "cloud_account_viewer")
    viewer_key = {"X-Api-Key": make_key(viewer, scope="read_write")}
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=viewer_key)) == [account]
    refused = api.post(
        CLOUD_ACCOUNTS, json={"cloud_account": {"name": "X", "provider": "aws"}}, headers=viewer_key
    )
    assert refused.status_code == 403
    member_key = {"X-Api-Key": make_key(make_user(family_id=family))}
    assert api.get(CLOUD_ACCOUNTS, headers=member_key).status_code == 403


def test_creating_a_cloud_account_validates_its_body(manager, api) -> None:
    auth = bearer(manager.issue([{"role": "global_admin"}])["token"])
    for body, status in (
        ({}, 400),
        ({"cloud_account": {"name": "X"}}, 422),
        ({"cloud_account": {"name": "X", "provider": "ibm"}}, 422),
        ({"cloud_account": {"name": "", "provider": "aws"}}, 422),
        ({"cloud_account": {"name": "X", "provider": "aws", "extra": 1}}, 422),
    ):
        assert api.post(CLOUD_ACCOUNTS, json=body, headers=auth).status_code == status, body


# --- edits and removal apply to the issued JWT at once -------------------------------------------


def test_editing_roles_applies_to_the_next_request(manager, api, make_cloud_account) -> None:
    family = manager.user.family_id
    a, b = make_cloud_account(family, "A"), make_cloud_account(family, "B")
    key = manager.issue([{"role": "cloud_account_viewer", "accounts": [a]}])
    auth = bearer(key["token"])
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [a]

    assert (
        manager.patch(
            key["id"], {"roles": [{"role": "cloud_account_viewer", "accounts": [b]}]}
        ).status_code
        == 200
    )
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=auth)) == [b]
    assert api.get(f"{CLOUD_ACCOUNTS}/{a}", headers=auth).status_code == 404

    new_account = {"cloud_account": {"name": "C", "provider": "gcp"}}
    assert api.post(CLOUD_ACCOUNTS, json=new_account, headers=auth).status_code == 403
    assert manager.patch(key["id"], {"roles": [{"role": "global_admin"}]}).status_code == 200
    assert api.post(CLOUD_ACCOUNTS, json=new_account, headers=auth).status_code == 201

    assert manager.patch(key["id"], {"roles": [{"role": "global_viewer"}]}).status_code == 200
    assert api.post(CLOUD_ACCOUNTS, json=new_account, headers=auth).status_code == 403


def test_removal_refuses_the_jwt_at_once(manager, api) -> None:
    key = manager.issue([{"role": "global_viewer"}])
    auth = bearer(key["token"])
    assert api.get(CLOUD_ACCOUNTS, headers=auth).status_code == 200
    assert manager.delete(key["id"]).status_code == 204
    _assert_401(api.get(CLOUD_ACCOUNTS, headers=auth))


def test_the_key_does_not_depend_on_its_creator(app, manager, api) -> None:
    """A service credential of the tenant: the admin losing the role (or signing out) does not
    end it; only its own removal or expiry does."""
    auth = bearer(manager.issue([{"role": "global_viewer"}])["token"])
    revoke(app, manager.user, "global_admin")
    assert api.get(CLOUD_ACCOUNTS, headers=auth).status_code == 200


def test_an_expired_key_is_401(app, manager, api) -> None:
    from app.accesskeys.models import AccessKey
    from app.extensions import db

    key = manager.issue([{"role": "global_viewer"}], custom_days=1)
    auth = bearer(key["token"])
    assert api.get(CLOUD_ACCOUNTS, headers=auth).status_code == 200
    # The stored expiry decides even while the JWT's own exp has not passed.
    with app.app_context():
        db.session.execute(
            update(AccessKey)
            .where(AccessKey.id == uuid.UUID(key["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    _assert_401(api.get(CLOUD_ACCOUNTS, headers=auth))


def test_a_jwt_past_its_exp_is_401(app, admin, api) -> None:
    from app.accesskeys import services
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        created = services.create_access_key(
            db.session.get(User, admin.id),
            name="long gone",
            roles=[{"role": "global_viewer"}],
            custom_days=1,
            now=utcnow() - timedelta(days=2),
        )
    _assert_401(api.get(CLOUD_ACCOUNTS, headers=bearer(created.token)))


def test_one_query_and_no_write_per_request(app, manager, api, make_cloud_account) -> None:
    make_cloud_account(manager.user.family_id)
    auth = bearer(manager.issue([{"role": "global_viewer"}])["token"])
    from app.extensions import db

    statements: list[str] = []

    def log(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        assert api.get(CLOUD_ACCOUNTS, headers=auth).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", log)
    key_lookups = [s for s in statements if "FROM access_keys" in s]
    assert len(key_lookups) == 1, key_lookups
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert not [s for s in writes if "access_key" in s]


# --- forged and foreign tokens ---------------------------------------------------------------


def test_forged_tokens_are_401(app, manager, api) -> None:
    key = manager.issue([{"role": "global_admin"}])
    header, claims, signature = _segments(key["token"])
    secret = app.config["ACCESS_KEY_JWT_KEY"].encode()

    unsigned = f"{_b64({**header, 'alg': 'none'})}.{_b64(claims)}."
    hs512 = jwt.encode(
        {**header, "alg": "HS512"}, claims, OctKey.import_key(secret), algorithms=["HS512"]
    )
    other_key = jwt.encode(  # our typ and kid, another secret
        header, claims, OctKey.import_key(b"another-secret-" + b"x" * 40), algorithms=["HS256"]
    )
    tampered = f"{_b64(header)}.{_b64({**claims, 'jti': str(uuid.uuid4())})}.{signature}"
    stretched = f"{_b64(header)}.{_b64({**claims, 'exp': claims['exp'] + 86400})}.{signature}"
    for forged in (unsigned, hs512, other_key, tampered, stretched):
        _assert_401(api.get(CLOUD_ACCOUNTS, headers=bearer(forged)))
    assert api.get(CLOUD_ACCOUNTS, headers=bearer(key["token"])).status_code == 200


def test_a_secret_key_style_token_is_401(app, manager, api) -> None:
    """Signed with the secret-key JWT key (HS512), as an sk+jwt or dressed up as an ak+jwt."""
    key = manager.issue([{"role": "global_admin"}])
    header, claims, _ = _segments(key["token"])
    sk_secret = OctKey.import_key(app.config["SECRET_KEY_JWT_KEY"].encode())
    for typ, alg in (("ak+jwt", "HS512"), ("ak+jwt", "HS256"), ("sk+jwt", "HS512")):
        token = jwt.encode({**header, "typ": typ, "alg": alg}, claims, sk_secret, algorithms=[alg])
        response = api.get(CLOUD_ACCOUNTS, headers=bearer(token))
        assert response.status_code == 401, (typ, alg, response.get_json())


def test_a_validly_signed_token_naming_another_tenant_is_401(app, manager, api) -> None:
    """The tenant in the JWT must be the key's own (defence in depth: only we sign)."""
    from app.accesskeys.services import PROFILE

    key = manager.issue([{"role": "global_admin"}])
    _, claims, _ = _segments(key["token"])
    with app.test_request_context():
        now = utcnow()
        token = PROFILE.encode(
            {"sub": claims["sub"], "tid": str(uuid.uuid4()), "jti": claims["jti"]},
            now=now,
            expires_at=now + timedelta(days=1),
        )
    _assert_401(api.get(CLOUD_ACCOUNTS, headers=bearer(token)))


@pytest.mark.parametrize("missing", ["jti", "tid", "sub", "exp", "iat", "iss"])
def test_a_token_missing_a_claim_is_401(app, manager, api, missing) -> None:
    key = manager.issue([{"role": "global_admin"}])
    header, claims, _ = _segments(key["token"])
    secret = OctKey.import_key(app.config["ACCESS_KEY_JWT_KEY"].encode())
    claims.pop(missing)
    token = jwt.encode(header, claims, secret, algorithms=["HS256"])
    _assert_401(api.get(CLOUD_ACCOUNTS, headers=bearer(token)))


def test_an_access_key_is_not_accepted_as_an_api_key(manager, api) -> None:
    token = manager.issue([{"role": "global_admin"}])["token"]
    assert api.get(CLOUD_ACCOUNTS, headers={"X-Api-Key": token}).status_code == 401


def test_the_issued_exp_is_the_listed_expiry(manager) -> None:
    key = manager.issue([{"role": "global_viewer"}], expiration="3m")
    _, claims, _ = _segments(key["token"])
    listed = manager.list().get_json()[0]
    from datetime import datetime

    assert claims["exp"] == epoch(datetime.fromisoformat(listed["expires_at"].removesuffix("Z")))
