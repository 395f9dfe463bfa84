"""Mobile SSO end to end against a real OpenID provider (tests/support/idp.py, panva's
oidc-provider): the app opens ``/auth/mobile/idp`` with its device, the browser posts the
rendered form, signs in at the provider, comes back to the callback (sso-core's), and lands on
``sureapp://oauth/callback?…``; the app then calls the JSON exchanges (contract §2.6, §7.10)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.identity.models import WebSession
from app.oauth2.models import OAuthToken
from tests.sso.sure_sso import (
    SSO_CREATE_ACCOUNT,
    SSO_EXCHANGE,
    SSO_LINK,
    code_of,
    count_fixture,  # noqa: F401 - fixture
    query,
)
from tests.sso.web_sso import (
    KEY,
    configure,
    fresh,
    linked_person,
    session_of,
    signed_in,
    start_on,
    through_provider,
)
from tests.support.factories import PASSWORD, enable_mfa
from tests.support.http import bearer
from tests.support.idp import UpstreamIdp, UpstreamUser
from tests.support.sure import DEVICE, assert_token_block, status_of


def mobile_round_trip(
    client: FlaskClient,
    idp: UpstreamIdp,
    person: UpstreamUser,
    *,
    action: Literal["login", "deny"] = "login",
    device: dict[str, Any] = DEVICE,
) -> TestResponse:
    """What the phone's browser does between opening the start URL and being sent to
    sureapp://; returns the callback's answer (not followed)."""
    started = start_on(client, f"/auth/mobile/{KEY}", device)
    return through_provider(client, idp, started, person, action=action)


def test_a_linked_user_gets_a_code_then_tokens_and_no_web_session(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any, count: Any
) -> None:
    configure(app, upstream_idp)
    owner = make_user(fresh("tollgate.example"), first_name="Phone", last_name="Owner")
    person = linked_person(app, upstream_idp, owner)

    answer = mobile_round_trip(client, upstream_idp, person)

    assert answer.status_code == 302
    code = code_of(answer.headers["Location"])
    assert not signed_in(client)
    assert count(WebSession) == 0
    state = session_of(client)
    assert "sso_flow" not in state and "sso_device" not in state
    body = client.post(SSO_EXCHANGE, json={"code": code}).get_json()
    assert_token_block(body)
    assert (body["user"]["id"], body["user"]["first_name"]) == (str(owner.id), "Phone")
    assert status_of(client, bearer(body["access_token"])) == 200
    assert client.post(SSO_EXCHANGE, json={"code": code}).status_code == 401


def test_an_mfa_user_is_told_to_use_the_password_and_the_flow_is_cleared(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any, count: Any
) -> None:
    configure(app, upstream_idp)
    owner = enable_mfa(app, make_user(fresh("tollgate.example")))
    person = linked_person(app, upstream_idp, owner)

    answer = mobile_round_trip(client, upstream_idp, person)

    assert answer.headers["Location"] == (
        "sureapp://oauth/callback?error=mfa_not_supported"
        "&message=MFA+users+should+sign+in+with+email+and+password"
    )
    state = session_of(client)
    assert "sso_flow" not in state and "sso_device" not in state
    assert count(OAuthToken) == 0


def test_an_unlinked_person_creates_an_account_then_signs_in_directly(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any
) -> None:
    configure(app, upstream_idp)
    make_user(fresh("tollgate.example"), role="super_admin")
    email = fresh("jit.example")
    person = upstream_idp.add_user(email, given_name="New", family_name="Phone")

    first = mobile_round_trip(client, upstream_idp, person)

    params = query(first.headers["Location"])
    assert params["status"] == "account_not_linked"
    assert (params["email"], params["first_name"], params["last_name"]) == (email, "New", "Phone")
    assert (params["allow_account_creation"], params["has_pending_invitation"]) == ("true", "false")
    assert not signed_in(client)
    created = client.post(SSO_CREATE_ACCOUNT, json={"linking_code": params["linking_code"]})
    assert created.status_code == 200, created.get_json()
    user_id = created.get_json()["user"]["id"]

    again = mobile_round_trip(app.test_client(), upstream_idp, person)

    code = code_of(again.headers["Location"])
    assert client.post(SSO_EXCHANGE, json={"code": code}).get_json()["user"]["id"] == user_id


def test_an_email_match_gets_a_linking_code_and_the_password_links_it(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, make_user: Any, count: Any
) -> None:
    """The provider asserts an existing user's (verified) address: no sign-in, no account;
    the password proves the account and links it."""
    victim = make_user(fresh("victim.example"))
    configure(app, upstream_idp)
    person = upstream_idp.add_user(victim.email, email_verified=True)

    answer = mobile_round_trip(client, upstream_idp, person)

    params = query(answer.headers["Location"])
    assert params["status"] == "account_not_linked"
    assert count(OAuthToken) == 0
    linked = client.post(
        SSO_LINK,
        json={"linking_code": params["linking_code"], "email": victim.email, "password": PASSWORD},
    )
    assert linked.status_code == 200, linked.get_json()
    assert linked.get_json()["user"]["id"] == str(victim.id)


def test_denying_at_the_provider_goes_back_to_the_app_as_sso_failed(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)

    answer = mobile_round_trip(client, upstream_idp, upstream_idp.user, action="deny")

    assert answer.status_code == 302
    assert answer.headers["Location"] == (
        "sureapp://oauth/callback?error=sso_failed"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )
    assert "sso_flow" not in session_of(client)


def started_at_provider(client: FlaskClient) -> dict[str, str]:
    """A mobile flow started (the form posted); the provider's authorization parameters."""
    from urllib.parse import parse_qsl, urlsplit

    started = start_on(client, f"/auth/mobile/{KEY}", DEVICE)
    return dict(parse_qsl(urlsplit(started.headers["Location"]).query))


def test_a_provider_error_of_any_other_name_is_sanitised_to_sso_failed(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    params = started_at_provider(client)

    answer = client.get(
        "/auth/idp/callback",
        query_string={"error": "interaction_required <script>", "state": params["state"]},
    )

    assert answer.headers["Location"] == (
        "sureapp://oauth/callback?error=sso_failed"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )
    assert "sso_flow" not in session_of(client)


def test_a_forged_callback_is_an_invalid_response_for_the_app(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp, count: Any
) -> None:
    configure(app, upstream_idp)
    started_at_provider(client)

    answer = client.get("/auth/idp/callback", query_string={"code": "stolen", "state": "forged"})

    assert answer.headers["Location"] == (
        "sureapp://oauth/callback?error=sso_invalid_response"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )
    assert count(OAuthToken) == 0
