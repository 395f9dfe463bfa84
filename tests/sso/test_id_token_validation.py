"""The callback refuses every ID token Authlib's parse_id_token must refuse (a bad signature,
another issuer or audience, expired, another nonce or none) and a token response without an
ID token: each ends at /auth/failure with sso_invalid_response, nobody signed in, nothing
created. The provider is a real HTTP server that forges on demand (tests/sso/forging_op.py)."""

from __future__ import annotations

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.sso.forging_op import (
    FORGERIES,
    ForgingOp,
    forging_op_fixture,  # noqa: F401 - a fixture
)
from tests.sso.web_sso import path_of, signed_in, start

KEY = "forging"
CAUSES = {"no_id_token": "missing_id_token", "userinfo_other_subject": "invalid_response"}


def _configure(app: Flask, op: ForgingOp) -> None:
    app.config["SSO_PROVIDERS"] = [
        {
            "key": KEY,
            "issuer": op.issuer,
            "client_id": op.client_id,
            "client_secret": op.client_secret,
        }
    ]


def _round_trip(client: FlaskClient, op: ForgingOp) -> str:
    started = start(client, KEY)
    assert started.status_code == 302
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    answer = client.get(path_of(at_provider.headers["Location"]))
    assert answer.status_code == 302
    return answer.headers["Location"]


def _users(app: Flask) -> int:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        return db.session.scalar(select(func.count(User.id))) or 0


def test_a_good_id_token_signs_in(app: Flask, client: FlaskClient, forging_op: ForgingOp) -> None:
    """The control: the same provider, honest, signs the person in (so the refusals below are
    the checks, not a broken harness)."""
    _configure(app, forging_op)
    assert _round_trip(client, forging_op) == "/"
    assert signed_in(client)
    assert _users(app) == 1
    # PKCE: the code verifier went to the token endpoint (the provider checked it).
    assert len(forging_op.token_requests[0]["code_verifier"]) >= 43


@pytest.mark.parametrize("mode", FORGERIES)
def test_a_forged_or_missing_id_token_is_refused(
    app: Flask, client: FlaskClient, forging_op: ForgingOp, mode: str
) -> None:
    _configure(app, forging_op)
    forging_op.mode = mode
    assert _round_trip(client, forging_op) == (
        "/auth/failure?message=sso_invalid_response&strategy=forging"
    )
    assert not signed_in(client)
    assert _users(app) == 0
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "login", AuditEvent.outcome == "failure")
        ).all()
        assert event.details == {
            "channel": "web",
            "method": "sso",
            "provider": KEY,
            "reason": "sso_invalid_response",
            "cause": CAUSES.get(mode, "invalid_id_token"),
        }


@pytest.mark.parametrize("variant", ["other host", "trailing slash"])
def test_discovery_naming_another_issuer_is_refused_before_leaving(
    app: Flask, client: FlaskClient, forging_op: ForgingOp, variant: str
) -> None:
    """A discovery document for another issuer (mix-up; the match is exact): the browser
    never goes there."""
    configured = (
        forging_op.issuer.replace("127.0.0.1", "localhost")
        if variant == "other host"
        else forging_op.issuer + "/"
    )
    app.config["SSO_PROVIDERS"] = [
        {
            "key": KEY,
            "issuer": configured,
            "client_id": forging_op.client_id,
            "client_secret": forging_op.client_secret,
        }
    ]
    started = start(client, KEY)
    assert started.status_code == 302
    assert started.headers["Location"] == (
        "/auth/failure?message=sso_invalid_response&strategy=forging"
    )
    assert forging_op.codes == {}
