"""``POST /api/v1/auth/sso_create_account`` (contract §3.6, §7.1 tests 33-44, checklist 23,
25): a password-less account for an unlinked identity, when creation is allowed or an
invitation is pending; names from the request override the provider's; the first user or a
provider whose default role is super_admin makes a super_admin, otherwise admin of a new family;
an invitation gives its family and role. Refusals keep the code, except a blocked identity
(deleted) and a validation failure after the code was spent (all rolled back)."""

from __future__ import annotations

import uuid

import pytest

from app.identity.models import Family, User
from app.oauth2.models import OAuthToken
from app.sso.models import SsoIdentity
from tests.sso.sure_sso import (
    CREATION_DISABLED,
    IDENTITY_REMOVED,
    LINKING_CODE_INVALID,
    LINKING_CODE_REQUIRED,
    SSO_CREATE_ACCOUNT,
    add_provider,
    block,
    count_fixture,  # noqa: F401 - fixture
    invite,
    link,
    linking_payload,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    query,
    upstream,
)
from tests.support.http import bearer, send
from tests.support.sure import (
    assert_error,
    assert_token_block,
    assert_user_object,
    status_of,
)

pytestmark = pytest.mark.usefixtures("provider")

IDENTITY = upstream(
    subject="newcomer", email="newcomer@example.com", first_name="Up", last_name="Stream"
)


@pytest.fixture
def root(make_user):  # type: ignore[no-untyped-def]
    """Someone runs this instance already (so a newcomer is not the first user)."""
    return make_user(email="root@example.com", role="super_admin")


def linking_code(app, identity=IDENTITY) -> str:  # type: ignore[no-untyped-def]
    params = query(mobile_callback(app, identity))
    assert params["status"] == "account_not_linked"
    return params["linking_code"]


def role_of(app, user_id: str) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    from app.extensions import db

    with app.app_context():
        user = db.session.get(User, uuid.UUID(user_id))
        assert user is not None
        return user.role, user.family_id


