"""``POST /api/v1/auth/sso_exchange`` (contract §3.4, checklist 21-22): Sure's 400 for a
missing code, Sure's 401 for an unknown, used, expired or revoked one; single use; JSON or
form bodies; never cached."""

from __future__ import annotations

import pytest

from tests.sso.sure_sso import (
    INVALID_CODE,
    SSO_EXCHANGE,
    code_of,
    link,
    minutes_ago,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    set_user,
    upstream,
)
from tests.support.http import send
from tests.support.sure import BAD_REQUEST, assert_error, assert_token_block

pytestmark = pytest.mark.usefixtures("provider")


@pytest.fixture
def person(make_user):  # type: ignore[no-untyped-def]
    return make_user(email="linked@example.com")


@pytest.fixture
def linked(app, person):  # type: ignore[no-untyped-def]
    identity = upstream(email=person.email)
    link(app, person, identity)
    return identity


@pytest.mark.parametrize("fmt", ["json", "form"])
@pytest.mark.parametrize("body", [{}, {"code": ""}])
def test_a_missing_or_empty_code_is_bad_request(client, fmt, body):
    response = send(client, SSO_EXCHANGE, body or {"other": "x"}, fmt)

    assert_error(response, 400, BAD_REQUEST)


@pytest.mark.parametrize("body", [{"code": None}, {"code": 12345}, {"code": ["a"]}, []])
def test_a_code_that_is_not_a_string_is_bad_request(client, body):
    assert_error(client.post(SSO_EXCHANGE, json=body), 400, BAD_REQUEST)


def test_no_body_at_all_is_bad_request(client):
    assert_error(client.post(SSO_EXCHANGE), 400, BAD_REQUEST)


@pytest.mark.parametrize("code", ["unknown", "x" * 43, "x" * 5000])
def test_an_unknown_code_is_401(client, code):
    assert_error(client.post(SSO_EXCHANGE, json={"code": code}), 401, INVALID_CODE)


@pytest.mark.parametrize("fmt", ["json", "form"])
def test_a_code_works_once(app, client, linked, fmt):
    code = code_of(mobile_callback(app, linked))

    first = send(client, SSO_EXCHANGE, {"code": code}, fmt)
    second = send(client, SSO_EXCHANGE, {"code": code}, fmt)

    assert first.status_code == 200
    assert_token_block(first.get_json())
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Pragma"] == "no-cache"
    assert_error(second, 401, INVALID_CODE)


def test_a_code_expires_after_five_minutes(app, client, linked):
    stale = code_of(mobile_callback(app, linked, now=minutes_ago(5)))
    fresh = code_of(mobile_callback(app, linked, now=minutes_ago(4)))

    assert_error(client.post(SSO_EXCHANGE, json={"code": stale}), 401, INVALID_CODE)
    assert client.post(SSO_EXCHANGE, json={"code": fresh}).status_code == 200


def test_a_code_of_a_user_deactivated_since_is_refused(app, client, person, linked):
    code = code_of(mobile_callback(app, linked))
    set_user(app, person.id, active=False)

    assert_error(client.post(SSO_EXCHANGE, json={"code": code}), 401, INVALID_CODE)


def test_a_code_minted_before_sign_out_everywhere_is_refused(app, client, person, linked):
    code = code_of(mobile_callback(app, linked))
    set_user(app, person.id, session_epoch=7)

    assert_error(client.post(SSO_EXCHANGE, json={"code": code}), 401, INVALID_CODE)


def test_a_refused_code_is_spent_too(app, client, person, linked):
    """A failed redemption is not a retry budget: the code is gone either way."""
    code = code_of(mobile_callback(app, linked))
    set_user(app, person.id, active=False)
    client.post(SSO_EXCHANGE, json={"code": code})
    set_user(app, person.id, active=True)

    assert_error(client.post(SSO_EXCHANGE, json={"code": code}), 401, INVALID_CODE)
