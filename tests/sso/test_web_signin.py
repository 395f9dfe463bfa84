"""Web sign-in through a real OpenID provider (tests/support/idp.py): start, callback, linked
identities, JIT accounts, the link page, the second factor, failures."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import utcnow
from tests.sso.web_sso import (
    CALLBACK,
    KEY,
    back_from_provider,
    configure,
    fresh,
    linked_person,
    path_of,
    session_of,
    sign_in,
    signed_in,
    start,
)
from tests.support.factories import MfaUser, UserInfo, enable_mfa
from tests.support.idp import UpstreamIdp
from tests.support.servers import free_port
from tests.support.totp import totp_now, wrong_totp
from tests.support.web import csrf_from


def test_start_redirects_to_the_provider_with_pkce_s256_nonce_and_state(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    started = start(client)
    assert started.status_code == 302
    url = started.headers["Location"]
    assert url.startswith(upstream_idp.metadata()["authorization_endpoint"] + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == upstream_idp.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["nonce"]) >= 20
    assert len(params["state"]) >= 20
    assert set(params["scope"].split()) == {"openid", "email", "profile"}


def test_first_sign_in_creates_an_account_in_its_own_family_and_signs_in(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user("new.person@jit.example", given_name="New", family_name="Person")
    answer = sign_in(client, upstream_idp, person)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert signed_in(client)
    from sqlalchemy import select

    from app.extensions import db
    from app.identity.users import find_by_email
    from app.sso.models import SsoIdentity

    with app.app_context():
        user = find_by_email("new.person@jit.example")
        assert user is not None
        assert (user.first_name, user.last_name, user.password_hash) == ("New", "Person", None)
        assert user.role in ("admin", "super_admin")
        link_row = db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user.id))
        assert (link_row.issuer, link_row.subject) == (upstream_idp.issuer, person.sub)


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def owner(make_user: Callable[..., UserInfo]) -> UserInfo:
    """An account here, with a password."""
    return make_user(fresh("tollgate.example"))


@pytest.fixture
def mfa_owner(app: Flask, make_user: Callable[..., UserInfo]) -> MfaUser:
    """An account here with TOTP on."""
    return enable_mfa(app, make_user(fresh("tollgate.example")))


def _identity_rows(app: Flask) -> list[tuple[uuid.UUID, str, str, bool]]:
    from app.extensions import db
    from app.sso.models import SsoIdentity

    with app.app_context():
        return [
            (r.user_id, r.issuer, r.subject, r.blocked_at is not None)
            for r in db.session.scalars(select(SsoIdentity)).all()
        ]


def _logins(app: Flask, user_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The user's web sign-in audit events through a provider (outcome, the telling details)."""
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "login", AuditEvent.actor_user_id == user_id)
            .order_by(AuditEvent.occurred_at)
        ).all()
        return [
            (
                row.outcome,
                {k: v for k, v in row.details.items() if k in ("reason", "second_factor")},
            )
            for row in rows
            if row.details.get("method") == "sso"
        ]


# --- linked identities --------------------------------------------------------------------------


def test_a_linked_identity_signs_its_user_in_with_amr_ext(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, owner: UserInfo
) -> None:
    configure(app, upstream_idp)
    person = linked_person(app, upstream_idp, owner)
    answer = sign_in(client, upstream_idp, person)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/")
    state = session_of(client)
    assert state["amr"] == ["ext"]
    assert state["_user_id"].startswith(str(owner.id))
    assert _identity_rows(app) == [(owner.id, upstream_idp.issuer, person.sub, False)]
    assert _logins(app, owner.id) == [("success", {})]


def test_a_provider_asserting_an_existing_users_email_does_not_sign_that_user_in(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any
) -> None:
    """Account-takeover guard: the address is the victim's, the (issuer, subject) is not
    linked to anyone, the provider would allow JIT creation. Nobody is signed in, nothing is
    linked or created; the link page asks for the account's password."""
    configure(app, upstream_idp)
    victim = make_user(fresh("victim.example"))
    attacker = upstream_idp.add_user(victim.email, email_verified=True)
    answer = sign_in(client, upstream_idp, attacker)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/auth/link")
    assert not signed_in(client)
    assert _identity_rows(app) == []
    page = client.get("/auth/link")
    assert page.status_code == 200
    assert "Sign in to your Tollgate account to link them" in page.get_data(as_text=True)
    wrong = client.post(
        "/auth/link",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": victim.email,
            "password": "not the password",
        },
    )
    assert wrong.status_code == 401
    assert not signed_in(client)
    assert _identity_rows(app) == []