@pytest.mark.parametrize("fmt", ["json", "form"])
def test_a_valid_code_creates_the_account_with_the_requested_names(app, client, root, count, fmt):
    code = linking_code(app)
    users_before = count(User)

    response = send(
        client,
        SSO_CREATE_ACCOUNT,
        {"linking_code": code, "first_name": "Chosen", "last_name": "Name"},
        fmt,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_token_block(body)
    assert_user_object(body["user"])
    assert body["user"]["email"] == "newcomer@example.com"
    assert (body["user"]["first_name"], body["user"]["last_name"]) == ("Chosen", "Name")
    assert "no-store" in response.headers["Cache-Control"]
    assert count(User) == users_before + 1
    assert count(SsoIdentity) == 1
    assert status_of(client, bearer(body["access_token"])) == 200
    assert linking_payload(app, code) is None
    role, family_id = role_of(app, body["user"]["id"])
    assert role == "admin"
    assert family_id != root.family_id


def test_without_names_the_providers_are_used(app, client, root):
    body = send(client, SSO_CREATE_ACCOUNT, {"linking_code": linking_code(app)}).get_json()
    assert (body["user"]["first_name"], body["user"]["last_name"]) == ("Up", "Stream")


@pytest.mark.parametrize(
    ("default_role", "role"),
    [("member", "admin"), ("super_admin", "super_admin")],
    ids=["member-still-makes-the-family-creator-admin", "super_admin-makes-a-super-admin"],
)
def test_the_providers_default_role(app, client, root, default_role, role):
    add_provider(app, key="roles", default_role=default_role)
    identity = upstream(subject="r1", email="r1@example.com", provider_key="roles")

    body = send(client, SSO_CREATE_ACCOUNT, {"linking_code": linking_code(app, identity)})

    assert body.status_code == 200
    assert role_of(app, body.get_json()["user"]["id"])[0] == role


def test_the_instances_first_user_is_a_super_admin(app, client):
    body = send(client, SSO_CREATE_ACCOUNT, {"linking_code": linking_code(app)})

    assert body.status_code == 200
    assert role_of(app, body.get_json()["user"]["id"])[0] == "super_admin"


def test_creation_disabled_without_invitation_is_403_and_keeps_the_code(app, client, root, count):
    add_provider(app, key="strict", jit_mode="link_only")
    identity = upstream(subject="x1", email="x1@example.com", provider_key="strict")
    code = linking_code(app, identity)
    users_before = count(User)

    response = send(client, SSO_CREATE_ACCOUNT, {"linking_code": code})

    assert_error(response, 403, CREATION_DISABLED)
    assert "disabled" in response.get_json()["error"]
    assert linking_payload(app, code) is not None
    assert count(User) == users_before


def test_an_unverified_email_may_not_create_an_account(app, client, root, count):
    code = linking_code(app, upstream(subject="u1", email="u1@example.com", email_verified=False))

    assert_error(send(client, SSO_CREATE_ACCOUNT, {"linking_code": code}), 403, CREATION_DISABLED)
    assert linking_payload(app, code) is not None


def test_unknown_code_is_401(client, root):
    assert_error(
        send(client, SSO_CREATE_ACCOUNT, {"linking_code": "nope"}), 401, LINKING_CODE_INVALID
    )


@pytest.mark.parametrize("body", [{}, {"linking_code": ""}, {"linking_code": 5}])
def test_no_code_is_400(client, root, body):
    assert_error(send(client, SSO_CREATE_ACCOUNT, body or {"x": 1}), 400, LINKING_CODE_REQUIRED)


def test_an_email_someone_has_is_422_and_nothing_is_created(app, client, root, make_user, count):
    make_user(email="newcomer@example.com")
    code = linking_code(app)
    users_before, families_before = count(User), count(Family)

    response = send(client, SSO_CREATE_ACCOUNT, {"linking_code": code})

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert list(response.get_json()) == ["errors"]
    assert any("email" in message.lower() for message in errors)
    assert (count(User), count(Family)) == (users_before, families_before)
    assert count(SsoIdentity) == 0
    assert count(OAuthToken) == 0


def test_an_identity_linked_meanwhile_is_422_and_rolled_back(app, client, root, make_user, count):
    code = linking_code(app)
    other = make_user(email="other@example.com")
    link(app, other, IDENTITY)
    users_before, families_before = count(User), count(Family)

    response = send(client, SSO_CREATE_ACCOUNT, {"linking_code": code})

    assert response.status_code == 422
    assert list(response.get_json()) == ["errors"]
    assert (count(User), count(Family)) == (users_before, families_before)
    assert count(OAuthToken) == 0


def test_the_same_code_twice_first_200_then_401(app, client, root):
    code = linking_code(app)

    assert send(client, SSO_CREATE_ACCOUNT, {"linking_code": code}).status_code == 200
    assert_error(
        send(client, SSO_CREATE_ACCOUNT, {"linking_code": code}), 401, LINKING_CODE_INVALID
    )
    assert linking_payload(app, code) is None


@pytest.mark.parametrize("role", ["member", "admin"])
def test_a_pending_invitation_joins_its_family_with_its_role(app, client, root, make_user, role):
    """Also when the provider may not create accounts: the invitation allows it (Sure's
    family account shares are not a Tollgate concept; the family and role are)."""
    add_provider(app, key="strict", jit_mode="link_only")
    owner = make_user(email="owner@example.com", role="admin")
    invite(app, "invited@example.com", owner.family_id, role=role)
    identity = upstream(subject="inv", email="invited@example.com", provider_key="strict")
    params = query(mobile_callback(app, identity))
    assert (params["allow_account_creation"], params["has_pending_invitation"]) == ("true", "true")

    response = send(client, SSO_CREATE_ACCOUNT, {"linking_code": params["linking_code"]})

    assert response.status_code == 200, response.get_json()
    assert role_of(app, response.get_json()["user"]["id"]) == (role, owner.family_id)


def test_a_blocked_identity_is_403_no_user_and_the_code_is_deleted(
    app, client, root, make_user, count
):
    code = linking_code(app)
    other = make_user(email="other@example.com")
    link(app, other, IDENTITY)
    block(app, IDENTITY)
    users_before = count(User)

    assert_error(send(client, SSO_CREATE_ACCOUNT, {"linking_code": code}), 403, IDENTITY_REMOVED)
    assert count(User) == users_before
    assert linking_payload(app, code) is None