def test_the_link_page_links_an_existing_account_after_its_password(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, owner: UserInfo
) -> None:
    configure(app, upstream_idp, jit_mode="link_only")
    person = upstream_idp.add_user(fresh("elsewhere.example"))
    http = requests.Session()
    assert sign_in(client, upstream_idp, person, http=http).headers["Location"] == "/auth/link"
    page = client.get("/auth/link").get_data(as_text=True)
    linked = client.post(
        "/auth/link",
        data={"csrf_token": csrf_from(page), "email": owner.email, "password": owner.password},
    )
    assert (linked.status_code, linked.headers["Location"]) == (302, "/")
    assert session_of(client)["amr"] == ["pwd", "ext"]
    assert _identity_rows(app) == [(owner.id, upstream_idp.issuer, person.sub, False)]
    # Next time the provider alone is enough (its session skips its pages).
    client.post(
        "/logout",
        data={"csrf_token": csrf_from(client.get("/account/security").get_data(as_text=True))},
    )
    assert not signed_in(client)
    assert sign_in(client, upstream_idp, person, http=http).headers["Location"] == "/"
    assert session_of(client)["_user_id"].startswith(str(owner.id))


def test_linking_an_mfa_account_needs_its_code_too(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, mfa_owner: MfaUser
) -> None:
    configure(app, upstream_idp, jit_mode="link_only")
    person = upstream_idp.add_user(fresh("elsewhere.example"))
    sign_in(client, upstream_idp, person)
    page = client.get("/auth/link").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "email": mfa_owner.email, "password": mfa_owner.password}
    asked = client.post("/auth/link", data=form)
    assert asked.status_code == 401
    assert 'name="otp_code"' in asked.get_data(as_text=True)
    assert _identity_rows(app) == []
    linked = client.post("/auth/link", data={**form, "otp_code": totp_now(mfa_owner.secret)})
    assert (linked.status_code, linked.headers["Location"]) == (302, "/")
    assert session_of(client)["amr"] == ["pwd", "otp", "mfa", "ext"]
    assert _identity_rows(app) == [(mfa_owner.id, upstream_idp.issuer, person.sub, False)]


def test_the_link_page_needs_a_pending_identity(client: FlaskClient) -> None:
    assert client.get("/auth/link").headers["Location"] == "/login"


# --- JIT ----------------------------------------------------------------------------------------


def test_link_only_never_creates_an_account(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp, jit_mode="link_only")
    person = upstream_idp.add_user(fresh())
    assert sign_in(client, upstream_idp, person).headers["Location"] == "/auth/link"
    assert not signed_in(client)
    assert _identity_rows(app) == []


def test_allowed_domains_limit_jit_creation(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp, allowed_domains=["allowed.example"])
    outsider = upstream_idp.add_user(fresh("other.example"))
    assert sign_in(client, upstream_idp, outsider).headers["Location"] == "/auth/link"
    assert _identity_rows(app) == []
    insider = upstream_idp.add_user(fresh("allowed.example"))
    assert sign_in(client, upstream_idp, insider).headers["Location"] == "/"
    assert [row[2] for row in _identity_rows(app)] == [insider.sub]


def test_an_unverified_email_creates_no_account(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh(), email_verified=False)
    assert sign_in(client, upstream_idp, person).headers["Location"] == "/auth/link"
    assert _identity_rows(app) == []


def test_an_invitation_lets_link_only_create_the_account_in_its_family(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any
) -> None:
    from app.extensions import db
    from app.identity import invitations
    from app.identity.models import Invitation
    from app.identity.users import find_by_email

    configure(app, upstream_idp, jit_mode="link_only")
    inviter = make_user(fresh("tollgate.example"), role="admin")
    email = fresh("invited.example")
    with app.app_context():
        invitation_id = invitations.create_invitation(
            email=email, family_id=inviter.family_id, role="member", now=utcnow()
        ).id
    person = upstream_idp.add_user(email)
    assert sign_in(client, upstream_idp, person).headers["Location"] == "/"
    with app.app_context():
        user = find_by_email(email)
        assert user is not None
        assert (user.family_id, user.role) == (inviter.family_id, "member")
        accepted = db.session.get(Invitation, invitation_id)
        assert accepted.accepted_by_user_id == user.id


def test_the_first_user_of_a_deployment_becomes_super_admin_later_ones_admin(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    from app.identity.users import find_by_email

    configure(app, upstream_idp)
    first, second = upstream_idp.add_user(fresh()), upstream_idp.add_user(fresh())
    sign_in(client, upstream_idp, first)
    sign_in(app.test_client(), upstream_idp, second)
    with app.app_context():
        one, two = find_by_email(first.email), find_by_email(second.email)
        assert (one.role, two.role) == ("super_admin", "admin")
        assert one.family_id != two.family_id


# --- second factor ------------------------------------------------------------------------------


def test_a_totp_user_passes_mfa_verify_before_the_session_starts(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, mfa_owner: MfaUser
) -> None:
    configure(app, upstream_idp)
    person = linked_person(app, upstream_idp, mfa_owner)
    answer = sign_in(client, upstream_idp, person)
    assert answer.headers["Location"] == "/mfa/verify"
    assert not signed_in(client)
    page = client.get("/mfa/verify")
    assert page.status_code == 200
    csrf = csrf_from(page.get_data(as_text=True))
    wrong = client.post(
        "/mfa/verify", data={"csrf_token": csrf, "code": wrong_totp(mfa_owner.secret)}
    )
    assert wrong.status_code == 401
    assert not signed_in(client)
    assert _logins(app, mfa_owner.id) == [("failure", {"reason": "bad_otp"})]
    right = client.post(
        "/mfa/verify", data={"csrf_token": csrf, "code": totp_now(mfa_owner.secret)}
    )
    assert (right.status_code, right.headers["Location"]) == (302, "/")
    assert session_of(client)["amr"] == ["ext", "otp", "mfa"]
    assert "mfa_pending" not in session_of(client)
    assert _logins(app, mfa_owner.id)[-1] == ("success", {"second_factor": True})
    assert signed_in(client)


def test_a_backup_code_passes_mfa_verify_once(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, mfa_owner: MfaUser
) -> None:
    configure(app, upstream_idp)
    person = linked_person(app, upstream_idp, mfa_owner)
    http = requests.Session()
    sign_in(client, upstream_idp, person, http=http)
    csrf = csrf_from(client.get("/mfa/verify").get_data(as_text=True))
    code = mfa_owner.backup_codes[0]
    assert client.post("/mfa/verify", data={"csrf_token": csrf, "code": code}).status_code == 302
    other = app.test_client()
    sign_in(other, upstream_idp, person, http=http)
    csrf = csrf_from(other.get("/mfa/verify").get_data(as_text=True))
    assert other.post("/mfa/verify", data={"csrf_token": csrf, "code": code}).status_code == 401


def test_mfa_verify_without_a_pending_sign_in_goes_to_the_login(client: FlaskClient) -> None:
    assert client.get("/mfa/verify").headers["Location"] == "/login"


# --- refusals and failures ----------------------------------------------------------------------


def test_a_blocked_identity_signs_nobody_in(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, owner: UserInfo
) -> None:
    from app.sso.services import identities

    configure(app, upstream_idp)
    person = linked_person(app, upstream_idp, owner)
    with app.app_context():
        row = identities.identities_of(owner.id)[0]
        identities.set_blocked(row, True, now=utcnow())
    answer = sign_in(client, upstream_idp, person)
    assert answer.headers["Location"] == "/auth/failure?message=sso_failed&strategy=idp"
    assert not signed_in(client)


def test_denying_at_the_provider_is_sso_failed(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    back = back_from_provider(upstream_idp, start(client), upstream_idp.user, action="deny")
    assert "error=access_denied" in back
    answer = client.get(path_of(back))
    assert answer.headers["Location"] == "/auth/failure?message=sso_failed&strategy=idp"
    page = client.get(answer.headers["Location"])
    assert page.status_code == 401
    assert "Signing in with the provider failed." in page.get_data(as_text=True)
    assert not signed_in(client)


def test_a_state_from_another_browser_is_refused(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    """Login CSRF: a callback URL made for another browser's state is refused here."""
    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh())
    other = app.test_client()
    back = back_from_provider(upstream_idp, start(other), person)
    start(client)  # this browser has a state of its own, not that one
    answer = client.get(path_of(back))
    assert answer.headers["Location"] == ("/auth/failure?message=sso_invalid_response&strategy=idp")
    assert not signed_in(client)
    assert _identity_rows(app) == []


def test_a_callback_is_used_once(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh())
    back = back_from_provider(upstream_idp, start(client), person)
    assert client.get(path_of(back)).headers["Location"] == "/"
    # The state was spent by the first use: the same URL again is refused.
    assert (
        client.get(path_of(back))
        .headers["Location"]
        .startswith("/auth/failure?message=sso_invalid_response")
    )


def test_an_unreachable_provider_is_sso_provider_unavailable(
    app: Flask, client: FlaskClient
) -> None:
    app.config["SSO_PROVIDERS"] = [
        {
            "key": KEY,
            "issuer": f"http://127.0.0.1:{free_port()}",
            "client_id": "c",
            "client_secret": "s",
        }
    ]
    started = start(client)
    assert started.headers["Location"] == (
        "/auth/failure?message=sso_provider_unavailable&strategy=idp"
    )
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "could not be reached" in page


def test_an_unknown_provider_is_sso_failed(client: FlaskClient) -> None:
    assert start(client, "nobody").headers["Location"] == "/auth/failure?message=sso_failed"
    assert client.get("/auth/nobody/callback?code=x&state=y").headers["Location"] == (
        "/auth/failure?message=sso_failed"
    )


def test_the_failure_page_shows_only_the_three_reasons(client: FlaskClient) -> None:
    page = client.get("/auth/failure?message=%3Cscript%3Ealert(1)%3C/script%3E")
    assert page.status_code == 401
    body = page.get_data(as_text=True)
    assert "Signing in with the provider failed." in body
    assert "alert(1)" not in body


def test_the_start_is_a_csrf_protected_post(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    assert client.post("/auth/idp").status_code == 400
    assert client.get("/auth/idp").status_code == 405


def test_the_login_page_shows_a_button_per_provider(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    body = client.get("/login").get_data(as_text=True)
    assert 'action="/auth/idp"' in body
    assert "Sign in with Test IdP" in body


def test_the_login_page_has_no_buttons_without_providers(client: FlaskClient) -> None:
    assert "Sign in with" not in client.get("/login").get_data(as_text=True)


def test_the_callback_takes_a_form_post_too(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    """response_mode=form_post: the provider's page posts code and state (no CSRF token: the
    state is the check), and a forged state is refused the same way."""
    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh())
    back = back_from_provider(upstream_idp, start(client), person)
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    forged = client.post("/auth/idp/callback", data={**params, "state": "forged"})
    assert forged.headers["Location"].startswith("/auth/failure?message=sso_invalid_response")
    answer = client.post("/auth/idp/callback", data=params)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/")
    assert signed_in(client)


def test_a_deactivated_users_identity_signs_nobody_in(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, owner: UserInfo
) -> None:
    from app.extensions import db
    from app.identity.models import User

    configure(app, upstream_idp)
    person = linked_person(app, upstream_idp, owner)
    with app.app_context():
        db.session.get(User, owner.id).active = False
        db.session.commit()
    answer = sign_in(client, upstream_idp, person)
    assert answer.headers["Location"] == "/auth/failure?message=sso_failed&strategy=idp"
    assert not signed_in(client)


def test_claims_we_could_not_store_are_not_trusted(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    """An address that is no address (or too long for an account) counts as none: no account
    is made from it; a subject longer than OpenID's 255 characters is an invalid response."""
    configure(app, upstream_idp)
    odd = upstream_idp.add_user("not an address", login=f"odd-{uuid.uuid4().hex}")
    assert sign_in(client, upstream_idp, odd).headers["Location"] == "/auth/link"
    long_one = upstream_idp.add_user(("x" * 250) + "@long.example", login=f"l-{uuid.uuid4().hex}")
    assert sign_in(app.test_client(), upstream_idp, long_one).headers["Location"] == "/auth/link"
    assert _identity_rows(app) == []
    huge = upstream_idp.add_user(fresh(), sub="s" * 256)
    answer = sign_in(app.test_client(), upstream_idp, huge)
    assert answer.headers["Location"] == "/auth/failure?message=sso_invalid_response&strategy=idp"


def test_a_pending_link_or_second_factor_waits_ten_minutes(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, mfa_owner: MfaUser
) -> None:
    configure(app, upstream_idp, jit_mode="link_only")
    person = upstream_idp.add_user(fresh())
    sign_in(client, upstream_idp, person)
    with client.session_transaction() as stored:
        stored["sso_link_pending"] = {**stored["sso_link_pending"], "at": 0}
    assert client.get("/auth/link").headers["Location"] == "/login"

    linked = linked_person(app, upstream_idp, mfa_owner)
    other = app.test_client()
    assert sign_in(other, upstream_idp, linked).headers["Location"] == "/mfa/verify"
    with other.session_transaction() as stored:
        stored["mfa_pending"] = {**stored["mfa_pending"], "at": 0}
    assert other.get("/mfa/verify").headers["Location"] == "/login"


def test_a_profile_in_userinfo_only_is_read_from_there(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    """Providers that put only sub in the ID token (OIDC Core 5.4): the address and names
    come from userinfo, for the ID token's subject, and JIT creation works as usual."""
    from app.identity.users import find_by_email

    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh(), given_name="Info", family_name="Only")
    upstream_idp.set_claims_in_id_token(False)
    try:
        assert sign_in(client, upstream_idp, person).headers["Location"] == "/"
    finally:
        upstream_idp.set_claims_in_id_token(True)
    with app.app_context():
        user = find_by_email(person.email)
        assert user is not None
        assert (user.first_name, user.last_name) == ("Info", "Only")
